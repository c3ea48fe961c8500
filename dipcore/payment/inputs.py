"""The small input tables of a settlement: special-review case ids (SPEC 5.5), and the
appraisal coefficients, deductions and prepayments per hospital (SPEC 7).

Each is a path (CSV) or a table; a hospital-keyed table may give a value per pool or one
value for all of a hospital's pools. A table that cannot be used stops the run with one
line naming the file, the row or the column.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from dipcore.errors import InputError


def case_id_set(source: Any, what: str) -> set[str]:
    """Case ids from a list, a table with ``case_id``, or a CSV / text file."""
    if source is None:
        return set()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError("no such file", source=str(path))
        text = path.read_text(encoding="utf-8-sig").splitlines()
        first = text[0].strip().lower() if text else ""
        rows = text[1:] if first in ("case_id", "setl_id") else text
        return {r.split(",")[0].strip() for r in rows if r.strip()}
    if isinstance(source, pa.Table):
        if "case_id" not in source.column_names:
            raise InputError(f"the {what} table needs a case_id column")
        return {str(v) for v in source.column("case_id").to_pylist() if v is not None}
    return {str(v) for v in source}


def small_table(source: Any, what: str) -> pa.Table | None:
    """A small input table (appraisal, deductions, prepaid) from a path or a table."""
    if source is None:
        return None
    if isinstance(source, pa.Table):
        return source
    path = Path(source)
    if not path.exists():
        raise InputError("no such file", source=str(path))
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"hospital_id": pa.string(), "pool": pa.string()}))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the {what} table ({str(exc).splitlines()[0]})",
                         source=str(path)) from None


def by_hospital(table: pa.Table | None, value: str, what: str, warnings: list[str],
                 hospitals: set[str]) -> dict[tuple[str, str | None], Any]:
    """Read an input table keyed by hospital (and optionally pool); a warning for each
    hospital not among ``hospitals`` (those with cases)."""
    if table is None:
        return {}
    cols = table.column_names
    if "hospital_id" not in cols or value not in cols:
        raise InputError(f"the {what} table needs columns hospital_id and {value}",
                         source=what)
    pools = table.column("pool").to_pylist() if "pool" in cols else [None] * table.num_rows
    out: dict = {}
    for i, (h, p, v) in enumerate(zip(table.column("hospital_id").to_pylist(), pools,
                                      table.column(value).to_pylist())):
        if v is None:
            raise InputError(f"empty {value}", source=what, row=i + 1, column=value)
        h = str(h).strip()
        if h not in hospitals:
            warnings.append(f"{what}: hospital {h} has no cases in this settlement")
        out[(h, p.strip() if isinstance(p, str) and p.strip() else None)] = v
    return out


def lookup(table: dict, hospital: str, pool: str, default):
    """A hospital's value for a pool: its row for that pool, else its row for any pool."""
    return table.get((hospital, pool), table.get((hospital, None), default))
