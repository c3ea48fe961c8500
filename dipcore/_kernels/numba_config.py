"""Numba settings of dipcore, in one place.

* ``cache=True``: compiled kernels are cached next to their module (or in
  ``NUMBA_CACHE_DIR``), so the JIT cost is paid once per installation, not per run.
* ``fastmath`` stays off: point formulas must give the same float64 result everywhere.
* ``nogil=True``: kernels release the GIL, so threads (and Dask's threaded workers) can run
  them side by side.
"""
from __future__ import annotations

import os
import threading

import numba as nb

NJIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


def kernel(fn=None, **extra):
    """``numba.njit`` with dipcore's settings."""
    opts = {**NJIT, **extra}
    if fn is None:
        return lambda f: nb.njit(**opts)(f)
    return nb.njit(**opts)(fn)


def set_threads(n: int | None) -> None:
    """Limit Numba's threads (used inside Dask workers so workers x threads <= cores)."""
    if n is None:
        n = int(os.environ.get("DIPCORE_THREADS", "0")) or nb.config.NUMBA_NUM_THREADS
    nb.set_num_threads(max(1, min(n, nb.config.NUMBA_NUM_THREADS)))


@kernel
def _first_call(x):
    """Nothing to do: calling it makes Numba load what every kernel needs."""
    return x + 1


_loading: threading.Thread | None = None
_loading_lock = threading.Lock()


def start_loading() -> None:
    """Load Numba's machinery on a thread of its own, once per process.

    The first kernel a process calls costs 0.4-0.5 s more than any later one: Numba builds
    its typing and code-generation state (and imports what they need) before it can load
    even a cached kernel. Started as a run begins, that work overlaps the reading of the
    first batch (Arrow, which releases the GIL) instead of coming after it on the thread
    every later batch waits for. A kernel called meanwhile waits on Numba's own lock.
    """
    global _loading
    with _loading_lock:
        if _loading is None:
            _loading = threading.Thread(target=_first_call, args=(0,), daemon=True,
                                        name="dipcore-numba")
            _loading.start()
