"""Reading cases and the hospital registry: mapping, conversion, validation, quarantine.

``read_cases`` turns any supported source into the canonical case table of SPEC.md
section 2 and a quarantine table. Every input row ends up in exactly one of the two
(``rows in = kept + quarantined``). A row goes to the quarantine, with its file, row
number, case id, column, reason code and message, when any of its values cannot be used;
the first failing check (in the order of ``REASONS``) names the reason. A source that cannot
be used at all (unreadable file, missing required column) raises :class:`InputError`.
"""
from __future__ import annotations

import json
import os
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import schema as S
from ._kernels import strings as K
from .errors import InputError
from .sources import Piece, iter_pieces, list_files, source_columns

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
_REASON_INDEX = {r: i for i, r in enumerate(REASONS)}
_NONFINITE = 4
_NONFINITE_TEXT = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
                   "-infinity"}
_REPLACEMENT = "\ufffd"
# Share of rows with undecodable bytes above which a file is taken to be in another encoding.
_WRONG_ENCODING_SHARE = 0.5


def resolve_columns(names: list[str], mapping: dict[str, str] | None, *, source: str,
                    need_level: bool) -> dict[str, str]:
    """Map canonical column names to the source's column names.

    Order of precedence: the user's ``mapping`` (source name -> canonical name), then the
    canonical name itself, then the settlement-list field names
    (:data:`dipcore.schema.SETTLEMENT_LIST_MAPPING`). Names match case-insensitively.
    """
    by_lower = {n.strip().lower().lstrip("\ufeff"): n for n in names}
    resolved: dict[str, str] = {}
    for src, canon in (mapping or {}).items():
        if canon not in S.CASE_COLUMNS:
            raise InputError(f"mapping names '{canon}', which is not a case column "
                             f"(columns: {', '.join(S.CASE_COLUMNS)})", source=source)
        if src.strip().lower() not in by_lower:
            raise InputError(f"mapping names source column '{src}', which the source does not "
                             "have", source=source, column=src)
        resolved[canon] = by_lower[src.strip().lower()]
    for canon in S.CASE_COLUMNS:
        if canon not in resolved and canon in by_lower:
            resolved[canon] = by_lower[canon]
    for alias, canon in S.SETTLEMENT_LIST_MAPPING.items():
        if canon not in resolved and alias in by_lower:
            resolved[canon] = by_lower[alias]
    required = S.REQUIRED_COLUMNS + (("hospital_level",) if need_level else ())
    for canon in required:
        if canon not in resolved:
            hint = " (or give a hospital registry)" if canon == "hospital_level" else ""
            raise InputError(f"missing required column{hint}", source=source, column=canon)
    return {c: resolved[c] for c in S.CASE_COLUMNS if c in resolved}


class _Flags:
    """First failing check per row: reason, column, and the offending value for the message."""

    def __init__(self, n: int):
        self.reason = np.full(n, -1, dtype=np.int16)
        # object arrays only once a row fails: most batches have no bad row at all
        self.column: np.ndarray | None = None
        self.detail: np.ndarray | None = None

    def flag(self, mask: np.ndarray, reason: str, column: str, detail=None) -> None:
        """Flag rows in ``mask`` not flagged yet; ``detail`` is a str or per-row array."""
        new = np.asarray(mask, dtype=bool) & (self.reason < 0)
        if not new.any():
            return
        if self.column is None:
            self.column = np.empty(self.reason.size, dtype=object)
            self.detail = np.empty(self.reason.size, dtype=object)
        self.reason[new] = _REASON_INDEX[reason]
        self.column[new] = column
        if detail is not None:
            self.detail[new] = detail if isinstance(detail, str) else np.asarray(detail, dtype=object)[new]

    @property
    def bad(self) -> np.ndarray:
        return self.reason >= 0


def _as_array(col) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _is_text(arr: pa.Array) -> bool:
    t = arr.type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
        or pa.types.is_large_binary(t) or pa.types.is_string_view(t) \
        or (pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type)
                                           or pa.types.is_large_string(t.value_type)))


