"""From canonical cases to the features the kernels use (one batch at a time).

Per case: discharge year and month, length of stay, money in fen, the core diagnosis key,
the packed diagnosis category, the procedures left after exclusion in canonical order (main
first, related sorted and de-duplicated), the combination string, the treatment class, the
Charlson index and the auxiliary-subtype slots. Anything that depends on a code string is
looked up once per distinct code in the batch (a small dictionary), never per case.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import refdata
from ._kernels.group import CONSERVATIVE, DIAGNOSTIC, SURGERY, THERAPEUTIC, canonical_combinations
from ._kernels.severity import cci_scores
from ._kernels.strings import string_buffers
from .policy import Policy
from .schema import BED_DAY_CATEGORIES, fen

CLASS_NAMES = ("conservative", "diagnostic", "therapeutic", "surgery")
_CLASS_RANK = {"diagnostic": DIAGNOSTIC, "therapeutic": THERAPEUTIC, "surgery": SURGERY}
N_CATEGORIES = 26 * 100   # packed ICD-10 categories: letter x two digits

#: Auxiliary subtype slots (SPEC 4): dimension, label.
SUBTYPES = (
    ("cci", "0"), ("cci", "1-2"), ("cci", "3-4"), ("cci", ">=5"),
    ("age", "0-28d"), ("age", "29d-1y"), ("age", "1-6"), ("age", "7-17"), ("age", ">=65"),
    ("death", "died"),
    ("icu", "band1"), ("icu", "band2"), ("icu", "band3"),
)
#: Subtype codes as stored in a catalogue; the ICU bands' limits are the policy's
#: ``icu_bands`` (default 1-2, 3-6, >= 7 days).
SUBTYPE_CODES = tuple(f"{d}:{v}" for d, v in SUBTYPES)


@dataclass
class Features:
    """Kernel-ready columns of a batch of cases (all NumPy, except code strings)."""

    n: int
    year: np.ndarray            # int16 discharge year
    month: np.ndarray           # int8 discharge month
    los: np.ndarray             # int32, at least 1
    level: np.ndarray           # int8
    cost: np.ndarray            # int64 fen
    fund: np.ndarray            # int64 fen
    way: np.ndarray             # int8 discharge way
    bed: np.ndarray             # int8 bed-day category (-1 none)
    dx_key: pa.Array            # core diagnosis key (subcategory or category)
    dx_cat: np.ndarray          # int32 packed category, -1 if not LDD
    proc_off: np.ndarray        # int32[n+1] canonical procedures (after exclusion)
    proc_codes: pa.Array        # string values of that CSR
    combination: pa.Array       # '+'-joined canonical procedures ('' conservative)
    main: pa.Array              # main procedure (null if none)
    treatment_class: np.ndarray  # int8 class of the comprehensive key
    cci: np.ndarray             # int16
    slots: np.ndarray           # int8[n, 4] subtype slot per dimension (-1 none)
    pool: pa.Array              # string

    # -- spilling: a Features batch as one Arrow record batch and back ------------------------
    _NUMERIC = ("year", "month", "los", "level", "cost", "fund", "way", "bed", "dx_cat",
                "treatment_class", "cci")

    def to_batch(self) -> pa.RecordBatch:
        cols = {name: pa.array(getattr(self, name)) for name in self._NUMERIC}
        for j in range(self.slots.shape[1]):
            cols[f"slot{j}"] = pa.array(self.slots[:, j])
        cols["dx_key"] = self.dx_key
        cols["combination"] = self.combination
        cols["main"] = self.main
        cols["pool"] = self.pool
        cols["procedures"] = pa.ListArray.from_arrays(pa.array(self.proc_off), self.proc_codes)
        return pa.RecordBatch.from_pydict(cols)

    @classmethod
    def from_batch(cls, b: pa.RecordBatch) -> "Features":
        col = b.column
        procs = col("procedures")
        off = np.asarray(procs.offsets, dtype=np.int32)
        values = procs.values.slice(int(off[0]), int(off[-1] - off[0]))
        nslots = sum(1 for n in b.schema.names if n.startswith("slot"))
        return cls(n=b.num_rows, **{name: col(name).to_numpy(zero_copy_only=False)
                                    for name in cls._NUMERIC},
                   slots=np.stack([col(f"slot{j}").to_numpy(zero_copy_only=False)
                                   for j in range(nslots)], axis=1),
                   dx_key=col("dx_key"), combination=col("combination"), main=col("main"),
                   pool=col("pool"), proc_off=off - off[0], proc_codes=values)


class Preparer:
    """Prepares batches under one policy; caches per-code lookups across batches."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self._proc_info: dict[str, tuple[bool, int]] = {}
        self._cci: dict[str, int] = {}
        self._class_prefixes = refdata.procedure_class_prefixes()
        extra = [e for e in policy.extra_exclusions]
        self._extra_exact = tuple(e for e in extra if not e.endswith("*"))
        self._extra_prefix = tuple(e.rstrip("*") for e in extra if e.endswith("*"))
        conditions = refdata.charlson_conditions()
        self._cci_prefix = {}
        for cid, (_, _, prefixes) in enumerate(conditions):
            for p in prefixes:
                self._cci_prefix[p] = cid
        self.cci_weights = np.array([w for _, w, _ in conditions], np.int32)
        names = [c for c, _, _ in conditions]
        pairs = [("diabetes_without_complication", "diabetes_with_complication"),
                 ("mild_liver_disease", "severe_liver_disease"),
                 ("malignancy", "metastatic_solid_tumour")]
        self.cci_mild = np.array([names.index(a) for a, _ in pairs], np.int32)
        self.cci_severe = np.array([names.index(b) for _, b in pairs], np.int32)

    # -- per-code lookups ---------------------------------------------------------------------
    def _procedure(self, code: str) -> tuple[bool, int]:
        info = self._proc_info.get(code)
        if info is None:
            excluded = refdata.is_excluded_procedure(code) or code in self._extra_exact \
                or (bool(self._extra_prefix) and code.startswith(self._extra_prefix))
            rank = _CLASS_RANK[refdata.procedure_class(code, self._class_prefixes)]
            info = self._proc_info[code] = (excluded, rank)
        return info

    def treatment_class(self, main: str) -> str:
        """Treatment class of a combination by its main procedure ('' -> conservative)."""
        return CLASS_NAMES[self._procedure(main)[1]] if main else "conservative"

    def _condition(self, code: str) -> int:
        cid = self._cci.get(code)
        if cid is None:
            flat = code.replace(".", "")
            cid = self._cci_prefix.get(flat[:4], self._cci_prefix.get(flat[:3], -1))
            self._cci[code] = cid
        return cid

    # -- the batch ------------------------------------------------------------------------------
    def __call__(self, cases: pa.Table) -> Features:
        pol = self.policy
        n = cases.num_rows
        col = lambda name: cases.column(name).combine_chunks()  # noqa: E731
        dis = col("discharge_date")
        adm_days = col("admission_date").cast(pa.int32()).to_numpy()
        dis_days = dis.cast(pa.int32()).to_numpy()
        los = np.maximum(dis_days - adm_days, 1).astype(np.int32)
        year = pc.year(dis).to_numpy().astype(np.int16)
        month = pc.month(dis).to_numpy().astype(np.int8)
        primary = col("primary_dx")
        key_len = 5 if pol.core_dx_level == "subcategory" else 3
        dx_key = pc.utf8_slice_codeunits(primary, 0, key_len)
        dx_cat = _packed_category(primary)

        # procedures: exclusion, class, canonical order
        procs = col("procedures")
        if pol.procedure_prefix:
            procs = pa.ListArray.from_arrays(
                procs.offsets, pc.utf8_slice_codeunits(procs.flatten(), 0, pol.procedure_prefix))
        offsets = np.asarray(procs.offsets, dtype=np.int32)
        offsets = offsets - offsets[0]
        flat = procs.flatten()
        vocab = pc.unique(flat).sort() if len(flat) else pa.array([], pa.string())
        ids = pc.index_in(flat, value_set=vocab).to_numpy(zero_copy_only=False).astype(np.int32) \
            if len(flat) else np.zeros(0, np.int32)
        info = [self._procedure(c) for c in vocab.to_pylist()]
        excluded = np.array([e for e, _ in info], bool)
        rank = np.array([r for _, r in info], np.int8)
        keep = ~excluded[ids] if len(ids) else np.zeros(0, bool)
        canon_off, canon_ids = canonical_combinations(offsets, ids, keep)
        proc_codes = vocab.take(pa.array(canon_ids)) if len(canon_ids) else pa.array([], pa.string())
        lists = pa.ListArray.from_arrays(pa.array(canon_off), proc_codes)
        combination = pc.binary_join(lists, "+")
        counts = np.diff(canon_off)
        has = counts > 0
        main_idx = np.where(has, canon_off[:-1], 0)
        main = pc.if_else(pa.array(has), proc_codes.take(pa.array(main_idx)) if len(proc_codes)
                          else pa.nulls(n, pa.string()), pa.scalar(None, pa.string()))
        tclass = np.full(n, CONSERVATIVE, np.int8)
        if pol.comprehensive_class_from == "main":
            tclass[has] = rank[canon_ids[main_idx[has]]]
        elif pol.comprehensive_class_from == "highest":
            if len(canon_ids):
                per_value = rank[canon_ids]
                case_of = np.repeat(np.arange(n), counts)
                np.maximum.at(tclass, case_of, per_value)
        else:  # the first recorded procedure, excluded or not
            rec = np.diff(offsets) > 0
            tclass[rec] = rank[ids[offsets[:-1][rec]]]

        # Charlson index over secondary diagnoses
        sec = col("secondary_dx")
        sec_off = np.asarray(sec.offsets, dtype=np.int32)
        sec_off = sec_off - sec_off[0]
        sec_flat = sec.flatten()
        if len(sec_flat):
            enc = pc.dictionary_encode(sec_flat)
            cond_of_code = np.array([self._condition(c) for c in enc.dictionary.to_pylist()], np.int32)
            condition = cond_of_code[enc.indices.to_numpy(zero_copy_only=False)]
        else:
            condition = np.zeros(0, np.int32)
        cci = cci_scores(sec_off, condition, self.cci_weights, self.cci_mild, self.cci_severe)

        age = col("age_years").to_numpy(zero_copy_only=False).astype(np.int32)
        age_days = col("age_days").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        way = col("discharge_way").to_numpy(zero_copy_only=False).astype(np.int8)
        icu = col("icu_days").fill_null(0).to_numpy(zero_copy_only=False).astype(np.int32)
        bed_idx = pc.index_in(col("bed_day_category"), value_set=pa.array(BED_DAY_CATEGORIES))
        bed = bed_idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int8)
        slots = self._slots(cci, age, age_days, way, icu)
        return Features(
            n=n, year=year, month=month, los=los,
            level=col("hospital_level").to_numpy(zero_copy_only=False).astype(np.int8),
            cost=fen(cases.column("total_cost")), fund=fen(cases.column("fund_paid")),
            way=way, bed=bed, dx_key=dx_key, dx_cat=dx_cat, proc_off=canon_off,
            proc_codes=proc_codes, combination=combination, main=main,
            treatment_class=tclass, cci=cci, slots=slots, pool=col("pool"))

    def _slots(self, cci, age, age_days, way, icu) -> np.ndarray:
        """Subtype slot of each case in each dimension (SPEC 4), -1 where none applies."""
        n = cci.shape[0]
        slots = np.full((n, 4), -1, np.int8)
        dims = self.policy.aux_dimensions
        if "cci" in dims:
            slots[:, 0] = np.select([cci == 0, cci <= 2, cci <= 4], [0, 1, 2], 3)
        if "age" in dims:
            a = np.full(n, -1, np.int8)
            infant = age == 0
            a[infant & (age_days >= 0) & (age_days <= 28)] = 4
            a[infant & ~((age_days >= 0) & (age_days <= 28))] = 5
            a[(age >= 1) & (age <= 6)] = 6
            a[(age >= 7) & (age <= 17)] = 7
            a[age >= 65] = 8
            slots[:, 1] = a
        if "death" in dims:
            slots[:, 2] = np.where(way == 5, 9, -1)
        if "icu" in dims:
            b = self.policy.icu_bands
            slots[:, 3] = np.select([icu >= b[2], icu >= b[1], icu >= b[0]], [12, 11, 10], -1)
        return slots


