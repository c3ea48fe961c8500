"""Validation: raw pieces of a source -> checked batches and quarantine rows.

Every input row ends up either in a :class:`CheckedBatch` or in the quarantine, never both
and never neither (``rows in = kept + quarantined``). A row goes to the quarantine under
the first check of :data:`CHECKS` it fails; the checks run in that order, in one kernel
pass over the columns (``dipcore._kernels.validate.first_failed_check``).

Codes and labels are validated through the codebook (``dipcore.ingest.codebook``): each distinct raw
string is normalised and checked once, and rows carry integer ids. A checked batch holds
those ids and the typed numeric columns; it gives the canonical case table
(:meth:`CheckedBatch.table`, what ``read_cases`` returns) or, through
``dipcore.schemes.dip.features``, the engine's features, without going back to strings.

Repeated case ids depend on reading order, so they are found apart from the rest
(:class:`Deduplicator`), in order, before batches are checked (possibly in parallel).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore import schema
from dipcore._kernels import strings as K
from dipcore._kernels.intern import StringSet, hash_strings, text_shape
from dipcore._kernels.validate import encode_lists, first_failed_check, take_lists
from dipcore.errors import InputError
from dipcore.ingest.codebook import EMPTY, Codebook, as_text
from dipcore.ingest.sources import Piece

#: Quarantine reason codes, in the order the checks run.
REASONS = {
    "wrong_field_count": "the row does not have as many fields as the header",
    "bad_encoding": "bytes that are not valid in the file's encoding",
    "missing_case_id": "no case id",
    "duplicate_case_id": "the case id was already seen in an earlier row",
    "missing_hospital": "no hospital id",
    "unknown_hospital": "the hospital is not in the registry",
    "bad_hospital_level": "hospital level is not 1, 2 or 3",
    "unknown_pool": "pool is not employee or resident",
    "bad_date": "a date that cannot be read or does not exist",
    "discharge_before_admission": "discharge date before admission date",
    "bad_number": "a number that cannot be read",
    "bad_age": "age outside 0-130 years (or 0-365 days)",
    "bad_sex": "sex is not 1, 2 or 9",
    "missing_primary_dx": "no principal diagnosis",
    "malformed_diagnosis": "a diagnosis code that is not ICD-10 (medical-insurance edition)",
    "malformed_procedure": "a procedure code that is not ICD-9-CM-3 (medical-insurance edition)",
    "nonfinite_cost": "a cost that is NaN or infinite",
    "negative_cost": "a negative cost",
    "absurd_cost": "a cost of 1e9 yuan or more",
    "fund_exceeds_total": "fund_paid above total_cost",
    "bad_discharge_way": "discharge way is not one of 1, 2, 3, 4, 5, 9",
    "bad_bed_day_category": "bed-day category is not psychiatric, rehabilitation or hospice",
    "bad_value": "a value outside its valid range",
}

#: The row checks in the order they run: (reason, column, what the message shows).
#: ``shown``: ``""`` nothing, ``raw`` the value as given, ``text`` the trimmed text,
#: ``item`` the first malformed item of a list. Numbered as ``first_failed_check`` tests.
CHECKS = (
    ("missing_case_id", "case_id", ""),                          # 0
    ("duplicate_case_id", "case_id", "text"),
    ("missing_hospital", "hospital_id", ""),
    ("unknown_hospital", "hospital_id", "text"),
    ("bad_hospital_level", "hospital_level", "raw"),
    ("bad_hospital_level", "hospital_level", "raw"),             # 5: level not 1-3
    ("unknown_pool", "pool", "text"),
    ("bad_date", "admission_date", "raw"),
    ("bad_date", "discharge_date", "raw"),
    ("discharge_before_admission", "discharge_date", "raw"),
    ("bad_number", "age_years", "raw"),                          # 10
    ("bad_age", "age_years", "raw"),
    ("bad_number", "age_days", "raw"),
    ("bad_age", "age_days", "raw"),
    ("bad_sex", "sex", "raw"),
    ("bad_number", "birth_weight_g", "raw"),                     # 15
    ("bad_value", "birth_weight_g", "raw"),
    ("missing_primary_dx", "primary_dx", ""),
    ("malformed_diagnosis", "primary_dx", "raw"),
    ("malformed_diagnosis", "secondary_dx", "item"),
    ("malformed_procedure", "procedures", "item"),               # 20
    ("bad_number", "total_cost", "raw"),
    ("nonfinite_cost", "total_cost", "raw"),
    ("negative_cost", "total_cost", "raw"),
    ("absurd_cost", "total_cost", "raw"),
    ("bad_number", "fund_paid", "raw"),                          # 25
    ("nonfinite_cost", "fund_paid", "raw"),
    ("negative_cost", "fund_paid", "raw"),
    ("absurd_cost", "fund_paid", "raw"),
    ("fund_exceeds_total", "fund_paid", "raw"),
    ("bad_discharge_way", "discharge_way", "raw"),               # 30
    ("bad_bed_day_category", "bed_day_category", "text"),
    ("bad_number", "icu_days", "raw"),
    ("bad_value", "icu_days", "raw"),
)
#: Check numbers from here on are bad encodings: ``ENCODING + column position``.
ENCODING = 1000
_NONFINITE = 4
_NONFINITE_TEXT = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
                   "-infinity"}
_REPLACEMENT = "\ufffd"
# Share of rows with undecodable bytes above which a file is taken to be in another encoding.
_WRONG_ENCODING_SHARE = 0.5


# ---------------------------------------------------------------------------------------------
# column conversions: any Arrow type -> (int64 values, status per value)
# ---------------------------------------------------------------------------------------------
def as_array(col) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def is_text(arr: pa.Array) -> bool:
    t = arr.type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
        or pa.types.is_large_binary(t) or pa.types.is_string_view(t) \
        or (pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type)
                                           or pa.types.is_large_string(t.value_type)))


def trimmed_text(arr: pa.Array) -> pa.Array:
    """Trimmed text, blanks as null."""
    arr = as_text(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr).cast(pa.string())


def plain_text(arr: pa.Array) -> pa.Array:
    """A text column as plain ``string`` (dictionaries decoded, other types cast)."""
    arr = as_text(arr)
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _display(arr: pa.Array) -> list[str]:
    """Values as Python strings for messages (only called for few rows)."""
    return ["" if v is None else str(v) for v in arr.to_pylist()]


def _primitive(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A fixed-width column as a zero-copy NumPy view and its status (``EMPTY`` where
    null). Null slots hold whatever the buffer holds: every use of a value is gated by its
    status."""
    n = len(arr)
    dtype = np.int32 if pa.types.is_date32(arr.type) else arr.type.to_pandas_dtype()
    values = np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + n)[arr.offset:]
    if arr.null_count == 0:
        return values, np.zeros(n, np.uint8)
    return values, (~arr.is_valid().to_numpy(zero_copy_only=False)).view(np.uint8)


