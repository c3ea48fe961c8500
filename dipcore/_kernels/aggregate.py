"""Exact aggregation: int64 sums into dense arrays (the partition kernel of every reduction).

Integer sums are exact and independent of order, so per-partition partial states merge by
element-wise addition and any partitioning gives bit-identical totals.
"""
from __future__ import annotations

import numpy as np

from .numba_config import kernel


@kernel
def sum_by(codes, n_codes, values):
    """``out[c, j] = sum of values[i, j] over i with codes[i] == c`` (int64; codes < 0 skipped)."""
    out = np.zeros((n_codes, values.shape[1]), np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c >= 0:
            for j in range(values.shape[1]):
                out[c, j] += values[i, j]
    return out
