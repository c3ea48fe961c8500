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

The peers are the *other* hospitals of the stratum (leave-one-out), and not those already
far beyond their own peers (``outlying``, found by a first pass): a hospital that is most
of a stratum -- the only tertiary hospital of a county, say -- is compared with the others,
not mostly with itself (which would pull O/E towards 1 and hide it). Where no other hospital
of its level has cases in the stratum, its peers are the other hospitals of any level
(``coarse`` stratum); where there are none at all, the stratum's cases are left out of O, E
and the indicator's cases (nothing to compare them with).

The ratio ``R = O / E`` has standard error ``sqrt(V) / E`` under the null hypothesis
``R = 1``. The tests run on the log scale by default (``audit_scale``): ``z = log(R) / se``.
Hospitals differ from their peers by factors -- a price level, a coding habit -- so their
spread is symmetric in ``log(R)``; on the ratio scale (``z = (R - 1) / se``, as in
Spiegelhalter 2005's funnel plots) it is skewed, and a dear honest hospital's count beyond
a fixed line (the high-cost share) stands out further than the funnel's spread allows.
Growth compares this year's ``R1`` with last year's ``R0``, each against its own year's
peers: ``log(R1 / R0)`` with standard error ``sqrt(se1^2 + se0^2)``.

Counts of rare events are far from normal. An event count uses half an event each side
(``log((O + 1/2) / (E + 1/2))``) and, above its expectation, the standard error that gives
the z of its exact tail: for a level ``P(X >= O)`` with ``X ~ Bin(n, E / n)`` (Poisson where
``n`` is unknown), for growth the conditional binomial test of two Poisson rates,
``P(X >= O1)`` with ``X ~ Bin(O1 + O0, E1 / (E1 + E0))`` (a sum of Bernoulli cases of
different rates is less spread than these, so both are conservative). On the ratio scale
the growth variance of an event is scaled by the pooled ratio ``(O1 + O0) / (E1 + E0)``
when above 1, and a flag also needs the exact tail beyond the limit.

Real hospitals differ more than chance allows (coding habits, patients the strata do not
capture); Spiegelhalter's *additive* random-effects correction estimates that spread
``tau^2`` from the winsorised z-scores and widens every hospital's limits by it, so a large
hospital is compared with the spread of its peers rather than with binomial noise alone.

Sums are exact integers (so partial sums merge in any order); these functions take the
merged sums, sorted, so every float below is computed in one order whatever the
partitioning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
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
                total: np.ndarray, sq: np.ndarray | None, n_hospitals: int,
                outlying: np.ndarray | None = None) -> Standardised:
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
    outlying : bool array, optional
        Hospitals (by index) left out of everyone's peers: a hospital far beyond its
        peers would otherwise raise the rate its peers are compared with (one gaming
        tertiary hospital among five makes the other four look low).

    Returns
    -------
    Standardised
    """
    everyone = np.ones(len(n), bool)
    peer = everyone if outlying is None else \
        ~((hospital >= 0) & outlying[np.maximum(hospital, 0)])

    def others(keys, rows):
        # the stratum's sums over the ``rows`` that are peers, less the hospital's own in
        # it (a hospital without a registry may have cases at two levels, so its own sum in
        # a coarse stratum may span rows): its peers
        m = int(keys.max()) + 1 if len(keys) else 0
        h = np.maximum(hospital, 0) if len(hospital) else hospital
        mine = h * max(m, 1) + keys
        mine = np.where(hospital >= 0, mine, -1 - np.arange(len(keys)))   # unreported: own row
        _, owner = np.unique(mine, return_inverse=True)

        def less_own(x):
            if x is None:
                return None
            own = np.bincount(owner, weights=x * rows)[owner]
            return np.bincount(keys, weights=x * rows, minlength=m)[keys] - own
        return _moments(less_own(n), less_own(total), less_own(sq))

    # peers at its level without the hospitals far beyond theirs; else at any level; only
    # where the exclusion leaves none at all, the far ones too (never an empty comparison
    # because of the exclusion)
    choices = [others(stratum, peer), others(coarse, peer),
               others(stratum, everyone), others(coarse, everyone)]
    mean, var = np.zeros(len(n)), np.zeros(len(n))
    found = np.zeros(len(n), bool)
    for ok, m_, v_ in choices:
        take = ok & ~found
        mean[take], var[take] = m_[take], v_[take]
        found |= ok
    keep = (hospital >= 0) & found       # no peers at all: left out
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


#: Ratios below this are taken as this on the log scale (an O of 0): only the lower tail,
#: which no flag looks at and the over-dispersion estimate winsorises, is affected.
LOG_FLOOR = 0.05


@dataclass
class Test:
    """A funnel test per hospital.

    ``y`` is the estimate on the test's scale -- ``"ratio"``: O/E (level) or the change
    ``R1 - R0`` (growth); ``"log"``: ``log(O/E)`` or ``log(R1/R0)`` -- with its null value,
    standard error by chance alone (``se_chance``) and with over-dispersion (``se``), and
    ``z``; ``tau2`` is the over-dispersion used, on that scale."""

    y: np.ndarray
    null: float
    se_chance: np.ndarray
    se: np.ndarray
    z: np.ndarray
    tau2: float
    scale: str = "ratio"

    @property
    def value(self) -> np.ndarray:
        """The plotted value: O/E, or for growth this year's O/E over last year's (log
        scale) or their difference (ratio scale)."""
        return np.exp(self.y) if self.scale == "log" else self.y

    @property
    def plotted_null(self) -> float:
        return 1.0 if self.scale == "log" else self.null

    def limits(self, z: float, se: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limits at ``z`` on the plotted scale (``se``: default the test's
        own, with over-dispersion)."""
        se = self.se if se is None else se
        lo, hi = self.null - z * se, self.null + z * se
        if self.scale != "log":
            return lo, hi
        with np.errstate(over="ignore"):       # a limit beyond any ratio is infinite
            return np.exp(lo), np.exp(hi)


