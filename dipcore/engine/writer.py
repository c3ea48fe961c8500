"""Writing per-case rows: to one Parquet file, and off the thread that folds the batches.

:class:`ParquetAppender` appends tables to one Parquet file with the options of the
per-case table (:func:`dipcore.reports.files.cases_parquet_options`).

:class:`BackgroundWriter` hands tables to one writer thread through a bounded queue. The
thread writes them in the order they were handed over (one thread, first in first out), so
the file is in reading order. The thread that hands them over waits only when the queue is
full (memory holds at most ``depth`` tables waiting, plus the one being written) and at the
end. Parquet encoding and compression release the GIL, so writing overlaps with the
numeric passes.

A failure of the writer (disk full...) is raised as a :class:`WriteError` by the next
:meth:`BackgroundWriter.put` or by :meth:`BackgroundWriter.close`, so it fails the run,
and the run's atomic output (``dipcore.reports.files.atomic_path``) leaves no file.
"""
from __future__ import annotations

import os
import queue
import threading
from types import TracebackType
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from dipcore.errors import DipcoreError
from dipcore.reports.files import cases_parquet_options

#: Tables waiting for the writer thread: enough to ride over a slow write, few enough that
#: memory stays a few batches whatever the number of cases.
WRITE_QUEUE_DEPTH = 2

#: Put on the queue after the last table.
_END = object()


class WriteError(DipcoreError):
    """Writing the per-case rows failed (the run fails and leaves no file)."""


class ParquetAppender:
    """Appends tables to one Parquet file, opened on the first table (its schema is the
    file's).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (a temporary name: the caller renames it on success).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (one row group per call: a batch of the run)."""
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema,
                                            **cases_parquet_options(table.schema))
        elif not table.schema.equals(self._writer.schema):
            # the pieces of a source need not agree on every type (string widths...):
            # the file keeps the first batch's
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the file (its footer)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def __enter__(self) -> "ParquetAppender":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        # the run failed: the file is discarded, so a second failure closing it (the same
        # full disk) must not hide the first
        try:
            self.close()
        except Exception:
            pass


class BackgroundWriter:
    """Calls ``write`` on the tables given to :meth:`put`, in order, on a thread of its own.

    Used as a context manager: leaving it without error waits for the last write
    (:meth:`close`); leaving it with an error stops the writer without writing what is
    left (:meth:`abort`).

    Parameters
    ----------
    write : callable
        Writes one table (e.g. :meth:`ParquetAppender.write`); called on the writer thread.
    what : str
        Names the output in a :class:`WriteError` ("writing <what> failed: ...").
    depth : int
        Tables that may wait in the queue; :meth:`put` blocks while it is full.
    """

    def __init__(self, write: Callable[[pa.Table], None], what: str,
                 depth: int = WRITE_QUEUE_DEPTH):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._write, self.what = write, what
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._closed = False
        # a daemon: an interpreter that exits on an interrupt does not wait for it
        self._thread = threading.Thread(target=self._run, name="dipcore-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            # after a failure (or an abort) the thread keeps taking tables off the queue
            # without writing them, so a producer blocked in ``put`` is released
            if self._error is not None or self._stop.is_set():
                continue
            try:
                self._write(item)
            except BaseException as exc:        # reported to the producer, never lost
                self._error = exc

    def _raise(self) -> None:
        exc = self._error
        if exc is not None:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise WriteError(f"writing {self.what} failed: {type(exc).__name__}"
                             f"{': ' + detail if detail else ''}") from exc

    def put(self, table: pa.Table) -> None:
        """Hand ``table`` to the writer; waits only while the queue is full.

        Raises
        ------
        WriteError
            When an earlier write failed.
        """
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._raise()
        self._queue.put(table)

    def close(self) -> None:
        """Wait for every table handed over to be written.

        Raises
        ------
        WriteError
            When a write failed.
        """
        self._finish()
        self._raise()

    def abort(self) -> None:
        """Stop without writing the tables still waiting (the run failed)."""
        self._stop.set()
        self._finish()

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_END)      # after every table: the queue is first in, first out
        self._thread.join()

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
