"""The per-case sampling kernel of the synthetic province (Numba).

Every random number of case ``i`` of a year comes from a counter-based generator keyed by
``(seed, year, i, stream)`` (splitmix64), so a case is a pure function of its index: the
output does not depend on how the year is cut into chunks, and a case can look at its
predecessor (for split admissions) by recomputing that case's draws.

Streams of a case: 0 who, where and what (:func:`_base`); 1 the honest case (patient,
treatment, stay, diagnoses, procedures, cost); 2 injected bad input; 3 the gaming of its
hospital (``data_gen.gaming``); 4 the extra draws of its hospital's honest heterogeneity
(``data_gen.heterogeneity``: a surgical propensity other than the province's). Gaming
decisions and their draws never touch stream 1, so a case that its hospital does not game
is exactly the case an honest province would have at that index, and every case that gaming
changed carries the behaviour's label bit.

The hospital effects of ``data_gen.heterogeneity`` (``hosp_fx``) multiply or shift the
honest case's parameters; neutral effects (1.0, 0.0) leave every value and every draw
exactly as without them.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MAX_SEC = 12
MAX_PROCS = 5

#: Gaming behaviours, in the order of the rows of the kernel's ``gaming`` intensity matrix;
#: behaviour ``k`` sets bit ``1 << k`` of the ``label`` output of the cases it changed.
BEHAVIOURS = ("split_admission", "low_standard", "upcoding_diagnosis", "upcoding_procedure",
              "point_inflation", "cost_shifting")
SPLIT, LOW_STANDARD, UPCODING_DIAGNOSIS, UPCODING_PROCEDURE, POINT_INFLATION, COST_SHIFTING = \
    range(len(BEHAVIOURS))
#: Label bit of injected bad input (not a behaviour: a malformed value, see ``generator``).
BAD_INPUT_BIT = 1 << len(BEHAVIOURS)
#: Label bit -> anomaly name of ``labels.parquet``.
ANOMALIES = {**{1 << k: name for k, name in enumerate(BEHAVIOURS)}, BAD_INPUT_BIT: "bad_input"}

#: Probability that a stay of an honest hospital is followed by a readmission of the same
#: patient for the same diagnosis within days (complications, planned second courses).
#: These are not gaming and carry no label.
HONEST_SPLIT = 0.002
#: Largest split-admission probability. A case whose split draw is below it is never the
#: first stay of a split, so a second stay is never split again (no chains).
SPLIT_CAP = 0.15
#: A point-inflated case's cost is its expected cost (or its drawn cost when dearer) times
#: a uniform factor in this range, so that its cost ratio lands above the high-cost line
#: (for about nine cases in ten: the factor applies to the case, not to its group's mean).
INFLATION_FACTOR = (2.4, 3.5)

#: Rows of the kernel's ``hosp_fx`` (``data_gen.heterogeneity.EFFECTS``, in this order).
FX_CODING_DEPTH, FX_COMORBIDITY, FX_COST, FX_LOS, FX_SURGERY, FX_FUND, FX_READMISSION, \
    FX_TAIL = range(8)
#: Share of very costly cases at a hospital without a costly-tail effect.
COSTLY_TAIL = 0.025

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
def _base(st, key, j, n_patients, patient_skew, hosp_cdf, hosp_level, dx_cdf, dx_common_cdf,
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
    # skewed (``patient_skew`` > 1): some patients come back often (chronic disease,
    # several admissions); 1 draws every patient of the pool alike
    patient = min(int(n_patients * u_pat ** patient_skew), n_patients - 1)
    day = min(int(u_day * month_days), month_days - 1)
    return patient, h, dx, day, u_split, bed


@nb.njit(nogil=True, cache=True)
def generate_chunk(key, pop_key, start, stop, month_start, month_first_day, month_days,
                   year, year_index, n_patients, patient_skew, sec_cap, sec_scale, proc_cap,
                   p_extra, hosp_cdf, p_bed, bad_share,
                   dx_base, dx_n_ext, dx_cdf, dx_common_cdf, dx_chapter, dx_cost, dx_los,
                   dx_combo_start, dx_combo_count, dx_upcode_combo, combo_cdf, combo_procs,
                   combo_cost, combo_los, extra_procs, charlson_codes, charlson_weight,
                   charlson_cdf, severe_charlson, bed_dx, hosp_level, hosp_bed_cdf, gaming,
                   hosp_fx,
                   # outputs, one row per case of [start, stop)
                   patient_o, hosp_o, dx_o, sec_o, proc_o, age_o, age_days_o, sex_o, bw_o,
                   adm_o, dis_o, cost_o, fund_o, way_o, bed_o, icu_o, pool_o, label_o,
                   partner_o, bad_o):
    """Sample cases ``[start, stop)`` of one month of ``year`` into the output arrays.

    ``gaming`` is float64[len(BEHAVIOURS), H]: the intensity of each behaviour at each
    hospital this year (0 where the hospital does not game); ``data_gen.gaming`` explains
    each and computes them. ``dx_upcode_combo``: the combination a procedure upcoder
    records for each diagnosis, -1 where it records none
    (:func:`data_gen.gaming.procedure_targets`). ``hosp_fx`` is float64[8, H]: the honest
    effects of each hospital this year (rows ``FX_*``; ``data_gen.heterogeneity``).

    The shape of the cases (``data_gen.shape``): patients are drawn from a pool of
    ``n_patients`` as ``u ** patient_skew``; a case has at most ``sec_cap`` honest secondary
    diagnoses, their Poisson mean times ``sec_scale`` (diagnosis upcoding adds up to three
    on top, so ``sec_o`` has ``sec_cap + 4`` columns or more); it records an excluded
    simple procedure with probability ``p_extra`` and at most ``proc_cap`` procedures
    (``proc_o`` has that many columns or more).
    """
    st = np.empty(1, np.uint64)
    pst = np.empty(1, np.uint64)
    gst = np.empty(1, np.uint64)
    hst = np.empty(1, np.uint64)
    month_last_day = month_first_day + month_days - 1
    split_max = max(HONEST_SPLIT * hosp_fx[FX_READMISSION].max(), gaming[SPLIT].max())
    low_f, high_f = INFLATION_FACTOR
    for i in range(start, stop):
        r = i - start
        patient, h, dx, day, u_split, bed = _base(
            st, key, i, n_patients, patient_skew, hosp_cdf, hosp_level, dx_cdf,
            dx_common_cdf, p_bed, hosp_bed_cdf, bed_dx, month_days)
        dis = month_first_day + day
        label = 0
        partner = -1
        # ---- split admissions: the second stay of the previous case's patient ----------
        # decided on the base draws of this case and its predecessor only; the first stay
        # ends at least two days before the month does, so the second fits in the month
        split_adm = -1
        if bed < 0 and i > month_start and u_split < split_max:
            pp, ph, pdx, pday, pu, pbed = _base(
                st, key, i - 1, n_patients, patient_skew, hosp_cdf, hosp_level, dx_cdf,
                dx_common_cdf, p_bed, hosp_bed_cdf, bed_dx, month_days)
            honest_split = HONEST_SPLIT * hosp_fx[FX_READMISSION, ph]
            if (pbed < 0 and pu >= SPLIT_CAP and pday + 2 < month_days
                    and u_split < max(honest_split, gaming[SPLIT, ph])):
                split_adm = month_first_day + pday
                patient, h, dx = pp, ph, pdx
                if u_split >= honest_split:
                    label |= 1 << SPLIT
        _seed(st, key, i, 1)
        _seed(gst, key, i, 3)
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
        # ---- treatment: ``combo`` given, ``recorded`` on the claim -------------------------
        combo = -1
        recorded = -1
        low_std = False
        if bed < 0:
            u = _uniform(st)
            s = dx_combo_start[dx]
            if level == 1 and u < 0.4:
                combo = s
            else:
                combo = s + _pick(combo_cdf[s:s + dx_combo_count[dx]], _uniform(st))
            m = hosp_fx[FX_SURGERY, h]
            n_combo = dx_combo_count[dx]
            if m != 1.0 and n_combo > 1:
                # the hospital's probability of a procedure is m times the province's
                # (at most 1): drop a procedure, or add one drawn as the province would
                _seed(hst, key, i, 4)
                p_cons = combo_cdf[s]
                q = (1.0 - p_cons) * (0.6 if level == 1 else 1.0)
                if m < 1.0:
                    if combo != s and _uniform(hst) >= m:
                        combo = s
                elif combo == s and q < 1.0 and _uniform(hst) < (min(1.0, q * m) - q) / (1.0 - q):
                    combo = s + max(1, _pick(combo_cdf[s:s + n_combo],
                                             p_cons + (1.0 - p_cons) * _uniform(hst)))
            if gaming[LOW_STANDARD, h] > 0.0 and _uniform(gst) < gaming[LOW_STANDARD, h]:
                combo = s                      # conservative, cheap, short
                low_std = True
                label |= 1 << LOW_STANDARD
            recorded = combo
            if (combo == s and not low_std and dx_upcode_combo[dx] >= 0
                    and gaming[UPCODING_PROCEDURE, h] > 0.0
                    and _uniform(gst) < gaming[UPCODING_PROCEDURE, h]):
                recorded = dx_upcode_combo[dx]
                label |= 1 << UPCODING_PROCEDURE
        # ---- length of stay ---------------------------------------------------------------
        if bed >= 0:
            los = max(3, int(_BED_LOS[bed] * hosp_fx[FX_LOS, h] * math.exp(0.5 * _normal(st))))
        else:
            lf = 0.85 if level == 1 else 1.0
            los = max(0, int(round(dx_los[dx] * combo_los[combo] * lf * hosp_fx[FX_LOS, h]
                                   * math.exp(0.4 * _normal(st)))))
            if low_std:
                los = 1 + int(_uniform(gst) * 2)
        if split_adm >= 0:
            room = month_last_day - split_adm                    # at least 2 days
            adm = split_adm + 1 + int(_uniform(st) * min(10, room - 1))
            los = min(max(1, int(los * 0.6)), month_last_day - adm)
            dis = adm + los
            partner = i - 1
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
        for k in range(sec_o.shape[1]):
            sec_o[r, k] = -1
        lam = min(6.0, 0.5 + age / 28.0) * hosp_fx[FX_CODING_DEPTH, h] * sec_scale
        nsec = 0
        u = _uniform(st)
        p = math.exp(-lam)
        c = p
        while u > c and nsec < sec_cap:
            nsec += 1
            p *= lam / nsec
            c += p
        cci = 0
        p_ch = (0.12 + age / 250.0) * hosp_fx[FX_COMORBIDITY, h]
        for k in range(nsec):
            if _uniform(st) < p_ch:
                q = _pick(charlson_cdf, _uniform(st))
                sec_o[r, k] = charlson_codes[q]
                cci += charlson_weight[q]
            else:
                sec_o[r, k] = dx_base[_pick(dx_cdf, _uniform(st))]
        # upcoded comorbidities are coded, not treated: ``cci`` (and so the cost) ignores them
        if (bed < 0 and gaming[UPCODING_DIAGNOSIS, h] > 0.0
                and _uniform(gst) < gaming[UPCODING_DIAGNOSIS, h]):
            n_up = 1 + int(_uniform(gst) * 3)
            n_severe = severe_charlson.shape[0]
            for k in range(n_up):
                sec_o[r, nsec + k] = severe_charlson[min(int(_uniform(gst) * n_severe), n_severe - 1)]
            label |= 1 << UPCODING_DIAGNOSIS
        # ---- procedures -------------------------------------------------------------------
        # a procedure beyond ``proc_cap`` is not recorded, but its draws are still made, so
        # that the cap changes nothing else of the case
        for k in range(proc_o.shape[1]):
            proc_o[r, k] = -1
        npr = 0
        if recorded >= 0:
            for k in range(combo_procs.shape[1]):
                if combo_procs[recorded, k] >= 0 and npr < proc_cap:
                    proc_o[r, npr] = combo_procs[recorded, k]
                    npr += 1
        if _uniform(st) < p_extra:
            extra = extra_procs[min(int(_uniform(st) * extra_procs.shape[0]), extra_procs.shape[0] - 1)]
            if npr < proc_cap:
                proc_o[r, npr] = extra
                npr += 1
            if _uniform(st) < 0.3:
                extra = extra_procs[min(int(_uniform(st) * extra_procs.shape[0]), extra_procs.shape[0] - 1)]
                if npr < proc_cap:
                    proc_o[r, npr] = extra
                    npr += 1
        # ---- principal diagnosis code (some hospitals code extensions) --------------------
        code = dx_base[dx]
        if dx_n_ext[dx] > 0 and _uniform(st) < 0.5:
            code += 1 + min(int(_uniform(st) * dx_n_ext[dx]), dx_n_ext[dx] - 1)
        # ---- cost -------------------------------------------------------------------------
        infl = 1.045 ** year_index
        if bed >= 0:
            cost = _BED_RATE[bed] * max(los, 1) * (0.8 + 0.2 * level / 3.0) * infl \
                * math.exp(0.2 * _normal(st)) * hosp_fx[FX_COST, h]
        else:
            expected = dx_cost[dx] * combo_cost[combo] * _LEVEL_COST[level] * infl \
                * (1.15 if age >= 65 else 1.0) * (1.0 + 0.08 * cci) \
                * (1.5 if way == 5 else 1.0) * (1.0 + 0.35 * max(icu, 0)) * hosp_fx[FX_COST, h]
            cost = expected * math.exp(0.3 * _normal(st))
            ut = _uniform(st)
            if ut < COSTLY_TAIL * hosp_fx[FX_TAIL, h]:
                cost *= 2.5 + 3.0 * _uniform(st)
            if way == 2 or way == 4:
                cost *= 0.2 + 0.4 * _uniform(st)
            if low_std:
                cost *= 0.3
            if partner >= 0:
                cost *= 0.6
            if (not low_std and recorded == combo and gaming[POINT_INFLATION, h] > 0.0
                    and _uniform(gst) < gaming[POINT_INFLATION, h]):
                cost = max(cost, expected) * (low_f + (high_f - low_f) * _uniform(gst))
                label |= 1 << POINT_INFLATION
        cost_fen = max(10_000, int(round(cost * 100.0)))
        if pool == 0:
            ratio = 0.9 - 0.05 * (level - 1)
        else:
            ratio = 0.8 - 0.1 * (level - 1)
        ratio = min(0.95, max(0.3, ratio + hosp_fx[FX_FUND, h] + 0.1 * (_uniform(st) - 0.5)))
        if gaming[COST_SHIFTING, h] > 0.0:
            # self-paid items on every bill, more on some than on others
            ratio = max(0.05, ratio - gaming[COST_SHIFTING, h] * (0.5 + _uniform(gst)))
            label |= 1 << COST_SHIFTING
        fund_fen = int(round(cost_fen * ratio))
        # ---- injected bad input ---------------------------------------------------------
        _seed(st, key, i, 2)
        bad = 0
        if _uniform(st) < bad_share:
            bad = 1 + min(int(_uniform(st) * 5), 4)
            label |= BAD_INPUT_BIT
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