def funnel_test(y: np.ndarray, se: np.ndarray, null: float, overdispersion: str,
                scale: str = "ratio", use: np.ndarray | None = None) -> Test:
    """``z = (y - null) / sqrt(se^2 + tau^2)``, ``tau^2`` from :func:`additive_tau2` when
    ``overdispersion == "additive"`` (0 for ``"none"``), estimated from the hospitals of
    ``use`` (default all)."""
    tau2 = 0.0
    if overdispersion == "additive":
        tau2 = additive_tau2(y, se, null) if use is None else additive_tau2(y[use], se[use], null)
    total = np.sqrt(se * se + tau2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(total > 0, (y - null) / total, np.nan)
    return Test(y=y, null=null, se_chance=se, se=total, z=z, tau2=tau2, scale=scale)


#: Expected events below which a hospital's count says too little about its peers' spread
#: to enter the over-dispersion estimate of an event measure (its own test still runs).
MIN_EXPECTED_FOR_TAU = 5.0


def _log_ratio(s: Standardised, event: bool) -> np.ndarray:
    """``log(O/E)``; for an event ``log((O + 1/2) / (E + 1/2))``, so that a count of 0 is a
    finite value near its chance (the usual half-event correction); ratios floored at
    ``LOG_FLOOR``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if event:
            ratio = np.where(s.cases > 0, (s.observed + 0.5) / (s.expected + 0.5), np.nan)
        else:
            ratio = s.ratio
        return np.log(np.maximum(ratio, LOG_FLOOR))


def _tau_sample(s: Standardised, event: bool) -> np.ndarray | None:
    return s.expected >= MIN_EXPECTED_FOR_TAU if event else None


def _z_of_p(p: float) -> float:
    """The one-sided normal z of an upper-tail probability."""
    return -NormalDist().inv_cdf(min(max(p, 1e-300), 1.0 - 1e-16))


def _exact_se(y: np.ndarray, se: np.ndarray, p_value) -> np.ndarray:
    """Standard errors on the log scale that give each hospital above its null the z of its
    exact tail (``p_value(i)``): a count's chance is read off its own distribution, not a
    normal curve, before peers' spread is added. Elsewhere ``se`` (the delta method at the
    null), which only the lower tail and the spread estimate see."""
    out = se.copy()
    for i in np.flatnonzero(np.isfinite(y) & (y > 0)):
        z = _z_of_p(p_value(i))
        if z > 0:
            out[i] = y[i] / z
    return out


def level_test(s: Standardised, overdispersion: str, scale: str = "log",
               event: bool = False) -> Test:
    """This year's ratio O/E against 1: on the log scale ``log(O/E)`` (:func:`_log_ratio`)
    against 0 with standard error ``sqrt(V)/E`` (the delta method at the null); for an event
    count above its expectation, the standard error that gives the z of its exact tail
    (:func:`exact_level_p`: a count of rare events is far from normal, and a large excess in
    a small expected count would otherwise be compressed out of sight). Hospitals differ
    from their peers by factors (a price level, a coding habit), so their spread is
    symmetric on the log scale; on the ratio scale it is skewed, and a dear honest
    hospital's O/E of a count beyond a fixed line (the high-cost share) stands out further
    than its peers' spread estimated from the whole funnel."""
    if scale == "log":
        y = _log_ratio(s, event)
        se = _exact_se(y, s.se, lambda i: exact_level_p(s, i)) if event else s.se
        return funnel_test(y, se, 0.0, overdispersion, "log", _tau_sample(s, event))
    return funnel_test(s.ratio, s.se, 1.0, overdispersion, use=_tau_sample(s, event))


