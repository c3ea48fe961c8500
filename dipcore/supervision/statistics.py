"""The statistics of supervision (SPEC.md section 11): indirect standardisation, funnel
limits, growth tests and over-dispersion.

Every indicator is a per-case value ``x`` (an event 0/1, a count, an amount) summed over a
hospital's cases. Its cases fall in *strata* (the case's group, or diagnosis category, at
the hospital's level); the region's mean ``m_g`` and variance ``s2_g`` of ``x`` in each
stratum give the hospital's

* observed ``O = sum of x`` over its cases,
* expected ``E = sum over strata of n_hg * m_g`` (indirect standardisation: what the region
  would have had with this hospital's case mix),
* variance of ``O`` under the region's behaviour: ``V = sum over strata of n_hg * s2_g``.
  For an event ``s2_g = p_g (1 - p_g)`` (the binomial variance of a sum of Bernoulli cases
  with the stratum's rate); for an amount it is the stratum's variance among the region's
  cases ("the group variance").

The ratio ``R = O / E`` has standard error ``sqrt(V) / E`` under the null hypothesis ``R = 1``;
the standardised difference is ``z = (R - 1) / se`` (Spiegelhalter 2005, funnel plots).
Growth compares this year's ``R1`` with last year's ``R0`` (each against its own year's
region): ``z = (R1 - R0) / sqrt(se1^2 + se0^2)``.

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
from statistics import NormalDist

import numpy as np

#: Winsorising of z-scores before estimating over-dispersion (Spiegelhalter 2005: 10 %).
WINSOR = 0.10
#: Fewer hospitals than this with a testable value: no over-dispersion estimate (too few to
#: tell the spread of peers from one odd hospital).
MIN_HOSPITALS_FOR_TAU = 10


def z_limit(control_limit: float) -> float:
    """The one-sided normal quantile of a control limit (0.998 -> 2.878; 0.999 -> 3.090).

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


def stratum_moments(stratum: np.ndarray, n: np.ndarray, total: np.ndarray, sq: np.ndarray | None,
                    n_strata: int) -> tuple[np.ndarray, np.ndarray]:
    """The region's mean and variance of ``x`` per stratum, from per-(hospital, stratum)
    cases ``n``, sums ``total`` and sums of squares ``sq`` (``None``: ``x`` is an event, so
    its variance is ``p (1 - p)``). Population variance (divisor N): the region is the
    population the hospital is compared with."""
    N = np.bincount(stratum, weights=n, minlength=n_strata)
    S = np.bincount(stratum, weights=total, minlength=n_strata)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(N > 0, S / N, 0.0)
        if sq is None:
            var = mean * (1.0 - mean)
        else:
            Q = np.bincount(stratum, weights=sq, minlength=n_strata)
            var = np.where(N > 0, Q / N - mean * mean, 0.0)
    return mean, np.maximum(var, 0.0)


def standardise(hospital: np.ndarray, stratum: np.ndarray, n: np.ndarray, total: np.ndarray,
                sq: np.ndarray | None, n_hospitals: int, n_strata: int) -> Standardised:
    """Indirect standardisation of one indicator.

    Parameters
    ----------
    hospital, stratum : int arrays
        Dense hospital and stratum index of each (hospital, stratum) row.
    n, total : arrays
        Cases and the sum of ``x`` of each row.
    sq : array or None
        Sum of ``x**2`` of each row (``None`` for an event indicator: binomial variance).
    n_hospitals, n_strata : int

    Returns
    -------
    Standardised
    """
    mean, var = stratum_moments(stratum, n, total, sq, n_strata)
    return Standardised(
        observed=np.bincount(hospital, weights=total, minlength=n_hospitals),
        expected=np.bincount(hospital, weights=n * mean[stratum], minlength=n_hospitals),
        variance=np.bincount(hospital, weights=n * var[stratum], minlength=n_hospitals),
        cases=np.bincount(hospital, weights=n, minlength=n_hospitals))


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
    null value, standard error (with over-dispersion) and ``z``; ``tau2`` the
    over-dispersion used."""

    y: np.ndarray
    null: float
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
    return Test(y=y, null=null, se=total, z=z, tau2=tau2)


def level_test(s: Standardised, overdispersion: str) -> Test:
    """This year's ratio O/E against 1."""
    return funnel_test(s.ratio, s.se, 1.0, overdispersion)


def growth_test(now: Standardised, before: Standardised, overdispersion: str) -> Test:
    """This year's O/E against last year's: the difference ``R1 - R0`` with standard error
    ``sqrt(se1^2 + se0^2)`` (the two years' cases are independent)."""
    return funnel_test(now.ratio - before.ratio, np.sqrt(now.se ** 2 + before.se ** 2), 0.0,
                       overdispersion)


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
