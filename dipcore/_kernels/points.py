"""Case points (SPEC.md section 5): outlier class and the point formulas, per case.

Points are computed in float64 from per-case inputs only, then rounded half-up to four
decimals and returned as int64 units of 0.0001 point, so sums are exact and order-free.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .numba_config import kernel

# case kinds: DIP is a case paid by its group's weight (a DIP group or a DRG); UNSTABLE and
# NEW_TECH occur under CHS-DRG only (SPEC 10.3)
DIP, UNGROUPED, SPECIAL, BED_DAY, UNSTABLE, NEW_TECH = 0, 1, 2, 3, 4, 5
# outlier classes
NONE, LOW, NORMAL, HIGH, EXTREME = 0, 1, 2, 3, 4
# rule codes
LOW_ACTUAL, LOW_RATIO2020 = 0, 1
HIGH_NATIONAL, HIGH_SHANDONG, HIGH_HUBEI = 0, 1, 2

UNITS = 10_000


@kernel
def round_units(x):
    """x points -> int64 units of 1e-4, half away from zero; a tolerance of 1e-9 unit plus
    16 ulps of the value absorbs float noise such as 1649.99999999 for an exact 1650, and
    566.9317499999999 for an exact tie 566.93175 (noise grows with the value: an absolute
    tolerance alone rounds such large ties down)."""
    v = abs(x) * UNITS
    f = math.floor(v)
    if v - f >= 0.5 - 1e-9 - v * 2.0 ** -48:
        f += 1
    return np.int64(f) if x >= 0 else -np.int64(f)


class PointRules(NamedTuple):
    """The policy scalars of the point rules, as one record the kernels read
    (``dipcore.payment.points.point_rules`` builds it from a policy and a catalogue)."""

    mean_all: float                 # M, the all-case mean cost, in fen
    scale: float                    # score scale (SPEC 4)
    low_ratio: float                # SPEC 5.2
    low_inclusive: bool             # r <= low_ratio (True) or r < low_ratio
    low_rule: int                   # LOW_ACTUAL | LOW_RATIO2020
    high_ratio: float               # SPEC 5.3
    high_rule: int                  # HIGH_NATIONAL | HIGH_SHANDONG | HIGH_HUBEI
    extreme_ratio: float
    extreme_as_high: bool           # extreme cases paid as high-cost (True) or as normal
    coefficients_on_outliers: bool  # k and a apply to outlier points (SPEC 9)
    ungrouped_discount: float       # SPEC 5.4
    bed_cap: int                    # SPEC 5.6: paid days at most (<= 0: no cap)
    taper_after: int                # SPEC 5.6: taper after this day (<= 0: none)
    taper_factor: float


# -- the rules of SPEC 5, one kernel each; float64 in, float64 points out (rounded by the
# -- caller, ``round_units``) ---------------------------------------------------------------------
@kernel
def low_cost_points(rw, k, a, r, cost, base, rules):
    """SPEC 5.2, low-cost case (r < low_ratio): ``actual_cost`` pays
    RW*k*a*min(1, cost/(m_L*k*a)), the case's actual cost at the reference point value;
    ``ratio_2020`` pays RW*r."""
    if rules.low_rule == LOW_ACTUAL:
        c = k * a if rules.coefficients_on_outliers else 1.0
        return rw * c * min(1.0, cost / (base * c))
    return rw * r


@kernel
def high_cost_points(rw, k, a, r, rules):
    """SPEC 5.3, high-cost case (r > high_ratio): national 2020 RW*k*a*((r-t)+1);
    Shandong RW*(r-t+k); Hubei RW*k*a*(r-1)."""
    c = k * a if rules.coefficients_on_outliers else 1.0
    if rules.high_rule == HIGH_NATIONAL:
        return rw * c * ((r - rules.high_ratio) + 1.0)
    if rules.high_rule == HIGH_SHANDONG:
        return rw * (r - rules.high_ratio + k)
    return rw * c * (r - 1.0)


@kernel
def cost_points(cost, factor, rules):
    """SPEC 5.4 and 5.5: paid by cost, cost/M*scale*factor (ungrouped: the ungrouped
    discount; special review: 1)."""
    return cost / rules.mean_all * rules.scale * factor


@kernel
def bed_day_points(rate, days, rules):
    """SPEC 5.6: rate*min(LOS, cap), days after ``taper_after`` at ``taper_factor``."""
    if rules.bed_cap > 0 and days > rules.bed_cap:
        days = rules.bed_cap
    if rules.taper_after > 0 and days > rules.taper_after:
        return rate * (rules.taper_after + (days - rules.taper_after) * rules.taper_factor)
    return rate * days


@kernel
def outlier_class(r, rules):
    """SPEC 5.2-5.3: LOW, HIGH or EXTREME paid as high-cost, NORMAL, or EXTREME paid as
    normal (``extreme_pay = "normal"``)."""
    if r <= rules.low_ratio if rules.low_inclusive else r < rules.low_ratio:
        return LOW
    if r > rules.high_ratio and not (r > rules.extreme_ratio and not rules.extreme_as_high):
        return EXTREME if r > rules.extreme_ratio else HIGH
    return EXTREME if r > rules.extreme_ratio else NORMAL


@kernel
def case_points(kind, rw, k, a, base, cost, bed_rate, bed_days, rules):
    """Points of each case (SPEC 5), rounded half-up to 4 decimals (``round_units``).

    Per-case arrays: ``kind``, ``rw`` score, ``k`` hospital coefficient, ``a`` auxiliary
    coefficient, ``base`` comparison mean m_L in fen, ``cost`` in fen, ``bed_rate`` points
    per day, ``bed_days`` LOS; ``rules`` the :class:`PointRules` record. Returns
    ``(units int64, outlier int8, ratio float64)``. An EXTREME case is paid as high-cost
    when the policy says so, else as normal (the class records what it is, not how it
    was paid).
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
            o = outlier_class(r, rules)
            outlier[i] = o
            if o == LOW:
                p = low_cost_points(rw[i], k[i], a[i], r, cost[i], base[i], rules)
            elif r > rules.high_ratio and not (r > rules.extreme_ratio and not rules.extreme_as_high):
                p = high_cost_points(rw[i], k[i], a[i], r, rules)
            else:
                p = rw[i] * (k[i] * a[i])                    # SPEC 5.1, normal case
        elif kd == UNGROUPED:
            p = cost_points(cost[i], rules.ungrouped_discount, rules)
        elif kd == SPECIAL:
            p = cost_points(cost[i], 1.0, rules)
        else:
            p = bed_day_points(bed_rate[i], bed_days[i], rules)
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
                 "extreme", "ungrouped", "special", "bed_day", "los", "deaths", "surgery",
                 "unstable", "new_technology", "new_technology_points")
