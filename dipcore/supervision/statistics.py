"""The statistics of supervision (SPEC.md section 11): indirect standardisation, funnel
limits, growth tests and over-dispersion.

Every indicator is a per-case value ``x`` (an event 0/1, a count, an amount) summed over a
hospital's cases. Its cases fall in *strata* (the case's group, or diagnosis category, at
the hospital's level); the region's mean ``m_g`` and variance ``s2_g`` of ``x`` in each
stratum give the hospital's

* observed ``O = sum of x`` over its cases,
* expected ``E = sum over strata of n_hg * m_g`` (indirect standardisation: what its peers
  would have had with this hospital's case mix),
* variance of ``O`` under its peers' behaviour: ``V = sum over strata of n_hg * s2_g``.
  For an event ``s2_g = p_g (1 - p_g)`` (the binomial variance of a sum of Bernoulli cases
  with the stratum's rate); for an amount it is the stratum's variance among the peers'
  cases ("the group variance").

The peers are the *other* hospitals of the stratum (leave-one-out): a hospital that is most
of a stratum -- the only tertiary hospital of a county, say -- is compared with the others,
not mostly with itself (which would pull O/E towards 1 and hide it). Where no other hospital
of its level has cases in the stratum, its peers are the other hospitals of any level
(``coarse`` stratum); where there are none at all, the stratum's cases are left out of O, E
and the indicator's cases (nothing to compare them with).

The ratio ``R = O / E`` has standard error ``sqrt(V) / E`` under the null hypothesis ``R = 1``;
the standardised difference is ``z = (R - 1) / se`` (Spiegelhalter 2005, funnel plots).
Growth compares this year's ``R1`` with last year's ``R0`` (each against its own year's
region): ``z = (R1 - R0) / sqrt(rho * (se1^2 + se0^2))``, where for an event ``rho`` is the
hospital's pooled ratio ``(O1 + O0) / (E1 + E0)`` when above 1 (a hospital that is
persistently high has the larger Poisson variance of its own rate), else 1.

Counts of rare events are far from normal: an event indicator also needs its exact tail
beyond the limit -- Poisson ``P(X >= O | E)`` for a level, and for growth the conditional
binomial test of two Poisson rates, ``P(X >= O1)`` with ``X ~ Bin(O1 + O0, E1 / (E1 + E0))``
(a sum of Bernoulli cases is less spread than a Poisson of the same mean, so both are
conservative).

Real hospitals differ more than chance allows (coding habits, patients the strata do not
capture); Spiegelhalter's *additive* random-effects correction estimates that spread
``tau^2`` from the winsorised z-scores and widens every hospital's limits by it, so a large
hospital is compared with the spread of its peers rather than with binomial noise alone.

Sums are exact integers (so partial sums merge in any order); these functions take the
merged sums, sorted, so every float below is computed in one order whatever the
partitioning.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from statistics import NormalDist

import numpy as np

#: Winsorising of z-scores before estimating over-dispersion (Spiegelhalter 2005: 10 %).
WINSOR = 0.10
#: Fewer hospitals than this with a testable value: no over-dispersion estimate (too few to
#: tell the spread of peers from one odd hospital).
MIN_HOSPITALS_FOR_TAU = 10


def z_limit(control_limit: float) -> float:
    """The one-sided normal quantile of a control limit (0.998 -> 3.090; 0.95 -> 1.960).

    SPEC 11's "99.8 % limit, z = 3.09" is the two-sided 99.8 % band, i.e. the one-sided
    99.9 % point; ``control_limit`` is read as that two-sided coverage."""
    return NormalDist().inv_cdf(0.5 + control_limit / 2.0)


@dataclass
class Standardised:
    """Indirectly standardised figures of one indicator, per hospital (NumPy arrays).

    ``observed`` O, ``expected`` E, ``variance`` V of O, ``cases`` n, ``ratio`` O/E and the
    standard error of the ratio ``se`` = sqrt(V)/E (NaN where E = 0)."""

    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    cases: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.expected > 0, self.observed / self.expected, np.nan)

    @property
    def se(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.expected > 0, np.sqrt(self.variance) / self.expected, np.nan)


def _moments(N: np.ndarray, S: np.ndarray, Q: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(has cases, mean, population variance)`` from cases, sums and sums of squares
    (``Q`` None: an event, variance ``p (1 - p)``)."""
    some = N > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(some, S / np.where(some, N, 1.0), 0.0)
        var = mean * (1.0 - mean) if Q is None else \
            np.where(some, Q / np.where(some, N, 1.0) - mean * mean, 0.0)
    return some, mean, np.maximum(var, 0.0)