def _packed_category(codes: pa.Array) -> np.ndarray:
    """``K35.900`` -> (K - A) * 100 + 35; -1 unless letter-digit-digit."""
    offsets, data, _ = string_buffers(codes)
    starts = offsets[:-1].astype(np.int64)
    n = starts.shape[0]
    out = np.full(n, -1, np.int32)
    long_enough = (offsets[1:] - offsets[:-1]) >= 3
    if not long_enough.any():
        return out
    s = starts[long_enough]
    c0, c1, c2 = data[s].astype(np.int32), data[s + 1].astype(np.int32), data[s + 2].astype(np.int32)
    ok = (c0 >= 65) & (c0 <= 90) & (c1 >= 48) & (c1 <= 57) & (c2 >= 48) & (c2 <= 57)
    packed = np.where(ok, (c0 - 65) * 100 + (c1 - 48) * 10 + (c2 - 48), -1)
    out[long_enough] = packed
    return out


def category_code(packed: int) -> str:
    """Inverse of the packing: 1035 -> ``K35``."""
    return f"{chr(65 + packed // 100)}{packed % 100:02d}"


def category_id(code: str) -> int:
    """``K35`` -> packed id (-1 if not letter-digit-digit)."""
    if len(code) >= 3 and "A" <= code[0] <= "Z" and code[1:3].isdigit():
        return (ord(code[0]) - 65) * 100 + int(code[1:3])
    return -1
