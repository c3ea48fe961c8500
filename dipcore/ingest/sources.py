"""Opening case sources as a stream of raw Arrow record batches.

A *piece* is a record batch of one source (a file, or an in-memory object) with the 1-based
data-row numbers of its rows, so that validation can name every bad row. Supported:
Parquet files and hive-partitioned directories, CSV (UTF-8 or GBK), Arrow IPC (file or
stream), ``pyarrow`` tables/batches/readers, and any object exposing
``__arrow_c_stream__`` (pandas, Polars).

CSV needs care on two points that Arrow's reader does not cover:

* undecodable bytes: the file is transcoded with ``errors="replace"``, so such a row still
  parses and the validator quarantines it by the replacement character it carries;
* rows with the wrong number of fields: Arrow can skip them but does not say where they
  were, so a streaming scanner (Cython) counts the fields of every record in the same pass
  and gives each skipped row, and every good row after it, its true row number.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore._kernels.strings import CsvRecordScanner
from dipcore.errors import InputError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
IPC_SUFFIXES = (".arrow", ".feather", ".ipc", ".arrows")
DEFAULT_BATCH_ROWS = 1 << 18
_READ_CHUNK = 1 << 22


@dataclass
class Piece:
    """A batch of raw rows from one source.

    Attributes
    ----------
    source : str
        File path, or ``<table>`` / ``<stream>`` for in-memory sources.
    batch : pyarrow.RecordBatch
        The rows, with the source's own column names and types.
    rows : numpy.ndarray
        1-based data-row number of each row within ``source`` (header excluded).
    malformed : list of (int or None, str)
        Rows of this source that could not be split into fields: row number and raw text.
    text_source : bool
        True when every column arrived as text (CSV), so undecodable bytes are possible.
    case_id, blank, dup, id_hash
        Set by ``dipcore.ingest.dedupe.Deduplicator`` (in reading order): the trimmed case ids,
        where they are blank, where they repeat an earlier row's, and their hashes.
    """

    source: str
    batch: pa.RecordBatch
    rows: np.ndarray
    malformed: list = field(default_factory=list)
    text_source: bool = False
    case_id: pa.Array | None = None
    blank: np.ndarray | None = None
    dup: np.ndarray | None = None
    id_hash: np.ndarray | None = None


#: A hive partition of discharge years: ``cases/year=2023/month=01/part-0.parquet``.
_YEAR_PARTITION = re.compile(r"year=(\d{4})")


def partition_year(path: str, root: str) -> int | None:
    """The discharge year of the ``year=YYYY`` directory that ``path`` lies in below the
    directory ``root``, or None (no such directory, or more than one).

    By the convention the generator and the bureaus' exports follow, the partition
    ``year=YYYY`` holds exactly the cases discharged in ``YYYY``; pruning relies on it.
    Only directories below ``root`` count, so a source given as ``cases/year=2024`` itself
    is read whole.
    """
    parts = Path(path).relative_to(root).parts[:-1]
    years = [int(m.group(1)) for part in parts if (m := _YEAR_PARTITION.fullmatch(part))]
    return years[0] if len(years) == 1 else None


def _listed(source: Any) -> list[tuple[str, int | None]] | None:
    """The files behind a path-like source (sorted; directories are walked), each with the
    year of its hive partition (:func:`partition_year`), or None for other sources."""
    if isinstance(source, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in source):
        out: list[tuple[str, int | None]] = []
        for s in source:
            out.extend(_listed(s) or [])
        return out
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = Path(source)
    if path.is_dir():
        files = sorted(
            str(p) for p in path.rglob("*")
            if p.is_file() and not p.name.startswith((".", "_"))
            and p.suffix.lower() in PARQUET_SUFFIXES + CSV_SUFFIXES + IPC_SUFFIXES
        )
        if not files:
            raise InputError("directory holds no Parquet, CSV or Arrow files", source=str(path))
        return [(f, partition_year(f, str(path))) for f in files]
    if not path.exists():
        raise InputError("no such file or directory", source=str(path))
    return [(str(path), None)]


def list_files(source: Any) -> list[str] | None:
    """The files behind a path-like source (sorted; directories are walked), or None."""
    listed = _listed(source)
    return None if listed is None else [f for f, _ in listed]


def partition_years(source: Any) -> list[int] | None:
    """The discharge years of a source hive-partitioned by year (``year=YYYY`` directories),
    from the directory names alone; None when some file lies outside such a partition, or
    the source is not a path."""
    listed = _listed(source)
    if not listed or any(y is None for _, y in listed):
        return None
    return sorted({y for _, y in listed})


def select_years(source: Any, years: Collection[int]) -> Any:
    """A source without its hive partitions of discharge years outside ``years``.

    The files of a ``year=YYYY`` directory (:func:`partition_year`) with ``YYYY`` not in
    ``years`` are left out before anything is read: they are never opened, so their rows
    are neither validated nor quarantined (``rows in = kept + quarantined`` counts the
    files read). Files outside such directories are kept.

    Returns
    -------
    ``source`` itself when nothing is left out (not a path, or no other year's partition),
    else the list of the files kept, in reading order.

    Raises
    ------
    InputError
        Every file of the source lies in a partition of another year.
    """
    listed = _listed(source)
    if listed is None:
        return source
    kept = [f for f, y in listed if y is None or y in years]
    if len(kept) == len(listed):
        return source
    if not kept:
        found = sorted({y for _, y in listed if y is not None})
        raise InputError(f"no year=YYYY partition of the years {sorted(years)} "
                         f"(partitions: {found})", source=_source_name(source))
    return kept


def _source_name(source: Any) -> str:
    if isinstance(source, (list, tuple)):
        return ", ".join(str(s) for s in source)
    return str(source)


def count_rows(source: Any) -> int | None:
    """Rows of a source when known without reading it (Parquet metadata, tables), else None."""
    if isinstance(source, (pa.Table, pa.RecordBatch)):
        return source.num_rows
    try:
        files = list_files(source)
    except InputError:
        return None
    if not files or any(_kind(f) != "parquet" for f in files):
        return None
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except (pa.ArrowException, OSError):
        return None


def source_columns(path: str, encoding: str = "utf-8") -> list[str]:
    """Column names of a file source, read from its header or schema only."""
    kind = _kind(path)
    try:
        if kind == "parquet":
            return list(pq.read_schema(path).names)
        if kind == "ipc":
            with pa.memory_map(path) as f:
                try:
                    return list(pa.ipc.open_file(f).schema.names)
                except pa.ArrowInvalid:
                    f.seek(0)
                    return list(pa.ipc.open_stream(f).schema.names)
        return _csv_header(path, encoding)
    except InputError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the file ({_first_line(exc)})", source=path) from None


def iter_pieces(source: Any, columns: dict[str, str] | None = None, encoding: str = "utf-8",
                batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Piece]:
    """Yield the raw pieces of a source.

    Parameters
    ----------
    source : path, list of paths, pyarrow Table/RecordBatch/RecordBatchReader, or an object
        with ``__arrow_c_stream__``.
    columns : dict, optional
        Canonical name -> source column name; only these columns are read (all if None),
        and they come out renamed to the canonical names.
    encoding : str
        Text encoding of CSV files (``utf-8`` or ``gbk``; any Python codec works).
    batch_rows : int
        Rows per batch (the unit of memory use).
    """
    files = list_files(source)
    if files is None:
        yield from _memory_pieces(source, columns, batch_rows)
        return
    for path in files:
        kind = _kind(path)
        if kind == "parquet":
            yield from _parquet_pieces(path, columns, batch_rows)
        elif kind == "ipc":
            yield from _ipc_pieces(path, columns, batch_rows)
        else:
            yield from _csv_pieces(path, columns, encoding, batch_rows)


def _kind(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in IPC_SUFFIXES:
        return "ipc"
    if suffix in CSV_SUFFIXES:
        return "csv"
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:4] == b"PAR1":
        return "parquet"
    if magic == b"ARROW1":
        return "ipc"
    return "csv"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _select(batch: pa.RecordBatch, columns: dict[str, str] | None) -> pa.RecordBatch:
    if columns is None:
        return batch
    return pa.RecordBatch.from_arrays([batch.column(src) for src in columns.values()],
                                      names=list(columns))


def _memory_pieces(source: Any, columns, batch_rows) -> Iterator[Piece]:
    name = "<table>"
    if isinstance(source, pa.Table):
        reader = source.to_batches(max_chunksize=batch_rows)
    elif isinstance(source, pa.RecordBatch):
        reader = [source]
    elif isinstance(source, pa.RecordBatchReader):
        reader, name = source, "<stream>"
    elif hasattr(source, "__arrow_c_stream__"):
        reader, name = pa.RecordBatchReader.from_stream(source), "<stream>"
    elif type(source).__module__.startswith("pandas"):
        reader = pa.Table.from_pandas(source, preserve_index=False).to_batches(batch_rows)
    else:
        raise InputError(f"cannot read cases from an object of type {type(source).__name__}; "
                         "give a path, a pyarrow Table or an object with __arrow_c_stream__")
    first = 1
    for batch in reader:
        if batch.num_rows == 0:
            continue
        for start in range(0, batch.num_rows, batch_rows):
            part = batch.slice(start, batch_rows)
            yield Piece(name, _select(part, columns),
                        np.arange(first, first + part.num_rows, dtype=np.int64))
            first += part.num_rows


#: Canonical columns with few distinct values. Parquet hands them over dictionary-encoded,
#: so only each column chunk's dictionary is validated and interned (``dipcore.ingest.codebook``).
DICTIONARY_COLUMNS = ("hospital_id", "pool", "primary_dx", "secondary_dx", "procedures",
                      "bed_day_category")


#: Row groups at least this large (on average) are read with dictionaries. Below it each
#: row group's dictionary pages cost more than hashing its strings: 230K cases in row
#: groups of 1,000 rows were validated in 0.54-0.61 s with dictionaries against 0.28-0.30
#: s as plain text; equal at 4,000 rows; dictionaries ahead from 16K rows.
DICTIONARY_MIN_GROUP_ROWS = 1 << 13


def parquet_file(path: str, columns: dict[str, str] | None) -> tuple[pq.ParquetFile, bool]:
    """Open a Parquet file; returns ``(file, dictionaries)``.

    With row groups of a useful size (``DICTIONARY_MIN_GROUP_ROWS``), the text leaves of
    ``DICTIONARY_COLUMNS`` are read as dictionaries (``dictionaries`` is True), so only
    each column chunk's dictionary is validated and interned; :func:`_parquet_batches`
    puts small row groups back together. Files of tiny row groups are read as plain text.
    """
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    if columns is None or meta.num_row_groups == 0 or (
            meta.num_row_groups > 1
            and meta.num_rows / meta.num_row_groups < DICTIONARY_MIN_GROUP_ROWS):
        return pf, False
    wanted = {columns[c] for c in DICTIONARY_COLUMNS if c in columns}
    schema = pf.schema
    leaves = [schema.column(i) for i in range(len(schema))]
    paths = [c.path for c in leaves
             if c.physical_type == "BYTE_ARRAY" and c.path.split(".")[0] in wanted]
    if not paths:
        return pf, False
    return pq.ParquetFile(path, read_dictionary=paths, metadata=meta), True


def _parquet_batches(pf: pq.ParquetFile, dictionaries: bool, row_groups: list[int],
                     columns: dict[str, str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The row groups' rows in batches of at most ``batch_rows``.

    Plain text is read in batches that span row groups. Arrow reads dictionary columns one
    row group at a time (a list of dictionaries cannot span two row groups, and batches
    are cut where the dictionary changes), so consecutive small row groups are put back
    together (:func:`_concatenated`, which unifies their dictionaries): a file of
    16K-row groups then costs per batch what one of 256K-row groups does instead of
    paying the per-batch overheads sixteen times.
    """
    wanted = list(dict.fromkeys(columns.values())) if columns is not None else None
    if not dictionaries:
        yield from pf.iter_batches(batch_size=batch_rows, row_groups=row_groups, columns=wanted)
        return
    pending: list[pa.RecordBatch] = []
    rows = 0
    for rg in row_groups:
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[rg], columns=wanted):
            if batch.num_rows == 0:
                continue
            if pending and rows + batch.num_rows > batch_rows:
                yield _concatenated(pending)
                pending, rows = [], 0
            pending.append(batch)
            rows += batch.num_rows
    if pending:
        yield _concatenated(pending)


