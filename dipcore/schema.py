"""The canonical case schema (SPEC.md section 2) and the hospital registry schema.

This module is the one place that says which columns a case has, their Arrow types, which
are required, and which source field names map onto them.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MONEY = pa.decimal128(14, 2)
CODE_LIST = pa.list_(pa.string())

#: Canonical columns of a case, in order, as ``read_cases`` produces them.
CASE_SCHEMA = pa.schema([
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("patient_id", pa.string()),
    pa.field("hospital_id", pa.string(), nullable=False),
    pa.field("hospital_level", pa.int8(), nullable=False),
    pa.field("pool", pa.string(), nullable=False),
    pa.field("admission_date", pa.date32(), nullable=False),
    pa.field("discharge_date", pa.date32(), nullable=False),
    pa.field("age_years", pa.int16(), nullable=False),
    pa.field("age_days", pa.int32()),
    pa.field("sex", pa.int8(), nullable=False),
    pa.field("birth_weight_g", pa.int32()),
    pa.field("primary_dx", pa.string(), nullable=False),
    pa.field("secondary_dx", CODE_LIST, nullable=False),
    pa.field("procedures", CODE_LIST, nullable=False),
    pa.field("total_cost", MONEY, nullable=False),
    pa.field("fund_paid", MONEY, nullable=False),
    pa.field("discharge_way", pa.int8(), nullable=False),
    pa.field("bed_day_category", pa.string()),
    pa.field("icu_days", pa.int16()),
])

CASE_COLUMNS = tuple(CASE_SCHEMA.names)

#: Columns without which no case can be read. ``hospital_level`` is required unless a
#: hospital registry is given (the registry then supplies it).
REQUIRED_COLUMNS = (
    "case_id", "hospital_id", "pool", "admission_date", "discharge_date", "age_years",
    "primary_dx", "total_cost", "fund_paid", "discharge_way",
)

POOLS = ("employee", "resident")
#: Spellings of the two pools found in exports: English, Chinese, and the national
#: insurance-type codes (insutype 310 employee basic medical insurance, 390 urban and
#: rural resident basic medical insurance).
POOL_ALIASES = {
    "employee": "employee", "职工": "employee", "城镇职工": "employee", "310": "employee",
    "resident": "resident", "居民": "resident", "城乡居民": "resident", "390": "resident",
}
BED_DAY_CATEGORIES = ("psychiatric", "rehabilitation", "hospice")
BED_DAY_ALIASES = {
    "psychiatric": "psychiatric", "精神": "psychiatric", "精神类": "psychiatric",
    "rehabilitation": "rehabilitation", "康复": "rehabilitation", "康复类": "rehabilitation",
    "hospice": "hospice", "安宁疗护": "hospice", "安宁": "hospice",
}
MAX_AGE_YEARS = 130
#: Costs at or above this many yuan are taken to be data errors (SPEC: absurd costs).
ABSURD_COST_YUAN = 1_000_000_000

#: Field names of the national settlement list (医保结算清单) and common exports, mapped
#: onto canonical columns. Applied only when the canonical name itself is absent.
SETTLEMENT_LIST_MAPPING = {
    "setl_id": "case_id",
    "psn_no": "patient_id",
    "fixmedins_code": "hospital_id",
    "hosp_lv": "hospital_level",
    "fixmedins_lv": "hospital_level",
    "insutype": "pool",
    "adm_time": "admission_date",
    "adm_date": "admission_date",
    "begndate": "admission_date",
    "dscg_time": "discharge_date",
    "dscg_date": "discharge_date",
    "enddate": "discharge_date",
    "age": "age_years",
    "nwb_age": "age_days",
    "gend": "sex",
    "nwb_bir_wt": "birth_weight_g",
    "maindiag_code": "primary_dx",
    "main_diag_code": "primary_dx",
    "dscg_maindiag_code": "primary_dx",
    "oth_diag_codes": "secondary_dx",
    "otp_diag_codes": "secondary_dx",
    "oprn_oprt_codes": "procedures",
    "oprn_oprt_code": "procedures",
    "medfee_sumamt": "total_cost",
    "hifp_pay": "fund_paid",
    "fund_pay_sumamt": "fund_paid",
    "dscg_way": "discharge_way",
    "bed_day_type": "bed_day_category",
    "icu_days": "icu_days",
}

#: The hospital registry.
HOSPITAL_SCHEMA = pa.schema([
    pa.field("hospital_id", pa.string(), nullable=False),
    pa.field("level", pa.int8(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("name", pa.string()),
])
HOSPITAL_KINDS = ("general", "tcm", "specialty")

#: The quarantine: one row per input row that was not kept.
QUARANTINE_SCHEMA = pa.schema([
    pa.field("source", pa.string()),
    pa.field("row", pa.int64()),
    pa.field("case_id", pa.string()),
    pa.field("column", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("message", pa.string()),
    pa.field("record", pa.string()),
])


def fen(money: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Integer fen of a ``decimal128(p, 2)`` column, without rounding or floats.

    An Arrow decimal128 stores the unscaled integer in 16 little-endian bytes; for any value
    that fits in int64 the low 8 bytes *are* that integer (two's complement), so this is a
    strided view of the buffer, copied once into a contiguous array. Nulls read as 0.
    """
    if isinstance(money, pa.ChunkedArray):
        parts = [fen(c) for c in money.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if money.type.scale != 2:
        raise TypeError(f"expected a decimal with 2 decimals, got {money.type}")
    words = np.frombuffer(money.buffers()[1], dtype=np.int64, count=2 * (money.offset + len(money)))
    out = np.ascontiguousarray(words[2 * money.offset::2])
    if money.null_count:
        out[~money.is_valid().to_numpy(zero_copy_only=False)] = 0
    return out


def decimal_array(units: np.ndarray, precision: int, scale: int) -> pa.Array:
    """``decimal128(precision, scale)`` from int64 units of ``10**-scale`` (exact).

    The unscaled integer of a decimal128 is 16 little-endian bytes: the int64 itself and
    its sign extension, so the buffer is built directly, with no float or Python object.
    """
    units = np.ascontiguousarray(units, dtype=np.int64)
    words = np.empty(2 * len(units), dtype=np.int64)
    words[0::2] = units
    words[1::2] = units >> 63
    return pa.Array.from_buffers(pa.decimal128(precision, scale), len(units),
                                 [None, pa.py_buffer(words)])


def money_array(fen_values: np.ndarray, precision: int = 14) -> pa.Array:
    """``decimal128(precision, 2)`` yuan from int64 fen (exact)."""
    return decimal_array(fen_values, precision, 2)


def points_array(units: np.ndarray) -> pa.Array:
    """``decimal128(18, 4)`` points from int64 units of 0.0001 point (exact)."""
    return decimal_array(units, 18, 4)


def label_array(names: pa.Array | pa.ChunkedArray, codes: np.ndarray) -> pa.DictionaryArray:
    """The labels ``names[codes]`` of a per-case table, as a dictionary array (null where
    ``codes`` < 0).

    The codes are what the kernels computed; the dictionary array only points at the names,
    so a batch's labels cost no copy of strings, and the Parquet writer writes them as they
    are instead of hashing every string to build its own dictionary. ``plain_labels`` turns
    them into strings for a table kept in memory.
    """
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    codes = np.asarray(codes).astype(np.int32, copy=False)
    negative = codes < 0
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=negative if negative.any() else None),
                                          names)