def _text(arr: pa.Array) -> pa.Array:
    """Trimmed text, blanks as null."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        try:
            arr = arr.cast(pa.string())
        except pa.ArrowInvalid as exc:
            raise InputError(f"values are not valid UTF-8 text ({exc})") from None
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr).cast(pa.string())


def _display(arr: pa.Array) -> np.ndarray:
    """Values as Python strings for messages (only called for few rows)."""
    return np.array(["" if v is None else str(v) for v in arr.to_pylist()], dtype=object)


def _to_int(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Any column -> (int64 values, status) with the string-kernel status codes."""
    t = arr.type
    if _is_text(arr):
        return K.parse_int(arr)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = arr.cast(pa.int64()).fill_null(0).to_numpy()
        status = np.where(arr.is_null().to_numpy(zero_copy_only=False), K.EMPTY, K.OK).astype(np.uint8)
        return values, status
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        x = arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        null = arr.is_null().to_numpy(zero_copy_only=False)
        ok = np.isfinite(x) & (np.abs(x) < 1e15)
        ok[ok] = x[ok] == np.round(x[ok])
        values = np.where(ok, x, 0).astype(np.int64)
        status = np.where(null, K.EMPTY, np.where(ok, K.OK, K.BAD)).astype(np.uint8)
        return values, status
    return _to_int(arr.cast(pa.string()))


def _to_days(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dates -> (int64 days since 1970-01-01, status)."""
    t = arr.type
    if _is_text(arr):
        return K.parse_date(arr)
    if pa.types.is_integer(t):               # yyyymmdd as a number
        return K.parse_date(arr.cast(pa.string()))
    if pa.types.is_timestamp(t) or pa.types.is_date64(t) or pa.types.is_date32(t):
        d = arr.cast(pa.date32()) if not pa.types.is_date32(t) else arr
        null = d.is_null().to_numpy(zero_copy_only=False)
        values = d.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
        return values, np.where(null, K.EMPTY, K.OK).astype(np.uint8)
    raise InputError(f"a date column cannot have type {t}")


def _to_fen(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Money -> (int64 fen, status); status 4 marks NaN or infinite values."""
    t = arr.type
    null = arr.is_null().to_numpy(zero_copy_only=False)
    if _is_text(arr):
        values, status = K.parse_fen(arr)
        bad = np.flatnonzero(status == K.BAD)
        if bad.size:
            text = pc.utf8_lower(pc.utf8_trim_whitespace(_text_or_cast(arr).take(pa.array(bad))))
            nonfinite = np.isin(np.array(text.to_pylist(), dtype=object), list(_NONFINITE_TEXT))
            status[bad[nonfinite]] = _NONFINITE
        return values, status
    if pa.types.is_decimal(t):
        if t.scale != 2 or not pa.types.is_decimal128(t) or t.precision > 18:
            rounded = pc.round(arr, ndigits=2, round_mode="half_towards_infinity") if t.scale > 2 else arr
            try:
                arr = rounded.cast(pa.decimal128(38, 2))
            except pa.ArrowInvalid:
                arr = rounded.cast(pa.float64())
                return _to_fen(arr)
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64,
                              count=2 * (arr.offset + len(arr)))[2 * arr.offset:]
        lo, hi = words[0::2].copy(), words[1::2]
        fits = hi == (lo >> 63)
        status = np.where(null, K.EMPTY, np.where(fits, K.OK, K.RANGE)).astype(np.uint8)
        lo[~fits | null] = 0
        return lo, status
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


