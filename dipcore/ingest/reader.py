"""Reading cases and the hospital registry: mapping, conversion, validation, quarantine.

``read_cases`` turns any supported source into the canonical case table of SPEC.md
section 2 and a quarantine table. Every input row ends up in exactly one of the two
(``rows in = kept + quarantined``). A row goes to the quarantine, with its file, row
number, case id, column, reason code and message, when any of its values cannot be used;
the first failing check (in the order of ``REASONS``) names the reason. A source that cannot
be used at all (unreadable file, missing required column) raises :class:`InputError`.
"""
from __future__ import annotations

import codecs
import os
import warnings
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dipcore import schema
from dipcore._kernels import strings as K
from dipcore.errors import InputError, positive_whole
from dipcore.ingest.checking import Checking
from dipcore.ingest.checks import REASONS
from dipcore.ingest.codelist import CodeList, UnknownCodes
from dipcore.ingest.convert import as_array, to_int, trimmed_text
from dipcore.ingest.dedupe import case_ids
from dipcore.ingest.sources import (
    DEFAULT_BATCH_ROWS,
    Piece,
    count_rows,
    iter_part_pieces,
    iter_pieces,
    list_files,
    source_columns,
)
from dipcore.ingest.tables import read_parquet_file
from dipcore.ingest.validate import CheckedBatch

R = TypeVar("R")

__all__ = ["REASONS", "read_cases", "scan_cases", "read_hospitals"]


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
        if canon not in schema.CASE_COLUMNS:
            raise InputError(f"mapping names '{canon}', which is not a case column "
                             f"(columns: {', '.join(schema.CASE_COLUMNS)})", source=source)
        if src.strip().lower() not in by_lower:
            raise InputError(f"mapping names source column '{src}', which the source does not "
                             "have", source=source, column=src)
        resolved[canon] = by_lower[src.strip().lower()]
    for canon in schema.CASE_COLUMNS:
        if canon not in resolved and canon in by_lower:
            resolved[canon] = by_lower[canon]
    for alias, canon in schema.SETTLEMENT_LIST_MAPPING.items():
        if canon not in resolved and alias in by_lower:
            resolved[canon] = by_lower[alias]
    required = schema.REQUIRED_COLUMNS + (("hospital_level",) if need_level else ())
    for canon in required:
        if canon not in resolved:
            hint = " (or give a hospital registry)" if canon == "hospital_level" else ""
            raise InputError(f"missing required column{hint}", source=source, column=canon)
    return {c: resolved[c] for c in schema.CASE_COLUMNS if c in resolved}


def check_encoding(encoding: Any) -> str:
    """``encoding`` when Python knows the codec; an :class:`InputError` otherwise."""
    if not isinstance(encoding, str):
        raise InputError(f"encoding must be a text such as 'gbk', not {type(encoding).__name__}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}") from None
    return encoding


def reading_options(hospitals: Any = None, encoding: Any = "utf-8", mapping: Any = None,
                    batch_rows: Any = None) -> tuple[pa.Table | None, str, dict | None,
                                                     int | None]:
    """The options every reading of cases takes, checked once where a job starts, so a
    wrong one stops with one line instead of a traceback deep in a batch.

    ``hospitals`` may be a registry table or the path of one (read by
    :func:`read_hospitals`, which also checks a table given); ``encoding`` a codec Python
    knows; ``mapping`` text to text; ``batch_rows`` a positive whole number.
    """
    check_encoding(encoding)
    if mapping is not None and not (isinstance(mapping, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())):
        raise InputError("mapping must be a dict of source column name to case column name, "
                         f"not {mapping!r}")
    batch_rows = positive_whole(batch_rows, "batch_rows")
    if hospitals is not None:
        if not isinstance(hospitals, (pa.Table, str, os.PathLike)):
            raise InputError("hospitals must be a registry table or the path of one, not "
                             f"{type(hospitals).__name__}")
        hospitals = read_hospitals(hospitals, encoding)
    return hospitals, encoding, mapping, batch_rows


