"""Validation kernels: the ordered row checks and the code-list encoder.

``first_failed_check`` walks each row once through every check of ``dipcore.ingest.checks.CHECKS``
in order and records the first that fails, so a row is reported under its first reason,
whatever the number of checks, in one pass over the columns.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .numba_config import kernel

# value statuses of the parsers (``dipcore._kernels.strings``), plus NaN/infinite money
OK, EMPTY, BAD, RANGE, NONFINITE = 0, 1, 2, 3, 4
# codebook values below 0 (``dipcore.ingest.codebook``)
V_EMPTY, V_BAD = -1, -2


class RowColumns(NamedTuple):
    """The columns the row checks read, by name (parsed values, their parser statuses,
    codebook values); one entry per row."""

    pre: np.ndarray           # checks already failed (bad encoding), -1 elsewhere
    case_blank: np.ndarray    # uint8: no case id
    dup: np.ndarray           # uint8: the id repeats an earlier row's
    hosp: np.ndarray          # codebook hospital id (<0: blank)
    reg_level: np.ndarray     # registry level (0: not in the registry)
    level_v: np.ndarray       # hospital level as given (parsed) and its status
    level_st: np.ndarray
    pool: np.ndarray          # codebook pool (<0: unknown)
    adm_v: np.ndarray         # admission day and status
    adm_st: np.ndarray
    dis_v: np.ndarray         # discharge day and status
    dis_st: np.ndarray
    age_v: np.ndarray         # age in years and status
    age_st: np.ndarray
    agd_v: np.ndarray         # age in days and status
    agd_st: np.ndarray
    sex_v: np.ndarray         # sex and status
    sex_st: np.ndarray
    wt_v: np.ndarray          # birth weight (g) and status
    wt_st: np.ndarray
    dx: np.ndarray            # codebook primary diagnosis (-1 empty, -2 malformed)
    sec_bad: np.ndarray       # uint8: a malformed secondary diagnosis
    proc_bad: np.ndarray      # uint8: a malformed procedure
    tot_v: np.ndarray         # total cost (fen) and status
    tot_st: np.ndarray
    fund_v: np.ndarray        # fund paid (fen) and status
    fund_st: np.ndarray
    way_v: np.ndarray         # discharge way and status
    way_st: np.ndarray
    bed: np.ndarray           # codebook bed-day category (-2 unknown)
    icu_v: np.ndarray         # ICU days and status
    icu_st: np.ndarray


class CheckLimits(NamedTuple):
    """The scalars of the row checks."""

    registry: bool        # a hospital registry was given (its level wins)
    has_level: bool       # the source has a hospital_level column
    max_age: int          # years
    absurd_fen: int       # a cost at or above this is absurd


@kernel
def first_failed_check(cols, limits):
    """Index of the first failed check of each row (-1: the row is good).

    ``cols`` is a :class:`RowColumns`, ``limits`` a :class:`CheckLimits`. ``cols.pre``
    holds checks already failed (bad encoding; -1 elsewhere). Also returns the final
    hospital level and sex of each row (registry level first; sex 0 or empty -> 9). The
    numbering is that of ``dipcore.ingest.checks.CHECKS``.
    """
    (pre, case_blank, dup, hosp, reg_level, level_v, level_st, pool, adm_v, adm_st, dis_v,
     dis_st, age_v, age_st, agd_v, agd_st, sex_v, sex_st, wt_v, wt_st, dx, sec_bad, proc_bad,
     tot_v, tot_st, fund_v, fund_st, way_v, way_st, bed, icu_v, icu_st) = cols
    registry, has_level, max_age, absurd_fen = limits
    n = case_blank.shape[0]
    out = np.full(n, -1, np.int16)
    level = np.zeros(n, np.int8)
    sex = np.full(n, 9, np.int8)
    for i in range(n):
        lv = level_v[i]
        if registry:
            if reg_level[i] > 0:
                lv = reg_level[i]
            elif not has_level:
                lv = 0
        level[i] = min(max(lv, -1), 127)
        sx = sex_v[i]
        if sex_st[i] == EMPTY or sx == 0:
            sx = 9
        sex[i] = min(max(sx, -1), 127)
        c = pre[i]
        if c >= 0:
            out[i] = c
            continue
        if case_blank[i]:
            c = 0
        elif dup[i]:
            c = 1
        elif hosp[i] < 0:
            c = 2
        elif registry and reg_level[i] <= 0:
            c = 3
        elif not registry and level_st[i] != OK:
            c = 4
        elif lv < 1 or lv > 3:
            c = 5
        elif pool[i] < 0:
            c = 6
        elif adm_st[i] != OK:
            c = 7
        elif dis_st[i] != OK:
            c = 8
        elif dis_v[i] < adm_v[i]:
            c = 9
        elif age_st[i] != OK:
            c = 10
        elif age_v[i] < 0 or age_v[i] > max_age:
            c = 11
        elif agd_st[i] == BAD or agd_st[i] == RANGE:
            c = 12
        elif agd_st[i] == OK and (agd_v[i] < 0 or agd_v[i] > 365):
            c = 13
        elif sex_st[i] == BAD or sex_st[i] == RANGE or not (sx == 1 or sx == 2 or sx == 9):
            c = 14
        elif wt_st[i] == BAD or wt_st[i] == RANGE:
            c = 15
        elif wt_st[i] == OK and (wt_v[i] < 1 or wt_v[i] > 10_000):
            c = 16
        elif dx[i] == V_EMPTY:
            c = 17
        elif dx[i] == V_BAD:
            c = 18
        elif sec_bad[i]:
            c = 19
        elif proc_bad[i]:
            c = 20
        else:
            c = _money(tot_v[i], tot_st[i], absurd_fen, 21)
            if c < 0:
                c = _money(fund_v[i], fund_st[i], absurd_fen, 25)
            if c < 0:
                if tot_st[i] == OK and fund_st[i] == OK and fund_v[i] > tot_v[i]:
                    c = 29
                elif way_st[i] != OK or not (1 <= way_v[i] <= 5 or way_v[i] == 9):
                    c = 30
                elif bed[i] == V_BAD:
                    c = 31
                elif icu_st[i] == BAD or icu_st[i] == RANGE:
                    c = 32
                elif icu_st[i] == OK and (icu_v[i] < 0 or icu_v[i] > 10_000):
                    c = 33
        out[i] = c
    return out, level, sex


@kernel
def _money(v, st, absurd_fen, base):
    """Checks of one money value: unreadable, NaN/infinite, negative, absurd (in order)."""
    if st == BAD or st == EMPTY:
        return base
    if st == NONFINITE:
        return base + 1
    if st == OK and v < 0:
        return base + 2
    if st == RANGE or (st == OK and v >= absurd_fen):
        return base + 3
    return -1


@kernel
def encode_lists(offsets, values):
    """Codebook values of list items -> the kept items (CSR) and each row's first bad item.

    ``values``: per item a canonical id (>= 0), -1 (blank: dropped) or -2 (malformed).
    Returns ``(new_offsets int32[n+1], ids int32, row_bad uint8[n], first_bad int64[n])``,
    ``first_bad`` being the item's index in ``values`` (-1 when the row is good).
    """
    n = offsets.shape[0] - 1
    out_off = np.empty(n + 1, np.int32)
    out = np.empty(values.shape[0], np.int32)
    bad = np.zeros(n, np.uint8)
    first = np.full(n, -1, np.int64)
    k = 0
    for i in range(n):
        out_off[i] = k
        for j in range(offsets[i], offsets[i + 1]):
            v = values[j]
            if v >= 0:
                out[k] = v
                k += 1
            elif v == V_BAD and bad[i] == 0:
                bad[i] = 1
                first[i] = j
    out_off[n] = k
    return out_off, out[:k], bad, first


@kernel
def take_lists(offsets, values, rows):
    """The lists of ``rows`` (ascending row indices) of a CSR, as a new CSR."""
    m = rows.shape[0]
    out_off = np.empty(m + 1, np.int32)
    total = 0
    for k in range(m):
        total += offsets[rows[k] + 1] - offsets[rows[k]]
    out = np.empty(total, values.dtype)
    pos = 0
    for k in range(m):
        out_off[k] = pos
        for j in range(offsets[rows[k]], offsets[rows[k] + 1]):
            out[pos] = values[j]
            pos += 1
    out_off[m] = pos
    return out_off, out