def _text_or_cast(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def _code_lists(arr: pa.Array, kind: int) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A list column (or a delimited text column) -> normalised code lists."""
    t = arr.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) \
            or pa.types.is_large_list_view(t) or pa.types.is_fixed_size_list(t):
        arr = arr.cast(pa.list_(pa.string()))
        values = arr.values
        lists, status, first_bad = K.normalize_code_lists(arr, kind)
        flat_bad = values
    else:
        split = K.split_lists(_text_or_cast(arr))
        lists, status, first_bad = K.normalize_code_lists(split, kind)
        flat_bad = split.values
    detail = np.empty(len(arr), dtype=object)
    rows = np.flatnonzero(first_bad >= 0)
    if rows.size:
        detail[rows] = _display(flat_bad.take(pa.array(first_bad[rows])))
    return lists, status, detail


def _map_labels(text: pa.Array, aliases: dict[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Labels through an alias table; returns (canonical labels, known mask)."""
    keys = list(aliases)
    idx = pc.index_in(pc.utf8_lower(text), value_set=pa.array([k.lower() for k in keys]))
    known = idx.is_valid().to_numpy(zero_copy_only=False)
    labels = pa.array([aliases[k] for k in keys]).take(idx)
    return labels, known


class Validator:
    """Turns raw pieces into canonical case batches and quarantine rows.

    One validator serves a whole stream: it remembers every case id it has seen, so a
    repeated id is caught across files and batches.

    Parameters
    ----------
    hospitals : pyarrow.Table, optional
        The registry (as from :func:`read_hospitals`): unknown hospitals are quarantined and
        the registry's level is used for every case.
    """

    def __init__(self, hospitals: pa.Table | None = None,
                 duplicates: dict[str, np.ndarray] | None = None):
        self.hospitals = hospitals
        # Repeated case ids: found here, in reading order, with an exact string set; or
        # given (source -> row numbers) when a distributed pre-pass found them globally.
        self.duplicates = duplicates
        self.seen_ids = K.StringSet(1 << 16) if duplicates is None else None
        if hospitals is not None:
            self._reg_ids = hospitals.column("hospital_id").combine_chunks()
            self._reg_levels = hospitals.column("level").combine_chunks()

    def process(self, piece: Piece) -> tuple[pa.RecordBatch, pa.Table]:
        """Validate one piece. Returns ``(cases, quarantine)``."""
        b = piece.batch
        n = b.num_rows
        f = _Flags(n)
        cols = {name: _as_array(b.column(name)) for name in b.schema.names}
        if piece.text_source:
            self._check_encoding(cols, f, piece)

        case_id = _text(cols["case_id"])
        f.flag(case_id.is_null().to_numpy(zero_copy_only=False), "missing_case_id", "case_id", "")
        if self.duplicates is None:
            dup = self.seen_ids.add(*K.string_buffers(case_id)).astype(bool)
        else:
            dup = np.isin(piece.rows, self.duplicates.get(piece.source, np.zeros(0, np.int64)))
        f.flag(dup, "duplicate_case_id", "case_id", _lazy_display(case_id, dup))

        hospital_id = _text(cols["hospital_id"])
        f.flag(hospital_id.is_null().to_numpy(zero_copy_only=False), "missing_hospital", "hospital_id", "")
        level_values = None
        if self.hospitals is not None:
            reg = pc.index_in(hospital_id, value_set=self._reg_ids)
            unknown = reg.is_null().to_numpy(zero_copy_only=False) & hospital_id.is_valid().to_numpy(zero_copy_only=False)
            f.flag(unknown, "unknown_hospital", "hospital_id", _lazy_display(hospital_id, unknown))
            level_values = self._reg_levels.take(reg).cast(pa.int64()).fill_null(0).to_numpy()
            level_status = np.where(reg.is_null().to_numpy(zero_copy_only=False), K.EMPTY, K.OK)
            if "hospital_level" in cols:   # fill from the source where the registry has none
                src_level, src_status = _to_int(cols["hospital_level"])
                level_values = np.where(level_status == K.OK, level_values, src_level)
        else:
            level_values, level_status = _to_int(cols["hospital_level"])
            f.flag(level_status != K.OK, "bad_hospital_level", "hospital_level",
                   _lazy_display(cols["hospital_level"], level_status != K.OK))
        bad_level = ~np.isin(level_values, (1, 2, 3))
        f.flag(bad_level, "bad_hospital_level", "hospital_level", _lazy_display(cols.get("hospital_level", hospital_id), bad_level))

        pool_text = _text(_text_or_cast(cols["pool"]))
        pool, pool_known = _map_labels(pool_text, S.POOL_ALIASES)
        f.flag(~pool_known, "unknown_pool", "pool", _lazy_display(pool_text, ~pool_known))

        adm, adm_st = _to_days(cols["admission_date"])
        dis, dis_st = _to_days(cols["discharge_date"])
        f.flag(adm_st != K.OK, "bad_date", "admission_date", _lazy_display(cols["admission_date"], adm_st != K.OK))
        f.flag(dis_st != K.OK, "bad_date", "discharge_date", _lazy_display(cols["discharge_date"], dis_st != K.OK))
        before = (dis < adm) & (adm_st == K.OK) & (dis_st == K.OK)
        f.flag(before, "discharge_before_admission", "discharge_date",
               _lazy_display(cols["discharge_date"], before))

        age, age_st = _to_int(cols["age_years"])
        f.flag(age_st != K.OK, "bad_number", "age_years", _lazy_display(cols["age_years"], age_st != K.OK))
        bad_age = (age < 0) | (age > S.MAX_AGE_YEARS)
        f.flag(bad_age, "bad_age", "age_years", _lazy_display(cols["age_years"], bad_age))
        age_days, age_days_valid = self._optional_int(cols, "age_days", f, 0, 365, "bad_age")

        if "sex" in cols:
            sex, sex_st = _to_int(cols["sex"])
            sex = np.where(sex_st == K.EMPTY, 9, np.where(sex == 0, 9, sex))  # 0 = unknown (GB/T 2261.1)
            bad_sex = (sex_st == K.BAD) | (sex_st == K.RANGE) | ~np.isin(sex, S.SEXES)
            f.flag(bad_sex, "bad_sex", "sex", _lazy_display(cols["sex"], bad_sex))
        else:
            sex = np.full(n, 9, dtype=np.int64)
        weight, weight_valid = self._optional_int(cols, "birth_weight_g", f, 1, 10_000, "bad_value")

        primary, p_st = K.normalize_codes(_text_or_cast(cols["primary_dx"]), K.DIAGNOSIS)
        f.flag(p_st == K.EMPTY, "missing_primary_dx", "primary_dx", "")
        f.flag(p_st == K.BAD, "malformed_diagnosis", "primary_dx", _lazy_display(cols["primary_dx"], p_st == K.BAD))
        if "secondary_dx" in cols:
            secondary, s_st, s_detail = _code_lists(cols["secondary_dx"], K.DIAGNOSIS)
            f.flag(s_st == K.BAD, "malformed_diagnosis", "secondary_dx", s_detail)
        else:
            secondary = _empty_lists(n)
        if "procedures" in cols:
            procedures, q_st, q_detail = _code_lists(cols["procedures"], K.PROCEDURE)
            f.flag(q_st == K.BAD, "malformed_procedure", "procedures", q_detail)
        else:
            procedures = _empty_lists(n)

        total, t_st = _to_fen(cols["total_cost"])
        paid, f_st = _to_fen(cols["fund_paid"])
        for name, values, st in (("total_cost", total, t_st), ("fund_paid", paid, f_st)):
            shown = cols[name]
            f.flag((st == K.BAD) | (st == K.EMPTY), "bad_number", name, _lazy_display(shown, (st == K.BAD) | (st == K.EMPTY)))
            f.flag(st == _NONFINITE, "nonfinite_cost", name, _lazy_display(shown, st == _NONFINITE))
            neg = (st == K.OK) & (values < 0)
            f.flag(neg, "negative_cost", name, _lazy_display(shown, neg))
            absurd = (st == K.RANGE) | ((st == K.OK) & (values >= S.ABSURD_COST_YUAN * 100))
            f.flag(absurd, "absurd_cost", name, _lazy_display(shown, absurd))
        over = (t_st == K.OK) & (f_st == K.OK) & (paid > total)
        f.flag(over, "fund_exceeds_total", "fund_paid", _lazy_display(cols["fund_paid"], over))

        way, way_st = _to_int(cols["discharge_way"])
        bad_way = (way_st != K.OK) | ~np.isin(way, S.DISCHARGE_WAYS)
        f.flag(bad_way, "bad_discharge_way", "discharge_way", _lazy_display(cols["discharge_way"], bad_way))

        if "bed_day_category" in cols:
            cat_text = _text(_text_or_cast(cols["bed_day_category"]))
            category, cat_known = _map_labels(cat_text, S.BED_DAY_ALIASES)
            bad_cat = ~cat_known & cat_text.is_valid().to_numpy(zero_copy_only=False)
            f.flag(bad_cat, "bad_bed_day_category", "bed_day_category", _lazy_display(cat_text, bad_cat))
        else:
            category = pa.nulls(n, pa.string())
        icu, icu_valid = self._optional_int(cols, "icu_days", f, 0, 10_000, "bad_value")

        keep = ~f.bad
        keep_idx = pa.array(np.flatnonzero(keep))
        patient = _text(cols["patient_id"]) if "patient_id" in cols else pa.nulls(n, pa.string())
        arrays = [
            case_id, patient, hospital_id,
            pa.array(np.clip(level_values, -1, 127).astype(np.int8)),
            pool,
            pa.array(adm.astype(np.int32), pa.int32()).cast(pa.date32()),
            pa.array(dis.astype(np.int32), pa.int32()).cast(pa.date32()),
            pa.array(np.clip(age, -1, 32767).astype(np.int16)),
            pa.array(age_days.astype(np.int32), mask=~age_days_valid),
            pa.array(np.clip(sex, -1, 127).astype(np.int8)),
            pa.array(weight.astype(np.int32), mask=~weight_valid),
            primary, secondary, procedures,
            S.money_array(total), S.money_array(paid),
            pa.array(np.clip(way, -1, 127).astype(np.int8)),
            category,
            pa.array(icu.astype(np.int16), mask=~icu_valid),
        ]
        table = pa.Table.from_arrays(arrays, schema=_LOOSE_SCHEMA)
        cases = table.take(keep_idx) if not keep.all() else table
        quarantine = self._quarantine(piece, f, case_id, cols)
        return cases.cast(S.CASE_SCHEMA), quarantine

    def _optional_int(self, cols, name, f, lo, hi, reason):
        n = f.reason.size
        if name not in cols:
            return np.zeros(n, np.int64), np.zeros(n, bool)
        values, st = _to_int(cols[name])
        bad = (st == K.BAD) | (st == K.RANGE)
        f.flag(bad, "bad_number", name, _lazy_display(cols[name], bad))
        out = (st == K.OK) & ((values < lo) | (values > hi))
        f.flag(out, reason, name, _lazy_display(cols[name], out))
        return np.where(st == K.OK, values, 0), st == K.OK

    def _check_encoding(self, cols, f, piece) -> None:
        bad_any = np.zeros(piece.batch.num_rows, dtype=bool)
        for name, arr in cols.items():
            if not _is_text(arr):
                continue
            hit = pc.fill_null(pc.match_substring(arr, _REPLACEMENT), False).to_numpy(zero_copy_only=False)
            if hit.any():
                f.flag(hit, "bad_encoding", name, _lazy_display(arr, hit))
                bad_any |= hit
        if bad_any.size >= 20 and bad_any.mean() > _WRONG_ENCODING_SHARE:
            first = int(piece.rows[np.argmax(bad_any)])
            raise InputError("most rows hold bytes that are not valid in the given encoding; "
                             "is the file in another encoding (for example encoding='gbk')?",
                             source=piece.source, row=first)

    def _quarantine(self, piece: Piece, f: _Flags, case_id: pa.Array, cols) -> pa.Table:
        bad = np.flatnonzero(f.bad)
        parts = []
        if bad.size:
            reasons = list(REASONS)
            take = pa.array(bad)
            raw = pa.Table.from_arrays([cols[c].take(take) for c in cols], names=list(cols))
            records = [json.dumps(r, ensure_ascii=False, default=str) for r in raw.to_pylist()]
            messages = []
            for i in bad:
                reason = reasons[f.reason[i]]
                detail = f.detail[i]
                text = REASONS[reason]
                messages.append(f"{text}: '{detail}'" if detail not in (None, "") else text)
            parts.append(pa.table({
                "source": pa.array([piece.source] * bad.size, pa.string()),
                "row": pa.array(piece.rows[bad], pa.int64()),
                "case_id": case_id.take(take),
                "column": pa.array(f.column[bad].tolist(), pa.string()),
                "reason": pa.array([reasons[r] for r in f.reason[bad]], pa.string()),
                "message": pa.array(messages, pa.string()),
                "record": pa.array(records, pa.string()),
            }, schema=S.QUARANTINE_SCHEMA))
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
            }, schema=S.QUARANTINE_SCHEMA))
        if not parts:
            return S.QUARANTINE_SCHEMA.empty_table()
        return pa.concat_tables(parts)


