"""Case points (SPEC.md section 5): the per-case result every scheme gives, and the rules.

A scheme (``dipcore.schemes``) groups a case and works out the terms of its formula (score,
coefficients, comparison mean); the point rules themselves are kernels in
``dipcore._kernels.points``, one per SPEC paragraph:

=====================  ============================  ===============================
rule                   kernel                        policy knob
=====================  ============================  ===============================
5.1 normal             ``case_points`` (RW*k*a)      -
5.2 low cost           ``low_cost_points``           ``low_ratio``, ``low_inclusive``,
                                                     ``low_rule``
5.3 high cost          ``high_cost_points``          ``high_ratio``, ``high_rule``
5.3 extreme            ``outlier_class``             ``extreme_ratio``, ``extreme_pay``
5.4 ungrouped          ``cost_points``               ``ungrouped_discount``
5.5 special review     ``cost_points``               (quota: ``special_quota``)
5.6 bed-day            ``bed_day_points``            ``bed_day_cap``, ``bed_day_taper_*``
=====================  ============================  ===============================

Rounding: points are computed in float64 per case and rounded half away from zero to 4
decimals, stored as int64 units of 0.0001 point (``round_units``), so sums are exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.policy import Policy
from dipcore.schema import BED_DAY_CATEGORIES

#: Points are int64 counts of this fraction of a point (4 decimals).
UNITS = P.UNITS
#: Names of the outlier classes (``dipcore._kernels.points`` NONE..EXTREME).
OUTLIER_NAMES = ("", "low", "normal", "high", "extreme")

#: Policy names of the rule variants -> kernel codes (SPEC 9).
LOW_RULES = {"actual_cost": P.LOW_ACTUAL, "ratio_2020": P.LOW_RATIO2020}
HIGH_RULES = {"national_2020": P.HIGH_NATIONAL, "shandong": P.HIGH_SHANDONG,
              "hubei": P.HIGH_HUBEI}


@dataclass(kw_only=True)
class Terms:
    """The terms of each case's points that do not depend on the point rules of SPEC 5:
    group, kind, score, coefficients, comparison mean (NumPy arrays, one entry per case).
    A scheme's ``terms``; its ``points`` applies the rules to them (:class:`Scored`)."""

    row: np.ndarray        # int32 catalogue row (-1 none)
    reason: np.ndarray     # int8 why ungrouped (index into the scheme's reasons)
    kind: np.ndarray       # int8 points kind (kernels.points DIP/UNGROUPED/SPECIAL/BED_DAY)
    rw: np.ndarray         # float64 group score (0 where none)
    k: np.ndarray          # float64 hospital coefficient
    a: np.ndarray          # float64 auxiliary coefficient
    aux_slot: np.ndarray   # int8 subtype slot taken (-1 none)
    base: np.ndarray       # float64 comparison mean m_L, fen
    bed_rate: np.ndarray   # float64 points per day
    #: What the settlement should warn about, as (what, item) pairs (e.g. a DRG without a
    #: weight); merged over batches.
    notes: set = field(default_factory=set)

    def scored(self, units: np.ndarray, outlier: np.ndarray, ratio: np.ndarray) -> "Scored":
        """These terms with the points the rules gave."""
        terms = {f.name: getattr(self, f.name) for f in fields(Terms)}
        return Scored(**{**terms, "notes": set(self.notes)}, units=units, outlier=outlier,
                      ratio=ratio)


@dataclass(kw_only=True)
class Scored(Terms):
    """Per-case results of a scheme's scoring: the :class:`Terms` and the points."""

    units: np.ndarray      # int64 points in units of 1e-4
    outlier: np.ndarray    # int8
    ratio: np.ndarray      # float64


def point_rules(policy: Policy, catalog: Catalog) -> P.PointRules:
    """The record of policy scalars the point kernels read (M from the catalogue)."""
    return P.PointRules(
        mean_all=float(catalog.mean_cost * 100.0), scale=float(policy.score_scale),
        low_ratio=float(policy.low_ratio), low_inclusive=bool(policy.low_inclusive),
        low_rule=int(LOW_RULES[policy.low_rule]), high_ratio=float(policy.high_ratio),
        high_rule=int(HIGH_RULES[policy.high_rule]), extreme_ratio=float(policy.extreme_ratio),
        extreme_as_high=policy.extreme_pay == "high",
        coefficients_on_outliers=bool(policy.coefficients_on_outliers),
        ungrouped_discount=float(policy.ungrouped_discount),
        bed_cap=int(policy.bed_day_cap or 0), taper_after=int(policy.bed_day_taper_after or 0),
        taper_factor=float(policy.bed_day_taper_factor))


def bed_day_rates(catalog: Catalog) -> np.ndarray:
    """Points per day by bed-day category (SPEC 5.6), 0 where the catalogue has none."""
    return np.array([catalog.bed_day_rates.get(c, 0.0) for c in BED_DAY_CATEGORIES])


def bed_categories(f) -> set[str]:
    """The bed-day categories present among prepared cases (SPEC 5.6)."""
    return {BED_DAY_CATEGORIES[c] for c in np.unique(f.bed).tolist() if c >= 0}


def bed_rates_missing(catalog: Catalog, present: set[str]) -> set[str]:
    """Of the bed-day categories ``present``, those without a rate in the catalogue (their
    cases carry 0 points: a settlement warns)."""
    return {c for c in present if c not in catalog.bed_day_rates}


def level_coefficient_array(catalog: Catalog) -> np.ndarray:
    """Hospital level coefficients indexed by level (index 0 unused: 1.0)."""
    lc = np.ones(4)
    for level, value in catalog.level_coefficients.items():
        lc[int(level)] = value
    return lc