def to_int(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Any column -> (integer values, status) with the string-kernel status codes.

    Integer columns come back in their own type, without a copy."""
    t = arr.type
    if is_text(arr):
        return K.parse_int(plain_text(arr))
    if pa.types.is_integer(t):
        return _primitive(arr)
    if pa.types.is_boolean(t):
        values = arr.cast(pa.int64()).fill_null(0).to_numpy()
        return values, arr.is_null().to_numpy(zero_copy_only=False).view(np.uint8)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        x = arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        null = arr.is_null().to_numpy(zero_copy_only=False)
        ok = np.isfinite(x) & (np.abs(x) < 1e15)
        ok[ok] = x[ok] == np.round(x[ok])
        values = np.where(ok, x, 0).astype(np.int64)
        status = np.where(null, K.EMPTY, np.where(ok, K.OK, K.BAD)).astype(np.uint8)
        return values, status
    return to_int(arr.cast(pa.string()))


def to_days(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dates -> (int64 days since 1970-01-01, status)."""
    t = arr.type
    if is_text(arr):
        return K.parse_date(plain_text(arr))
    if pa.types.is_integer(t):               # yyyymmdd as a number
        return K.parse_date(arr.cast(pa.string()))
    if pa.types.is_timestamp(t) or pa.types.is_date64(t) or pa.types.is_date32(t):
        d = arr.cast(pa.date32()) if not pa.types.is_date32(t) else arr
        return _primitive(d)
    raise InputError(f"a date column cannot have type {t}")


def to_fen(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Money -> (int64 fen, status); status 4 marks NaN or infinite values."""
    t = arr.type
    if is_text(arr):
        text = plain_text(arr)
        values, status = K.parse_fen(text)
        bad = np.flatnonzero(status == K.BAD)
        if bad.size:
            words = pc.utf8_lower(pc.utf8_trim_whitespace(text.take(pa.array(bad))))
            nonfinite = np.isin(np.array(words.to_pylist(), dtype=object), list(_NONFINITE_TEXT))
            status[bad[nonfinite]] = _NONFINITE
        return values, status
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    if pa.types.is_decimal(t):
        if t.scale != 2 or not pa.types.is_decimal128(t) or t.precision > 18:
            rounded = pc.round(arr, ndigits=2, round_mode="half_towards_infinity") if t.scale > 2 else arr
            try:
                arr = rounded.cast(pa.decimal128(38, 2))
            except pa.ArrowInvalid:
                return to_fen(rounded.cast(pa.float64()))
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64,
                              count=2 * (arr.offset + len(arr)))[2 * arr.offset:]
        lo, hi = words[0::2].copy(), words[1::2]
        fits = hi == (lo >> 63)
        if null is None and fits.all():
            return lo, np.zeros(len(arr), np.uint8)
        null = np.zeros(len(arr), bool) if null is None else null
        status = np.where(null, K.EMPTY, np.where(fits, K.OK, K.RANGE)).astype(np.uint8)
        lo[~fits | null] = 0
        return lo, status
    null = np.zeros(len(arr), bool) if null is None else null
    if pa.types.is_integer(t):
        x = arr.cast(pa.int64()).fill_null(0).to_numpy()
        big = np.abs(x) >= 10**15
        status = np.where(null, K.EMPTY, np.where(big, K.RANGE, K.OK)).astype(np.uint8)
        return np.where(big, 0, x * 100), status
    if pa.types.is_floating(t):
        x = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        finite = np.isfinite(x)
        small = finite & (np.abs(x) < 1e13)
        # half away from zero at the fen, as for text input
        values = np.where(small, np.sign(x) * np.floor(np.abs(np.where(small, x, 0)) * 100 + 0.5), 0)
        status = np.where(null, K.EMPTY, np.where(~finite, _NONFINITE,
                                                  np.where(small, K.OK, K.RANGE))).astype(np.uint8)
        return values.astype(np.int64), status
    raise InputError(f"a money column cannot have type {t}")


def _list_column(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """A list column (or a text column of ``|``/``,``-joined items) -> (int32 offsets from
    0, the items)."""
    t = arr.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) \
            or pa.types.is_large_list_view(t) or pa.types.is_fixed_size_list(t):
        if not pa.types.is_list(t):
            arr = arr.cast(pa.list_(t.value_type))
        if arr.null_count:
            arr = arr.fill_null(pa.scalar([], arr.type))
    else:
        arr = K.split_lists(plain_text(arr))
    off = np.asarray(arr.offsets)
    values = arr.values.slice(int(off[0]), int(off[-1] - off[0]))
    return (off - off[0]).astype(np.int32), values


def code_lists(arr: pa.Array, vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """A list column of codes (or ``|``/``,``-joined text) through a code vocabulary.

    Returns ``(offsets, ids, row_bad, first_bad, items)``: each row's well-formed codes as
    canonical ids (CSR; blank items dropped), whether it holds a malformed code, the index
    in ``items`` (the flattened raw items) of the first one, and ``items``.
    """
    off, items = _list_column(arr)
    new_off, ids, bad, first = encode_lists(off, vocab.encode(items))
    return new_off, ids, bad, first, items


# ---------------------------------------------------------------------------------------------
# checked batches
# ---------------------------------------------------------------------------------------------
@dataclass
class CheckedBatch:
    """The good rows of a piece, typed and encoded, and the quarantine of its bad rows.

    Code and label columns are ids of ``codebook``; money is int64 fen; dates are days since
    1970-01-01. ``table()`` gives the canonical case table of these rows.
    """

    source: str
    rows: np.ndarray            # 1-based row numbers in ``source`` of the kept rows
    codebook: Codebook
    case_id: pa.Array           # trimmed
    id_hash: np.ndarray         # uint64 hash of each case id (``hash_strings``)
    hospital: np.ndarray        # int32 hospital id (codebook)
    level: np.ndarray           # int8
    pool: np.ndarray            # int8 index into schema.POOLS
    admission: np.ndarray       # int32 days
    discharge: np.ndarray       # int32 days
    age: np.ndarray             # int16
    age_days: np.ndarray        # int32
    age_days_valid: np.ndarray  # bool
    sex: np.ndarray             # int8
    weight: np.ndarray          # int32
    weight_valid: np.ndarray    # bool
    dx: np.ndarray              # int32 canonical diagnosis id
    sec_off: np.ndarray         # int32[n + 1] secondary diagnoses (CSR of diagnosis ids)
    sec: np.ndarray
    proc_off: np.ndarray        # int32[n + 1] procedures as recorded (CSR of procedure ids)
    proc: np.ndarray
    cost: np.ndarray            # int64 fen
    fund: np.ndarray            # int64 fen
    way: np.ndarray             # int8
    bed: np.ndarray             # int8 index into schema.BED_DAY_CATEGORIES, -1 none
    icu: np.ndarray             # int16
    icu_valid: np.ndarray       # bool
    quarantine: pa.Table
    patient_raw: pa.Array | None = None
    _table: pa.Table | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.case_id)

    @property
    def num_rows(self) -> int:
        return self.n

    def patient_id(self) -> pa.Array:
        """Trimmed patient ids (null when blank or absent)."""
        if self.patient_raw is None:
            return pa.nulls(self.n, pa.string())
        return trimmed_text(self.patient_raw)

    def hospital_id(self) -> pa.Array:
        return self.codebook.hospital.canon.take(self.hospital)

    def pool_names(self) -> pa.Array:
        return self.codebook.pool.take(self.pool)

    def bed_names(self) -> pa.Array:
        return self.codebook.bed.take(self.bed)

    def table(self) -> pa.Table:
        """The canonical case table (``dipcore.schema.CASE_SCHEMA``) of the kept rows."""
        if self._table is not None:
            return self._table
        cb = self.codebook

        def lists(off, ids, canon):
            return pa.ListArray.from_arrays(pa.array(off, pa.int32()), canon.take(ids))

        date = lambda d: pa.array(d, pa.int32()).cast(pa.date32())  # noqa: E731
        arrays = [
            self.case_id, self.patient_id(), self.hospital_id(), pa.array(self.level),
            self.pool_names(), date(self.admission), date(self.discharge), pa.array(self.age),
            pa.array(self.age_days, mask=~self.age_days_valid), pa.array(self.sex),
            pa.array(self.weight, mask=~self.weight_valid), cb.dx.canon.take(self.dx),
            lists(self.sec_off, self.sec, cb.dx.canon),
            lists(self.proc_off, self.proc, cb.proc.canon),
            schema.money_array(self.cost), schema.money_array(self.fund), pa.array(self.way),
            self.bed_names(), pa.array(self.icu, mask=~self.icu_valid),
        ]
        self._table = pa.Table.from_arrays(arrays, schema=schema.CASE_SCHEMA)
        return self._table


# ---------------------------------------------------------------------------------------------
# duplicates (in reading order)
# ---------------------------------------------------------------------------------------------
#: A duplicate-check table up to this size is kept for the next run (cleared), not freed.
KEEP_SET_BYTES = 256 << 20
_idle_sets: list[StringSet] = []
_idle_lock = threading.Lock()


def _borrow_set(items: int) -> StringSet:
    """An empty exact set for ``items`` strings: the kept one if it is large enough.

    A set of millions of ids is tens of megabytes; fresh memory costs page faults on first
    touch, while clearing memory already held is a fraction of that.
    """
    with _idle_lock:
        kept = _idle_sets.pop() if _idle_sets else None
    if kept is not None and kept.fits(items):
        kept.clear()
        return kept
    return StringSet(items)


def _give_back_set(s: StringSet) -> None:
    if s.nbytes <= KEEP_SET_BYTES:
        with _idle_lock:
            _idle_sets[:] = [s]


class Deduplicator:
    """Repeated case ids, in reading order: the one order-dependent check.

    Local runs keep an exact set of every id seen (``expected_rows`` pre-sizes it; call
    :meth:`close` when done, so the next run may reuse its memory); a distributed run gives
    ``duplicates`` (source -> row numbers) found by its pre-pass. Sets ``piece.case_id``
    (trimmed), ``piece.blank``, ``piece.dup`` and ``piece.id_hash``.
    """

    def __init__(self, duplicates: dict[str, np.ndarray] | None = None,
                 expected_rows: int | None = None):
        self.duplicates = duplicates
        self.seen = _borrow_set(max(expected_rows or 0, 1 << 16)) if duplicates is None else None

    def close(self) -> None:
        if self.seen is not None:
            _give_back_set(self.seen)
            self.seen = None

    def __call__(self, piece: Piece) -> Piece:
        ids = case_ids(piece.batch.column("case_id"))
        piece.case_id, piece.blank = ids
        off, data, _ = K.string_buffers(piece.case_id)
        piece.id_hash = np.empty(len(piece.blank), np.uint64)
        if self.duplicates is None:
            piece.dup = self.seen.add(off, data, 1 - piece.blank, piece.id_hash)
        else:
            piece.id_hash = hash_strings(off, data)
            piece.dup = np.isin(piece.rows, self.duplicates.get(piece.source,
                                                                np.zeros(0, np.int64))).view(np.uint8)
        return piece


def case_ids(col) -> tuple[pa.Array, np.ndarray]:
    """Trimmed case ids (as given when nothing needs trimming) and the blank mask."""
    arr = plain_text(as_array(col))
    off, data, valid = K.string_buffers(arr)
    needs_trim, blank = text_shape(off, data, valid)
    if needs_trim:
        arr = trimmed_text(arr)
        off, data, valid = K.string_buffers(arr)
        _, blank = text_shape(off, data, valid)
    return arr, blank


# ---------------------------------------------------------------------------------------------
# the validator
# ---------------------------------------------------------------------------------------------
class Validator:
    """Turns raw pieces into checked batches and quarantine rows.

    Parameters
    ----------
    hospitals : pyarrow.Table, optional
        The registry (as from :func:`dipcore.read_hospitals`): unknown hospitals are
        quarantined and the registry's level is used for every case.
    duplicates : dict, optional
        Rows of repeated case ids per source, when a distributed pre-pass found them;
        otherwise a piece not yet seen by a :class:`Deduplicator` is deduplicated here.
    codebook : Codebook, optional
        The codebook to encode into (one per thread of a run).
    expected_rows : int, optional
        Rows of the source, to size the duplicate check when it is made here.
    """

    def __init__(self, hospitals: pa.Table | None = None,
                 duplicates: dict[str, np.ndarray] | None = None,
                 codebook: Codebook | None = None, expected_rows: int | None = None):
        self.hospitals = hospitals
        self.codebook = codebook or Codebook()
        self._dedup: Deduplicator | None = None
        self._dedup_args = (duplicates, expected_rows)
        self._reg_level = np.zeros(0, np.int64)
        if hospitals is not None:
            self._reg_ids = hospitals.column("hospital_id").combine_chunks()
            self._reg_levels = hospitals.column("level").combine_chunks()

    def registry_levels(self, hospital: np.ndarray) -> np.ndarray:
        """Registry level of each codebook hospital id (0: not in the registry)."""
        canon = self.codebook.hospital.canon
        if len(self._reg_level) < len(canon):
            new = canon.strings().slice(len(self._reg_level))
            reg = pc.index_in(new, value_set=self._reg_ids)
            lv = self._reg_levels.take(reg).cast(pa.int64()).fill_null(0).to_numpy()
            self._reg_level = np.concatenate([self._reg_level, lv])
        return np.append(self._reg_level, 0)[hospital]     # -1 (blank) reads the 0 at the end

    def process(self, piece: Piece) -> CheckedBatch:
        """Validate one piece."""
        if piece.dup is None:
            if self._dedup is None:
                self._dedup = Deduplicator(*self._dedup_args)
            self._dedup(piece)
        b = piece.batch
        n = b.num_rows
        cb = self.codebook
        cols = {name: as_array(b.column(name)) for name in b.schema.names}
        pre = np.full(n, -1, np.int16)
        if piece.text_source:
            self._check_encoding(cols, pre, piece)

        hosp = cb.hospital.encode(cols["hospital_id"])
        registry = self.hospitals is not None
        reg_level = self.registry_levels(hosp) if registry else np.zeros(n, np.int64)
        has_level = "hospital_level" in cols
        level_v, level_st = to_int(cols["hospital_level"]) if has_level else \
            (np.zeros(n, np.int64), np.full(n, K.EMPTY, np.uint8))
        pool = cb.pool.encode(cols["pool"])
        adm, adm_st = to_days(cols["admission_date"])
        dis, dis_st = to_days(cols["discharge_date"])
        age, age_st = to_int(cols["age_years"])
        optional = {name: to_int(cols[name]) if name in cols else
                    (np.zeros(n, np.int64), np.full(n, K.EMPTY, np.uint8))
                    for name in ("age_days", "sex", "birth_weight_g", "icu_days")}
        dx = cb.dx.encode(cols["primary_dx"])
        lists = {}
        for name, vocab in (("secondary_dx", cb.dx), ("procedures", cb.proc)):
            if name in cols:
                lists[name] = code_lists(cols[name], vocab)
            else:
                lists[name] = (np.zeros(n + 1, np.int32), np.zeros(0, np.int32),
                               np.zeros(n, np.uint8), np.full(n, -1, np.int64), None)
        total, t_st = to_fen(cols["total_cost"])
        paid, f_st = to_fen(cols["fund_paid"])
        way, way_st = to_int(cols["discharge_way"])
        bed = cb.bed.encode(cols["bed_day_category"]) if "bed_day_category" in cols \
            else np.full(n, EMPTY, np.int32)

        check, level, sex = first_failed_check(
            pre, piece.blank, piece.dup, hosp, registry, reg_level, level_v, level_st, has_level,
            pool, adm, adm_st, dis, dis_st, age, age_st, schema.MAX_AGE_YEARS,
            *optional["age_days"], *optional["sex"], *optional["birth_weight_g"], dx,
            lists["secondary_dx"][2], lists["procedures"][2], total, t_st, paid, f_st,
            schema.ABSURD_COST_YUAN * 100, way, way_st, bed, *optional["icu_days"])

        bad = check >= 0
        quarantine = self._quarantine(piece, check, cols, lists)
        keep = None if not bad.any() else np.flatnonzero(~bad)

        def kept(values, dtype=None):
            values = values if keep is None else values[keep]
            return values if dtype is None else values.astype(dtype, copy=False)

        def kept_lists(name):
            off, ids = lists[name][0], lists[name][1]
            return (off, ids) if keep is None else take_lists(off, ids, keep)

        take = None if keep is None else pa.array(keep)
        sec_off, sec = kept_lists("secondary_dx")
        proc_off, proc = kept_lists("procedures")
        ad_v, ad_st = optional["age_days"]
        w_v, w_st = optional["birth_weight_g"]
        icu_v, icu_st = optional["icu_days"]
        return CheckedBatch(
            source=piece.source, rows=kept(piece.rows),
            codebook=cb, case_id=piece.case_id if take is None else piece.case_id.take(take),
            id_hash=kept(piece.id_hash),
            hospital=kept(hosp), level=kept(level), pool=kept(pool, np.int8),
            admission=kept(adm, np.int32), discharge=kept(dis, np.int32),
            age=kept(age, np.int16),
            age_days=kept(np.where(ad_st == K.OK, ad_v, 0), np.int32), age_days_valid=kept(ad_st == K.OK),
            sex=kept(sex), weight=kept(np.where(w_st == K.OK, w_v, 0), np.int32),
            weight_valid=kept(w_st == K.OK), dx=kept(dx), sec_off=sec_off, sec=sec,
            proc_off=proc_off, proc=proc, cost=kept(total), fund=kept(paid),
            way=kept(way, np.int8), bed=kept(bed, np.int8),
            icu=kept(np.where(icu_st == K.OK, icu_v, 0), np.int16), icu_valid=kept(icu_st == K.OK),
            quarantine=quarantine,
            patient_raw=None if "patient_id" not in cols else
            (cols["patient_id"] if take is None else cols["patient_id"].take(take)))

    def _check_encoding(self, cols, pre, piece) -> None:
        bad_any = np.zeros(piece.batch.num_rows, dtype=bool)
        for pos, (name, arr) in enumerate(cols.items()):
            if not is_text(arr):
                continue
            hit = pc.fill_null(pc.match_substring(plain_text(arr), _REPLACEMENT), False) \
                .to_numpy(zero_copy_only=False)
            if hit.any():
                pre[hit & (pre < 0)] = ENCODING + pos
                bad_any |= hit
        if bad_any.size >= 20 and bad_any.mean() > _WRONG_ENCODING_SHARE:
            first = int(piece.rows[np.argmax(bad_any)])
            raise InputError("most rows hold bytes that are not valid in the given encoding; "
                             "is the file in another encoding (for example encoding='gbk')?",
                             source=piece.source, row=first)

    def _quarantine(self, piece: Piece, check: np.ndarray, cols: dict, lists: dict) -> pa.Table:
        bad = np.flatnonzero(check >= 0)
        parts = []
        names = list(cols)
        if bad.size:
            take = pa.array(bad)
            raw = pa.Table.from_arrays([cols[c].take(take) for c in names], names=names)
            records = [json.dumps(r, ensure_ascii=False, default=str) for r in raw.to_pylist()]
            shown: dict[int, str] = {}
            for c in np.unique(check[bad]).tolist():
                rows = bad[check[bad] == c]
                if c >= ENCODING:
                    name, kind = names[c - ENCODING], "raw"
                else:
                    _, name, kind = CHECKS[c]
                if kind == "":
                    continue
                if kind == "item":
                    first, items = lists[name][3], lists[name][4]
                    values = _display(plain_text(items).take(pa.array(first[rows])))
                else:
                    col = cols.get(name)
                    if col is None:       # the level check without a level column
                        col, kind = cols["hospital_id"], "text"
                    col = col.take(pa.array(rows))
                    values = _display(trimmed_text(col) if kind == "text" else col)
                shown.update(zip(rows.tolist(), values))
            reasons, columns, messages = [], [], []
            for i in bad.tolist():
                c = int(check[i])
                if c >= ENCODING:
                    reason, column = "bad_encoding", names[c - ENCODING]
                else:
                    reason, column, _ = CHECKS[c]
                detail = shown.get(i, "")
                text = REASONS[reason]
                reasons.append(reason)
                columns.append(column)
                messages.append(f"{text}: '{detail}'" if detail else text)
            parts.append(pa.table({
                "source": pa.array([piece.source] * bad.size, pa.string()),
                "row": pa.array(piece.rows[bad], pa.int64()),
                "case_id": pa.array(piece.case_id.take(take).cast(pa.string()).to_pylist(),
                                    pa.string(), mask=piece.blank[bad].astype(bool)),
                "column": pa.array(columns, pa.string()),
                "reason": pa.array(reasons, pa.string()),
                "message": pa.array(messages, pa.string()),
                "record": pa.array(records, pa.string()),
            }, schema=schema.QUARANTINE_SCHEMA))
        if piece.malformed:
            m = len(piece.malformed)
            parts.append(pa.table({
                "source": pa.array([piece.source] * m, pa.string()),
                "row": pa.array([r for r, _ in piece.malformed], pa.int64()),
                "case_id": pa.nulls(m, pa.string()),
                "column": pa.nulls(m, pa.string()),
                "reason": pa.array(["wrong_field_count"] * m, pa.string()),
                "message": pa.array([REASONS["wrong_field_count"]] * m, pa.string()),
                "record": pa.array([t for _, t in piece.malformed], pa.string()),
            }, schema=schema.QUARANTINE_SCHEMA))
        if not parts:
            return schema.QUARANTINE_SCHEMA.empty_table()
        return pa.concat_tables(parts)


def check_piece(validator: Validator, piece: Piece) -> CheckedBatch:
    """``validator.process`` with the piece's file named in any input error."""
    try:
        return validator.process(piece)
    except InputError as exc:
        if exc.source is None and piece.source not in ("<table>", "<stream>"):
            raise InputError(str(exc), source=piece.source) from None
        raise
