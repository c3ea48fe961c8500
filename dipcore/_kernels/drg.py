"""CHS-DRG grouping kernel (SPEC.md section 10.1) over integer-coded cases.

The rules arrive compiled by ``dipcore.schemes.drg.rules`` (``CompiledRules.kernel_args``):
each code an id, and per code one row of bits saying which code lists hold it. The kernel
walks MDC -> ADRG -> DRG exactly as the pack README's *The algorithm* says; each block below
names the README section it implements. A case reads the bit rows of its own codes only,
so the ~3 MB of rule bits stay out of the way and a case costs a few cache lines.

Case arrays: ``sex``, ``age_years``, ``age_days``, ``weight`` int64 with ``NULL`` for null;
``d0`` the main diagnosis id; ``s_lo``/``s_hi`` the range of a case's other diagnoses in
``s_ids``; ``p_lo``/``p_hi`` its procedures in ``p_ids`` (main first). An id is ``n_codes``
for a code in no table and ``UNMAPPABLE`` in map mode for a code the map lacks.

Outputs (one per case): ``status`` (codes of ``rules.STATUSES``), ``mdc``/``adrg``/``drg``
positions (-1 when none; a QY result's DRG is ``n_drg + mdc``), ``cc_kind`` (0 none, 1 MCC,
2 CC).
"""
from __future__ import annotations

import numpy as np

from .numba_config import kernel

NULL = np.iinfo(np.int64).min          # same value as rules.UNSET
UNMAPPABLE = -3

# status and split codes: the values of dipcore.schemes.drg.rules (kept literal here so the
# kernel module imports nothing from the scheme package)
_OK, _UNGROUPABLE, _CHECK_FAILED, _INVALID_DX, _INVALID_PROC, _AMBIGUOUS_QY = 0, 1, 2, 3, 4, 5
_CC_NONE, _CC_MCC, _CC_CC = 0, 1, 2


@kernel
def _bit(bits, code, lid):
    """Whether code list ``lid`` holds code ``code``."""
    return (bits[code, lid >> 6] >> np.uint64(lid & 63)) & np.uint64(1) != np.uint64(0)


@kernel
def _any_bit(bits, ids, lo, hi, lid):
    """Whether code list ``lid`` holds some code of ``ids[lo:hi]``."""
    for j in range(lo, hi):
        if _bit(bits, ids[j], lid):
            return True
    return False


@kernel
def _any_valid(valid, ids, lo, hi):
    for j in range(lo, hi):
        if valid[ids[j]]:
            return True
    return False


@kernel
def _severity(d0, s_ids, lo, hi, mcc_t, cc_t, cce_t):
    """README section 4: (some other diagnosis is an MCC not excluded by the main
    diagnosis, some other diagnosis is such a CC). The exclusion table of the main
    diagnosis removes an MCC/CC whose own table is the same one."""
    t = cce_t[d0]
    mcc = False
    cc = False
    for j in range(lo, hi):
        c = s_ids[j]
        m = mcc_t[c]
        if m >= 0 and (t < 0 or m != t):
            mcc = True
        k = cc_t[c]
        if k >= 0 and (t < 0 or k != t):
            cc = True
    return mcc, cc


