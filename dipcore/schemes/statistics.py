"""Calibration statistics every payment scheme shares (SPEC.md sections 4 and 10.2).

DIP groups and CHS-DRG DRGs are calibrated from history alike: year weights renormalised
over the years present, means taken over each group's cases sorted by (group, cost) so
that no statistic depends on how the history was cut into batches or partitions, level
coefficients ``M_L / M``, bed-day rates, published numbers rounded half-up to 4 decimals,
and an order-independent fingerprint of the input. The schemes' calibrations
(``dipcore.schemes.dip.calibration``, ``dipcore.schemes.drg.calibration``) apply their own
rules on top of these.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dipcore._kernels.aggregate import (
    bucket_by_group,
    cv_by,
    group_statistics,
    pack_cases,
    sort_buckets,
    sum_count_by2,
    unpack_cases,
    unpack_into,
    within_cuts,
)
from dipcore._kernels.points import UNITS
from dipcore.engine.threads import run_threads, threads
from dipcore.errors import InputError
from dipcore.policy import Policy
from dipcore.schema import BED_DAY_CATEGORIES


def round4(x):
    """Half away from zero at 4 decimals (published scores, weights and coefficients); the
    tolerance (1e-9 unit plus 16 ulps of the value) takes a tie computed with float noise,
    such as 3354.38275 as 3354.3827499999998, for the tie it is (as ``round_units``)."""
    x = np.asarray(x, dtype=np.float64)
    v = np.abs(x) * UNITS
    return np.sign(x) * np.floor(v + 0.5 + 1e-9 + v * 2.0 ** -48) / UNITS


def year_weights(policy: Policy, years: list[int]) -> dict[int, float]:
    """Weights of the calibration years: the policy's last ``len(years)`` weights."""
    w = policy.year_weights[-len(years):]
    return {y: float(v) for y, v in zip(years, w)}