def pieces(source: Any, hospitals: pa.Table | None = None, encoding: str = "utf-8",
           mapping: dict[str, str] | None = None,
           batch_rows: int | None = None) -> Iterator[Piece]:
    """The raw pieces of a source under canonical column names (mapped file by file)."""
    files = list_files(source)
    kwargs = dict(encoding=encoding, batch_rows=batch_rows or DEFAULT_BATCH_ROWS)
    if files is None:
        names = _memory_names(source)
        cols = resolve_columns(names, mapping, source="<table>", need_level=hospitals is None)
        yield from iter_pieces(source, cols, **kwargs)
        return
    for path in files:
        cols = resolve_columns(source_columns(path, encoding), mapping, source=path,
                               need_level=hospitals is None)
        yield from iter_pieces(path, cols, **kwargs)


def scan_cases(source: Any, hospitals: pa.Table | None = None, encoding: str = "utf-8",
               mapping: dict[str, str] | None = None, batch_rows: int | None = None,
               code_list: CodeList | None = None) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Stream a source as validated ``(cases, quarantine)`` batches, in bounded memory.

    Same parameters as :func:`read_cases`; ``batch_rows`` sets the rows per batch.
    Batches are validated on the configured threads (:func:`dipcore.set_threads`) and come
    in reading order.
    """
    return scan_checked(source, lambda b: (b.table(), b.quarantine), hospitals, encoding,
                        mapping, batch_rows, code_list)


def scan_checked(source: Any, work: Callable[[CheckedBatch], R],
                 hospitals: pa.Table | None = None, encoding: str = "utf-8",
                 mapping: dict[str, str] | None = None, batch_rows: int | None = None,
                 code_list: CodeList | None = None) -> Iterator[R]:
    """``work(batch)`` for every checked batch of a source, in reading order.

    :func:`scan_cases` with the work of a batch given: it runs on the batch's thread, on
    the codes the validator left (``CheckedBatch``), so a caller that needs a few figures
    of each batch need not build its table. The rows of unknown codes kept (a code list
    with ``action="warn"``) are warned about once the source is read.
    """
    hospitals, encoding, mapping, batch_rows = reading_options(hospitals, encoding, mapping,
                                                               batch_rows)
    if code_list is not None and not isinstance(code_list, CodeList):
        if not isinstance(code_list, (str, os.PathLike)):
            raise InputError("code_list must be a CodeList or the folder of one, not "
                             f"{type(code_list).__name__}")
        code_list = CodeList.load(code_list)
    checking = Checking(hospitals, expected_rows=count_rows(source), code_list=code_list)
    kept_unknown = 0
    for unknown, result in checking.run(pieces(source, hospitals, encoding, mapping, batch_rows),
                                        lambda b: (b.unknown_codes, work(b))):
        kept_unknown += unknown
        yield result
    if kept_unknown:
        warnings.warn(UnknownCodes(
            f"{kept_unknown} rows carry codes outside the code list {code_list.source} "
            "(kept: unknown-code action is warn)"), stacklevel=2)


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
               mapping: dict[str, str] | None = None,
               code_list: CodeList | None = None) -> tuple[pa.Table, pa.Table]:
    """Read and validate inpatient cases.

    Parameters
    ----------
    source : path, list of paths, or in-memory table
        A Parquet file or (hive-partitioned) directory, a CSV file (list fields joined by
        ``|`` or ``,``), an Arrow IPC file, a ``pyarrow.Table``/``RecordBatch``/
        ``RecordBatchReader``, or anything exposing ``__arrow_c_stream__`` (pandas, Polars).
    hospitals : pyarrow.Table or path, optional
        Hospital registry from :func:`read_hospitals`. Cases of hospitals not in it are
        quarantined, and the registry supplies every case's hospital level.
    encoding : str, default "utf-8"
        Encoding of CSV files; Chinese exports are often ``"gbk"``.
    mapping : dict, optional
        Source column name -> canonical column name, for sources with other field names.
        Settlement-list names (``setl_id``, ``psn_no``, ``fixmedins_code``, ``dscg_way``,
        ...) are understood without a mapping.
    code_list : CodeList, optional
        Official codes (:meth:`dipcore.CodeList.load`: a CHS-DRG pack's, or a bureau's
        lists). A row with a code outside them is quarantined as ``unknown_code``, or with
        ``action="warn"`` kept and counted in an :class:`dipcore.UnknownCodes` warning.

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
    for c, q in scan_cases(source, hospitals=hospitals, encoding=encoding, mapping=mapping,
                           code_list=code_list):
        cases.append(c)
        if q.num_rows:
            quarantine.append(q)
    out = pa.concat_tables(cases) if cases else schema.CASE_SCHEMA.empty_table()
    quar = pa.concat_tables(quarantine) if quarantine else schema.QUARANTINE_SCHEMA.empty_table()
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
    check_encoding(encoding)
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
                table = read_parquet_file(path)
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
    ids = trimmed_text(as_array(table.column(lower["hospital_id"])))
    levels, st = to_int(as_array(table.column(lower["level"])))
    kinds = trimmed_text(as_array(table.column(lower["kind"])))
    kinds = pc.utf8_lower(kinds)
    names = trimmed_text(as_array(table.column(lower["name"]))) if "name" in lower \
        else pa.nulls(len(ids), pa.string())
    checks = [
        (ids.is_null().to_numpy(zero_copy_only=False), "hospital_id", "no hospital id"),
        ((st != K.OK) | ~np.isin(levels, (1, 2, 3)), "level", "level is not 1, 2 or 3"),
        (~np.isin(np.array(kinds.to_pylist(), dtype=object), schema.HOSPITAL_KINDS), "kind",
         f"kind is not one of {', '.join(schema.HOSPITAL_KINDS)}"),
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
        [ids, pa.array(levels.astype(np.int8)), kinds, names], schema=schema.HOSPITAL_SCHEMA)


