"""Numba settings of dipcore, in one place.

* ``cache=True``: compiled kernels are cached next to their module (or in
  ``NUMBA_CACHE_DIR``), so the JIT cost is paid once per installation, not per run.
* ``fastmath`` stays off: point formulas must give the same float64 result everywhere.
* ``nogil=True``: kernels release the GIL, so threads (and Dask's threaded workers) can run
  them side by side.
"""
from __future__ import annotations

import os

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
