"""What an executor does, whichever runs the passes (DESIGN.md section 1).

A job (``dipcore.engine.jobs``, a scheme's ``calibrate``) asks an executor to

* :meth:`Executor.scan` a source with a :class:`~dipcore.engine.passes.SourcePass`: every
  batch checked, ``chunk`` on it, ``fold`` in reading order within a part, ``combine``
  across parts; optionally keeping the prepared features for later passes, and streaming
  per-case rows to a :class:`RowSink`;
* run a :class:`~dipcore.engine.passes.FeaturePass` :meth:`Executor.over` kept features;
* provide a :meth:`Executor.rows_sink` for the per-case output of a run, which appears only
  when the whole run succeeds (written by ``dipcore.engine.writer``).

Implementations: ``dipcore.engine.local.LocalExecutor`` (threads of one process, in reading
order) and ``dipcore.engine.distributed.DaskExecutor`` (one Dask task per partition,
partial states tree-reduced).
"""
from __future__ import annotations

import abc
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa

#: ``progress(stage, rows_done, rows_total)``; ``rows_total`` is 0 when unknown.
ProgressFn = Callable[[str, int, int], None]


@dataclass
class RowSink:
    """Where a run's per-case rows go: ``path`` once the run succeeded; meanwhile
    ``write`` (one process) or files in ``directory`` (one per partition)."""

    path: Path
    write: Callable[[pa.Table], None] | None = None
    directory: Path | None = None


class Executor(abc.ABC):
    """Runs passes over sources (see the module docstring)."""

    @abc.abstractmethod
    def scan(self, source: Any, p, *, keep: bool = False, rows: RowSink | None = None):
        """The merged state of source pass ``p`` over ``source``; with ``keep``, a pair
        ``(state, kept)`` where ``kept`` holds the prepared features for :meth:`over`."""

    @abc.abstractmethod
    def over(self, kept: Any, p):
        """The merged state of feature pass ``p`` over features kept by :meth:`scan`."""

    @abc.abstractmethod
    def rows_sink(self, out: str | os.PathLike | None) -> contextlib.AbstractContextManager:
        """A context giving the :class:`RowSink` of ``out/cases.parquet`` (None without
        ``out``); the file appears when the context exits without error."""

    def run(self, what: str, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a job (``what`` names it in a failure of the executor itself)."""
        return job(self, *args, **kwargs)

    def close(self) -> None:
        """Release what the executor holds (temporary files, a cluster it started)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def replayable(source: Any) -> Any:
    """Sources read more than once: paths and tables as they are; streams materialised."""
    if isinstance(source, (str, os.PathLike, pa.Table, list, tuple)):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, pa.RecordBatchReader):
        return source.read_all()
    if hasattr(source, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(source).read_all()
    return source


def rows_done(progress: ProgressFn | None, stage: str, total: int) -> Callable[[int], None] | None:
    """A counter that reports ``progress(stage, done, total)`` as rows are done."""
    if progress is None:
        return None
    done = [0]

    def add(rows: int) -> None:
        done[0] += rows
        progress(stage, done[0], total)
    return add


@contextlib.contextmanager
def no_sink() -> Iterator[None]:
    yield None