# The case schema with every field nullable: quarantined rows hold placeholders until removed.
_LOOSE_SCHEMA = pa.schema([fld.with_nullable(True) for fld in S.CASE_SCHEMA])


def _empty_lists(n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string()))


def _lazy_display(arr: pa.Array, mask: np.ndarray) -> np.ndarray | None:
    """Per-row display strings of ``arr`` where ``mask`` holds (other rows stay None)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():      # nothing to show (and ``_Flags.flag`` will not look)
        return None
    out = np.empty(mask.size, dtype=object)
    idx = np.flatnonzero(mask)
    out[idx] = _display(_as_array(arr).take(pa.array(idx)))
    return out


def scan_cases(source: Any, hospitals: pa.Table | None = None, encoding: str = "utf-8",
               mapping: dict[str, str] | None = None,
               batch_rows: int | None = None) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Stream a source as validated ``(cases, quarantine)`` batches, in bounded memory.

    Same parameters as :func:`read_cases`; ``batch_rows`` sets the rows per batch.
    """
    from .sources import DEFAULT_BATCH_ROWS
    files = list_files(source)
    validator = Validator(hospitals)
    kwargs = dict(encoding=encoding, batch_rows=batch_rows or DEFAULT_BATCH_ROWS)
    if files is None:
        names = _memory_names(source)
        cols = resolve_columns(names, mapping, source="<table>", need_level=hospitals is None)
        for piece in iter_pieces(source, cols, **kwargs):
            yield validator.process(piece)
        return
    for path in files:
        cols = resolve_columns(source_columns(path, encoding), mapping, source=path,
                               need_level=hospitals is None)
        for piece in iter_pieces(path, cols, **kwargs):
            try:
                yield validator.process(piece)
            except InputError as exc:
                if exc.source is None:
                    raise InputError(str(exc), source=path) from None
                raise


