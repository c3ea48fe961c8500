"""Grouping kernels (SPEC.md section 3) over integer-coded cases.

Procedure ids are ranks in a sorted vocabulary, so sorting ids sorts codes. ``-1`` means
"unknown" for a procedure and "no group" for a result.
"""
from __future__ import annotations

import numpy as np

from .numba_config import kernel

#: Treatment classes, in order of rank (SPEC 3.2).
CONSERVATIVE, DIAGNOSTIC, THERAPEUTIC, SURGERY = 0, 1, 2, 3

#: Reasons a well-formed case finds no group.
UNGROUPED_NONE, UNGROUPED_CATEGORY, UNGROUPED_COMBINATION = 0, 1, 2


@kernel
def canonical_combinations(offsets, ids, keep):
    """Main procedure first, then the related ones sorted and de-duplicated (SPEC 3.1).

    ``offsets``/``ids``: a case's recorded procedures (int32 CSR, main first); ``keep``:
    False for excluded procedures. Returns the canonical CSR ``(new_offsets, new_ids)``.
    """
    n = offsets.shape[0] - 1
    out_off = np.empty(n + 1, np.int32)
    out = np.empty(ids.shape[0], np.int32)
    pos = 0
    for i in range(n):
        out_off[i] = pos
        start = pos
        for j in range(offsets[i], offsets[i + 1]):
            if not keep[j]:
                continue
            v = ids[j]
            if pos == start:
                out[pos] = v
                pos += 1
                continue
            if v == out[start]:
                continue
            # insert into the sorted related part out[start+1:pos], skipping duplicates
            k = pos
            while k > start + 1 and out[k - 1] > v:
                k -= 1
            if k > start + 1 and out[k - 1] == v:
                continue
            for m in range(pos, k, -1):
                out[m] = out[m - 1]
            out[k] = v
            pos += 1
    out_off[n] = pos
    return out_off, out[:pos]


@kernel
def _contains(ids, lo, hi, v):
    for j in range(lo, hi):
        if ids[j] == v:
            return True
    return False


@kernel
def assign_groups(case_dx, case_cat, case_class, case_cost, case_comb, comb_off, comb_procs,
                  dx_start, dx_count, g_off, g_procs, g_tier, g_mean, g_score,
                  comp_group, comp_all, cat_known, comp_tier, tie_highest_score):
    """Choose each case's group.

    A case's procedures are those of its combination ``case_comb[i]`` (a CSR of procedure
    ids, ``comb_off``/``comb_procs``, -1 for a procedure no group has). Candidates: every
    core group of the case's diagnosis key whose procedures are all among the case's (a
    conservative core group has none, so it always matches), and the comprehensive group
    of the case's category and treatment class (or the category's catch-all). The best
    candidate has the lowest tier, then the most procedures, then the mean cost closest to
    the case's cost (or the highest score), then the lowest index.

    Returns ``(group int32[n], reason int8[n])``; reason says why a case has no group.
    """
    n = case_dx.shape[0]
    group = np.full(n, -1, np.int32)
    reason = np.zeros(n, np.int8)
    proc_ids = comb_procs
    for i in range(n):
        best = -1
        best_tier = 1 << 30
        best_np = -1
        best_key = np.inf
        lo = comb_off[case_comb[i]]
        hi = comb_off[case_comb[i] + 1]
        d = case_dx[i]
        if d >= 0:
            for g in range(dx_start[d], dx_start[d] + dx_count[d]):
                ok = True
                for q in range(g_off[g], g_off[g + 1]):
                    if not _contains(proc_ids, lo, hi, g_procs[q]):
                        ok = False
                        break
                if not ok:
                    continue
                tier = g_tier[g]
                npr = g_off[g + 1] - g_off[g]
                key = -g_score[g] if tie_highest_score else abs(g_mean[g] - case_cost[i])
                if (tier < best_tier or (tier == best_tier and (npr > best_np or (
                        npr == best_np and key < best_key)))):
                    best, best_tier, best_np, best_key = g, tier, npr, key
        c = case_cat[i]
        if c >= 0:
            cls = case_class[i]
            g = comp_group[c, cls]
            if g < 0:
                g = comp_all[c]
            if g >= 0:
                tier = comp_tier[cls]
                key = -g_score[g] if tie_highest_score else abs(g_mean[g] - case_cost[i])
                if tier < best_tier or (tier == best_tier and key < best_key):
                    best, best_tier, best_np, best_key = g, tier, 0, key
        group[i] = best
        if best < 0:
            reason[i] = UNGROUPED_COMBINATION if (c >= 0 and cat_known[c]) else UNGROUPED_CATEGORY
    return group, reason


@kernel
def order_related(offsets, ids, rank):
    """Each combination with its related procedures in code order: main first, then the
    rest sorted by ``rank`` (the codes' position in string order). Returns new ids."""
    out = ids.copy()
    for i in range(offsets.shape[0] - 1):
        a = offsets[i] + 1
        b = offsets[i + 1]
        for j in range(a + 1, b):          # insertion sort: combinations are short
            v = out[j]
            k = j
            while k > a and rank[out[k - 1]] > rank[v]:
                out[k] = out[k - 1]
                k -= 1
            out[k] = v
    return out


@kernel
def combination_hashes(offsets, ids, code_hash):
    """A 64-bit digest of each combination from its codes' hashes: the main procedure's,
    mixed, plus the related ones' (a sum, so their order does not matter)."""
    n = offsets.shape[0] - 1
    out = np.empty(n, np.uint64)
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        h = np.uint64(0x2545F4914F6CDD1D)
        if b > a:
            h = code_hash[ids[a]] * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
            for j in range(a + 1, b):
                x = code_hash[ids[j]]
                x ^= x >> np.uint64(31)
                h += x * np.uint64(0xBF58476D1CE4E5B9)
        out[i] = h
    return out
