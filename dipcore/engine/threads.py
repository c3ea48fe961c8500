"""Threads for dipcore's batch work: how many, and mapping work over them in order.

Kernels (Arrow, Cython, Numba) release the GIL, so threads use the cores. Results come
back in the order of the items (:func:`ordered_map`), which keeps every result independent
of the number of threads.

The number of threads is ``DIPCORE_THREADS``, or :func:`set_threads`, or the cores this
process may use. Inside a Dask worker it is 1
(``dipcore.engine.distributed.configure_worker``): there, Dask runs one task per core
already.
"""
from __future__ import annotations

import os
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

from dipcore.errors import InputError, positive_whole

T = TypeVar("T")
R = TypeVar("R")

_threads: int | None = None


def set_threads(n: int | None) -> None:
    """Threads for dipcore's batch passes (``None``: ``DIPCORE_THREADS`` or the cores)."""
    global _threads
    _threads = positive_whole(n, "threads")


def threads() -> int:
    """The number of threads a pass uses."""
    if _threads is not None:
        return _threads
    env = os.environ.get("DIPCORE_THREADS")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            raise InputError(f"DIPCORE_THREADS must be a positive whole number, not {env!r}")
        return int(env)
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


def run_threads(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]`` on the configured threads (order kept)."""
    return list(ordered_map(fn, items, threads()))