def standardise(hospital: np.ndarray, stratum: np.ndarray, coarse: np.ndarray, n: np.ndarray,
                total: np.ndarray, sq: np.ndarray | None, n_hospitals: int) -> Standardised:
    """Indirect standardisation of one indicator against each hospital's peers.

    Parameters
    ----------
    hospital : int array
        Dense hospital index of each (hospital, stratum) row; -1 for a row of a hospital
        that is not reported (it still counts among the peers).
    stratum, coarse : int arrays
        Dense stratum index of each row, and of the stratum without the level split (a
        hospital has one level, so its row in ``coarse`` is its row in ``stratum``).
    n, total : arrays
        Cases and the sum of ``x`` of each row.
    sq : array or None
        Sum of ``x**2`` of each row (``None`` for an event indicator: binomial variance).
    n_hospitals : int

    Returns
    -------
    Standardised
    """
    def others(keys):
        # the stratum's sums without the row's own: its peers
        m = int(keys.max()) + 1 if len(keys) else 0
        N = np.bincount(keys, weights=n, minlength=m)[keys] - n
        S = np.bincount(keys, weights=total, minlength=m)[keys] - total
        Q = None if sq is None else np.bincount(keys, weights=sq, minlength=m)[keys] - sq
        return _moments(N, S, Q)

    fine_ok, fine_mean, fine_var = others(stratum)
    coarse_ok, coarse_mean, coarse_var = others(coarse)
    mean = np.where(fine_ok, fine_mean, coarse_mean)
    var = np.where(fine_ok, fine_var, coarse_var)
    keep = (hospital >= 0) & (fine_ok | coarse_ok)       # no peers at all: left out
    h = hospital[keep]
    return Standardised(
        observed=np.bincount(h, weights=total[keep], minlength=n_hospitals),
        expected=np.bincount(h, weights=(n * mean)[keep], minlength=n_hospitals),
        variance=np.bincount(h, weights=(n * var)[keep], minlength=n_hospitals),
        cases=np.bincount(h, weights=n[keep], minlength=n_hospitals))


def additive_tau2(y: np.ndarray, se: np.ndarray, target: float = 0.0) -> float:
    """Spiegelhalter's (2005) additive over-dispersion ``tau^2`` of estimates ``y`` with
    standard errors ``se`` around ``target``.

    z-scores are winsorised at the 10th and 90th percentiles (so the hospitals being
    looked for do not widen their own limits); ``phi = mean(z_w^2)``; when
    ``I * phi > I - 1``, ``tau^2 = (I * phi - (I - 1)) / (sum w - sum w^2 / sum w)`` with
    ``w = 1 / se^2``, else 0. Rows with a NaN or zero ``se`` do not count.
    """
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    I = int(ok.sum())
    if I < MIN_HOSPITALS_FOR_TAU:
        return 0.0
    z = (y[ok] - target) / se[ok]
    lo, hi = np.quantile(z, [WINSOR, 1.0 - WINSOR], method="linear")
    zw = np.clip(z, lo, hi)
    phi = float(np.mean(zw * zw))
    if I * phi <= I - 1:
        return 0.0
    w = 1.0 / se[ok] ** 2
    return float((I * phi - (I - 1)) / (w.sum() - (w * w).sum() / w.sum()))


@dataclass
class Test:
    """A funnel test per hospital: the estimate ``y`` (a ratio, or a change of ratio), its
    null value, its standard error by chance alone (``se_chance``) and with
    over-dispersion (``se``), and ``z``; ``tau2`` the over-dispersion used."""

    y: np.ndarray
    null: float
    se_chance: np.ndarray
    se: np.ndarray
    z: np.ndarray
    tau2: float


