"""Honest hospital heterogeneity: stable differences between hospitals of one level.

Without it every honest hospital of a level is the same in distribution: the same coding
habits, prices, stays, surgical practice, fund share, readmissions and dear cases, so its
indicators differ from its peers' by sampling noise alone. Real hospitals differ stably,
beyond what their case mix explains, and a supervision method tuned on identical hospitals
may flag many honest ones in a real province (the "over-dispersion" that Spiegelhalter's
additive random-effects correction of funnel plots is meant to absorb; SPEC.md 11).

``heterogeneity`` ``h`` scales every effect below: ``h = 0`` is the homogeneous province
(the kernel then sees exact neutral values, 1.0 and 0.0, and the cases are bit for bit those
of a province generated without heterogeneity); ``h = 1`` is meant to be realistic; ``h = 2``
a province of unusually unequal hospitals. Each hospital draws one standard normal ``z`` per
effect from the seed on a stream of its own (:data:`STREAM`, so neither the model, nor the
gaming hospitals, nor any case draw moves), the same every year; an effect of size ``s`` is
``exp(s * h * z)`` (a multiplier) or ``s * h * z`` (an absolute shift). On top of it the
effect drifts year to year as a random walk whose steps are normal with ``drift * s * h``
(``drift`` defaults to 1/3), so that growth tests also meet honest change: after the three
steps between 2021 and 2024 a hospital has moved by about ``0.58 s h``, and by ``0.33 s h``
between the two years a growth test compares.

Effects and their sizes at ``h = 1`` (the standard deviation of ``z`` times the size: a
hospital one standard deviation out, on the log scale for multipliers). Every one of them is
relative to the hospital's level, which keeps its own factors (cost, LOS, conservative share
at primary hospitals):

``coding_depth`` 0.10
    The mean number of secondary diagnoses per case (the Poisson mean of the kernel). How
    thoroughly a hospital's coders transcribe the record differs between hospitals for
    reasons of staffing, software and training; published comparisons of coded comorbidity
    between hospitals (Charlson or Elixhauser counts, CC/MCC capture rates) show spreads of
    10-30 % after case mix. 0.10 keeps to the lower end.
``comorbidity`` 0.10
    The probability that a secondary diagnosis is a Charlson condition: a hospital whose
    patients are sicker within their groups (an older catchment, referrals), or whose
    coders record chronic conditions more systematically. Drawn independently of
    ``coding_depth``, so the number of Charlson conditions per case varies by about 0.14
    (both) and the severe share (CCI >= 3), which is convex in it, by more. The cost follows
    the coded Charlson index (8 % a point, as for every case), as it does when the patients
    are sicker.
``cost`` 0.08
    The hospital's price and practice level (drugs, consumables, tests), on top of its
    level's factor: every case's cost, bed-day cases too. Cost per case after case mix
    within one level of Chinese hospitals differs by 10-25 % between hospitals (the spread
    of the 费用消耗指数 that bureaus publish is wider still, but it mixes levels): 0.08 is
    +-16 % for two standard deviations.
``los`` 0.08
    The length-of-stay multiplier (the 时间消耗指数 of a hospital differs like its cost
    index).
``surgery`` 0.10
    The probability of a procedure combination rather than conservative treatment, as a
    relative multiplier (capped at certainty): surgical propensity differs by 10 % or more
    between hospitals of one level (its 手术占比 varies with its surgeons and equipment).
``fund_shift`` 0.02
    An absolute shift of the fund's share of each bill (``fund_paid / total_cost``, about
    0.7-0.9): formulary and consumables choices make patients pay a few points more or less
    at one hospital than at another of its level. Two points is a tenth of the patient-paid
    share.
``readmission`` 0.30
    The honest readmission probability (``kernel.HONEST_SPLIT``, complications and planned
    second courses) as a multiplier: 30-day readmission rates of hospitals differ by a
    third or more, even after case mix (the classic example of over-dispersion in funnel
    plots).
``costly_tail`` 0.20
    The share of very costly cases (2.5-5.5 times the expected cost: complications, long
    intensive care), 2.5 % of cases at a typical hospital, as a multiplier: a hospital that
    takes harder cases within the same groups, or handles complications worse, has more of
    them.

Gaming behaviours act on top of these, unchanged: a gaming hospital has effects of its own
like every other.

What the audit's case-mix adjusted ratios O/E see (DIP, honest provinces of 60 and 120
hospitals, the hospitals of 300 cases or more; the standard deviation of O/E among them,
sampling noise included, at ``h = 0`` -> ``h = 1``): secondary diagnoses per case 0.02 ->
0.09-0.11, severe share 0.05 -> 0.13-0.16, surgical share 0.07 -> 0.14, cost per case
0.03 -> 0.09-0.11, patient-paid share 0.006 -> 0.09-0.11, high-cost outlier share 0.10 ->
0.26 (a share above a line: its O/E goes as the cost level to the power 2.5-2.8, so a
hospital 16 % dearer has about half as many again), surgical cases paid as low-cost 0.15
-> 0.2-0.36 (the same below a line: power -2.2 to -2.4).
"""
from __future__ import annotations