def label_counts(column: pa.Array | pa.ChunkedArray) -> dict[str | None, int]:
    """How many rows carry each label of a column (plain or dictionary strings; None counts
    the nulls; labels no row carries are left out).

    A dictionary column is counted by its codes (a ``bincount`` per chunk), without looking
    at a string per row: a 10M-case column read back with ``read_dictionary`` takes
    milliseconds, where ``pyarrow.compute.value_counts`` hashes every row.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    counts: dict[str | None, int] = {}
    for chunk in chunks:
        if not pa.types.is_dictionary(chunk.type):
            pairs = pc.value_counts(chunk).to_pylist()
            found = [(r["values"], r["counts"]) for r in pairs]
        else:
            codes = chunk.indices
            if codes.null_count:
                codes = codes.filter(codes.is_valid())
            n = np.bincount(codes.to_numpy(), minlength=len(chunk.dictionary))
            names = chunk.dictionary.to_pylist()
            found = [(names[i], int(n[i])) for i in np.flatnonzero(n)]
            found.append((None, chunk.indices.null_count))
        for name, n_rows in found:
            if n_rows:
                counts[name] = counts.get(name, 0) + n_rows
    return counts


def plain_labels(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary columns (``label_array``) as plain strings: the types of
    ``Settlement.cases``, and of ``cases.parquet`` read back."""
    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
               for c in table.columns]
    return pa.table(columns, names=table.column_names)
