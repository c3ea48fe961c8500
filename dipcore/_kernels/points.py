"""Case points (SPEC.md section 5): outlier class and the point formulas, per case.

Points are computed in float64 from per-case inputs only, then rounded half-up to four
decimals and returned as int64 units of 0.0001 point, so sums are exact and order-free.
"""
from __future__ import annotations

import math

import numpy as np

from .numba_config import kernel

# case kinds
DIP, UNGROUPED, SPECIAL, BED_DAY = 0, 1, 2, 3
# outlier classes
NONE, LOW, NORMAL, HIGH, EXTREME = 0, 1, 2, 3, 4
# rule codes
LOW_ACTUAL, LOW_RATIO2020 = 0, 1
HIGH_NATIONAL, HIGH_SHANDONG, HIGH_HUBEI = 0, 1, 2

UNITS = 10_000


@kernel
def round_units(x):
    """x points -> int64 units of 1e-4, half away from zero; a tolerance of 1e-9 unit
    absorbs float noise such as 1649.99999999 for an exact 1650."""
    v = abs(x) * UNITS
    f = math.floor(v)
    if v - f >= 0.5 - 1e-9:
        f += 1
    return np.int64(f) if x >= 0 else -np.int64(f)


@kernel
def case_points(kind, rw, k, a, base, cost, mean_all, scale, low_ratio, low_inclusive,
                low_rule, high_ratio, high_rule, extreme_ratio, extreme_as_high,
                coefficients_on_outliers, ungrouped_discount, bed_rate, bed_days,
                bed_cap, taper_after, taper_factor):
    """Points of each case.

    Parameters are per-case arrays (``kind``, ``rw`` score, ``k`` hospital coefficient,
    ``a`` auxiliary coefficient, ``base`` comparison mean m_L in fen, ``cost`` in fen,
    ``bed_rate`` points per day, ``bed_days`` LOS) and policy scalars (``bed_cap`` and
    ``taper_after`` <= 0 mean none). Returns ``(units int64, outlier int8, ratio float64)``.
    """
    n = kind.shape[0]
    units = np.zeros(n, np.int64)
    outlier = np.zeros(n, np.int8)
    ratio = np.full(n, np.nan)
    for i in range(n):
        p = 0.0
        kd = kind[i]
        if kd == DIP:
            r = cost[i] / base[i]
            ratio[i] = r
            coef = k[i] * a[i]
            is_low = r <= low_ratio if low_inclusive else r < low_ratio
            if is_low:
                outlier[i] = LOW
                if low_rule == LOW_ACTUAL:
                    c = coef if coefficients_on_outliers else 1.0
                    p = rw[i] * c * min(1.0, cost[i] / (base[i] * c))
                else:
                    p = rw[i] * r
            elif r > high_ratio and not (r > extreme_ratio and not extreme_as_high):
                outlier[i] = EXTREME if r > extreme_ratio else HIGH
                c = coef if coefficients_on_outliers else 1.0
                if high_rule == HIGH_NATIONAL:
                    p = rw[i] * c * ((r - high_ratio) + 1.0)
                elif high_rule == HIGH_SHANDONG:
                    p = rw[i] * (r - high_ratio + k[i])
                else:
                    p = rw[i] * c * (r - 1.0)
            else:
                outlier[i] = EXTREME if r > extreme_ratio else NORMAL
                p = rw[i] * coef
        elif kd == UNGROUPED:
            p = cost[i] / mean_all * scale * ungrouped_discount
        elif kd == SPECIAL:
            p = cost[i] / mean_all * scale
        else:
            days = bed_days[i]
            if bed_cap > 0 and days > bed_cap:
                days = bed_cap
            if taper_after > 0 and days > taper_after:
                p = bed_rate[i] * (taper_after + (days - taper_after) * taper_factor)
            else:
                p = bed_rate[i] * days
        units[i] = round_units(p)
    return units, outlier, ratio


@kernel
def case_terms(pos, perm, bed, special, level, slots, score, basic, level_mean, aux,
               level_coef, bed_rates):
    """The terms of each case's points formula (SPEC 5).

    ``pos``: the grouping kernel's position (-1: no group), ``perm``: position -> catalogue
    row. Bed-day cases skip grouping (SPEC 3.1). Per case: the catalogue row, the kind
    (special review first, then bed-day, DIP, ungrouped), the score ``RW``, the hospital
    coefficient ``k`` (1 for basic groups), the auxiliary coefficient ``a`` (the case's
    subtype with the highest coefficient, the first dimension on a tie; 1 if none) and its
    slot, the comparison base ``m_L`` in fen and the bed-day rate.
    """
    n = pos.shape[0]
    row = np.full(n, -1, np.int32)
    kind = np.empty(n, np.int8)
    rw = np.zeros(n)
    k = np.empty(n)
    a = np.ones(n)
    aux_slot = np.full(n, -1, np.int8)
    base = np.ones(n)
    rate = np.zeros(n)
    for i in range(n):
        r = -1
        if bed[i] < 0 and pos[i] >= 0:
            r = perm[pos[i]]
        row[i] = r
        if special[i]:
            kind[i] = SPECIAL
        elif bed[i] >= 0:
            kind[i] = BED_DAY
            rate[i] = bed_rates[bed[i]]
        elif r >= 0:
            kind[i] = DIP
        else:
            kind[i] = UNGROUPED
        lv = level[i]
        if r < 0:
            k[i] = level_coef[lv]
            continue
        rw[i] = score[r]
        k[i] = 1.0 if basic[r] else level_coef[lv]
        best = 0.0
        best_j = -1
        for j in range(slots.shape[1]):
            s = slots[i, j]
            if s >= 0 and aux[r, s] > best:
                best = aux[r, s]
                best_j = j
        if best_j >= 0:
            a[i] = best
            aux_slot[i] = slots[i, best_j]
        base[i] = level_mean[r, lv]
    return row, kind, rw, k, a, aux_slot, base, rate


#: Columns of ``hospital_sums``, in order.
HOSPITAL_SUMS = ("cases", "dip_cases", "points", "cost", "fund", "rw", "low", "normal", "high",
                 "extreme", "ungrouped", "special", "bed_day", "los", "deaths", "surgery")


@kernel
def hospital_sums(codes, n_codes, kind, outlier, units, rw, cost, fund, los, way, tclass):
    """Per-case figures summed by code (hospital and pool): the int64 columns of
    ``HOSPITAL_SUMS`` behind every statement line and appraisal indicator.

    ``rw`` counts in units of 1e-4 (half up) for DIP cases; a death is discharge way 5; an
    operation is a DIP case in a surgery-class group key (treatment class 3).
    """
    out = np.zeros((n_codes, 16), np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c < 0:
            continue
        dip = kind[i] == DIP
        out[c, 0] += 1
        out[c, 2] += units[i]
        out[c, 3] += cost[i]
        out[c, 4] += fund[i]
        out[c, 13] += los[i]
        if dip:
            out[c, 1] += 1
            out[c, 5] += np.int64(math.floor(rw[i] * 10_000 + 0.5))
            if tclass[i] == 3:
                out[c, 15] += 1
        if outlier[i] != NONE:               # low, normal, high, extreme: columns 6-9
            out[c, 5 + outlier[i]] += 1
        if kind[i] != DIP:                   # ungrouped, special, bed-day: columns 10-12
            out[c, 9 + kind[i]] += 1
        if way[i] == 5:
            out[c, 14] += 1
    return out