def weighted_mean(sums: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_y w_y * mean_y / sum_y w_y`` over the years with cases (last axis = years)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
        present = counts > 0
        w = np.where(present, weights, 0.0)
        total = w.sum(axis=-1)
        out = np.where(present, means * w, 0.0).sum(axis=-1) / total
    return np.where(total > 0, out, np.nan)


def present_years(year: np.ndarray) -> list[int]:
    """The distinct years of a batch (a few, in a narrow range: counted, not sorted)."""
    if len(year) == 0:
        return []
    lo = int(year.min())
    if int(year.max()) - lo < 4096:
        return (np.flatnonzero(np.bincount(year.astype(np.int64) - lo)) + lo).tolist()
    return np.unique(year).tolist()


def latest_years(present: set[int] | list[int], policy: Policy) -> list[int]:
    """The default calibration years: the most recent ``len(policy.year_weights)`` of the
    years present."""
    return sorted(present)[-len(policy.year_weights):]


def calibration_years(present: set[int], policy: Policy, years: list[int] | None,
                      quarantined: int) -> tuple[list[int], list[str]]:
    """The calibration years (given, or the most recent ``len(year_weights)`` present) and
    the warnings about what is left out."""
    if not present:
        raise InputError("the history has no usable cases")
    all_years = sorted(present)
    cal_years = sorted(set(years)) if years else latest_years(all_years, policy)
    missing = [y for y in cal_years if y not in present]
    if missing:
        # a year without cases would be recorded in the catalogue as if it were weighed
        raise InputError(f"no usable cases discharged in {', '.join(map(str, missing))} "
                         f"(the history's are in {', '.join(map(str, all_years))})")
    if len(cal_years) > len(policy.year_weights):
        raise InputError(f"{len(cal_years)} calibration years but {len(policy.year_weights)} year weights")
    warnings = []
    if quarantined:
        warnings.append(f"{quarantined} history rows were quarantined and not used")
    skipped = [y for y in all_years if y not in cal_years]
    if skipped:
        warnings.append(f"cases discharged in {skipped} are outside the calibration years {cal_years}")
    return cal_years, warnings


#: Groups at least this large are sorted by NumPy (vectorised: faster despite a call per
#: group), smaller ones by the kernel.
_LARGE_GROUP = 32


def sorted_by_group_cost(group, year, level, cost, slots, G, overwrite=False):
    """The grouped cases sorted by (group, cost): ``(g, year, level, cost, slots, bounds)``.

    Each case is packed into one int64 (cost, then year, level and subtype slots), bucketed
    by group, and each group's values sorted on the threads: equal values are identical
    cases, so the order, and every statistic taken in it, does not depend on the input's.
    ``slots`` may have no columns (a scheme without subtypes).

    With ``overwrite`` the sorted arrays are written over the inputs (their first rows:
    cases of group -1 are left out) and returned as views of them: for a caller that is
    done with the inputs, a history of 60M cases then takes no fresh memory for them,
    which on a machine that faults fresh pages in at seconds per gigabyte is seconds.
    """
    packed = pack_cases(cost, year, level, slots)
    if len(packed) and packed[0] < 0:
        raise InputError("calibration cases out of range: costs must lie in [0, 1.37e9) "
                         "yuan and there may be at most 256 calibration years")
    values, bounds = bucket_by_group(group, G, packed)
    del packed
    cuts = balanced_cuts(bounds)
    run_threads(lambda r: sort_buckets(values, bounds, r[0], r[1], _LARGE_GROUP), cuts)

    def sort_large(r):              # NumPy's vectorised sort, which releases the GIL
        lo, hi = bounds[r[0]:r[1]], bounds[r[0] + 1:r[1] + 1]
        big = hi - lo >= _LARGE_GROUP
        for a, b in zip(lo[big].tolist(), hi[big].tolist()):
            values[a:b].sort()
    run_threads(sort_large, cuts)
    if overwrite:
        m = len(values)
        unpack_into(values, cost, year, level, slots)
        for k, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
            group[a:b] = k
        return group[:m], year[:m], level[:m], cost[:m], slots[:m], bounds
    c, y, lv, sl = unpack_cases(values, slots.shape[1])
    g = np.repeat(np.arange(G, dtype=np.int32), np.diff(bounds))
    return g, y.astype(year.dtype), lv, c, sl, bounds


def balanced_cuts(bounds: np.ndarray) -> list[tuple[int, int]]:
    """Ranges of groups with about the same number of rows, one per thread."""
    n = threads()
    G = len(bounds) - 1
    edges = np.searchsorted(bounds, np.linspace(0, bounds[-1], n + 1)[1:-1])
    edges = np.unique(np.clip(np.concatenate([[0], edges, [G]]), 0, G))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])] or [(0, G)]


