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
def key_candidates(key_dx, key_cat, key_class, key_comb, comb_off, comb_procs,
                   dx_start, dx_count, g_off, g_procs, g_tier, comp_group, comp_all,
                   cat_known, comp_tier):
    """The best groups of each grouping key (diagnosis key, procedure combination, class).

    A key's procedures are those of its combination (a CSR of procedure ids, ``comb_off`` /
    ``comb_procs``, -1 for a procedure no group has). Candidates: every core group of the
    key's diagnosis key whose procedures are all among the key's (a conservative core group
    has none, so it always matches), and the comprehensive group of the key's category and
    class (or the category's catch-all). The best have the lowest tier, then the most
    procedures; when several tie, the case's cost decides (``pick_groups``).

    Returns ``(cand_off int32[k+1], cand int32, reason int8[k])``: each key's best
    positions in position order, and why a key has none.
    """
    k = key_dx.shape[0]
    cand_off = np.zeros(k + 1, np.int32)
    cand = np.empty(max(k, 16), np.int32)
    reason = np.zeros(k, np.int8)
    m = 0
    for i in range(k):
        start = m
        best_tier = 1 << 30
        best_np = -1
        lo = comb_off[key_comb[i]]
        hi = comb_off[key_comb[i] + 1]
        d = key_dx[i]
        if d >= 0:
            for g in range(dx_start[d], dx_start[d] + dx_count[d]):
                ok = True
                for q in range(g_off[g], g_off[g + 1]):
                    if not _contains(comb_procs, lo, hi, g_procs[q]):
                        ok = False
                        break
                if not ok:
                    continue
                tier = g_tier[g]
                npr = g_off[g + 1] - g_off[g]
                if tier < best_tier or (tier == best_tier and npr > best_np):
                    best_tier, best_np = tier, npr
                    m = start                     # a better one: start the list again
                elif tier != best_tier or npr != best_np:
                    continue
                if m >= cand.shape[0]:
                    cand = np.concatenate((cand, np.empty(cand.shape[0], np.int32)))
                cand[m] = g
                m += 1
        c = key_cat[i]
        if c >= 0:
            cls = key_class[i]
            g = comp_group[c, cls]
            if g < 0:
                g = comp_all[c]
            if g >= 0 and comp_tier[cls] < best_tier:
                # a comprehensive tier is never a core tier: it wins or loses outright
                m = start
                if m >= cand.shape[0]:
                    cand = np.concatenate((cand, np.empty(cand.shape[0], np.int32)))
                cand[m] = g
                m += 1
        cand_off[i + 1] = m
        if m == start:
            reason[i] = UNGROUPED_COMBINATION if (c >= 0 and cat_known[c]) else UNGROUPED_CATEGORY
    return cand_off, cand[:m], reason


@kernel
def pick_groups(case_key, case_cost, cand_off, cand, g_mean, g_score, tie_highest_score):
    """Each case's group among its key's best candidates: the only one, or the one whose
    mean cost is closest to the case's cost (or the highest score), the first on a tie.
    Returns int32 positions (-1: no group)."""
    n = case_key.shape[0]
    out = np.full(n, -1, np.int32)
    for i in range(n):
        a = cand_off[case_key[i]]
        b = cand_off[case_key[i] + 1]
        if b - a == 1:
            out[i] = cand[a]
        elif b > a:
            best = cand[a]
            best_key = -g_score[best] if tie_highest_score else abs(g_mean[best] - case_cost[i])
            for j in range(a + 1, b):
                g = cand[j]
                key = -g_score[g] if tie_highest_score else abs(g_mean[g] - case_cost[i])
                if key < best_key:
                    best, best_key = g, key
            out[i] = best
    return out


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