#: Column counting each case kind other than DIP (index: kind).
_KIND_COLUMN = np.array([-1, 10, 11, 12, 16, 17], np.int64)


@kernel
def hospital_sums(codes, n_codes, kind, outlier, units, rw, cost, fund, los, way, tclass):
    """Per-case figures summed by code (hospital and pool): the int64 columns of
    ``HOSPITAL_SUMS`` behind every statement line and appraisal indicator.

    ``rw`` counts in units of 1e-4 (half up) for cases paid by their group's weight (kind
    DIP: a DIP group or a stable DRG); a death is discharge way 5; an operation is such a
    case in a surgery-class group (treatment class 3).
    """
    out = np.zeros((n_codes, 19), np.int64)
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
            out[c, 5] += np.int64(math.floor(rw[i] * UNITS + 0.5))
            if tclass[i] == 3:
                out[c, 15] += 1
        else:
            out[c, _KIND_COLUMN[kind[i]]] += 1
            if kind[i] == NEW_TECH:
                out[c, 18] += units[i]
        if outlier[i] != NONE:               # low, normal, high, extreme: columns 6-9
            out[c, 5 + outlier[i]] += 1
        if way[i] == 5:
            out[c, 14] += 1
    return out


#: The ``HOSPITAL_SUMS`` columns that depend on the point rules (points, the outlier
#: counts and new-technology points); the others depend only on the cases and the terms.
RULE_COLUMNS = np.array([2, 6, 7, 8, 9, 18], np.int64)


