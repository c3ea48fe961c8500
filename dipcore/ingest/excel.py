"""Reading a table from an Excel sheet (python-calamine: fast, read-only).

A sheet is read as the text a CSV file of the same table would hold, so a table given as
``.xlsx`` goes through the very code that reads it as CSV (one implementation of each
rule; the same Arrow types):

* the header is the sheet's first non-empty row; fully empty rows below it are skipped;
* a text cell is its text, as it is (readers trim where their CSV form is trimmed);
* a number is its shortest decimal text: a whole number without a decimal point
  (``1234``, not ``1234.0``), any other as Python writes it (``12.3``). So a code that
  Excel stored as a number comes back as the code text, but leading and trailing zeros
  that a number cannot hold are gone (``0012`` typed as a number is ``12``, ``36.0600``
  is ``36.06``): keep codes with such zeros as text cells (Excel's ``@`` format or a
  leading apostrophe);
* a boolean is ``true`` / ``false``; a date ``2024-01-31`` and a date-time
  ``2024-01-31 08:30:00`` (ISO); an empty cell, and a cell holding an error value such as
  ``#DIV/0!``, is empty.

Rows in messages are the sheet's own row numbers (as Excel shows them: the header is
usually row 1, the first data row row 2), and the source names the file and the sheet.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

import python_calamine

from dipcore.errors import InputError

#: File name endings read as Excel workbooks.
EXCEL_SUFFIXES = (".xlsx",)

# whole numbers up to 2^53 are exact in a double: write them without a decimal point
_EXACT = 2 ** 53


def is_workbook(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an Excel workbook (by its ending, :data:`EXCEL_SUFFIXES`)."""
    return Path(path).suffix.lower() in EXCEL_SUFFIXES


def cell_text(value: object) -> str:
    """The text of a cell as python-calamine gives it (see the module docstring).

    Parameters
    ----------
    value : str, float, int, bool, date, datetime, time or timedelta

    Returns
    -------
    str
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer() and abs(value) < _EXACT:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return "" if value is None else str(value)


@dataclass
class Sheet:
    """A sheet read as text: the header, the data rows and where each row is in the sheet.

    Attributes
    ----------
    path : pathlib.Path
        The workbook.
    name : str
        The sheet's name.
    header : list of str
        Column names (trimmed).
    rows : list of list of str
        Data rows, each as long as the header; fully empty rows are left out.
    row_numbers : list of int
        The sheet row number (1-based, as Excel shows it) of each data row.
    """

    path: Path
    name: str
    header: list[str]
    rows: list[list[str]]
    row_numbers: list[int]

    @property
    def source(self) -> str:
        """How messages name the sheet: ``file, sheet 'name'``."""
        return f"{self.path}, sheet '{self.name}'"

    def row_number(self, data_row: int | None) -> int | None:
        """The sheet row of the 1-based data row ``data_row`` (the numbering of CSV
        readers: header excluded)."""
        if data_row is None or not 1 <= data_row <= len(self.row_numbers):
            return data_row
        return self.row_numbers[data_row - 1]

    def error(self, message: str, data_row: int | None = None,
              column: str | None = None) -> InputError:
        """An :class:`InputError` naming the file, the sheet, the sheet row of data row
        ``data_row`` and ``column``."""
        return InputError(message, source=self.source, row=self.row_number(data_row),
                          column=column)

    def csv_bytes(self) -> bytes:
        """The table as UTF-8 CSV text (RFC 4180, ``\\n`` line ends), header first."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buf.getvalue().encode("utf-8")


def read_sheet(path: str | os.PathLike, sheet: str | int | None = None,
               data: bytes | None = None) -> Sheet:
    """Read one sheet of an Excel workbook as text.

    Parameters
    ----------
    path : str or os.PathLike
        The workbook (named in messages).
    sheet : str or int, optional
        The sheet's name, or its 0-based position; the first sheet when not given.
    data : bytes, optional
        The workbook's bytes, when the caller has read them already (so what is checked,
        e.g. hashed, is what is parsed).

    Returns
    -------
    Sheet

    Raises
    ------
    InputError
        The file is not a readable workbook, the sheet does not exist, or it is empty.
    """
    path = Path(path)
    try:
        if data is None:
            data = path.read_bytes()
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})", source=str(path)) from None
    except python_calamine.CalamineError as exc:
        raise InputError(f"not a readable Excel workbook ({str(exc).splitlines()[0]})",
                         source=str(path)) from None
    names = book.sheet_names
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise InputError(f"the workbook has no sheet {sheet} (it has {len(names)})",
                             source=str(path))
        sheet = names[sheet]
    if sheet not in names:
        raise InputError(f"no sheet named {sheet!r} (sheets: {', '.join(map(repr, names))})",
                         source=str(path))
    try:
        found = book.get_sheet_by_name(sheet)
        cells = found.to_python(skip_empty_area=True)
    except python_calamine.CalamineError as exc:
        raise InputError(f"unreadable sheet ({str(exc).splitlines()[0]})",
                         source=f"{path}, sheet '{sheet}'") from None
    # the used area starts at ``start`` (0-based row, column) of the sheet
    first_row = (found.start or (0, 0))[0] + 1
    rows = [[cell_text(v) for v in r] for r in cells]
    at = next((i for i, r in enumerate(rows) if any(v.strip() for v in r)), None)
    if at is None:
        raise InputError("empty sheet (no header row)", source=f"{path}, sheet '{sheet}'")
    header = [h.strip() for h in rows[at]]
    width = len(header)
    # columns right of the last named one that hold nothing are not part of the table
    while width and not header[width - 1] and not any(
            len(r) >= width and r[width - 1].strip() for r in rows[at + 1:]):
        width -= 1
    body, numbers = [], []
    for i in range(at + 1, len(rows)):
        r = rows[i][:width] + [""] * (width - len(rows[i]))
        if any(v.strip() for v in r):
            body.append(r)
            numbers.append(first_row + i)
    return Sheet(path=path, name=sheet, header=header[:width], rows=body, row_numbers=numbers)