def percentile_sorted(c: np.ndarray, start: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """NumPy's linear-interpolation percentile of each group's sorted slice ``c[start:start+n]``."""
    h = (n - 1) * (q / 100.0)
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    a = c[start + lo].astype(np.float64)
    b = c[start + hi].astype(np.float64)
    return a + (h - lo) * (b - a)


def percentile_keep(c: np.ndarray, bounds: np.ndarray, trimmed: np.ndarray,
                    low: float, high: float) -> np.ndarray:
    """Rows of groups sorted by cost (``bounds``) kept by percentile trimming: within the
    [low, high] percentiles of their group for the ``trimmed`` groups, all rows otherwise."""
    G = len(bounds) - 1
    n = np.diff(bounds)
    lo, hi = np.full(G, -np.inf), np.full(G, np.inf)
    if trimmed.any():
        start = bounds[:-1]
        lo[trimmed] = percentile_sorted(c, start[trimmed], n[trimmed], low)
        hi[trimmed] = percentile_sorted(c, start[trimmed], n[trimmed], high)
    return within_cuts(c, bounds, lo, hi)


@dataclass
class GroupStats:
    """Statistics of groups of cases sorted by (group, cost) (``group_statistics``):
    cases per year, year-weighted means of the kept costs overall and per level (fen), CV
    of the kept costs and cases at level 1."""

    cases_by_year: np.ndarray   # int64 [G, Y]
    mean: np.ndarray            # float64 [G]
    level_mean: np.ndarray      # float64 [G, 4]
    cv: np.ndarray              # float64 [G]
    primary: np.ndarray         # int64 [G]


def group_stats(c, y, lv, keep, bounds, Y: int, W: np.ndarray) -> GroupStats:
    """:class:`GroupStats` of sorted cases, ranges of groups on the threads."""
    G = len(bounds) - 1
    cnt_year, s_g, k_g = (np.zeros((G, Y), np.int64) for _ in range(3))
    s_gl, k_gl = np.zeros((G, 4, Y), np.int64), np.zeros((G, 4, Y), np.int64)
    cv, primary = np.empty(G), np.zeros(G, np.int64)
    run_threads(lambda r: group_statistics(c, y, lv, keep, bounds, r[0], r[1], cnt_year, s_g,
                                           k_g, s_gl, k_gl, cv, primary), balanced_cuts(bounds))
    return GroupStats(cnt_year, weighted_mean(s_g, k_g, W), weighted_mean(s_gl, k_gl, W),
                      cv, primary)


ALL = np.zeros(0, np.bool_)


def stats_by_year(group, year, cost, n_groups, n_years, mask=ALL):
    """Exact sums and counts by (group, year) -> float arrays [G, Y]."""
    sums, counts = sum_count_by2(group, year, n_years, n_groups, cost, mask)
    return sums.astype(np.float64), counts.astype(np.float64)


def cv_of(group, cost, n_groups, mask=ALL):
    """Population CV per group, in the arrays' order (sorted by the caller: deterministic).

    Integer costs (fen) go to the kernel as they are: it converts each value to float64
    where it adds it, exactly as ``astype`` would, without a float copy of every case
    (calibration calls this once per subtype dimension over all the history)."""
    return cv_by(group, n_groups, cost, mask)


def level_coefficients(M: float, M_L: np.ndarray, policy: Policy,
                       warnings: list[str]) -> dict[int, float]:
    """Hospital level coefficients ``k_L = M_L / M`` (SPEC 4, 10.2), or the policy's; a
    level without history gets 1.0 and a warning."""
    out: dict[int, float] = {}
    for L in (1, 2, 3):
        if str(L) in policy.level_coefficients:
            out[L] = float(policy.level_coefficients[str(L)])
        elif np.isnan(M_L[L]):
            out[L] = 1.0
            warnings.append(f"hospital level {L} has no history: level coefficient 1.0")
        else:
            out[L] = float(round4(M_L[L] / M))
    return out


def bed_day_rates(state: dict[str, np.ndarray], M: float, Y: int, W: np.ndarray,
                  policy: Policy, scale: float, warnings: list[str]) -> dict[str, float]:
    """Points per day by bed-day category: category mean cost per day / M x scale (SPEC 4,
    5.6), or the policy's rates. ``state``: the history's bed-day cases (``bed_cat``,
    ``bed_year`` index, ``bed_cost`` and ``bed_days``); ``M`` in fen."""
    rates: dict[str, float] = {}
    for ci, name in enumerate(BED_DAY_CATEGORIES):
        if name in policy.bed_day_rates:
            rates[name] = float(policy.bed_day_rates[name])
            continue
        m = state["bed_cat"] == ci
        if not m.any():
            warnings.append(f"no {name} bed-day cases in the history: no rate")
            continue
        zero = np.zeros(int(m.sum()), np.int8)
        sc, _ = stats_by_year(zero, state["bed_year"][m], state["bed_cost"][m], 1, Y)
        sd, _ = stats_by_year(zero, state["bed_year"][m], state["bed_days"][m], 1, Y)
        per_day = weighted_mean(sc, sd, W)[0]
        rates[name] = float(round4(per_day / M * scale))
    return rates


def fingerprint_text(parts: list[np.ndarray], years: list[int]) -> str:
    """The catalogue's input fingerprint from per-batch ``[n, hash sum]`` parts (their
    order does not matter) and the calibration years."""
    n = sum(int(p[0]) for p in parts)
    h = 0
    for p in parts:
        h = (h + int(p[1])) % (1 << 64)
    return hashlib.sha256(f"{n}:{h}:{years}".encode()).hexdigest()[:32]
