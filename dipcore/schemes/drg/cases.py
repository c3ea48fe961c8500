"""The input of the grouper: any case source as a table of the columns it reads, and the
columns as integers and code lists (codes kept as recorded; the grouper folds them)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore._kernels import drg as K
from dipcore.errors import InputError
from dipcore.ingest.sources import CSV_SUFFIXES, IPC_SUFFIXES, source_columns

CASE_COLUMNS = ("case_id", "sex", "age_years", "age_days", "birth_weight_g", "primary_dx",
                "secondary_dx", "procedures")
INT_COLUMNS = ("sex", "age_years", "age_days", "birth_weight_g")
LIST_COLUMNS = ("secondary_dx", "procedures")


def as_table(cases: Any, encoding: str = "utf-8") -> pa.Table:
    """The grouper's columns of any case source: a table, batch, stream or
    ``__arrow_c_stream__`` object, or a path to Parquet (file or directory), CSV (list
    fields joined by ``,`` or ``|``; ``encoding`` utf-8 or gbk) or Arrow IPC."""
    if isinstance(cases, (str, os.PathLike)) and \
            os.fspath(cases).lower().endswith(CSV_SUFFIXES + IPC_SUFFIXES):
        table, source = _read_file(os.fspath(cases), encoding), os.fspath(cases)
    elif isinstance(cases, (str, os.PathLike)):
        path = os.fspath(cases)
        try:
            dataset = pq.ParquetDataset(path)
            names = dataset.schema.names
            table = pq.read_table(path, columns=[c for c in CASE_COLUMNS if c in names],
                                  read_dictionary=code_leaves(dataset))
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"cannot read the cases as Parquet ({str(exc).splitlines()[0]})",
                             source=path) from None
        source = path
    elif isinstance(cases, pa.Table):
        table, source = cases, "<table>"
    elif isinstance(cases, pa.RecordBatch):
        table, source = pa.Table.from_batches([cases]), "<batch>"
    elif isinstance(cases, pa.RecordBatchReader):
        table, source = cases.read_all(), "<stream>"
    elif hasattr(cases, "__arrow_c_stream__"):
        table, source = pa.RecordBatchReader.from_stream(cases).read_all(), "<stream>"
    else:
        raise InputError(f"cannot group a {type(cases).__name__}: give a pyarrow Table or "
                         "RecordBatch, an object with __arrow_c_stream__, or a Parquet path")
    for col in CASE_COLUMNS:
        if col not in table.column_names:
            raise InputError("column missing", source=source, column=col)
    return table.select(list(CASE_COLUMNS))


def _read_file(path: str, encoding: str) -> pa.Table:
    """A CSV or Arrow IPC file whole; CSV codes and ids as text, numbers as integers."""
    try:
        if path.lower().endswith(IPC_SUFFIXES):
            with pa.memory_map(path) as source:
                try:
                    return pa.ipc.open_file(source).read_all()
                except pa.ArrowInvalid:
                    source.seek(0)
                    return pa.ipc.open_stream(source).read_all()
        types = {c: pa.string() for c in ("case_id", "primary_dx") + LIST_COLUMNS}
        types.update({c: pa.int64() for c in INT_COLUMNS})
        # only the grouper's columns are converted (a missing one is named by the caller)
        wanted = [n for n in source_columns(path, encoding) if n in CASE_COLUMNS]
        return pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding=encoding),
                              convert_options=pacsv.ConvertOptions(column_types=types,
                                                                   include_columns=wanted))
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read the cases ({str(exc).splitlines()[0]})",
                         source=path) from None


def code_leaves(dataset: pq.ParquetDataset) -> list[str]:
    """Parquet leaf columns of the codes, to read as dictionaries: Parquet stores them
    dictionary-encoded, and reading them so skips building millions of strings (about 3x
    faster) and lets the interner hash each distinct code once."""
    if not dataset.files:
        return []
    schema = pq.ParquetFile(dataset.files[0], filesystem=dataset.filesystem).schema
    leaves = []
    for i in range(len(schema)):
        col = schema.column(i)
        top = col.path.split(".")[0]
        if (top in ("primary_dx", "secondary_dx", "procedures")
                and col.physical_type == "BYTE_ARRAY"):
            leaves.append(col.path)
    return leaves


def ints(col: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray:
    """int64 values, ``NULL`` for null."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_int64(col.type):
        try:
            col = col.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"not integers ({str(exc).splitlines()[0]})", column=name) from None
    if col.null_count:
        col = col.fill_null(K.NULL)
    return col.to_numpy()


def one_chunk(col: pa.ChunkedArray) -> pa.Array:
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def list_parts(col: pa.ChunkedArray, name: str) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """A list column as ``(lo int32[n], hi int32[n], values)``: case i's codes are
    ``values[lo[i]:hi[i]]``. A null list has none. Joined strings are split on ``,`` and
    ``|`` keeping empty pieces, as the reference does (an empty piece is a code in no
    table)."""
    arr = one_chunk(col)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.dictionary_decode(), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        arr = pc.split_pattern_regex(text_column(arr, name), pattern=r"[,|]")
    elif pa.types.is_null(t):
        z = np.zeros(len(arr), np.int32)
        return z, z, pa.array([], pa.string())
    elif pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        arr = arr.cast(pa.list_(t.value_type))
    elif not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        raise InputError(f"a list of codes or joined text was expected, not {t}", column=name)
    off = arr.offsets.to_numpy()
    first, last = int(off[0]), int(off[-1])
    values = text_column(arr.values.slice(first, last - first), name)
    lo = (off[:-1] - first).astype(np.int32)
    hi = (off[1:] - first).astype(np.int32)
    if arr.null_count:
        # a null slot may still span values (Arrow allows it): it holds no codes
        nulls = arr.is_null().to_numpy(zero_copy_only=False)
        hi = np.where(nulls, lo, hi).astype(np.int32)
    return lo, hi, values


def text_column(arr: pa.Array, name: str) -> pa.Array:
    """A column of codes as ``string`` (or ``dictionary<string>``): Polars' string views,
    large strings and all-null columns are cast; anything else is an error."""
    t = arr.type
    if pa.types.is_string(t) or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)):
        return arr
    if (pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t)
            or pa.types.is_dictionary(t)):
        try:
            return arr.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    raise InputError(f"codes as text were expected, not {t}", column=name)