def _memory_names(source: Any) -> list[str]:
    if isinstance(source, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
        return list(source.schema.names)
    if hasattr(source, "__arrow_c_schema__"):
        return list(pa.schema(source).names)
    if hasattr(source, "columns"):
        return [str(c) for c in source.columns]
    if hasattr(source, "__arrow_c_stream__"):
        return list(pa.RecordBatchReader.from_stream(source).schema.names)
    raise InputError(f"cannot read cases from an object of type {type(source).__name__}")


def read_cases(source: Any, hospitals: pa.Table | None = None, encoding: str = "utf-8",
               mapping: dict[str, str] | None = None) -> tuple[pa.Table, pa.Table]:
    """Read and validate inpatient cases.

    Parameters
    ----------
    source : path, list of paths, or in-memory table
        A Parquet file or (hive-partitioned) directory, a CSV file (list fields joined by
        ``|`` or ``,``), an Arrow IPC file, a ``pyarrow.Table``/``RecordBatch``/
        ``RecordBatchReader``, or anything exposing ``__arrow_c_stream__`` (pandas, Polars).
    hospitals : pyarrow.Table, optional
        Hospital registry from :func:`read_hospitals`. Cases of hospitals not in it are
        quarantined, and the registry supplies every case's hospital level.
    encoding : str, default "utf-8"
        Encoding of CSV files; Chinese exports are often ``"gbk"``.
    mapping : dict, optional
        Source column name -> canonical column name, for sources with other field names.
        Settlement-list names (``setl_id``, ``psn_no``, ``fixmedins_code``, ``dscg_way``,
        ...) are understood without a mapping.

    Returns
    -------
    cases : pyarrow.Table
        Canonical case table (:data:`dipcore.schema.CASE_SCHEMA`): normalised codes, money
        as ``decimal128(14, 2)`` yuan (exact fen), dates as ``date32``.
    quarantine : pyarrow.Table
        One row per rejected input row (:data:`dipcore.schema.QUARANTINE_SCHEMA`):
        source, row (1-based, header excluded), case_id, column, reason, message and the
        raw record as JSON.

    Raises
    ------
    InputError
        The source cannot be read, or lacks a required column.
    """
    cases, quarantine = [], []
    for c, q in scan_cases(source, hospitals=hospitals, encoding=encoding, mapping=mapping):
        cases.append(c)
        if q.num_rows:
            quarantine.append(q)
    out = pa.concat_tables(cases) if cases else S.CASE_SCHEMA.empty_table()
    quar = pa.concat_tables(quarantine) if quarantine else S.QUARANTINE_SCHEMA.empty_table()
    if quar.num_rows:
        # files are read in order; within a file, rows by number (malformed CSV rows are
        # reported at the end of their file's stream)
        order = {src: i for i, src in enumerate(dict.fromkeys(quar.column("source").to_pylist()))}
        key = pa.array([order[s] for s in quar.column("source").to_pylist()], pa.int64())
        quar = quar.append_column("_file", key).sort_by([("_file", "ascending"), ("row", "ascending")]).drop_columns(["_file"])
    return out, quar


def read_hospitals(source: Any, encoding: str = "utf-8") -> pa.Table:
    """Read the hospital registry (``hospital_id``, ``level``, ``kind``, ``name``).

    Parameters
    ----------
    source : path or pyarrow.Table
        CSV, Parquet or Arrow file, or a table.
    encoding : str, default "utf-8"
        Encoding of a CSV file.

    Raises
    ------
    InputError
        A missing column, a repeated hospital id, a level other than 1/2/3 or an unknown
        kind, naming the row.
    """
    name = str(source) if isinstance(source, (str, os.PathLike)) else "<table>"
    if isinstance(source, (str, os.PathLike)):
        path = str(source)
        try:
            if path.lower().endswith(".csv"):
                table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding=encoding),
                                       convert_options=pacsv.ConvertOptions(
                                           column_types={"hospital_id": pa.string(), "name": pa.string()}))
            elif path.lower().endswith((".arrow", ".feather", ".ipc")):
                import pyarrow.feather as feather
                table = feather.read_table(path)
            else:
                table = pq.read_table(path)
        except FileNotFoundError:
            raise InputError("no such file", source=path) from None
        except (pa.ArrowException, OSError, UnicodeError) as exc:
            raise InputError(f"cannot read the hospital registry ({str(exc).splitlines()[0]})", source=path) from None
    elif isinstance(source, pa.Table):
        table = source
    elif hasattr(source, "__arrow_c_stream__"):
        table = pa.table(source)
    else:
        raise InputError(f"cannot read hospitals from an object of type {type(source).__name__}")
    lower = {c.lower(): c for c in table.column_names}
    if "level" not in lower and "hospital_level" in lower:
        lower["level"] = lower["hospital_level"]
    for col in ("hospital_id", "level", "kind"):
        if col not in lower:
            raise InputError("the hospital registry lacks a required column", source=name, column=col)
    ids = _text(_as_array(table.column(lower["hospital_id"])))
    levels, st = _to_int(_as_array(table.column(lower["level"])))
    kinds = _text(_text_or_cast(_as_array(table.column(lower["kind"]))))
    kinds = pc.utf8_lower(kinds)
    names = _text(_text_or_cast(_as_array(table.column(lower["name"])))) if "name" in lower \
        else pa.nulls(len(ids), pa.string())
    checks = [
        (ids.is_null().to_numpy(zero_copy_only=False), "hospital_id", "no hospital id"),
        ((st != K.OK) | ~np.isin(levels, (1, 2, 3)), "level", "level is not 1, 2 or 3"),
        (~np.isin(np.array(kinds.to_pylist(), dtype=object), S.HOSPITAL_KINDS), "kind",
         f"kind is not one of {', '.join(S.HOSPITAL_KINDS)}"),
    ]
    for mask, col, text in checks:
        if mask.any():
            raise InputError(text, source=name, row=int(np.argmax(mask)) + 1, column=col)
    dup = K.StringSet(len(ids)).add(*K.string_buffers(ids)).astype(bool)
    if dup.any():
        i = int(np.argmax(dup))
        raise InputError(f"hospital id '{ids[i].as_py()}' appears twice", source=name, row=i + 1,
                         column="hospital_id")
    return pa.Table.from_arrays(
        [ids, pa.array(levels.astype(np.int8)), kinds, names], schema=S.HOSPITAL_SCHEMA)


