"""From checked cases to the features of a CHS-DRG run (SPEC.md sections 10.1, 10.4).

Per case: the shared features every scheme gives (``dipcore.schemes.base.CaseFeatures``),
the grouper's result (status, MDC, ADRG, DRG positions in the rule pack and the deciding
severity) and whether the case is a new-technology case.

Codes are grouped *as recorded*: the validator keeps each code's raw-string id
(``CheckedBatch.dx_raw``...), and each distinct raw string is folded and looked up in the
pack's vocabulary once per codebook (:class:`PackCodes`), exactly as ``drg_group`` does, so
a settlement groups every kept case as ``drg_group`` groups it. The one difference is
validation's: a blank item of a code list is dropped (SPEC 2) where the pure grouper reads
it as a code in no table, and a row with a malformed code is quarantined.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dipcore._kernels import drg as K
from dipcore._kernels.calendar import year_month_los
from dipcore.coding.facts import charlson_index
from dipcore.errors import InputError
from dipcore.ingest.codebook import Codebook, Vocabulary
from dipcore.ingest.validate import CheckedBatch
from dipcore.schemes.drg.newtech import NOT_FILED, NewTechnology
from dipcore.schemes.drg.rules import DrgRules, fold_code

#: Treatment class (``coding.facts.CLASS_NAMES``) of an ADRG by the CHS-DRG naming
#: convention, the second letter of its code: A-H surgical (外科手术组; statements count
#: these cases as operations), J-Q non-operating-room procedures (非手术室操作组, therapeutic),
#: R-Z medical (内科组, conservative).
SURGICAL_CLASS, PROCEDURE_CLASS, MEDICAL_CLASS = 3, 2, 0


class _RawLookup:
    """Raw-string id of a codebook vocabulary -> a value, each distinct raw string looked
    up once; extended as the vocabulary grows (arrays replaced, never changed)."""

    def __init__(self, resolve, missing: int):
        self.resolve, self.missing = resolve, missing
        self.lock = threading.Lock()
        self.values = np.zeros(0, np.int32)

    def get(self, vocab: Vocabulary) -> np.ndarray:
        """The values of every raw id so far, then ``missing`` (read by a raw id of -1)."""
        with self.lock:
            n = len(vocab)
            if len(self.values) < n:
                new = vocab.raw_strings(len(self.values)).to_pylist()
                self.values = np.concatenate([self.values, np.fromiter(
                    (self.resolve(s) for s in new), np.int32, len(new))])
            return np.append(self.values, np.int32(self.missing))


def _lookup(codebook: Codebook, key: tuple, resolve, missing: int) -> _RawLookup:
    return codebook.cached(key, lambda: _RawLookup(resolve, missing))


def pack_ids(codebook: Codebook, rules: DrgRules) -> tuple[np.ndarray, np.ndarray]:
    """Pack code id of every raw diagnosis and procedure string of ``codebook`` (the pack's
    ``n_codes`` for a code in no table; a null reads as the code ``""``)."""
    comp = rules.compiled
    code_id, unknown = comp.code_id, comp.n_codes

    def resolve(s: str) -> int:
        return code_id.get(fold_code(s), unknown)
    null = resolve("")
    dx = _lookup(codebook, ("drg-codes", rules.fingerprint, "dx"), resolve, null)
    proc = _lookup(codebook, ("drg-codes", rules.fingerprint, "proc"), resolve, null)
    return dx.get(codebook.dx), proc.get(codebook.proc)


def filing_days(codebook: Codebook, new_technology: NewTechnology) -> np.ndarray:
    """Filing day of every raw procedure string (``NOT_FILED`` when not new technology)."""
    filed = new_technology.filed
    lut = _lookup(codebook, ("drg-new-technology", new_technology.fingerprint),
                  lambda s: filed.get(fold_code(s), NOT_FILED), NOT_FILED)
    return lut.get(codebook.proc)


@dataclass
class DrgFeatures:
    """Kernel-ready columns of a batch of cases under CHS-DRG (NumPy)."""

    n: int
    codebook: Codebook
    year: np.ndarray            # int16 discharge year
    month: np.ndarray           # int8 discharge month
    los: np.ndarray             # int32, at least 1
    level: np.ndarray           # int8
    cost: np.ndarray            # int64 fen
    fund: np.ndarray            # int64 fen
    way: np.ndarray             # int8 discharge way
    bed: np.ndarray             # int8 bed-day category (-1 none)
    cci: np.ndarray             # int16 Charlson index of the secondary diagnoses
    treatment_class: np.ndarray  # int8 class of the ADRG (adrg_classes)
    pool: np.ndarray            # int8 index into schema.POOLS
    hospital: np.ndarray        # int32 hospital (codebook)
    status: np.ndarray          # int8 grouper status (rules.STATUSES)
    mdc: np.ndarray             # int16 MDC position in the pack (-1 none)
    adrg: np.ndarray            # int16 ADRG position (-1 none)
    drg: np.ndarray             # int16 DRG position (-1 none; n_drg + mdc for QY)
    cc: np.ndarray              # int8 0 none, 1 MCC, 2 CC
    new_tech: np.ndarray        # bool: a new-technology case (SPEC 10.4)
    secondary: np.ndarray       # int16 secondary diagnoses recorded

    _NUMERIC = ("year", "month", "los", "level", "cost", "fund", "way", "bed", "cci",
                "treatment_class", "pool", "hospital", "status", "mdc", "adrg", "drg", "cc",
                "new_tech", "secondary")

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self._NUMERIC)

    def context(self) -> tuple:
        return (self.codebook,)

    def to_batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict({name: pa.array(getattr(self, name))
                                           for name in self._NUMERIC})

    @classmethod
    def from_batch(cls, b: pa.RecordBatch, codebook: Codebook) -> "DrgFeatures":
        return cls(n=b.num_rows, codebook=codebook,
                   **{name: b.column(name).to_numpy(zero_copy_only=False)
                      for name in cls._NUMERIC})


def _nullable(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, values.astype(np.int64), K.NULL)


def features(b: CheckedBatch, rules: DrgRules, new_technology: NewTechnology,
             days: int) -> DrgFeatures:
    """Group a checked batch with ``rules`` (SPEC 10.1) and flag its new-technology cases
    (SPEC 10.4, window ``days``)."""
    if b.dx_raw is None:
        raise InputError("CHS-DRG grouping needs the codes as recorded: check the cases "
                         "with raw_codes=True")
    cb = b.codebook
    n = b.n
    year, month, los = year_month_los(b.admission, b.discharge)
    dx_lut, proc_lut = pack_ids(cb, rules)
    d0 = dx_lut[b.dx_raw]
    s_ids = dx_lut[b.sec_raw] if len(b.sec_raw) else np.zeros(1, np.int32)
    p_ids = proc_lut[b.proc_raw] if len(b.proc_raw) else np.zeros(1, np.int32)
    status = np.empty(n, np.int8)
    mdc = np.empty(n, np.int16)
    adrg = np.empty(n, np.int16)
    drg = np.empty(n, np.int16)
    cc = np.empty(n, np.int8)
    sex = np.where(b.sex == 9, K.NULL, b.sex.astype(np.int64))
    K.group_cases(sex, b.age.astype(np.int64), _nullable(b.age_days, b.age_days_valid),
                  _nullable(b.weight, b.weight_valid), d0, b.sec_off[:-1], b.sec_off[1:],
                  s_ids, b.proc_off[:-1], b.proc_off[1:], p_ids, False,
                  *rules.compiled.kernel_args(), status, mdc, adrg, drg, cc)
    if len(new_technology) and len(b.proc_raw):
        filed = filing_days(cb, new_technology)[b.proc_raw]
        new_tech = K.new_technology_cases(b.proc_off, filed, b.discharge, days)
    else:
        new_tech = np.zeros(n, bool)
    tclass = adrg_classes(rules)[adrg]          # -1 (no ADRG) reads the last: medical
    return DrgFeatures(
        n=n, codebook=cb, year=year, month=month, los=los, level=b.level, cost=b.cost,
        fund=b.fund, way=b.way, bed=b.bed, cci=charlson_index(b),
        treatment_class=tclass, pool=b.pool, hospital=b.hospital,
        status=status, mdc=mdc, adrg=adrg, drg=drg, cc=cc, new_tech=new_tech,
        secondary=np.diff(b.sec_off).astype(np.int16))


_CLASSES: dict[str, np.ndarray] = {}


def adrg_classes(rules: DrgRules) -> np.ndarray:
    """int8 treatment class of each ADRG position (then 0 for none)."""
    out = _CLASSES.get(rules.fingerprint)
    if out is None:
        out = _CLASSES[rules.fingerprint] = np.array(
            [adrg_class(a.adrg) for a in rules.adrgs] + [MEDICAL_CLASS], np.int8)
    return out


def adrg_class(code: str | None) -> int:
    """Treatment class of an ADRG code by its second letter (see ``SURGICAL_CLASS``)."""
    letter = (code or "")[1:2].upper()
    if "A" <= letter <= "H":
        return SURGICAL_CLASS
    return PROCEDURE_CLASS if "J" <= letter <= "Q" else MEDICAL_CLASS