import numpy as np

from . import kernel

#: (name, size at ``h = 1``, multiplier?) in the order of the kernel's ``hosp_fx`` rows.
EFFECTS = (
    ("coding_depth", 0.10, True),
    ("comorbidity", 0.10, True),
    ("cost", 0.08, True),
    ("los", 0.08, True),
    ("surgery", 0.10, True),
    ("fund_shift", 0.02, False),
    ("readmission", 0.30, True),
    ("costly_tail", 0.20, True),
)
NAMES = tuple(e[0] for e in EFFECTS)
assert [getattr(kernel, f"FX_{n.upper()}") for n in
        ("coding_depth", "comorbidity", "cost", "los", "surgery", "fund", "readmission",
         "tail")] == list(range(len(EFFECTS)))
#: Default drift: the standard deviation of a year's step, as a share of an effect's size.
DRIFT = 1.0 / 3.0
#: Seed of the effects, beside the province's seed.
STREAM = 0x4E7E
#: Largest honest readmission probability (times ``kernel.HONEST_SPLIT``): it must stay
#: below ``kernel.SPLIT_CAP``, so that a second stay is never split again.
_MAX_READMISSION = 0.5 * kernel.SPLIT_CAP / kernel.HONEST_SPLIT
#: Largest costly-tail multiplier (the tail stays a tail).
_MAX_TAIL = 4.0


def check(heterogeneity: float, drift: float) -> None:
    for name, value in (("heterogeneity", heterogeneity), ("heterogeneity_drift", drift)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def hospital_effects(seed: int, n_hospitals: int, n_years: int, heterogeneity: float = 0.0,
                     drift: float = DRIFT) -> np.ndarray:
    """float64[n_years, len(EFFECTS), n_hospitals]: each hospital's effects, year by year,
    as the kernel applies them (multipliers, and the absolute fund shift).

    Year ``y``'s draws do not depend on ``n_years``, and the standard normals do not depend
    on ``heterogeneity`` or ``drift`` (they only scale them). ``heterogeneity == 0`` gives
    exact neutral values (1.0, 0.0).
    """
    check(heterogeneity, drift)
    neutral = np.array([1.0 if mult else 0.0 for _, _, mult in EFFECTS])
    out = np.repeat(neutral[None, :, None], n_years, axis=0) * np.ones((1, 1, n_hospitals))
    if heterogeneity == 0:
        return out
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM]))
    size = np.array([s for _, s, _ in EFFECTS])[:, None] * heterogeneity
    value = rng.standard_normal((len(EFFECTS), n_hospitals)) * size
    for y in range(n_years):
        step = rng.standard_normal((len(EFFECTS), n_hospitals)) * size * drift
        if y > 0:
            value = value + step
        for k, (_, _, mult) in enumerate(EFFECTS):
            out[y, k] = np.exp(value[k]) if mult else value[k]
    r, t = NAMES.index("readmission"), NAMES.index("costly_tail")
    out[:, r] = np.minimum(out[:, r], _MAX_READMISSION)
    out[:, t] = np.minimum(out[:, t], _MAX_TAIL)
    return out