def save_quarantine(quarantine: pa.Table, path: str | os.PathLike) -> None:
    """Write the quarantine as Parquet (``.parquet``) or UTF-8 CSV (any other suffix).

    The file is written under a temporary name and renamed, so an interrupted run leaves no
    half-written file.
    """
    from .outputs import atomic_path
    path = str(path)
    with atomic_path(path) as tmp:
        if path.lower().endswith((".parquet", ".pq")):
            pq.write_table(quarantine, tmp)
        else:
            pacsv.write_csv(quarantine, tmp)


def source_mapping(part_source: Any, mapping: dict[str, str] | None, encoding: str,
                   need_level: bool) -> dict[str, str]:
    """Canonical -> source column names of one file (or in-memory table)."""
    if isinstance(part_source, (str, os.PathLike)):
        return resolve_columns(source_columns(str(part_source), encoding), mapping,
                               source=str(part_source), need_level=need_level)
    return resolve_columns(_memory_names(part_source), mapping, source="<table>",
                           need_level=need_level)


def scan_part(part, data: Any = None, hospitals: pa.Table | None = None, encoding: str = "utf-8",
              mapping: dict[str, str] | None = None, duplicates: dict | None = None,
              batch_rows: int | None = None) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Validated batches of one partition (see :func:`dipcore.sources.plan_parts`).

    ``data`` is the partition's table for in-memory sources; ``duplicates`` the rows of
    repeated case ids found by :func:`case_id_hashes` over all partitions.
    """
    from .sources import DEFAULT_BATCH_ROWS, iter_part_pieces
    source = data if part.kind == "memory" else part.path
    cols = source_mapping(source, mapping, encoding, need_level=hospitals is None)
    validator = Validator(hospitals, duplicates=duplicates or {})
    for piece in iter_part_pieces(part, data, cols, encoding, batch_rows or DEFAULT_BATCH_ROWS):
        yield validator.process(piece)


def case_id_hashes(part, data: Any = None, encoding: str = "utf-8",
                   mapping: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hash and row number of every non-blank case id of a partition (the duplicate pre-pass).

    Reads the case-id column only. Blank ids are left out, as the validator leaves them out.
    """
    from .sources import DEFAULT_BATCH_ROWS, iter_part_pieces
    source = data if part.kind == "memory" else part.path
    cols = source_mapping(source, mapping, encoding, need_level=False)
    hashes, rows = [], []
    for piece in iter_part_pieces(part, data, {"case_id": cols["case_id"]}, encoding,
                                  DEFAULT_BATCH_ROWS):
        ids = _text(_as_array(piece.batch.column("case_id")))
        valid = ids.is_valid().to_numpy(zero_copy_only=False)
        hashes.append(K.hash_strings(ids)[valid])
        rows.append(piece.rows[valid])
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(hashes), np.concatenate(rows)


def case_ids_at(part, rows: np.ndarray, data: Any = None, encoding: str = "utf-8",
                mapping: dict[str, str] | None = None) -> list[str]:
    """The (trimmed) case ids at the given row numbers of a partition."""
    from .sources import DEFAULT_BATCH_ROWS, iter_part_pieces
    source = data if part.kind == "memory" else part.path
    cols = source_mapping(source, mapping, encoding, need_level=False)
    wanted = set(int(r) for r in rows)
    found: dict[int, str] = {}
    for piece in iter_part_pieces(part, data, {"case_id": cols["case_id"]}, encoding,
                                  DEFAULT_BATCH_ROWS):
        hit = np.flatnonzero(np.isin(piece.rows, rows))
        if hit.size:
            ids = _text(_as_array(piece.batch.column("case_id"))).take(pa.array(hit)).to_pylist()
            found.update(zip(piece.rows[hit].tolist(), ids))
    return [found[int(r)] for r in rows if int(r) in wanted]
