"""The small input tables of a settlement: special-review case ids (SPEC 5.5), and the
appraisal coefficients, deductions and prepayments per hospital (SPEC 7).

Each is a path (CSV) or a table; a hospital-keyed table may give a value per pool or one
value for all of a hospital's pools. A table that cannot be used stops the run with one
line naming the file, the row or the column.
"""
from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from dipcore.errors import InputError


#: Schema metadata of an input table read from a file: the file's path.
SOURCE_KEY = "dipcore.source"


def case_id_set(source: Any, what: str) -> set[str]:
    """Case ids from a list, a table with ``case_id``, or a CSV / text file."""
    if source is None:
        return set()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InputError("no such file" if not path.exists() else "not a file",
                             source=str(path))
        try:
            text = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as exc:
            raise InputError(f"the {what} file is not UTF-8 text (byte {exc.start})",
                             source=str(path)) from None
        # a header naming case_id (or setl_id) in any column says which column; without
        # one, every line's first field is a case id
        header = [f.strip().lower() for f in text[0].split(",")] if text else []
        named = [i for i, f in enumerate(header) if f in ("case_id", "setl_id")]
        at, rows = (named[0], text[1:]) if named else (0, text)
        fields = [r.split(",") for r in rows if r.strip()]
        return {f[at].strip() for f in fields if len(f) > at and f[at].strip()}
    if isinstance(source, pa.Table):
        if "case_id" not in source.column_names:
            raise InputError(f"the {what} table needs a case_id column")
        return {str(v) for v in source.column("case_id").to_pylist() if v is not None}
    if isinstance(source, (bytes, bytearray)) or not hasattr(source, "__iter__"):
        raise InputError(f"{what} cases: a file, a table with case_id or a collection of "
                         f"case ids, not {type(source).__name__}")
    return {str(v) for v in source}


def small_table(source: Any, what: str) -> pa.Table | None:
    """A small input table (appraisal, deductions, prepaid) from a path or a table."""
    if source is None:
        return None
    if isinstance(source, pa.Table):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"the {what} table is a CSV file or a pyarrow.Table, not "
                         f"{type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file",
                         source=str(path))
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"hospital_id": pa.string(), "pool": pa.string()}))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the {what} table ({str(exc).splitlines()[0]})",
                         source=str(path)) from None
    # errors in its rows name the file (``by_hospital``)
    return table.replace_schema_metadata({SOURCE_KEY: str(path)})


def _amount(v: Any, where: str, value: str, row: int,
            maximum: tuple[str, float] | None = None) -> Decimal:
    """A value of an input table exactly (from its decimal text): a finite number, not
    negative, and not above ``maximum`` (the policy field and its value) when given.
    ``true``, text and infinities stop the run naming the row."""
    def bad(message: str) -> InputError:
        return InputError(message, source=where, row=row, column=value)

    if v is None or (isinstance(v, str) and not v.strip()):
        raise bad(f"empty {value}")
    if isinstance(v, bool):
        raise bad(f"{value} is not a number: {str(v).lower()}")
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise bad(f"{value} is not a number: {v!r}") from None
    if not d.is_finite():
        raise bad(f"{value} is not a finite number: {v!r}")
    if d < 0:
        raise bad(f"{value} is negative: {v}")
    if maximum is not None and d > Decimal(str(maximum[1])):
        raise bad(f"{value} {v} is above the policy's {maximum[0]} = {maximum[1]} (a "
                  "percentage or score given for a coefficient?)")
    return d


def by_hospital(table: pa.Table | None, value: str, what: str, warnings: list[str],
                statements: set[tuple[str, str]], maximum: tuple[str, float] | None = None
                ) -> dict[tuple[str, str | None], Decimal]:
    """Read an input table keyed by hospital (and optionally pool) into
    ``{(hospital, pool or None): value}``.

    Each value is read exactly from its decimal text and must be a finite number, not
    negative (a coefficient, or an amount in yuan), nor above ``maximum`` (the policy
    field bounding it and its value) when given. A hospital given twice for the same
    pool (or twice for all its pools) stops the run naming both rows: whether to add or
    to replace is not ours to guess with money. A row that reaches no statement of
    ``statements`` (``(hospital, pool)`` of the hospitals with cases) is a warning: its
    hospital has no cases, or none in that pool (a misspelt pool too).
    """
    if table is None:
        return {}
    source = (table.schema.metadata or {}).get(SOURCE_KEY.encode())
    where = source.decode() if source else what      # errors name the file
    cols = table.column_names
    for name in ("hospital_id", value, "pool"):
        if cols.count(name) > 1:
            raise InputError(f"the {what} table has two columns {name}", source=where)
    if "hospital_id" not in cols or value not in cols:
        raise InputError(f"the {what} table needs columns hospital_id and {value}",
                         source=where)
    hospitals = {h for h, _ in statements}
    pools = table.column("pool").to_pylist() if "pool" in cols else [None] * table.num_rows
    out: dict = {}
    rows: dict = {}
    for i, (h, p, v) in enumerate(zip(table.column("hospital_id").to_pylist(), pools,
                                      table.column(value).to_pylist())):
        row = i + 1
        if h is None or not str(h).strip():
            raise InputError("empty hospital_id", source=where, row=row, column="hospital_id")
        h = str(h).strip()
        p = str(p).strip() or None if p is not None else None
        key = (h, p)
        if key in rows:
            scope = f"pool {p}" if p else "all its pools"
            raise InputError(f"hospital {h} is given twice for {scope} (rows {rows[key]} and "
                             f"{row})", source=where, row=row, column="hospital_id")
        rows[key] = row
        out[key] = _amount(v, where, value, row, maximum)
        if h not in hospitals:
            warnings.append(f"{what}: hospital {h} has no cases in this settlement")
        elif p is not None and key not in statements:
            warnings.append(f"{what}: row {row}: hospital {h} has no cases in pool {p} "
                            "(the row is not used)")
    return out


def lookup(table: dict, hospital: str, pool: str, default):
    """A hospital's value for a pool: its row for that pool, else its row for any pool."""
    return table.get((hospital, pool), table.get((hospital, None), default))
