"""The local executor: the passes of a job over the batches of one process, on threads.

One reader thread reads the source and finds repeated case ids (the only order-dependent
step); validation and the pass's ``chunk`` run on a pool of threads; results are folded in
reading order (``dipcore.ingest.checking.Checking``). Per-case rows folded go to a writer
thread (``dipcore.engine.writer.BackgroundWriter``), so writing them overlaps the passes.
Calibration's prepared features are kept in memory up to a limit and spilled to a
temporary Arrow file beyond it (``dipcore.engine.store.FeatureStore``), so memory does not
grow with the history.

:func:`run_source_pass` is the whole of a source pass over some pieces; the Dask executor
runs the same function in each task, so the two executors share every line that touches a
case.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from dipcore._kernels import numba_config
from dipcore.engine.executor import (
    Executor,
    ProgressFn,
    RowSink,
    no_sink,
    replayable,
    rows_done,
)
from dipcore.engine.passes import FeaturePass, SourcePass
from dipcore.engine.store import FeatureStore
from dipcore.engine.threads import ordered_map, threads
from dipcore.engine.writer import BackgroundWriter, ParquetAppender
from dipcore.ingest.checking import Checking
from dipcore.ingest.reader import pieces
from dipcore.ingest.sources import DEFAULT_BATCH_ROWS, Piece, count_rows
from dipcore.reports.files import atomic_path, output_directory


def run_source_pass(p: SourcePass, source: Iterable[Piece], checking: Checking,
                    store: FeatureStore | None = None,
                    write: Callable[[pa.Table], None] | None = None,
                    progress: Callable[[int], None] | None = None):
    """Source pass ``p`` over some pieces: checked, chunked (on the checking's threads),
    folded in reading order, closed with ``done``. Kept features go to ``store``."""
    state = p.empty()
    try:
        for b, result in checking.run(source, lambda b: (b, p.chunk(b))):
            state = p.fold(state, b, result, write)
            if store is not None:
                f = p.kept(result)
                if f is not None:
                    store.append(f)
            if progress:
                progress(b.n + b.quarantine.num_rows)
    finally:
        if store is not None:        # the spill file is closed on failure too
            store.finish()
    return p.done(state)


#: A feature pass whose ``combine`` reduces (``FeaturePass.rolling``) merges its chunks'
#: results this many at a time as they come, so what it holds does not grow with the
#: number of batches (``combine`` is associative).
COMBINE_EVERY = 16


def run_feature_pass(p: FeaturePass, store: Iterable,
                     progress: Callable[[int], None] | None = None) -> Any:
    """Feature pass ``p`` over kept features, on the configured threads (``progress``:
    called with the rows of each batch done)."""
    parts: list = []
    for n, result in ordered_map(lambda f: (f.n, p.chunk(f)), (f for f in store if f.n),
                                 threads()):
        if progress:
            progress(n)
        parts.append(result)
        if p.rolling and len(parts) >= COMBINE_EVERY:
            parts = [p.combine_owned(parts)]
    return p.combine_owned(parts)


def batch_threads(rows: RowSink | None) -> int:
    """Threads for a source pass's batches: all of :func:`threads`, less the one the row
    writer takes when per-case rows are written (``rows``).

    Writing Parquet is one thread's work that the batches wait for at the end; beside two
    batch threads on two cores it got too little of a core (a 2M-case settlement with
    per-case output: 3.2 s with two batch threads, 2.7 s with one).
    """
    n = threads()
    return max(1, n - 1) if rows is not None and rows.write is not None else n


class LocalExecutor(Executor):
    """Runs passes in this process.

    Parameters
    ----------
    hospitals : pyarrow.Table, optional
        Hospital registry used when checking cases.
    encoding, mapping : as for :func:`dipcore.read_cases`.
    batch_rows : int
        Rows per batch: the unit of memory use.
    progress : callable, optional
        ``progress(stage, rows_done, rows_total)``.
    """

    def __init__(self, hospitals: pa.Table | None = None, encoding: str = "utf-8",
                 mapping: dict | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                 progress: ProgressFn | None = None):
        self.hospitals, self.encoding, self.mapping = hospitals, encoding, mapping
        self.batch_rows, self.progress = batch_rows, progress
        self._spill: tempfile.TemporaryDirectory | None = None

    def _spill_dir(self) -> str:
        if self._spill is None:
            self._spill = tempfile.TemporaryDirectory(prefix="dipcore-")
        return self._spill.name

    def scan(self, source: Any, p: SourcePass, *, keep: bool = False, rows: RowSink | None = None):
        numba_config.start_loading()
        source = replayable(source)
        total = count_rows(source) or 0
        checking = Checking(self.hospitals, expected_rows=total or None, raw_codes=p.raw_codes,
                            n_threads=batch_threads(rows))
        store = FeatureStore(self._spill_dir()) if keep else None
        state = run_source_pass(p, pieces(source, self.hospitals, self.encoding, self.mapping,
                                          self.batch_rows),
                                checking, store, rows.write if rows is not None else None,
                                rows_done(self.progress, p.stage, total))
        return (state, store) if keep else state

    def over(self, kept: FeatureStore, p: FeaturePass):
        return run_feature_pass(p, kept, rows_done(self.progress, p.stage, kept.rows)
                                if p.stage else None)

    def rows_sink(self, out: str | os.PathLike | None):
        return no_sink() if out is None else self._parquet_sink(output_directory(out)
                                                                 / "cases.parquet")

    @staticmethod
    @contextlib.contextmanager
    def _parquet_sink(path: Path) -> Iterator[RowSink]:
        # exits innermost first: the last write, then the file's footer, then the rename;
        # on error the writer stops, the file is closed and removed
        with atomic_path(path) as tmp, ParquetAppender(tmp) as appender, \
                BackgroundWriter(appender.write, what=str(path)) as writer:
            yield RowSink(path=path, write=writer.put)

    def close(self) -> None:
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None
