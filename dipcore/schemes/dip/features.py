"""From checked cases to the features the kernels use (one batch at a time).

Per case: discharge year and month, length of stay, money in fen, the core diagnosis key
and the packed diagnosis category, the canonical procedure combination (main procedure
first, related ones de-duplicated, after exclusion: SPEC 3.1) as an interned id, the
treatment class, the Charlson index and the auxiliary-subtype slots. Everything that
depends on a code string was worked out once per distinct code by the codebook
(``dipcore.ingest.codebook``); here it is looked up by id.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dipcore._kernels import strings as K
from dipcore._kernels.calendar import year_month_los
from dipcore._kernels.intern import hash_strings
from dipcore._kernels.severity import subtype_slots
from dipcore.coding import refdata
from dipcore.coding.facts import charlson_index
from dipcore.errors import InputError
from dipcore.ingest.codebook import Codebook, Grouping
from dipcore.ingest.dedupe import case_ids
from dipcore.ingest.sources import Piece
from dipcore.ingest.validate import CheckedBatch, Validator
from dipcore.policy import Policy

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
    """Kernel-ready columns of a batch of cases (NumPy), with the codebook their ids
    belong to (ids never leave that codebook's process)."""

    n: int
    codebook: Codebook
    grouping: Grouping          # procedures under this batch's policy
    key_len: int                # 5: subcategory key, 3: category key
    year: np.ndarray            # int16 discharge year
    month: np.ndarray           # int8 discharge month
    los: np.ndarray             # int32, at least 1
    level: np.ndarray           # int8
    cost: np.ndarray            # int64 fen
    fund: np.ndarray            # int64 fen
    way: np.ndarray             # int8 discharge way
    bed: np.ndarray             # int8 bed-day category (-1 none)
    dx: np.ndarray              # int32 canonical primary diagnosis (codebook)
    dx_key: np.ndarray          # int32 core diagnosis key (codebook key id)
    dx_cat: np.ndarray          # int32 packed category, -1 if not letter-digit-digit
    comb: np.ndarray            # int32 canonical combination (grouping id; 0: none)
    treatment_class: np.ndarray  # int8 class of the comprehensive key
    key: np.ndarray             # int32 grouping key (dx_key, comb, class) (grouping id)
    cci: np.ndarray             # int16
    slots: np.ndarray           # int8[n, 4] subtype slot per dimension (-1 none)
    pool: np.ndarray            # int8 index into schema.POOLS
    hospital: np.ndarray        # int32 hospital (codebook)

    # -- spilling: the numeric columns as one Arrow record batch and back ---------------------
    _NUMERIC = ("year", "month", "los", "level", "cost", "fund", "way", "bed", "dx", "dx_key",
                "dx_cat", "comb", "treatment_class", "key", "cci", "pool", "hospital")

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self._NUMERIC) + self.slots.nbytes

    def context(self) -> tuple:
        """What ``from_batch`` needs besides the columns: the codebook, the grouping and the
        key length (the objects the ids refer to)."""
        return (self.codebook, self.grouping, self.key_len)

    def to_batch(self) -> pa.RecordBatch:
        cols = {name: pa.array(getattr(self, name)) for name in self._NUMERIC}
        for j in range(self.slots.shape[1]):
            cols[f"slot{j}"] = pa.array(self.slots[:, j])
        return pa.RecordBatch.from_pydict(cols)

    @classmethod
    def from_batch(cls, b: pa.RecordBatch, codebook: Codebook, grouping: Grouping,
                   key_len: int) -> "Features":
        col = b.column
        nslots = sum(1 for n in b.schema.names if n.startswith("slot"))
        return cls(n=b.num_rows, codebook=codebook, grouping=grouping, key_len=key_len,
                   **{name: col(name).to_numpy(zero_copy_only=False) for name in cls._NUMERIC},
                   slots=np.stack([col(f"slot{j}").to_numpy(zero_copy_only=False)
                                   for j in range(nslots)], axis=1))

    def dx_key_strings(self) -> pa.Array:
        return self.codebook.diagnoses.keys[self.key_len].strings()


def features(b: CheckedBatch, policy: Policy) -> Features:
    """The features of a checked batch under ``policy`` (SPEC 3.1 preparation)."""
    cb = b.codebook
    year, month, los = year_month_los(b.admission, b.discharge)
    facts = cb.diagnoses.facts()
    key_len = 5 if policy.core_dx_level == "subcategory" else 3
    cci = charlson_index(b)
    grouping = cb.grouping(policy)
    comb, tclass = grouping.encode_cases(b.proc_off, b.proc, policy.comprehensive_class_from)
    dims = policy.aux_dimensions
    bands = policy.icu_bands
    slots = subtype_slots(cci, b.age, np.where(b.age_days_valid, b.age_days, -1), b.way,
                          np.where(b.icu_valid, b.icu, 0), "cci" in dims, "age" in dims,
                          "death" in dims, "icu" in dims, bands[0], bands[1], bands[2])
    dx_key = facts[f"key{key_len}"][b.dx]
    return Features(
        n=b.n, codebook=cb, grouping=grouping, key_len=key_len, year=year, month=month,
        los=los, level=b.level, cost=b.cost, fund=b.fund, way=b.way, bed=b.bed, dx=b.dx,
        dx_key=dx_key, dx_cat=facts["category"][b.dx], comb=comb, treatment_class=tclass,
        key=grouping.case_keys(key_len, dx_key, comb, tclass), cci=cci, slots=slots,
        pool=b.pool, hospital=b.hospital)


class Preparer:
    """Features of canonical case tables under one policy (one codebook across calls).

    The engine prepares validated batches directly (:func:`features`); this is for tables
    already in the canonical schema, and for the treatment class of a code.
    """

    def __init__(self, policy: Policy, codebook: Codebook | None = None):
        self.policy = policy
        self.codebook = codebook or Codebook()
        self._validator = Validator(codebook=self.codebook)

    def checked(self, cases: pa.Table) -> CheckedBatch:
        """The table as one checked batch; every row must pass validation."""
        piece = Piece("<table>", pa.RecordBatch.from_pydict(
            {c: cases.column(c).combine_chunks() for c in cases.column_names}),
            np.arange(1, cases.num_rows + 1, dtype=np.int64))
        piece.case_id, piece.blank = case_ids(piece.batch.column("case_id"))
        piece.dup = np.zeros(cases.num_rows, np.uint8)     # one table, no stream: no repeats
        piece.id_hash = hash_strings(*K.string_buffers(piece.case_id)[:2])
        batch = self._validator.process(piece)
        if batch.quarantine.num_rows:
            q = batch.quarantine.slice(0, 1).to_pylist()[0]
            raise InputError(q["message"], source="<table>", row=q["row"], column=q["column"])
        return batch

    def __call__(self, cases: pa.Table) -> Features:
        return features(self.checked(cases), self.policy)

    def treatment_class(self, main: str) -> str:
        """Treatment class of a combination by its main procedure ('' -> conservative)."""
        return treatment_class(main)


def treatment_class(main: str | None) -> str:
    """Treatment class of a procedure code by the shipped class table ('' -> conservative)."""
    if not main:
        return "conservative"
    return refdata.procedure_class(main)