def funnel_test(y: np.ndarray, se: np.ndarray, null: float, overdispersion: str) -> Test:
    """``z = (y - null) / sqrt(se^2 + tau^2)``, ``tau^2`` from :func:`additive_tau2` when
    ``overdispersion == "additive"`` (0 for ``"none"``)."""
    tau2 = additive_tau2(y, se, null) if overdispersion == "additive" else 0.0
    total = np.sqrt(se * se + tau2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(total > 0, (y - null) / total, np.nan)
    return Test(y=y, null=null, se_chance=se, se=total, z=z, tau2=tau2)


def level_test(s: Standardised, overdispersion: str) -> Test:
    """This year's ratio O/E against 1."""
    return funnel_test(s.ratio, s.se, 1.0, overdispersion)


def growth_test(now: Standardised, before: Standardised, overdispersion: str,
                event: bool) -> Test:
    """This year's O/E against last year's: the difference ``R1 - R0`` with standard error
    ``sqrt(rho * (se1^2 + se0^2))`` (the two years' cases are independent; ``rho``, for an
    event, the pooled ratio when above 1, see the module docstring)."""
    rho = 1.0
    if event:
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = (now.observed + before.observed) / (now.expected + before.expected)
        rho = np.where(np.isfinite(pooled), np.maximum(pooled, 1.0), 1.0)
    return funnel_test(now.ratio - before.ratio, np.sqrt(rho * (now.se ** 2 + before.se ** 2)),
                       0.0, overdispersion)


def _log_pmf_poisson(k: np.ndarray, mean: float) -> np.ndarray:
    return k * math.log(mean) - mean - np.array([math.lgamma(x + 1.0) for x in k])


def _upper_tail(log_pmf, start: int, stop: int) -> float:
    """``sum of exp(log_pmf(k))`` for ``k`` from ``start`` (past the mode) until the terms
    no longer count (or ``stop``, inclusive)."""
    total = 0.0
    k = start
    while k <= stop:
        chunk = np.arange(k, min(k + 256, stop + 1), dtype=np.float64)
        terms = np.exp(log_pmf(chunk))
        total += float(terms.sum())
        if terms[-1] <= total * 1e-17:
            break
        k += 256
    return total


def poisson_upper_tail(observed: float, expected: float) -> float:
    """``P(X >= observed)`` for ``X ~ Poisson(expected)`` (summed from ``observed`` up; for
    ``observed`` above the mean, where the test looks)."""
    o = int(round(observed))
    if expected <= 0:
        return 0.0 if o > 0 else 1.0
    if o <= expected:
        return 1.0            # not in the upper tail: no evidence of excess
    return _upper_tail(lambda k: _log_pmf_poisson(k, expected), o, o + 10_000_000)


def binomial_upper_tail(observed: float, trials: float, p: float) -> float:
    """``P(X >= observed)`` for ``X ~ Bin(trials, p)``."""
    o, n = int(round(observed)), int(round(trials))
    if o <= n * p:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    lp, lq, lgn = math.log(p), math.log1p(-p), math.lgamma(n + 1.0)

    def log_pmf(k):
        return lgn - np.array([math.lgamma(x + 1.0) + math.lgamma(n - x + 1.0) for x in k]) \
            + k * lp + (n - k) * lq
    return _upper_tail(log_pmf, o, n)


def exact_level_p(s: Standardised, i: int) -> float:
    """One-sided exact p-value of hospital ``i``'s event count against its expectation."""
    return poisson_upper_tail(s.observed[i], s.expected[i])


def exact_growth_p(now: Standardised, before: Standardised, i: int) -> float:
    """One-sided exact p-value of a rise in hospital ``i``'s event rate: this year's count
    given both years', against the share of the two years' expectation that is this
    year's (the conditional test of two Poisson rates)."""
    e = now.expected[i] + before.expected[i]
    if e <= 0:
        return 1.0
    return binomial_upper_tail(now.observed[i], now.observed[i] + before.observed[i],
                               now.expected[i] / e)


def funnel_grid(cases: np.ndarray, se: np.ndarray, tau2: float, null: float,
                z_values: tuple[float, ...], points: int = 60) -> dict[str, np.ndarray]:
    """Smooth control limits to draw behind a funnel plot with cases on the x axis.

    A hospital's standard error falls as ``c / sqrt(n)``; ``c^2`` is the median of
    ``se^2 * n`` over the hospitals (its case mix makes each hospital's own ``c`` differ a
    little: the per-hospital limits are in the funnel table). Returns ``cases`` on a
    log-spaced grid from the smallest to the largest hospital and ``lower_{z}`` /
    ``upper_{z}`` for each ``z`` in ``z_values``."""
    ok = np.isfinite(se) & (cases > 0)
    if not ok.any():
        return {"cases": np.zeros(0)}
    c2 = float(np.median(se[ok] ** 2 * cases[ok]))
    grid = np.unique(np.round(np.geomspace(max(1.0, cases[ok].min()), cases[ok].max(),
                                           points)))
    sd = np.sqrt(c2 / grid + tau2)
    out = {"cases": grid}
    for i, z in enumerate(z_values):
        out[f"lower{i}"] = null - z * sd
        out[f"upper{i}"] = null + z * sd
    return out