def _concatenated(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One batch of ``batches`` (same schema), their dictionaries unified. Through a table:
    ``pa.concat_batches`` is pyarrow 19's, and ``combine_chunks`` is as fast."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _parquet_pieces(path: str, columns, batch_rows) -> Iterator[Piece]:
    try:
        pf, dictionaries = parquet_file(path, columns)
        first = 1
        for batch in _parquet_batches(pf, dictionaries, list(range(pf.metadata.num_row_groups)),
                                      columns, batch_rows):
            yield Piece(path, _select(batch, columns),
                        np.arange(first, first + batch.num_rows, dtype=np.int64))
            first += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the Parquet file ({_first_line(exc)})", source=path) from None


def _ipc_pieces(path: str, columns, batch_rows) -> Iterator[Piece]:
    try:
        with pa.memory_map(path) as f:
            try:
                rd = pa.ipc.open_file(f)
                batches = (rd.get_batch(i) for i in range(rd.num_record_batches))
            except pa.ArrowInvalid:
                f.seek(0)
                batches = iter(pa.ipc.open_stream(f))
            first = 1
            for batch in batches:
                for start in range(0, batch.num_rows, batch_rows):
                    part = batch.slice(start, batch_rows)
                    yield Piece(path, _select(part, columns),
                                np.arange(first, first + part.num_rows, dtype=np.int64))
                    first += part.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the Arrow file ({_first_line(exc)})", source=path) from None


def _decoder_name(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name == "utf-8" else name


def _csv_header(path: str, encoding: str) -> list[str]:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.strip():
        raise InputError("the file is empty (no header row)", source=path)
    line = head.splitlines()[0] if head.splitlines() else head
    text = line.decode(_decoder_name(encoding), errors="replace")
    names = next(csv.reader([text]))
    names = [n.strip() for n in names]
    if any(not n for n in names):
        raise InputError("the header has an empty column name", source=path, row=0)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"the header repeats column names {dup}", source=path, row=0)
    return names


class _ScanningTranscoder(io.RawIOBase):
    """Reads a text file as UTF-8 bytes, counting CSV record fields on the raw bytes."""

    def __init__(self, path: str, encoding: str, scanner: CsvRecordScanner):
        self._f = open(path, "rb")
        self._scanner = scanner
        name = _decoder_name(encoding)
        self._decoder = codecs.getincrementaldecoder(name)(errors="replace")
        self._buf = bytearray()
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        want = len(b)
        while len(self._buf) < want and not self._eof:
            raw = self._f.read(_READ_CHUNK)
            if not raw:
                self._eof = True
                self._buf += self._decoder.decode(b"", final=True).encode("utf-8")
                break
            self._scanner.feed(np.frombuffer(raw, dtype=np.uint8))
            self._buf += self._decoder.decode(raw).encode("utf-8")
        n = min(want, len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _csv_pieces(path: str, columns, encoding: str, batch_rows: int) -> Iterator[Piece]:
    names = _csv_header(path, encoding)
    scanner = CsvRecordScanner()
    malformed_text: list[str] = []

    def on_invalid(row) -> str:
        malformed_text.append(row.text)
        return "skip"

    include = list(dict.fromkeys(columns.values())) if columns is not None else names
    stream = _ScanningTranscoder(path, encoding, scanner)
    good_before = 0
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=1 << 22, column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 include_columns=include,
                                                 strings_can_be_null=False),
        )
        pending = None
        for batch in reader:
            for start in range(0, batch.num_rows, batch_rows):
                part = batch.slice(start, batch_rows)
                rows = _good_row_numbers(good_before, part.num_rows, scanner)
                good_before += part.num_rows
                if pending is not None:
                    yield pending
                pending = Piece(path, _select(part, columns), rows, text_source=True)
    except (pa.ArrowException, OSError, UnicodeError) as exc:
        stream.close()
        raise InputError(f"cannot parse the CSV file ({_first_line(exc)})", source=path) from None
    stream.close()
    bad = scanner.finish()
    if scanner.unterminated_quote:
        raise InputError("the file ends inside a quoted field (truncated file?)",
                         source=path, row=int(scanner.records))
    if len(bad) == len(malformed_text):
        malformed = [(int(r), t) for r, t in zip(bad, malformed_text)]
    else:  # the scanner and Arrow disagree on record boundaries: do not guess row numbers
        malformed = [(None, t) for t in malformed_text]
    if pending is None:
        empty = pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in include], names=include)
        pending = Piece(path, _select(empty, columns), np.zeros(0, np.int64), text_source=True)
    pending.malformed = malformed
    yield pending


