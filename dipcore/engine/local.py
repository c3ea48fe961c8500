"""Running a pass over the batches of a source on several threads, in reading order.

Reading a source and finding repeated case ids depend on order, so one thread does them,
batch after batch (:class:`Checking`). Everything else a pass does to a batch (validate,
prepare, score, sum) depends on that batch alone and runs on a pool of threads, each with
its own validator and codebook, so threads share no mutable state. Results come back in
reading order. Kernels (Arrow, Cython, Numba) release the GIL, so the threads use the
cores.

The number of threads is ``DIPCORE_THREADS``, or :func:`set_threads`, or the cores this
process may use. Inside a Dask worker it is 1 (``dipcore.dask_engine.configure_worker``):
there, Dask runs one task per core already.
"""
from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import pyarrow as pa

from dipcore.ingest import codebook as encode
from dipcore.ingest.sources import Piece
from dipcore.ingest.validate import CheckedBatch, Deduplicator, Validator

T = TypeVar("T")
R = TypeVar("R")

_threads: int | None = None


def set_threads(n: int | None) -> None:
    """Threads for dipcore's batch passes (``None``: ``DIPCORE_THREADS`` or the cores)."""
    global _threads
    _threads = None if n is None else max(1, int(n))


def threads() -> int:
    """The number of threads a pass uses."""
    if _threads is not None:
        return _threads
    env = os.environ.get("DIPCORE_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:         # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead, in order.

    An exception raised while producing an item is raised here, in the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=run, daemon=True, name="dipcore-reader")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], n_threads: int) -> Iterator[R]:
    """``fn(item)`` for every item on ``n_threads`` threads; results in the items' order.

    At most ``n_threads + 1`` items are in flight, so memory stays bounded. An exception
    raised by ``fn`` is raised here, in order; the items not yet started are dropped.
    """
    if n_threads <= 1:
        for item in items:
            yield fn(item)
        return
    pending: deque = deque()
    with ThreadPoolExecutor(n_threads, thread_name_prefix="dipcore") as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > n_threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


@dataclass
class Checking:
    """How the raw pieces of a source become checked batches.

    Parameters
    ----------
    hospitals : pyarrow.Table, optional
        The hospital registry.
    duplicates : dict, optional
        Rows of repeated case ids per source (a distributed pre-pass); None to find them
        here, in reading order.
    expected_rows : int, optional
        Rows of the source when known, to size the duplicate check.
    n_threads : int, optional
        Threads (default :func:`threads`).
    """

    hospitals: pa.Table | None = None
    duplicates: dict[str, np.ndarray] | None = None
    expected_rows: int | None = None
    n_threads: int | None = None

    def run(self, pieces: Iterable[Piece], work: Callable[[CheckedBatch], R]) -> Iterator[R]:
        """``work(checked batch)`` for every piece, in reading order."""
        from dipcore.ingest.reader import check_piece
        n = self.n_threads or threads()
        dedupe = Deduplicator(self.duplicates, self.expected_rows)
        local = threading.local()
        lent: list = []

        def job(piece: Piece) -> R:
            validator = getattr(local, "validator", None)
            if validator is None:      # each thread reads with a codebook of its own
                validator = local.validator = Validator(self.hospitals, codebook=encode.borrow())
                lent.append(validator.codebook)
            return work(check_piece(validator, piece))

        ordered: Iterable[Piece] = (dedupe(p) for p in pieces)
        if n > 1:
            ordered = prefetch(ordered)
        try:
            yield from ordered_map(job, ordered, n)
        finally:
            dedupe.close()
            for codebook in lent:
                encode.give_back(codebook)


def run_threads(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]`` on the configured threads (order kept)."""
    return list(ordered_map(fn, items, threads()))