@kernel
def rule_sums(codes, month_codes, n_codes, kind, outlier, units):
    """The ``RULE_COLUMNS`` of :func:`hospital_sums` by code, and the points by month code
    (``code * 12 + month - 1``), in one pass: what changes between policies that share the
    terms of the points (a what-if sweep). Returns ``(int64 [n_codes, 6], int64
    [n_codes * 12])``."""
    out = np.zeros((n_codes, 6), np.int64)
    months = np.zeros(n_codes * 12, np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c < 0:
            continue
        out[c, 0] += units[i]
        if outlier[i] != NONE:               # low, normal, high, extreme: columns 1-4
            out[c, outlier[i]] += 1
        if kind[i] == NEW_TECH:
            out[c, 5] += units[i]
        months[month_codes[i]] += units[i]
    return out, months


# -- CHS-DRG points (SPEC 10.3) ------------------------------------------------------------------
DRG_HIGH_ADDITIVE, DRG_HIGH_MULTIPLICATIVE = 0, 1


class DrgPointRules(NamedTuple):
    """The policy scalars of SPEC 10.3 (``dipcore.schemes.drg.scoring`` builds it)."""

    mean_all: float               # M, all grouped DRG cases' mean cost, in fen
    scale: float                  # drg_scale
    low_ratio: float              # drg_low_ratio: low-cost when r <= it
    high_rule: int                # DRG_HIGH_ADDITIVE | DRG_HIGH_MULTIPLICATIVE
    ungrouped_discount: float
    bed_cap: int                  # SPEC 5.6, as DIP
    taper_after: int
    taper_factor: float


@kernel
def drg_high_threshold(b, band_upto, band_t, above):
    """SPEC 10.3: the high-cost multiple t(B) of base points ``b``: the first band with
    ``b <= upto``, else ``above``."""
    for j in range(band_upto.shape[0]):
        if b <= band_upto[j]:
            return band_t[j]
    return above


@kernel
def drg_case_points(kind, b, k, base, cost, bed_rate, bed_days, band_upto, band_t, above, rules):
    """Points of each CHS-DRG case (SPEC 10.3), rounded half-up to 4 decimals.

    Per-case arrays: ``kind``, ``b`` base points B, ``k`` hospital coefficient, ``base`` the
    DRG's mean cost m at the case's level in fen, ``cost`` in fen, ``bed_rate``,
    ``bed_days``; the high-cost bands (``band_upto``, ``band_t``, ``above``). Returns
    ``(units int64, outlier int8, ratio float64)``:

    * DIP (a stable DRG): r = cost/m; high-cost when r >= t(B): B*k + B*(r - t) (additive)
      or B*k*(1 + r - t); low-cost when r <= low_ratio: B*k*r, at most B*k; else B*k;
    * UNSTABLE, NEW_TECH and SPECIAL: cost / M * scale;
    * UNGROUPED (ungroupable, failed checks): cost / M * scale * ungrouped_discount;
    * BED_DAY: SPEC 5.6.
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
            t = drg_high_threshold(b[i], band_upto, band_t, above)
            if r >= t:
                outlier[i] = HIGH
                if rules.high_rule == DRG_HIGH_ADDITIVE:
                    p = b[i] * k[i] + b[i] * (r - t)
                else:
                    p = b[i] * k[i] * (1.0 + r - t)
            elif r <= rules.low_ratio:
                outlier[i] = LOW
                p = min(b[i] * k[i] * r, b[i] * k[i])
            else:
                outlier[i] = NORMAL
                p = b[i] * k[i]
        elif kd == UNGROUPED:
            p = cost[i] / rules.mean_all * rules.scale * rules.ungrouped_discount
        elif kd == BED_DAY:
            p = bed_day_points(bed_rate[i], bed_days[i], rules)
        else:                                   # UNSTABLE, NEW_TECH, SPECIAL: by cost
            p = cost[i] / rules.mean_all * rules.scale
        units[i] = round_units(p)
    return units, outlier, ratio
