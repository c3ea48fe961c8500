"""Saving a result's tables (settlement, audit, sweep): each as Parquet, the machine copy
reports read, and as the copy for people in the format asked for: a CSV file each, or one
workbook with a sheet each (``dipcore.reports.excel``). Every file is written atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore.reports.excel import write_tables
from dipcore.reports.files import atomic_path, human_format


def save_tables(directory: Path, tables: Mapping[str, pa.Table], format: str, workbook: str,
                *, sheets: Mapping[str, str] | None = None,
                csv: Mapping[str, pa.Table] | None = None,
                names: Mapping[str, str] | pa.Table | None = None,
                sheet_if_rows: tuple[str, ...] = ()) -> None:
    """Write ``<name>.parquet`` for every table, and ``<name>.csv`` each (``format="csv"``)
    or the sheets of ``workbook`` (``"xlsx"``).

    Parameters
    ----------
    directory : Path
        Where the files go (it exists).
    tables : mapping of str to pyarrow.Table
        File name (without suffix) -> table, in sheet order.
    format : {"csv", "xlsx"}
    workbook : str
        The workbook's file name.
    sheets : mapping, optional
        File name -> sheet name, where they differ.
    csv : mapping, optional
        File name -> the table its CSV file holds instead (lists joined, for instance).
    names : mapping or pyarrow.Table, optional
        Hospital names beside each ``hospital_id`` in the workbook.
    sheet_if_rows : tuple of str
        Tables that get a sheet only when they have rows.
    """
    human = human_format(format)
    for name, table in tables.items():
        with atomic_path(directory / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp)
        if human == "csv":
            with atomic_path(directory / f"{name}.csv") as tmp:
                pacsv.write_csv((csv or {}).get(name, table), tmp)
    if human == "xlsx":
        write_tables(directory / workbook,
                     {(sheets or {}).get(name, name): table for name, table in tables.items()
                      if name not in sheet_if_rows or table.num_rows}, names=names)