def source_mapping(part_source: Any, mapping: dict[str, str] | None, encoding: str,
                   need_level: bool) -> dict[str, str]:
    """Canonical -> source column names of one file (or in-memory table)."""
    if isinstance(part_source, (str, os.PathLike)):
        return resolve_columns(source_columns(str(part_source), encoding), mapping,
                               source=str(part_source), need_level=need_level)
    return resolve_columns(_memory_names(part_source), mapping, source="<table>",
                           need_level=need_level)


def part_pieces(part, data: Any = None, hospitals: pa.Table | None = None,
                encoding: str = "utf-8", mapping: dict[str, str] | None = None,
                batch_rows: int | None = None) -> Iterator[Piece]:
    """The raw pieces of one partition (see :func:`dipcore.ingest.sources.plan_parts`) under
    canonical column names; ``data`` is the partition's table for in-memory sources."""
    source = data if part.kind == "memory" else part.path
    cols = source_mapping(source, mapping, encoding, need_level=hospitals is None)
    yield from iter_part_pieces(part, data, cols, encoding, batch_rows or DEFAULT_BATCH_ROWS)


def case_id_hashes(part, data: Any = None, encoding: str = "utf-8",
                   mapping: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hash and row number of every non-blank case id of a partition (the duplicate pre-pass).

    Reads the case-id column only. Blank ids are left out, as the validator leaves them out.
    """
    source = data if part.kind == "memory" else part.path
    cols = source_mapping(source, mapping, encoding, need_level=False)
    hashes, rows = [], []
    for piece in iter_part_pieces(part, data, {"case_id": cols["case_id"]}, encoding,
                                  DEFAULT_BATCH_ROWS):
        ids, blank = case_ids(piece.batch.column("case_id"))
        valid = blank == 0
        hashes.append(K.hash_strings(ids)[valid])
        rows.append(piece.rows[valid])
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(hashes), np.concatenate(rows)


def case_ids_at(part, rows: np.ndarray, data: Any = None, encoding: str = "utf-8",
                mapping: dict[str, str] | None = None) -> list[str]:
    """The (trimmed) case ids at the given row numbers of a partition."""
    source = data if part.kind == "memory" else part.path
    cols = source_mapping(source, mapping, encoding, need_level=False)
    wanted = set(int(r) for r in rows)
    found: dict[int, str] = {}
    for piece in iter_part_pieces(part, data, {"case_id": cols["case_id"]}, encoding,
                                  DEFAULT_BATCH_ROWS):
        hit = np.flatnonzero(np.isin(piece.rows, rows))
        if hit.size:
            ids = case_ids(piece.batch.column("case_id"))[0].take(pa.array(hit)).to_pylist()
            found.update(zip(piece.rows[hit].tolist(), ids))
    return [found[int(r)] for r in rows if int(r) in wanted]
