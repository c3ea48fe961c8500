"""Result tables as an Excel workbook (XlsxWriter, constant-memory mode).

:func:`write_tables` writes named pyarrow tables as the sheets of one ``.xlsx`` file,
atomically (``dipcore.reports.files.atomic_path``: a temporary name, then a rename, with the
permissions any new file gets under the umask). Settlement and audit results use it
(``Settlement.save(..., format="xlsx")``, ``Audit.save(..., format="xlsx")``), and so may
any report that hands tables to people.

How a column is shown is decided in one place, :func:`number_format`, first match wins:

=======================================  =====================  ==========================
column                                   number format          example
=======================================  =====================  ==========================
decimal, scale 2 (money, yuan)           ``#,##0.00``           1,234,567.89
decimal, scale 4 (points)                ``#,##0.0000``         12,345.6789
other decimal of scale s                 ``#,##0.`` + s zeros
``fund_ratio``, ``*_share``, ``*_rate``  ``0.00%``              fractions: 0.0312 is 3.12%
``year``, ``month``, ``row``, levels     ``0``                  2024
``*coefficient*``, ``cmi``               ``0.0000``             0.9500
``point_value``, ``*_point_value``       ``#,##0.0000``         yuan per point
O/E and ratios (``*_oe``, ``ratio``,     ``0.000``              1.234
``effect``, funnel values and limits)
z (``z``, ``*_z``, ``*_z_growth``)       ``0.00``               3.09
``points*`` (floating point)             ``#,##0.0000``
other integer                            ``#,##0``              12,345
other floating point                     ``#,##0.00##``         2 to 4 decimals
date / timestamp                         ``yyyy-mm-dd`` [hh:mm:ss]
text, booleans                           as they are
lists (e.g. audit ``flags``)             joined with ``;``      ``cost;upcoding``
=======================================  =====================  ==========================

Name rules apply to numeric columns only (a text column called ``*_rate`` stays text).

Values read back equal to the tables:

* Decimals are written as numbers (Excel holds a double). A decimal of at most 15
  significant digits survives the double exactly: read back and rounded to its scale it is
  the same decimal, so money below 10^13 yuan is exact to the fen and points below 10^11
  to the 0.0001 point. A larger decimal, and an integer beyond 2^53, is written as its
  exact text rather than as a rounded number.
* Floating-point values keep 16 significant digits (XlsxWriter's number text; Excel itself
  shows 15).
* Nulls are empty cells, and so are empty strings and empty lists. NaN (no value) is an
  empty cell too; +inf and -inf (an O/E where the peers had no events) are the text
  ``inf`` and ``-inf``, since Excel has no infinite number.

Excel holds at most 1,048,576 rows a sheet (header included): a longer table continues on
further sheets named ``name (2)``, ``name (3)`` ..., each with the header; nothing is cut.

Each sheet has a bold header row that stays in view (frozen), an autofilter over the table,
and columns sized to their header and first rows (a Chinese character counts double).
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from dipcore.reports.files import atomic_path

if TYPE_CHECKING:
    import xlsxwriter

#: Rows of an Excel sheet, the header row included.
EXCEL_MAX_ROWS = 1_048_576
#: Characters Excel keeps in one cell.
EXCEL_MAX_TEXT = 32_767
#: Characters of a sheet name.
EXCEL_MAX_SHEET_NAME = 31

MONEY = "#,##0.00"
POINTS = "#,##0.0000"
PERCENT = "0.00%"
INTEGER = "#,##0"
FLOAT = "#,##0.00##"
DATE = "yyyy-mm-dd"
TIMESTAMP = "yyyy-mm-dd hh:mm:ss"

#: Number formats of numeric columns by name (``fnmatch`` patterns), first match wins;
#: see the module docstring. Decimal columns are formatted by their scale before these.
NAME_FORMATS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("fund_ratio", "*_share", "*_rate"), PERCENT),
    (("year", "month", "row", "level", "*_level"), "0"),
    (("*coefficient*", "cmi"), "0.0000"),
    (("point_value", "*_point_value"), "#,##0.0000"),
    (("*_oe", "*_oe_previous", "ratio", "previous_ratio", "effect", "value", "null",
      "lower_*", "upper_*"), "0.000"),
    (("z", "*_z", "*_z_growth", "z_limit"), "0.00"),
    (("points*",), POINTS),
)

#: Column widths (in characters) are kept within these bounds.
MIN_WIDTH, MAX_WIDTH = 6, 60
#: Rows looked at to size a text column.
WIDTH_SAMPLE = 2_000

# a double holds every integer up to 2^53 exactly, and every decimal of up to 15 significant
# digits (DBL_DIG) such that it reads back as the same decimal; beyond, a number is rounded
_EXACT = 2 ** 53
_DECIMAL_DIGITS = 15


def number_format(field: pa.Field) -> str | None:
    """The Excel number format of a column (None: as it is), by the rules of the module
    docstring.

    Parameters
    ----------
    field : pyarrow.Field
        The column's name and type.

    Returns
    -------
    str or None
    """
    t = field.type
    if pa.types.is_decimal(t):
        return {2: MONEY, 4: POINTS}.get(t.scale, "#,##0" + ("." + "0" * t.scale
                                                            if t.scale > 0 else ""))
    if pa.types.is_date(t):
        return DATE
    if pa.types.is_timestamp(t):
        return TIMESTAMP
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None
    for patterns, fmt in NAME_FORMATS:
        if any(fnmatch.fnmatchcase(field.name, p) for p in patterns):
            return fmt
    return INTEGER if pa.types.is_integer(t) else FLOAT


def text_width(text: str) -> int:
    """Display width of ``text``: a wide (e.g. Chinese) character counts double."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def sheet_names(name: str, rows: int, max_rows: int = EXCEL_MAX_ROWS) -> list[tuple[str, int, int]]:
    """The sheets a table of ``rows`` rows needs: ``(sheet name, first row, rows)`` each.

    Parameters
    ----------
    name : str
        The table's sheet name; continuation sheets are ``name (2)``, ``name (3)`` ...
    rows : int
        Data rows of the table.
    max_rows : int
        Rows a sheet holds, the header included (Excel: 1,048,576).

    Returns
    -------
    list of (str, int, int)
    """
    per_sheet = max_rows - 1
    if per_sheet < 1:
        raise ValueError(f"a sheet of {max_rows} rows has no room below its header")
    out = []
    for k, start in enumerate(range(0, max(rows, 1), per_sheet), start=1):
        suffix = "" if k == 1 else f" ({k})"
        out.append((name[:EXCEL_MAX_SHEET_NAME - len(suffix)] + suffix, start,
                    min(per_sheet, rows - start)))
    return out


