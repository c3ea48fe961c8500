"""Validation: raw pieces of a source -> checked batches and quarantine rows.

Every input row ends up either in a :class:`CheckedBatch` or in the quarantine
(``dipcore.ingest.quarantine``), never both and never neither (``rows in = kept +
quarantined``). A row goes to the quarantine under the first check of
``dipcore.ingest.checks.CHECKS`` it fails; the checks run in that order, in one kernel
pass over the columns (``dipcore._kernels.validate.first_failed_check``); the columns are
typed by ``dipcore.ingest.convert``.

Codes and labels are validated through the codebook (``dipcore.ingest.codebook``): each
distinct raw string is normalised and checked once, and rows carry integer ids. A checked batch holds
those ids and the typed numeric columns; it gives the canonical case table
(:meth:`CheckedBatch.table`, what ``read_cases`` returns) or, through
``dipcore.schemes.dip.features``, the engine's features, without going back to strings.

Repeated case ids depend on reading order, so they are found apart from the rest
(``dipcore.ingest.dedupe.Deduplicator``), in order, before batches are checked (possibly
in parallel).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore import schema
from dipcore._kernels import strings as K
from dipcore._kernels.validate import CheckLimits, RowColumns, first_failed_check, take_lists
from dipcore.errors import InputError
from dipcore.ingest.checks import ENCODING, UNKNOWN_CODE
from dipcore.ingest.codebook import EMPTY, Codebook
from dipcore.ingest.codelist import CodeList
from dipcore.ingest.convert import (
    as_array,
    code_lists,
    is_text,
    plain_text,
    to_days,
    to_fen,
    to_int,
    trimmed_text,
)
from dipcore.ingest.dedupe import Deduplicator
from dipcore.ingest.quarantine import quarantine_table
from dipcore.ingest.sources import Piece

_REPLACEMENT = "\ufffd"
# Share of rows with undecodable bytes above which a file is taken to be in another encoding.
_WRONG_ENCODING_SHARE = 0.5


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
    #: Rows kept although a code is outside the code list (``action="warn"``).
    unknown_codes: int = 0
    patient_raw: pa.Array | None = None
    #: Raw-string ids of the codes as recorded (``Vocabulary.raw_strings`` of the codebook's
    #: ``dx``/``proc``), aligned with ``dx``, ``sec`` and ``proc``; only when the validator
    #: was asked for them (``raw_codes``: a scheme that groups codes as recorded, CHS-DRG).
    dx_raw: np.ndarray | None = None
    sec_raw: np.ndarray | None = None
    proc_raw: np.ndarray | None = None
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
    code_list : CodeList, optional
        Official codes: rows with a code outside them are quarantined (``unknown_code``)
        or counted (``CheckedBatch.unknown_codes``), as the list's ``action`` says.
    raw_codes : bool
        Also keep each code's raw-string id (``CheckedBatch.dx_raw``, ``sec_raw``,
        ``proc_raw``).
    """

    def __init__(self, hospitals: pa.Table | None = None,
                 duplicates: dict[str, np.ndarray] | None = None,
                 codebook: Codebook | None = None, expected_rows: int | None = None,
                 code_list: CodeList | None = None, raw_codes: bool = False):
        self.hospitals = hospitals
        self.raw_codes = raw_codes
        self.code_list = code_list
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
        raw_codes = self.raw_codes
        dx, dx_raw = cb.dx.encode_raw(cols["primary_dx"]) if raw_codes \
            else (cb.dx.encode(cols["primary_dx"]), None)
        lists = {}
        for name, vocab in (("secondary_dx", cb.dx), ("procedures", cb.proc)):
            if name in cols:
                lists[name] = code_lists(cols[name], vocab, raw=raw_codes)
            else:
                lists[name] = (np.zeros(n + 1, np.int32), np.zeros(0, np.int32),
                               np.zeros(n, np.uint8), np.full(n, -1, np.int64), None,
                               np.zeros(0, np.int32))
        total, t_st = to_fen(cols["total_cost"])
        paid, f_st = to_fen(cols["fund_paid"])
        way, way_st = to_int(cols["discharge_way"])
        bed = cb.bed.encode(cols["bed_day_category"]) if "bed_day_category" in cols \
            else np.full(n, EMPTY, np.int32)

        (agd, agd_st), (sex_v, sex_st) = optional["age_days"], optional["sex"]
        (wt, wt_st), (icu, icu_st) = optional["birth_weight_g"], optional["icu_days"]
        check, level, sex = first_failed_check(
            RowColumns(pre=pre, case_blank=piece.blank, dup=piece.dup, hosp=hosp,
                       reg_level=reg_level, level_v=level_v, level_st=level_st, pool=pool,
                       adm_v=adm, adm_st=adm_st, dis_v=dis, dis_st=dis_st, age_v=age,
                       age_st=age_st, agd_v=agd, agd_st=agd_st, sex_v=sex_v, sex_st=sex_st,
                       wt_v=wt, wt_st=wt_st, dx=dx, sec_bad=lists["secondary_dx"][2],
                       proc_bad=lists["procedures"][2], tot_v=total, tot_st=t_st,
                       fund_v=paid, fund_st=f_st, way_v=way, way_st=way_st, bed=bed,
                       icu_v=icu, icu_st=icu_st),
            CheckLimits(registry=registry, has_level=has_level, max_age=schema.MAX_AGE_YEARS,
                        absurd_fen=schema.ABSURD_COST_YUAN * 100))

        details, unknown_kept = self._unknown_codes(check, dx, lists)
        bad = check >= 0
        quarantine = quarantine_table(piece, check, cols, lists, details)
        keep = None if not bad.any() else np.flatnonzero(~bad)

        def kept(values, dtype=None):
            values = values if keep is None else values[keep]
            return values if dtype is None else values.astype(dtype, copy=False)

        def kept_lists(name, item=1):
            off, ids = lists[name][0], lists[name][item]
            return (off, ids) if keep is None else take_lists(off, ids, keep)

        take = None if keep is None else pa.array(keep)
        sec_off, sec = kept_lists("secondary_dx")
        proc_off, proc = kept_lists("procedures")
        raw = dict(dx_raw=kept(dx_raw), sec_raw=kept_lists("secondary_dx", 5)[1],
                   proc_raw=kept_lists("procedures", 5)[1]) if raw_codes else {}
        return CheckedBatch(
            source=piece.source, rows=kept(piece.rows),
            codebook=cb, case_id=piece.case_id if take is None else piece.case_id.take(take),
            id_hash=kept(piece.id_hash),
            hospital=kept(hosp), level=kept(level), pool=kept(pool, np.int8),
            admission=kept(adm, np.int32), discharge=kept(dis, np.int32),
            age=kept(age, np.int16),
            age_days=kept(np.where(agd_st == K.OK, agd, 0), np.int32),
            age_days_valid=kept(agd_st == K.OK),
            sex=kept(sex), weight=kept(np.where(wt_st == K.OK, wt, 0), np.int32),
            weight_valid=kept(wt_st == K.OK), dx=kept(dx), sec_off=sec_off, sec=sec,
            proc_off=proc_off, proc=proc, cost=kept(total), fund=kept(paid),
            way=kept(way, np.int8), bed=kept(bed, np.int8),
            icu=kept(np.where(icu_st == K.OK, icu, 0), np.int16), icu_valid=kept(icu_st == K.OK),
            quarantine=quarantine, unknown_codes=unknown_kept,
            patient_raw=None if "patient_id" not in cols else
            (cols["patient_id"] if take is None else cols["patient_id"].take(take)), **raw)

    def _unknown_codes(self, check: np.ndarray, dx: np.ndarray, lists: dict
                       ) -> tuple[dict[int, str] | None, int]:
        """The code-list check on rows that passed every other: with ``quarantine`` their
        check becomes ``unknown_code`` (and the code to show); with ``warn`` they are
        counted and kept."""
        if self.code_list is None:
            return None, 0
        column, code = self.code_list.first_unknown(self.codebook, dx, lists)
        unknown = (check < 0) & (column >= 0)
        if not unknown.any():
            return None, 0
        if self.code_list.action == "warn":
            return None, int(unknown.sum())
        rows = np.flatnonzero(unknown)
        check[rows] = UNKNOWN_CODE + column[rows]
        return dict(zip(rows.tolist(),
                        self.code_list.code_strings(self.codebook, column, code, rows))), 0

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


def check_piece(validator: Validator, piece: Piece) -> CheckedBatch:
    """``validator.process`` with the piece's file named in any input error."""
    try:
        return validator.process(piece)
    except InputError as exc:
        if exc.source is None and piece.source not in ("<table>", "<stream>"):
            raise InputError(str(exc), source=piece.source) from None
        raise
