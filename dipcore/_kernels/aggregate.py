"""Exact aggregation: int64 sums into dense arrays (the partition kernel of every reduction).

Integer sums are exact and independent of order, so per-partition partial states merge by
element-wise addition and any partitioning gives bit-identical totals.
"""
from __future__ import annotations

import numpy as np

from .numba_config import kernel


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending: ``np.unique(values)`` by sorting. NumPy 2's
    ``np.unique`` hashes integer arrays of many distinct values, which is 20-50x slower
    than a sort (14.7 s against 0.27 s for 10M 64-bit hashes on this machine).

    Equal integers are indistinguishable, so the sort need not be stable: NumPy's radix
    sort for 8- and 16-bit values (its "stable" kind), its SIMD quicksort for wider ones
    (4x faster than the merge sort "stable" gives them: 0.045 s against 0.19 s for 2M
    64-bit hashes)."""
    return _neighbours_differ(np.sort(values, kind="stable" if values.itemsize <= 2 else "quicksort"))


def union_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distinct values of two ascending distinct arrays (``distinct`` of both), ascending.

    The stable sort of NumPy on wide integers is a Timsort: it finds the two ascending runs
    and merges them in linear time, where sorting the whole again would cost n log n."""
    return _neighbours_differ(np.sort(np.concatenate([a, b]), kind="stable"))