@kernel
def group_cases(sex, age_years, age_days, weight, d0, s_lo, s_hi, s_ids, p_lo, p_hi, p_ids,
                map_mode,
                bits, valid, mcc_t, cc_t, cce_t, region, checks, sex_in,
                mdc_proc_rule, mdc_sex, mdc_age_years, mdc_min_regions,
                mdc_region_slot, mdc_qy_pos, mdc_qy, mdc_lo, mdc_hi,
                mdc_free, mdc_word, not_need_dx, not_need_proc,
                adrg_dx_rule, adrg_dx_list, adrg_proc_rule, adrg_lists,
                adrg_term_lo, adrg_term_hi, terms, adrg_age_days_max, adrg_weight_min,
                adrg_weight_max, adrg_lo, adrg_hi, drg_split,
                out_status, out_mdc, out_adrg, out_drg, out_cc):
    """Group every case; write the five outputs (see the module docstring).

    Speed: the MDC tables holding the main diagnosis are one word of its bit row, and the
    ADRGs a case can match are found by ANDing two words per 64 ADRGs (its main diagnosis'
    row, its main procedure's row, and the ADRGs that need neither); only those candidates
    are evaluated in full, in ``seq`` order, so the order semantics are unchanged.
    """
    n = d0.shape[0]
    n_mdc = mdc_lo.shape[0]
    n_drg = drg_split.shape[0]
    n_codes = bits.shape[0] - 1
    aw = not_need_dx.shape[0]
    cand = np.zeros(aw, np.uint64)
    one = np.uint64(1)
    for i in range(n):
        out_mdc[i] = -1
        out_adrg[i] = -1
        out_drg[i] = -1
        out_cc[i] = _CC_NONE
        m0 = d0[i]
        slo = s_lo[i]
        shi = s_hi[i]
        plo = p_lo[i]
        phi = p_hi[i]

        # README *Map mode*: every diagnosis must map, then (if any) every procedure
        if map_mode:
            bad = m0 == UNMAPPABLE
            for j in range(slo, shi):
                if s_ids[j] == UNMAPPABLE:
                    bad = True
            if bad:
                out_status[i] = _INVALID_DX
                continue
            for j in range(plo, phi):
                if p_ids[j] == UNMAPPABLE:
                    bad = True
            if bad:
                out_status[i] = _INVALID_PROC
                continue

        # README section 1: checks, in pack.json order
        s = sex[i]
        ay = age_years[i]
        ad = age_days[i]
        w = weight[i]
        failed = False
        if checks[0] != 0:
            failed = True
            if s != NULL:
                for v in sex_in:
                    if s == v:
                        failed = False
        if checks[1] != 0 and ay == NULL:
            failed = True
        if checks[2] != NULL and ay == checks[2] and ad == NULL:
            failed = True
        if (checks[3] != NULL and ay == 0 and ad != NULL and ad <= checks[3]
                and w == NULL):
            failed = True
        # check 5 (no diagnosis) cannot fail: D always holds the main diagnosis, "" when
        # null (README section 1, item 5)
        if failed:
            out_status[i] = _CHECK_FAILED
            continue

        has_p = phi > plo
        p0 = p_ids[plo] if has_p else n_codes
        p0_valid = has_p and valid[p0] != 0
        any_valid = -1                   # computed on first need
        cand_done = False
        sev_done = False
        has_mcc = False
        has_cc = False
        status = _UNGROUPABLE
        mdcs = bits[m0, mdc_word] | mdc_free[0]
        for mi in range(n_mdc):
            # README section 2: MDC entry, the conjunction of the set columns
            if (mdcs >> np.uint64(mi)) & one == 0:
                continue                 # main diagnosis not in the MDC table
            if mdc_proc_rule[mi] == 1 and not p0_valid:
                continue
            if mdc_sex[mi] != NULL and s != mdc_sex[mi]:
                continue
            if mdc_age_years[mi] != NULL and ay != mdc_age_years[mi]:
                continue
            if mdc_min_regions[mi] != NULL:
                slot = mdc_region_slot[mi]
                seen = np.int64(0)
                r = region[slot, m0]
                if r >= 0:
                    seen |= np.int64(1) << np.int64(r)
                for j in range(slo, shi):
                    r = region[slot, s_ids[j]]
                    if r >= 0:
                        seen |= np.int64(1) << np.int64(r)
                cnt = 0
                while seen != 0:
                    seen &= seen - 1
                    cnt += 1
                if cnt < mdc_min_regions[mi]:
                    continue
            if not cand_done:
                for k in range(aw):
                    cand[k] = ((bits[m0, k] | not_need_dx[k])
                               & (bits[p0, aw + k] | not_need_proc[k]))
                cand_done = True
            # README *QY*: the QY slot sits before ADRG position mdc_qy_pos
            qy_pending = mdc_qy[mi] != 0
            found = -1
            for a in range(mdc_lo[mi], mdc_hi[mi]):
                if qy_pending and a >= mdc_qy_pos[mi]:
                    qy_pending = False
                    if any_valid < 0:
                        any_valid = 1 if _any_valid(valid, p_ids, plo, phi) else 0
                    if any_valid == 1:
                        status = _AMBIGUOUS_QY
                        break
                if (cand[a >> 6] >> np.uint64(a & 63)) & one == 0:
                    continue
                # README section 3: the ADRG condition, the conjunction of its set columns
                r = adrg_dx_rule[a]
                if r == 1:
                    if not _bit(bits, m0, adrg_dx_list[a]):
                        continue
                elif r == 2:
                    if not (_bit(bits, m0, adrg_dx_list[a])
                            or _any_bit(bits, s_ids, slo, shi, adrg_dx_list[a])):
                        continue
                r = adrg_proc_rule[a]
                if r == 1:
                    if not (has_p and _bit(bits, p0, adrg_lists[a, 0])):
                        continue
                elif r == 2:
                    if not p0_valid:
                        continue
                elif r == 3:
                    holds = False
                    for t in range(adrg_term_lo[a], adrg_term_hi[a]):
                        mask = terms[t]
                        term_ok = True
                        k = 0
                        while mask != 0 and term_ok:
                            if mask & 1:
                                if not _any_bit(bits, p_ids, plo, phi, adrg_lists[a, k]):
                                    term_ok = False
                            mask >>= 1
                            k += 1
                        if term_ok:
                            holds = True
                            break
                    if not holds:
                        continue
                elif r == 4:
                    if any_valid < 0:
                        any_valid = 1 if _any_valid(valid, p_ids, plo, phi) else 0
                    if any_valid == 1:
                        continue
                lim = adrg_age_days_max[a]
                if lim != NULL and (ad == NULL or ad > lim):
                    continue
                lim = adrg_weight_min[a]
                if lim != NULL and (w == NULL or w == 0 or w < lim):
                    continue
                lim = adrg_weight_max[a]
                if lim != NULL and (w == NULL or w == 0 or w >= lim):
                    continue
                found = a
                break
            if status == _UNGROUPABLE and found < 0 and qy_pending:
                if any_valid < 0:
                    any_valid = 1 if _any_valid(valid, p_ids, plo, phi) else 0
                if any_valid == 1:
                    status = _AMBIGUOUS_QY
            if status == _AMBIGUOUS_QY:
                out_mdc[i] = mi
                out_drg[i] = n_drg + mi
                break
            if found < 0:
                continue                 # entry passed, no ADRG matched: next MDC
            # README section 4: DRG split, first DRG in seq order whose split holds
            for d in range(adrg_lo[found], adrg_hi[found]):
                sp = drg_split[d]
                if sp != 0 and not sev_done:
                    has_mcc, has_cc = _severity(m0, s_ids, slo, shi, mcc_t, cc_t, cce_t)
                    sev_done = True
                if sp == 0:
                    out_drg[i] = d
                    break
                if sp == 1 and has_mcc:
                    out_drg[i] = d
                    out_cc[i] = _CC_MCC
                    break
                if sp == 2 and (has_mcc or has_cc):
                    out_drg[i] = d
                    # the stronger severity present is what made the split hold
                    out_cc[i] = _CC_MCC if has_mcc else _CC_CC
                    break
            status = _OK
            out_mdc[i] = mi
            out_adrg[i] = found
            break
        out_status[i] = status


@kernel
def new_technology_cases(off, filed, discharge, days):
    """SPEC 10.4: whether each case (procedures ``filed[off[i]:off[i+1]]``, the filing day
    of each, ``NOT_FILED`` when not filed) has a procedure filed no later than its
    discharge day and at most ``days`` before it."""
    n = off.shape[0] - 1
    out = np.zeros(n, np.bool_)
    for i in range(n):
        d = discharge[i]
        for j in range(off[i], off[i + 1]):
            f = filed[j]
            if f <= d and d - f <= days and f != np.iinfo(np.int32).min:
                out[i] = True
                break
    return out