def with_names(table: pa.Table, names: Mapping[str, str] | pa.Table | None) -> pa.Table:
    """``table`` with a ``hospital_name`` column after ``hospital_id`` (and likewise
    ``previous_hospital_name`` after ``previous_hospital_id``...), when ``names`` is given
    and the table has no such column yet. Unknown hospitals get a null name.

    Parameters
    ----------
    table : pyarrow.Table
    names : mapping, pyarrow.Table or None
        ``{hospital_id: name}``, a hospital registry (``hospital_id``, ``name``) or a
        statement table (``hospital_id``, ``hospital_name``).

    Returns
    -------
    pyarrow.Table
    """
    lookup = _name_lookup(names)
    if lookup is None:
        return table
    ids, values = lookup
    for column in list(table.column_names):
        if not (column == "hospital_id" or column.endswith("_hospital_id")):
            continue
        target = column[:-len("hospital_id")] + "hospital_name"
        if target in table.column_names:
            continue
        at = pc.index_in(table.column(column).cast(pa.string()), value_set=ids)
        table = table.add_column(table.schema.get_field_index(column) + 1, target,
                                 values.take(at))
    return table


def _name_lookup(names) -> tuple[pa.Array, pa.Array] | None:
    """``(ids, names)`` as aligned string arrays, or None."""
    if names is None:
        return None
    if isinstance(names, pa.Table):
        column = "hospital_name" if "hospital_name" in names.column_names else "name"
        if "hospital_id" not in names.column_names or column not in names.column_names:
            return None
        ids = names.column("hospital_id").cast(pa.string()).combine_chunks()
        values = names.column(column).cast(pa.string()).combine_chunks()
        # a statement has a row per (hospital, pool): the first row of each hospital names it
        keep = pa.array(_first_rows(ids), pa.int64())
        return ids.take(keep), values.take(keep)
    items = [(str(k), None if v is None else str(v)) for k, v in dict(names).items()]
    return (pa.array([k for k, _ in items], pa.string()),
            pa.array([v for _, v in items], pa.string()))