def _good_row_numbers(good_before: int, n: int, scanner: CsvRecordScanner) -> np.ndarray:
    """Row numbers of the next ``n`` well-formed rows, given the malformed ones so far.

    The scanner has read at least as far as Arrow has parsed, so every malformed record
    before these rows is known. With ``B`` the sorted malformed ordinals, ``B[j] - 1 - j``
    good rows precede the j-th of them, so good row ``k`` (0-based) has ordinal
    ``k + 1 + #{j : B[j] - 1 - j <= k}``.
    """
    k = np.arange(good_before, good_before + n, dtype=np.int64)
    bad = scanner.bad_so_far()
    if bad.size == 0:
        return k + 1
    before = bad - 1 - np.arange(bad.size)
    return k + 1 + np.searchsorted(before, k, side="right")


@dataclass(frozen=True)
class Part:
    """A partition of a source: one task's worth of rows (see :func:`plan_parts`).

    Attributes
    ----------
    kind : str
        ``parquet``, ``csv``, ``ipc`` or ``memory``.
    path : str
        The file (the source name ``<table>`` for in-memory data).
    row_groups : tuple of int
        Parquet row groups of this part (empty for other kinds: the whole file).
    first_row : int
        Row number (1-based, within the file) of the part's first row.
    index : int
        Position of the part in reading order.
    """

    kind: str
    path: str
    row_groups: tuple = ()
    first_row: int = 1
    index: int = 0


