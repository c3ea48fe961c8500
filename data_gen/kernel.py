"""The per-case sampling kernel of the synthetic province (Numba).

Every random number of case ``i`` of a year comes from a counter-based generator keyed by
``(seed, year, i, stream)`` (splitmix64), so a case is a pure function of its index: the
output does not depend on how the year is cut into chunks, and a case can look at its
predecessor (for split admissions) by recomputing that case's draws.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MAX_SEC = 12
MAX_PROCS = 5

# anomaly bits of the ``label`` output
SPLIT, UPCODED, LOW_STANDARD, INFLATED, BAD_INPUT = 1, 2, 4, 8, 16
ANOMALIES = {SPLIT: "split_admission", UPCODED: "upcoded_secondary_dx",
             LOW_STANDARD: "low_standard_admission", INFLATED: "point_inflation",
             BAD_INPUT: "bad_input"}

_LEVEL_COST = np.array([0.0, 0.55, 0.75, 1.0])
_BED_RATE = np.array([350.0, 750.0, 600.0])       # yuan per day: psychiatric, rehab, hospice
_BED_LOS = np.array([45.0, 30.0, 18.0])


@nb.njit(inline="always", cache=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(inline="always", cache=True)
def _seed(st, key, index, stream):
    st[0] = _mix(key ^ _mix(np.uint64(index) * np.uint64(8) + np.uint64(stream)))


@nb.njit(inline="always", cache=True)
def _uniform(st):
    st[0] += GOLDEN
    return (_mix(st[0]) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(inline="always", cache=True)
def _normal(st):
    u1 = _uniform(st)
    u2 = _uniform(st)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@nb.njit(inline="always", cache=True)
def _pick(cdf, u):
    k = np.searchsorted(cdf, u, side="right")
    return min(k, cdf.shape[0] - 1)


@nb.njit(cache=True)
def _base(st, key, j, n_patients, hosp_cdf, hosp_level, dx_cdf, dx_common_cdf,
          p_bed, bed_cdf, bed_dx, month_days):
    """The draws that define who, where and what of case ``j`` (stream 0)."""
    _seed(st, key, j, 0)
    u_pat = _uniform(st)
    u_h = _uniform(st)
    u_dx = _uniform(st)
    u_dx2 = _uniform(st)
    u_day = _uniform(st)
    u_split = _uniform(st)
    u_bed = _uniform(st)
    u_cat = _uniform(st)
    bed = -1
    if u_bed < p_bed:
        bed = 0 if u_cat < 0.5 else (1 if u_cat < 0.85 else 2)
        h = _pick(bed_cdf[bed], u_h)
        dx = bed_dx[bed, min(int(u_dx * bed_dx.shape[1]), bed_dx.shape[1] - 1)]
    else:
        h = _pick(hosp_cdf, u_h)
        if hosp_level[h] == 1 and u_dx2 < 0.6:
            dx = _pick(dx_common_cdf, u_dx)
        else:
            dx = _pick(dx_cdf, u_dx)
    # skewed: some patients come back often (chronic disease, several admissions)
    patient = min(int(n_patients * u_pat ** 1.6), n_patients - 1)
    day = min(int(u_day * month_days), month_days - 1)
    return patient, h, dx, day, u_split, bed


@nb.njit(nogil=True, cache=True)
def generate_chunk(key, pop_key, start, stop, month_start, month_first_day, month_days,
                   year, year_index, n_patients, hosp_cdf, p_bed, bad_share,
                   dx_base, dx_n_ext, dx_cdf, dx_common_cdf, dx_chapter, dx_cost, dx_los,
                   dx_combo_start, dx_combo_count, dx_top_combo, combo_cdf, combo_procs,
                   combo_cost, combo_los, extra_procs, charlson_codes, charlson_weight,
                   charlson_cdf, severe_charlson, bed_dx, hosp_level, hosp_bed_cdf,
                   hosp_split, hosp_upcode, hosp_lowstd, hosp_inflate,
                   # outputs, one row per case of [start, stop)
                   patient_o, hosp_o, dx_o, sec_o, proc_o, age_o, age_days_o, sex_o, bw_o,
                   adm_o, dis_o, cost_o, fund_o, way_o, bed_o, icu_o, pool_o, label_o,
                   partner_o, bad_o):
    st = np.empty(1, np.uint64)
    pst = np.empty(1, np.uint64)
    month_last_day = month_first_day + month_days - 1
    for i in range(start, stop):
        r = i - start
        patient, h, dx, day, u_split, bed = _base(
            st, key, i, n_patients, hosp_cdf, hosp_level, dx_cdf, dx_common_cdf,
            p_bed, hosp_bed_cdf, bed_dx, month_days)
        dis = month_first_day + day
        label = 0
        partner = -1
        # ---- split admissions: the second stay of the previous case's patient ----------
        split_adm = -1
        if bed < 0 and i > month_start and u_split < 0.08:
            pp, ph, pdx, pday, pu, pbed = _base(
                st, key, i - 1, n_patients, hosp_cdf, hosp_level, dx_cdf, dx_common_cdf,
                p_bed, hosp_bed_cdf, bed_dx, month_days)
            threshold = 0.08 if hosp_split[ph] else 0.002
            if pbed < 0 and pu >= 0.08 and u_split < threshold:
                split_adm = month_first_day + pday
                patient, h, dx = pp, ph, pdx
        _seed(st, key, i, 1)
        level = hosp_level[h]
        chapter = dx_chapter[dx]
        # ---- the patient -----------------------------------------------------------------
        age_days = -1
        bw = -1
        # newborns and mothers get a patient of their own, numbered by the case that
        # admitted them first (the first stay, for a split admission)
        src = i - 1 if split_adm >= 0 else i
        if chapter == 80:                      # 'P': a newborn
            patient = (year_index + 1) * 10_000_000_000 + src
            age = 0
            age_days = int(_uniform(st) * 28)
            bw = int(max(900.0, min(5000.0, 3200.0 + 550.0 * _normal(st))))
            sex = 1 if _uniform(st) < 0.52 else 2
            pool = 1
        else:
            # a person's sex, age and pool are the same at every admission: they come from
            # a stream keyed by the patient, not by the case
            _seed(pst, pop_key, patient, 7)
            sex = 1 if _uniform(pst) < 0.49 else 2
            ua = _uniform(pst)
            if ua < 0.06:
                age0 = 1 + int(_uniform(pst) * 17)
            elif ua < 0.45:
                age0 = 18 + int(_uniform(pst) * 42)
            else:
                age0 = 60 + int(math.sqrt(_uniform(pst)) * 35)
            pool = 0 if _uniform(pst) < 0.45 else 1
            age = age0 + year_index
            if chapter == 79 and (sex != 2 or age < 16 or age > 48):   # 'O': pregnancy
                patient = (year_index + 1) * 10_000_000_000 + 5_000_000_000 + src
                sex = 2
                age = 20 + int(_uniform(st) * 22)
        # ---- treatment -----------------------------------------------------------------
        combo = -1
        low_std = False
        if bed < 0:
            u = _uniform(st)
            s = dx_combo_start[dx]
            if hosp_lowstd[h] and u < 0.06:
                combo = s                      # conservative, cheap, short
                low_std = True
                label |= LOW_STANDARD
            elif hosp_inflate[h] and u < 0.12 + 0.08 * year_index:
                combo = dx_top_combo[dx]
                label |= INFLATED
            elif level == 1 and u < 0.4:
                combo = s
            else:
                combo = s + _pick(combo_cdf[s:s + dx_combo_count[dx]], _uniform(st))
        # ---- length of stay ---------------------------------------------------------------
        if bed >= 0:
            los = max(3, int(_BED_LOS[bed] * math.exp(0.5 * _normal(st))))
        elif low_std:
            los = 1 + int(_uniform(st) * 2)
        else:
            lf = 0.85 if level == 1 else 1.0
            los = max(0, int(round(dx_los[dx] * combo_los[combo] * lf * math.exp(0.4 * _normal(st)))))
        if split_adm >= 0:
            los = max(1, int(los * 0.6))
            adm = split_adm + 1 + int(_uniform(st) * 10)
            if adm + los <= month_last_day:
                dis = adm + los
                partner = i - 1
                label |= SPLIT
            else:
                split_adm = -1
        adm = dis - los
        # ---- intensive care, discharge -----------------------------------------------------
        icu = -1
        if combo >= 0 and combo_cost[combo] > 2.5 and _uniform(st) < 0.08:
            icu = 1 + int(_uniform(st) * 6)
        uw = _uniform(st)
        p_death = 0.006 + (0.03 if age >= 75 else 0.0) + (0.03 if chapter == 67 else 0.0) \
            + (0.05 if bed == 2 else 0.0)
        if uw < p_death:
            way = 5
        elif uw < p_death + 0.03:
            way = 2
        elif uw < p_death + 0.045:
            way = 3
        elif uw < p_death + 0.085:
            way = 4
        elif uw < p_death + 0.095:
            way = 9
        else:
            way = 1
        # ---- secondary diagnoses --------------------------------------------------------
        for k in range(MAX_SEC):
            sec_o[r, k] = -1
        lam = min(6.0, 0.5 + age / 28.0)
        nsec = 0
        u = _uniform(st)
        p = math.exp(-lam)
        c = p
        while u > c and nsec < MAX_SEC - 4:
            nsec += 1
            p *= lam / nsec
            c += p
        cci = 0
        p_ch = 0.12 + age / 250.0
        for k in range(nsec):
            if _uniform(st) < p_ch:
                q = _pick(charlson_cdf, _uniform(st))
                sec_o[r, k] = charlson_codes[q]
                cci += charlson_weight[q]
            else:
                sec_o[r, k] = dx_base[_pick(dx_cdf, _uniform(st))]
        if hosp_upcode[h] and bed < 0 and _uniform(st) < 0.3:
            n_up = 2 + int(_uniform(st) * 2)
            for k in range(n_up):
                sec_o[r, nsec + k] = severe_charlson[min(int(_uniform(st) * severe_charlson.shape[0]),
                                                         severe_charlson.shape[0] - 1)]
            label |= UPCODED
        # ---- procedures -------------------------------------------------------------------
        for k in range(MAX_PROCS):
            proc_o[r, k] = -1
        npr = 0
        if combo >= 0:
            for k in range(combo_procs.shape[1]):
                if combo_procs[combo, k] >= 0:
                    proc_o[r, npr] = combo_procs[combo, k]
                    npr += 1
        if _uniform(st) < 0.5:
            proc_o[r, npr] = extra_procs[min(int(_uniform(st) * extra_procs.shape[0]), extra_procs.shape[0] - 1)]
            npr += 1
            if _uniform(st) < 0.3:
                proc_o[r, npr] = extra_procs[min(int(_uniform(st) * extra_procs.shape[0]), extra_procs.shape[0] - 1)]
                npr += 1
        # ---- principal diagnosis code (some hospitals code extensions) --------------------
        code = dx_base[dx]
        if dx_n_ext[dx] > 0 and _uniform(st) < 0.5:
            code += 1 + min(int(_uniform(st) * dx_n_ext[dx]), dx_n_ext[dx] - 1)
        # ---- cost -------------------------------------------------------------------------
        infl = 1.045 ** year_index
        if bed >= 0:
            cost = _BED_RATE[bed] * max(los, 1) * (0.8 + 0.2 * level / 3.0) * infl \
                * math.exp(0.2 * _normal(st))
        else:
            cost = dx_cost[dx] * combo_cost[combo] * _LEVEL_COST[level] * infl \
                * (1.15 if age >= 65 else 1.0) * (1.0 + 0.08 * cci) \
                * (1.5 if way == 5 else 1.0) * (1.0 + 0.35 * max(icu, 0)) \
                * math.exp(0.3 * _normal(st))
            ut = _uniform(st)
            if ut < 0.025:
                cost *= 2.5 + 3.0 * _uniform(st)
            if way == 2 or way == 4:
                cost *= 0.2 + 0.4 * _uniform(st)
            if low_std:
                cost *= 0.3
            if partner >= 0:
                cost *= 0.6
        cost_fen = max(10_000, int(round(cost * 100.0)))
        if pool == 0:
            ratio = 0.9 - 0.05 * (level - 1)
        else:
            ratio = 0.8 - 0.1 * (level - 1)
        ratio = min(0.95, max(0.3, ratio + 0.1 * (_uniform(st) - 0.5)))
        fund_fen = int(round(cost_fen * ratio))
        # ---- injected bad input ---------------------------------------------------------
        _seed(st, key, i, 2)
        bad = 0
        if _uniform(st) < bad_share:
            bad = 1 + min(int(_uniform(st) * 5), 4)
            label |= BAD_INPUT
        patient_o[r] = patient
        hosp_o[r] = h
        dx_o[r] = code
        age_o[r] = age
        age_days_o[r] = age_days
        sex_o[r] = sex
        bw_o[r] = bw
        adm_o[r] = adm
        dis_o[r] = dis
        cost_o[r] = cost_fen
        fund_o[r] = fund_fen
        way_o[r] = way
        bed_o[r] = bed
        icu_o[r] = icu
        pool_o[r] = pool
        label_o[r] = label
        partner_o[r] = partner
        bad_o[r] = bad