def _first_rows(ids: pa.Array) -> list[int]:
    seen: set = set()
    out = []
    for i, h in enumerate(ids.to_pylist()):
        if h not in seen:
            seen.add(h)
            out.append(i)
    return out


def write_tables(path: str | os.PathLike, tables: Mapping[str, pa.Table], *,
                 names: Mapping[str, str] | pa.Table | None = None,
                 max_rows: int = EXCEL_MAX_ROWS) -> Path:
    """Write ``tables`` as the sheets of one workbook at ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.xlsx`` file to write (replaced if it exists; untouched if writing fails).
    tables : mapping of str to pyarrow.Table
        Sheet name -> table, in sheet order. A name is cut to Excel's 31 characters; a
        table longer than a sheet continues on sheets ``name (2)``, ``name (3)`` ...
    names : mapping, pyarrow.Table, optional
        Hospital names to show beside every ``hospital_id`` column (:func:`with_names`).
    max_rows : int
        Rows a sheet holds, the header included (Excel's limit; smaller only for tests).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    # imported here: a tenth of a second that every run writing no workbook would pay
    import xlsxwriter

    path = Path(path)
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(prefix="dipcore-xlsx-") as work:
        # constant memory: each sheet's rows go to a temporary file in ``work`` as they are
        # written, so memory does not grow with the table; the directory goes on failure
        book = xlsxwriter.Workbook(tmp, {"constant_memory": True, "tmpdir": work,
                                         "remove_timezone": True})
        try:
            formats = _Formats(book)
            for name, table in tables.items():
                table = with_names(table, names)
                for sheet, start, rows in sheet_names(name, table.num_rows, max_rows):
                    _write_sheet(book.add_worksheet(sheet), table.slice(start, rows), formats)
        except BaseException:
            # closing releases the sheets' row files; what it writes is removed with ``tmp``
            with contextlib.suppress(Exception):
                book.close()
            raise
        book.close()
    return path


class _Formats:
    """Cell formats of one workbook, one per number format."""

    def __init__(self, book: xlsxwriter.Workbook):
        self.book = book
        self.header = book.add_format({"bold": True})
        self._by_number: dict[str | None, Any] = {None: None}

    def __getitem__(self, number_format: str | None):
        if number_format not in self._by_number:
            self._by_number[number_format] = self.book.add_format(
                {"num_format": number_format})
        return self._by_number[number_format]


def _write_sheet(ws, table: pa.Table, formats: _Formats) -> None:
    columns = [_column(ws, table.schema.field(j), table.column(j)) for j in
               range(table.num_columns)]
    for j, (name, field) in enumerate(zip(table.column_names, table.schema)):
        ws.write_string(0, j, name, formats.header)
        fmt = number_format(field)
        ws.set_column(j, j, _width(name, field, table.column(j), fmt), formats[fmt])
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(table.num_rows, 1), max(table.num_columns - 1, 0))
    cells = [(j, values, write, formats[fmt]) for j, (values, write, fmt) in enumerate(columns)]
    # row by row: constant-memory mode writes each row out once the next one starts
    for i in range(table.num_rows):
        r = i + 1
        for j, values, write, fmt in cells:
            v = values[i]
            if v is not None:
                write(r, j, v, fmt)


def _column(ws, field: pa.Field, column: pa.ChunkedArray
            ) -> tuple[list, Callable[..., Any], str | None]:
    """``(values, write(row, col, value, format), number format)`` of one column: values
    converted once for the whole column, ``None`` for an empty cell. ``write`` is the
    worksheet's own method unless the column mixes numbers and text (a cell call is most
    of the time a workbook takes)."""
    t = field.type
    fmt = number_format(field)

    def number_or_text(r, c, v, f):
        return ws.write_string(r, c, v) if type(v) is str else ws.write_number(r, c, v, f)

    if pa.types.is_decimal(t):
        limit = 10 ** (_DECIMAL_DIGITS - t.scale)
        values = column.cast(pa.float64()).to_pylist()
        big = pc.greater_equal(pc.abs(column.cast(pa.float64())), limit)
        if not pc.any(big).as_py():
            return values, ws.write_number, fmt
        # the exact digits, as text, where a double would round them
        exact = column.to_pylist()
        values = [str(e) if b else v for v, e, b in zip(values, exact, big.to_pylist())]
        return values, number_or_text, fmt
    if pa.types.is_integer(t):
        values = column.to_pylist()
        lo, hi = pc.min_max(column).values()
        if (hi.as_py() or 0) <= _EXACT and (lo.as_py() or 0) >= -_EXACT:
            return values, ws.write_number, fmt
        values = [None if v is None else (str(v) if abs(v) > _EXACT else v) for v in values]
        return values, number_or_text, fmt
    if pa.types.is_floating(t):
        values = column.to_pylist()
        if not pc.any(pc.invert(pc.is_finite(column))).as_py():
            return values, ws.write_number, fmt
        values = [None if v is None or v != v else
                  ("inf" if v > 0 else "-inf") if v in (float("inf"), float("-inf")) else v
                  for v in values]
        return values, number_or_text, fmt
    if pa.types.is_boolean(t):
        return column.to_pylist(), ws.write_boolean, fmt
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return column.to_pylist(), ws.write_datetime, fmt
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        column = pc.binary_join(column.cast(pa.list_(pa.string())), ";")
    elif pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
    return _texts(column, field.name), ws.write_string, fmt


def _texts(column, name: str) -> list:
    """Cell texts; empty strings are empty cells, as nulls are. A text longer than a cell
    holds is an error (Excel would cut it)."""
    values = [None if v is None or v == "" else v if type(v) is str else str(v)
              for v in column.to_pylist()]
    for i, v in enumerate(values):
        if v is not None and len(v) > EXCEL_MAX_TEXT:
            raise ValueError(f"a cell of {len(v):,} characters (column {name!r}, row {i + 2}) "
                             f"is longer than Excel's {EXCEL_MAX_TEXT:,}")
    return values


def _width(name: str, field: pa.Field, column: pa.ChunkedArray, fmt: str | None) -> float:
    """A column width (characters) that shows the header (with its filter button) and
    the values of the first rows."""
    widest = text_width(name) + 3
    sample = column.slice(0, WIDTH_SAMPLE)
    t = field.type
    if pa.types.is_decimal(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        # only a width: a rounded value will do
        finite = sample.cast(pa.float64(), safe=False)
        finite = finite.filter(pc.is_finite(finite)) if len(finite) else finite
        if len(finite):
            lo, hi = pc.min_max(finite).values()
            big = max(abs(lo.as_py() or 0), abs(hi.as_py() or 0))
            decimals = len(fmt.split(".")[1].rstrip("#%")) if fmt and "." in fmt else 0
            if fmt == PERCENT:
                big *= 100
            shown = f"{big:,.{decimals}f}" + ("%" if fmt == PERCENT else "")
            widest = max(widest, len(shown) + 3)
    elif pa.types.is_date(t):
        widest = max(widest, 12)
    elif pa.types.is_timestamp(t):
        widest = max(widest, 20)
    else:
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            sample = pc.binary_join(sample.cast(pa.list_(pa.string())), ";")
        for v in sample.to_pylist():
            if v is not None:
                widest = max(widest, text_width(str(v)[:MAX_WIDTH * 2]) + 2)
    return float(min(max(widest, MIN_WIDTH), MAX_WIDTH))
