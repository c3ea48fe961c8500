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
    # the weight of a set of conditions, 6 conditions at a time: three table lookups
    chunks = (weights.shape[0] + 5) // 6
    table = np.zeros((chunks, 64), np.int64)
    for k in range(chunks):
        for v in range(64):
            for b in range(6):
                c = 6 * k + b
                if v & (1 << b) and c < weights.shape[0]:
                    table[k, v] += weights[c]
    for i in range(n):
        mask = np.int64(0)
        for j in range(offsets[i], offsets[i + 1]):
            c = condition[j]
            if c >= 0:
                mask |= np.int64(1) << c
        if mask == 0:
            continue
        for h in range(mild.shape[0]):
            if mask & (np.int64(1) << severe[h]):
                mask &= ~(np.int64(1) << mild[h])
        s = 0
        for k in range(chunks):
            s += table[k, (mask >> (6 * k)) & 63]
        out[i] = s
    return out


# Auxiliary subtype slots are the positions in ``dipcore.schemes.dip.features.SUBTYPES``:
# CCI 0-3 (0, 1-2, 3-4, >= 5), age 4-8 (0-28 days, 29 days-1 year, 1-6, 7-17, >= 65),
# death 9, ICU bands 10-12; ``subtype_slots`` gives one column per dimension.


@kernel
def subtype_slots(cci, age, age_days, way, icu, use_cci, use_age, use_death, use_icu,
                  icu1, icu2, icu3):
    """Subtype slot of each case in each dimension (cci, age, death, icu); -1 where none.

    ``age_days`` is -1 when unknown; an infant (age 0) of at most 28 days is a newborn,
    any other infant falls in 29 days-1 year. ICU bands start at ``icu1 <= icu2 <= icu3``
    days.
    """
    n = cci.shape[0]
    out = np.full((n, 4), -1, np.int8)
    for i in range(n):
        if use_cci:
            c = cci[i]
            out[i, 0] = 0 if c == 0 else (1 if c <= 2 else (2 if c <= 4 else 3))
        if use_age:
            a = age[i]
            if a == 0:
                out[i, 1] = 4 if 0 <= age_days[i] <= 28 else 5
            elif 1 <= a <= 6:
                out[i, 1] = 6
            elif 7 <= a <= 17:
                out[i, 1] = 7
            elif a >= 65:
                out[i, 1] = 8
        if use_death and way[i] == 5:
            out[i, 2] = 9
        if use_icu:
            d = icu[i]
            if d >= icu3:
                out[i, 3] = 12
            elif d >= icu2:
                out[i, 3] = 11
            elif d >= icu1:
                out[i, 3] = 10
    return out

