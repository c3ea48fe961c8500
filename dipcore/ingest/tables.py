"""Small tables a user hands in whole (an official catalogue, a DRG weight table): a CSV
file or a sheet of an Excel workbook, read into the same Arrow table.

An Excel sheet is turned into the CSV text of the same table (``dipcore.ingest.excel``) and
parsed by the same pyarrow CSV reader with the same options, so both forms give the same
column types and every later rule runs once, on Arrow. Messages name the row as the user
sees it: the data row of a CSV file (header excluded, as everywhere in dipcore), the sheet's
own row number in a workbook, with the sheet's name.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore.errors import InputError
from dipcore.ingest.excel import Sheet, is_workbook, read_sheet


@dataclass
class SourceTable:
    """A table as read, and how to point at one of its cells.

    Attributes
    ----------
    table : pyarrow.Table
    path : pathlib.Path
        The file it came from.
    sheet : Sheet or None
        The Excel sheet it came from (None for CSV).
    """

    table: pa.Table
    path: Path
    sheet: Sheet | None = None

    @property
    def source(self) -> str:
        """The file (and sheet) as messages name it."""
        return self.sheet.source if self.sheet is not None else str(self.path)

    def error(self, message: str, index: int | None = None,
              column: str | None = None) -> InputError:
        """An :class:`InputError` about the row at 0-based position ``index`` of
        :attr:`table` (None: the whole table) and ``column``."""
        row = None if index is None else index + 1
        if self.sheet is not None:
            return self.sheet.error(message, row, column)
        return InputError(message, source=str(self.path), row=row, column=column)

    def floats(self, name: str) -> list[float | None]:
        """Column ``name`` as floats (None where empty); a value that is not a number is
        an :class:`InputError` naming its row and column."""
        column = self.table.column(name)
        try:
            return column.cast(pa.float64()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # the first value Arrow itself cannot read (Python's float() is laxer: "1_000",
            # full-width digits), named by its row
            for i, v in enumerate(column.to_pylist()):
                try:
                    pa.array([v], column.type).cast(pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise self.error(f"not a number: {v!r}", i, name) from None
            raise self.error("not a column of numbers", None, name) from None


def read_table(path: str | os.PathLike, what: str, column_types: dict[str, pa.DataType],
               sheet: str | int | None = None, strings_can_be_null: bool = True
               ) -> SourceTable:
    """Read a CSV file, or a sheet of an ``.xlsx`` workbook, as one Arrow table.

    Parameters
    ----------
    path : str or os.PathLike
        ``.xlsx`` (``dipcore.ingest.excel.EXCEL_SUFFIXES``) is read as a workbook, anything
        else as UTF-8 CSV (a BOM is allowed).
    what : str
        What the table is, for messages (``"DRG weight table"``).
    column_types : dict
        Types of the columns that must not be inferred (codes stay strings).
    sheet : str or int, optional
        The workbook's sheet: its name or 0-based position (default: the first).
    strings_can_be_null : bool
        Whether an empty text cell is null (pyarrow's CSV option of the same name).

    Returns
    -------
    SourceTable
    """
    path = Path(path)
    found = read_sheet(path, sheet) if is_workbook(path) else None
    source = io.BytesIO(found.csv_bytes()) if found is not None else path
    try:
        table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(
            column_types=column_types, strings_can_be_null=strings_can_be_null))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable {what} ({str(exc).splitlines()[0]})",
                         source=found.source if found is not None else str(path)) from None
    return SourceTable(table, path, found)


def read_parquet_file(path: str | os.PathLike, columns: list[str] | None = None,
                      memory_map: bool = False, dictionary: list[str] | None = None) -> pa.Table:
    """A Parquet file read whole (or ``columns`` of it; the text columns ``dictionary`` as
    dictionary arrays); a directory of them (a distributed run's per-case results) too.

    ``pyarrow.parquet.read_table`` goes through ``pyarrow.dataset``, whose first import also
    imports pandas where it is installed: 0.3-0.5 s of every fresh process that only wants a
    catalogue, a registry or a result file. A single file needs none of it.

    Raises
    ------
    OSError, pyarrow.ArrowException
        As ``pyarrow.parquet`` does: callers name the file in their message.
    """
    if os.path.isdir(path):
        return pq.read_table(path, columns=columns, memory_map=memory_map,
                             read_dictionary=dictionary)
    return pq.ParquetFile(os.fspath(path), memory_map=memory_map,
                          read_dictionary=dictionary).read(columns=columns)


def header_of(path: str | os.PathLike, sheet: str | int | None = None) -> list[str]:
    """The column names of a CSV file or workbook sheet (to tell which table it is)."""
    path = Path(path)
    if is_workbook(path):
        return read_sheet(path, sheet).header
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return [c.strip().strip('"') for c in fh.readline().split(",")]