def _neighbours_differ(s: np.ndarray) -> np.ndarray:
    """A sorted array without its repeats."""
    if s.size < 2:
        return s
    keep = np.empty(s.size, bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


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


@kernel
def sum_count_by2(a, b, n_b, n_a, values, mask):
    """Sums and counts of ``values`` by the pair ``(a, b)`` (``a < n_a``, ``b < n_b``).

    The pair key is formed on the fly, so no index array as long as the data is built;
    ``mask`` selects rows (all when empty). Returns ``(sums int64[n_a, n_b],
    counts int64[n_a, n_b])``; ``a < 0`` rows are skipped.
    """
    sums = np.zeros((n_a, n_b), np.int64)
    counts = np.zeros((n_a, n_b), np.int64)
    use_mask = mask.shape[0] > 0
    for i in range(a.shape[0]):
        if a[i] < 0 or (use_mask and not mask[i]):
            continue
        sums[a[i], b[i]] += values[i]
        counts[a[i], b[i]] += 1
    return sums, counts


@kernel
def population_cv(n, mean, dev):
    """CV per code from its count, mean and sum of squared deviations (NaN for an empty
    or zero-mean code): the last step of :func:`cv_by` and :func:`cell_stats`."""
    cv = np.full(n.shape[0], np.nan)
    for k in range(n.shape[0]):
        if n[k] > 0 and mean[k] != 0:
            cv[k] = np.sqrt(dev[k] / n[k]) / mean[k]
    return cv


@kernel
def cv_by(codes, n_codes, values, mask):
    """Population coefficient of variation per code, two-pass, in array order.

    Float sums run in the order of the arrays, so callers that sort their data
    canonically get the same result whatever the input order. Returns ``(cv, n)``.
    """
    n = np.zeros(n_codes, np.float64)
    s = np.zeros(n_codes, np.float64)
    use_mask = mask.shape[0] > 0
    for i in range(codes.shape[0]):
        if use_mask and not mask[i]:
            continue
        n[codes[i]] += 1.0
        s[codes[i]] += values[i]
    mean = s / np.maximum(n, 1.0)
    dev = np.zeros(n_codes, np.float64)
    for i in range(codes.shape[0]):
        if use_mask and not mask[i]:
            continue
        d = values[i] - mean[codes[i]]
        dev[codes[i]] += d * d
    return population_cv(n, mean, dev), n




@kernel
def cell_stats(group, slot, n_groups, n_slots, year, n_years, values):
    """Per cell ``group * (n_slots + 1) + slot + 1`` (cell 0 of a group: outside every
    subtype, ``slot`` -1), formed on the fly: what :func:`cv_by` and :func:`sum_count_by2`
    give over that cell array, without it or its temporaries (calibration takes this
    once per subtype dimension over all the history).

    Returns ``(cv, n, sums int64[C, n_years], counts int64[C, n_years])``, ``C = n_groups
    x (n_slots + 1)``; the CV's float sums run in array order, as :func:`cv_by`'s do.
    """
    C = n_groups * (n_slots + 1)
    n = np.zeros(C, np.float64)
    s = np.zeros(C, np.float64)
    sums = np.zeros((C, n_years), np.int64)
    counts = np.zeros((C, n_years), np.int64)
    for i in range(group.shape[0]):
        c = group[i] * (n_slots + 1) + slot[i] + 1
        n[c] += 1.0
        s[c] += values[i]
        sums[c, year[i]] += values[i]
        counts[c, year[i]] += 1
    mean = s / np.maximum(n, 1.0)
    dev = np.zeros(C, np.float64)
    for i in range(group.shape[0]):
        c = group[i] * (n_slots + 1) + slot[i] + 1
        d = values[i] - mean[c]
        dev[c] += d * d
    return population_cv(n, mean, dev), n, sums, counts

#: ``pack_cases`` layout, low bits first: 4 subtype slots (slot + 1, 4 bits each), level
#: (2 bits), year index (8 bits), cost in fen (37 bits: up to 1.37e9 yuan, above the
#: absurd-cost limit that validation enforces).
PACK_YEAR_SHIFT, PACK_COST_SHIFT = 18, 26


@kernel
def pack_cases(cost, year, level, slots):
    """One int64 per case that sorts by cost, then year, level and slots. Returns -1 as
    the first element when a value does not fit (validated cases always do)."""
    n = cost.shape[0]
    out = np.empty(n, np.int64)
    for i in range(n):
        c = cost[i]
        if c < 0 or c >= (np.int64(1) << 37) or year[i] < 0 or year[i] > 255 or level[i] < 0 or level[i] > 3:
            out[:1] = -1
            return out
        v = (c << PACK_COST_SHIFT) | (np.int64(year[i]) << PACK_YEAR_SHIFT) | (np.int64(level[i]) << 16)
        for j in range(4):
            s = slots[i, j] + 1 if j < slots.shape[1] else 0
            v |= np.int64(s & 15) << (12 - 4 * j)
        out[i] = v
    return out


@kernel
def bucket_by_group(group, n_groups, packed):
    """The packed cases of each group together (a counting sort by group; ``group < 0``
    rows are left out). Returns ``(values int64[m], starts int64[n_groups + 1])``."""
    counts = np.zeros(n_groups + 1, np.int64)
    for i in range(group.shape[0]):
        if group[i] >= 0:
            counts[group[i] + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    out = np.empty(starts[-1], np.int64)
    for i in range(group.shape[0]):
        g = group[i]
        if g >= 0:
            out[fill[g]] = packed[i]
            fill[g] += 1
    return out, starts


@kernel
def sort_buckets(values, starts, g_lo, g_hi, below):
    """Sort in place the values of each group ``g_lo..g_hi-1`` with fewer than ``below``
    of them (ranges can run on separate threads; NumPy's vectorised sort is faster for
    the large groups left)."""
    for g in range(g_lo, g_hi):
        a, b = starts[g], starts[g + 1]
        if 1 < b - a < below:
            values[a:b].sort()
    return 0


@kernel
def unpack_into(values, cost, year, level, slots):
    """Cost, year index, level and slots of packed cases (``pack_cases``), written to the
    first ``len(values)`` rows of the given arrays."""
    for k in range(values.shape[0]):
        v = values[k]
        cost[k] = v >> PACK_COST_SHIFT
        year[k] = (v >> PACK_YEAR_SHIFT) & 255
        level[k] = (v >> 16) & 3
        for j in range(slots.shape[1]):
            slots[k, j] = ((v >> (12 - 4 * j)) & 15) - 1
    return 0


@kernel
def unpack_cases(values, n_slots):
    """Cost, year index, level and slots of packed cases (``pack_cases``), in new arrays."""
    m = values.shape[0]
    cost = np.empty(m, np.int64)
    year = np.empty(m, np.int16)
    level = np.empty(m, np.int8)
    slots = np.empty((m, n_slots), np.int8)
    unpack_into(values, cost, year, level, slots)
    return cost, year, level, slots


@kernel
def within_cuts(cost, starts, lo, hi):
    """``lo[g] <= cost <= hi[g]`` for the rows of each group g (rows grouped by ``starts``)."""
    out = np.empty(cost.shape[0], np.bool_)
    for g in range(starts.shape[0] - 1):
        for k in range(starts[g], starts[g + 1]):
            out[k] = lo[g] <= cost[k] <= hi[g]
    return out


@kernel
def count_by(codes, n_codes):
    """Rows per code (``codes < 0`` skipped), without temporaries."""
    out = np.zeros(n_codes, np.int64)
    for i in range(codes.shape[0]):
        if codes[i] >= 0:
            out[codes[i]] += 1
    return out


@kernel
def group_statistics(cost, year, level, keep, starts, g_lo, g_hi, cnt_year, s_g, k_g,
                     s_gl, k_gl, cv, primary):
    """The statistics of groups ``g_lo..g_hi-1`` of cases sorted by group (``starts``),
    written into the outputs (ranges of groups can run on separate threads):

    * ``cnt_year[g, y]``: cases; ``primary[g]``: cases at level 1;
    * ``s_g[g, y]``, ``k_g[g, y]``: cost sum and count of the kept (untrimmed) cases;
      ``s_gl[g, l, y]``, ``k_gl[g, l, y]``: the same by hospital level;
    * ``cv[g]``: population coefficient of variation of the kept costs, two-pass in array
      order (NaN without cases or with a zero mean).
    """
    for g in range(g_lo, g_hi):
        n = 0.0
        s = 0.0
        for k in range(starts[g], starts[g + 1]):
            yk = year[k]
            lv = level[k]
            cnt_year[g, yk] += 1
            if lv == 1:
                primary[g] += 1
            if keep[k]:
                s_g[g, yk] += cost[k]
                k_g[g, yk] += 1
                s_gl[g, lv, yk] += cost[k]
                k_gl[g, lv, yk] += 1
                n += 1.0
                s += cost[k]
        mean = s / max(n, 1.0)
        dev = 0.0
        for k in range(starts[g], starts[g + 1]):
            if keep[k]:
                d = cost[k] - mean
                dev += d * d
        cv[g] = np.sqrt(dev / n) / mean if n > 0 and mean != 0 else np.nan
    return 0


@kernel
def sum_by_key(keys, values):
    """Sums of ``values`` rows by int64 ``keys`` through an open-addressing hash table:
    ``(distinct keys in order of first appearance, int64 sums [k, m])``.

    No sort, so a batch's (hospital, stratum) sums cost one pass; the order of the output
    follows the input, and callers sort when the order matters.
    """
    n = keys.shape[0]
    m = values.shape[1]
    size = 16
    while size < 2 * n:
        size *= 2
    mask = size - 1
    slot_key = np.empty(size, np.int64)
    slot_pos = np.full(size, -1, np.int64)
    out_keys = np.empty(n, np.int64)
    sums = np.zeros((n, m), np.int64)
    k = 0
    for i in range(n):
        key = keys[i]
        h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(17)
        j = np.int64(h & np.uint64(mask))
        while slot_pos[j] >= 0 and slot_key[j] != key:
            j = (j + 1) & mask
        if slot_pos[j] < 0:
            slot_pos[j] = k
            slot_key[j] = key
            out_keys[k] = key
            k += 1
        p = slot_pos[j]
        for c in range(m):
            sums[p, c] += values[i, c]
    return out_keys[:k], sums[:k]