def growth_test(now: Standardised, before: Standardised, overdispersion: str,
                event: bool, scale: str = "log") -> Test:
    """This year's O/E against last year's (the two years' cases are independent).

    Ratio scale: ``R1 - R0`` with standard error ``sqrt(rho * (se1^2 + se0^2))``, ``rho`` for
    an event the pooled ratio when above 1. Log scale: ``log(R1 / R0)`` with standard error
    ``sqrt(se1^2 + se0^2)`` for an amount; for an event rising, the standard error that
    gives the z of the exact conditional test (:func:`exact_growth_p`), else
    ``sqrt((se1^2 + se0^2) / rho)`` (a count's relative variance falls as its rate rises;
    ``rho`` at least 1/4)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (now.observed + before.observed) / (now.expected + before.expected)
    pooled = np.where(np.isfinite(pooled), pooled, 1.0)
    chance = now.se ** 2 + before.se ** 2
    use = None
    if event:
        use = _tau_sample(now, event) & _tau_sample(before, event)
    if scale == "log":
        y = _log_ratio(now, event) - _log_ratio(before, event)
        se = np.sqrt(chance)
        if event:
            se = _exact_se(y, np.sqrt(chance / np.maximum(pooled, 0.25)),
                           lambda i: exact_growth_p(now, before, i))
        return funnel_test(y, se, 0.0, overdispersion, "log", use)
    if event:
        chance = chance * np.maximum(pooled, 1.0)
    return funnel_test(now.ratio - before.ratio, np.sqrt(chance), 0.0, overdispersion, use=use)


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


def poisson_lower_tail(observed: float, expected: float) -> float:
    """``P(X <= observed)`` for ``X ~ Poisson(expected)`` (for ``observed`` below the mean)."""
    o = int(round(observed))
    if expected <= 0 or o >= expected:
        return 1.0
    k = np.arange(0, o + 1, dtype=np.float64)
    return float(np.exp(_log_pmf_poisson(k, expected)).sum())


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
    """One-sided exact p-value of hospital ``i``'s event count against its expectation: the
    binomial of its cases at its expected rate (a sum of Bernoulli cases of different rates
    is less spread, so this is conservative; Poisson where the cases are unknown)."""
    n, e = s.cases[i], s.expected[i]
    if n >= 1 and 0 < e < n:
        return binomial_upper_tail(s.observed[i], n, e / n)
    return poisson_upper_tail(s.observed[i], e)


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
                z_values: tuple[float, ...], points: int = 60,
                scale: str = "ratio") -> dict[str, np.ndarray]:
    """Smooth control limits to draw behind a funnel plot with cases on the x axis.

    A hospital's standard error falls as ``c / sqrt(n)``; ``c^2`` is the median of
    ``se^2 * n`` over the hospitals (its case mix makes each hospital's own ``c`` differ a
    little: the per-hospital limits are in the funnel table). Returns ``cases`` on a
    log-spaced grid from the smallest to the largest hospital and ``lower_{z}`` /
    ``upper_{z}`` for each ``z`` in ``z_values`` (on the log scale, ``se``, ``tau2`` and
    ``null`` are of ``log(O/E)`` and the limits are returned as ratios)."""
    ok = np.isfinite(se) & (cases > 0)
    if not ok.any():
        return {"cases": np.zeros(0)}
    c2 = float(np.median(se[ok] ** 2 * cases[ok]))
    grid = np.unique(np.round(np.geomspace(max(1.0, cases[ok].min()), cases[ok].max(),
                                           points)))
    sd = np.sqrt(c2 / grid + tau2)
    out = {"cases": grid}
    for i, z in enumerate(z_values):
        lo, hi = null - z * sd, null + z * sd
        out[f"lower{i}"], out[f"upper{i}"] = (np.exp(lo), np.exp(hi)) if scale == "log" \
            else (lo, hi)
    return out
