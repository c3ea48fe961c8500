"""Severity kernels: Charlson comorbidity index and auxiliary subtype slots (SPEC.md 4).

The CCI kernel sees only condition ids per secondary diagnosis (a lookup made once per
distinct code), so the per-case loop is integer work.
"""
from __future__ import annotations

import numpy as np

from .numba_config import kernel


@kernel
def cci_scores(offsets, condition, weights, mild, severe):
    """Charlson index per case.

    ``condition[j]``: condition id of secondary diagnosis j (-1 none); each condition counts
    once; where ``severe[h]`` is present, ``mild[h]`` is dropped (diabetes, liver disease,
    malignancy). Returns int16[n].
    """
    n = offsets.shape[0] - 1
    out = np.zeros(n, np.int16)
    for i in range(n):
        mask = np.int64(0)
        for j in range(offsets[i], offsets[i + 1]):
            c = condition[j]
            if c >= 0:
                mask |= np.int64(1) << c
        for h in range(mild.shape[0]):
            if mask & (np.int64(1) << severe[h]):
                mask &= ~(np.int64(1) << mild[h])
        s = 0
        for c in range(weights.shape[0]):
            if mask & (np.int64(1) << c):
                s += weights[c]
        out[i] = s
    return out