def plan_parts(source: Any, rows_per_part: int) -> tuple[list[Part], list[pa.Table]]:
    """Cut a source into parts of about ``rows_per_part`` rows, in reading order.

    Parquet files are cut at row-group boundaries; CSV and Arrow files are one part each;
    an in-memory table is sliced (the slices are returned alongside, for scattering).
    """
    files = list_files(source)
    parts: list[Part] = []
    tables: list[pa.Table] = []
    if files is None:
        table = source if isinstance(source, pa.Table) else pa.Table.from_batches(
            list(_memory_pieces_raw(source)))
        for start in range(0, max(table.num_rows, 1), rows_per_part):
            tables.append(table.slice(start, rows_per_part))
            parts.append(Part("memory", "<table>", (), start + 1, len(parts)))
        return parts, tables
    for path in files:
        kind = _kind(path)
        if kind != "parquet":
            parts.append(Part(kind, path, (), 1, len(parts)))
            continue
        try:
            meta = pq.ParquetFile(path).metadata
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read the Parquet file ({_first_line(exc)})", source=path) from None
        group, rows, first = [], 0, 1
        for rg in range(meta.num_row_groups):
            n = meta.row_group(rg).num_rows
            if group and rows + n > rows_per_part:
                parts.append(Part(kind, path, tuple(group), first, len(parts)))
                first += rows
                group, rows = [], 0
            group.append(rg)
            rows += n
        parts.append(Part(kind, path, tuple(group), first, len(parts)))
    return parts, tables


def _memory_pieces_raw(source: Any):
    for piece in _memory_pieces(source, None, DEFAULT_BATCH_ROWS):
        yield piece.batch


def iter_part_pieces(part: Part, data: Any, columns: dict[str, str] | None, encoding: str,
                     batch_rows: int) -> Iterator[Piece]:
    """The pieces of one part, with row numbers counted within its file."""
    if part.kind == "memory":
        first = part.first_row
        for batch in data.to_batches(max_chunksize=batch_rows):
            if batch.num_rows:
                yield Piece(part.path, _select(batch, columns),
                            np.arange(first, first + batch.num_rows, dtype=np.int64))
                first += batch.num_rows
        return
    if part.kind != "parquet":
        yield from iter_pieces(part.path, columns, encoding=encoding, batch_rows=batch_rows)
        return
    try:
        pf, dictionaries = parquet_file(part.path, columns)
        first = part.first_row
        for batch in _parquet_batches(pf, dictionaries, list(part.row_groups), columns,
                                      batch_rows):
            yield Piece(part.path, _select(batch, columns),
                        np.arange(first, first + batch.num_rows, dtype=np.int64))
            first += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the Parquet file ({_first_line(exc)})", source=part.path) from None
