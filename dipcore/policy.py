"""Policy: every parameter of SPEC.md with the national defaults and the regional variants.

A region changes parameters in a TOML policy file, never in code::

    policy = Policy.load("dipcore/data/policies/shandong_example.toml")

Unknown keys are an error naming them. Each field's comment cites the SPEC section it
implements; choices SPEC.md leaves open are documented next to the field.

Sections. The parameters fall in five sections (:data:`SECTIONS`): ``grouping`` (SPEC 3,
10.1: the scheme), ``calibration`` (SPEC 4, 10.2), ``points`` (SPEC 5, 10.3-10.4), ``settlement`` (SPEC 6-7, the budget point
value included) and ``supervision`` (SPEC 8, 11). Each section has its own fingerprint
(:meth:`Policy.section_fingerprints`); a catalogue depends on the sections its scheme names
(``grouping`` and ``calibration`` for DIP), so a settlement may vary the others freely. A
TOML file may give its keys at top level or under ``[grouping]``, ``[points]``, ... tables.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from dipcore.errors import InputError
from dipcore.schemes.base import get_scheme

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_CHOICES = {
    "core_dx_level": ("subcategory", "category"),
    "core_rule": ("count", "coverage"),
    "comprehensive_class_from": ("main", "highest", "first"),
    "comprehensive_small": ("keep", "merge"),
    "group_priority": ("core_first", "operative_comprehensive_first"),
    "tie_break": ("closest_mean", "highest_score"),
    "trim": ("percentile", "none"),
    "score_base": ("mean", "reference_group"),
    "low_rule": ("actual_cost", "ratio_2020"),
    "high_rule": ("national_2020", "shandong", "hubei"),
    "extreme_pay": ("high", "normal"),
    "pv_mode": ("floating", "fixed", "elastic"),
    "fund_share_method": ("ratio", "patient_payments"),
    "allocation": ("exact", "round"),
    "budget_pv_trim": ("none", "outliers"),
    "scheme": ("dip", "drg"),
    "drg_trim": ("sd", "percentile", "none"),
    "drg_coefficient": ("level", "hospital", "drg_level"),
    "drg_high_rule": ("additive", "multiplicative"),
    "audit_overdispersion": ("additive", "none"),
    "audit_scale": ("log", "ratio"),
}

#: The policy's sections and their fields, in declaration order (every field is in one).
SECTIONS: dict[str, tuple[str, ...]] = {
    "grouping": (      # SPEC 3, 10.1
        "scheme", "core_dx_level", "procedure_prefix", "extra_exclusions", "core_min_cases", "core_rule",
        "core_coverage", "comprehensive_class_from", "comprehensive_min_cases",
        "comprehensive_small", "group_priority", "tie_break", "basic_max_cv",
        "basic_min_primary_share", "basic_groups"),
    "calibration": (   # SPEC 4
        "year_weights", "trim", "trim_low", "trim_high", "trim_min_cases", "score_scale",
        "score_base", "reference_group", "related_min_uplift", "level_coefficients",
        "aux_min_group_cases", "aux_min_subtype_cases", "aux_min_cv_reduction",
        "aux_dimensions", "icu_bands",
        # SPEC 10.2
        "drg_trim", "drg_trim_sd", "drg_trim_min_cases", "drg_scale", "drg_min_cases",
        "drg_max_cv", "drg_weight_adjustments", "drg_adjust_budget_neutral"),
    "points": (        # SPEC 5
        "low_ratio", "low_inclusive", "low_rule", "high_ratio", "high_rule", "extreme_ratio",
        "extreme_pay", "coefficients_on_outliers", "ungrouped_discount", "special_quota",
        "bed_day_cap", "bed_day_taper_after", "bed_day_taper_factor", "bed_day_rates",
        # SPEC 10.3-10.4
        "drg_coefficient", "hospital_coefficients", "drg_high_bands", "drg_high_above",
        "drg_high_rule", "drg_low_ratio", "new_technology_days"),
    "settlement": (    # SPEC 6-7 (the budget point value a catalogue carries is computed
        # under its calibration policy's budget_* fields; a settlement reads the catalogue's)
        "budget_point_value", "budget_pv_trim", "pv_mode", "fixed_point_value",
        "elastic_base_share", "elastic_ceiling", "fund_share_method", "surplus_cap", "sharing_bands", "reserve", "allocation",
        "appraisal_max"),
    "supervision": (   # SPEC 8, 11
        "readmit_days", "low_standard_max_los", "audit_control_limit", "audit_min_ratio",
        "audit_min_cases", "audit_min_events", "audit_overdispersion", "audit_scale",
        "audit_peer_level"),
}
_SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}

#: Parameters of earlier versions, and what replaced them.
RETIRED = {
    "audit_share_ratio": "supervision flags use funnel limits (SPEC 11): audit_control_limit "
                         "and audit_min_ratio",
    "audit_growth_margin": "growth is tested against funnel limits (SPEC 11): "
                           "audit_control_limit and audit_min_ratio",
}


def _is_number(v: Any) -> bool:
    """An int or a finite float (a boolean is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _or_none(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


#: Checks of the Policy's field annotations, with what a message says is expected.
_TYPE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a text"),
    "str | None": (_or_none(lambda v: isinstance(v, str)), "a text or absent"),
    "int": (_is_int, "a whole number"),
    "int | None": (_or_none(_is_int), "a whole number or absent"),
    "float": (_is_number, "a number"),
    "float | None": (_or_none(_is_number), "a number or absent"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "list[str]": (_list_of(lambda v: isinstance(v, str)), "a list of texts"),
    "list[int]": (_list_of(_is_int), "a list of whole numbers"),
    "list[float]": (_list_of(_is_number), "a list of numbers"),
    "list[list[float]]": (_list_of(_list_of(_is_number)), "a list of lists of numbers"),
    "list[dict]": (_list_of(lambda v: isinstance(v, dict)), "a list of tables"),
    "dict[str, float]": (lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and _is_number(x) for k, x in v.items()),
        "a table of numbers"),
}


def _drop_retired(data: dict[str, Any], source: str, mode: str) -> dict[str, Any]:
    """``data`` without ``RETIRED`` keys (top level or in a section table), or an error
    naming their replacements."""
    found = [k for k in data if k in RETIRED] + [
        k for v in data.values() if isinstance(v, dict) for k in v if k in RETIRED]
    if not found:
        return data
    if mode != "ignore":
        raise InputError("; ".join(f"policy '{k}' is retired: {RETIRED[k]}" for k in found),
                         source=source)
    return {k: ({kk: vv for kk, vv in v.items() if kk not in RETIRED} if isinstance(v, dict)
                else v) for k, v in data.items() if k not in RETIRED}


@dataclass
class Policy:
    """All policy parameters (SPEC.md sections 3-9). Defaults are the national rules."""

    # ---- grouping (SPEC 3, 10.1) -------------------------------------------------------------
    #: Payment scheme: ``dip`` (SPEC 3-5) or ``drg`` (CHS-DRG by the point method, SPEC 10;
    #: grouping needs a rule pack, ``dipcore.DrgRules``).
    scheme: str = "dip"
    #: Diagnosis part of a core key: subcategory (``K35.9``) or category (``K35``) (SPEC 9:
    #: "dx key length 4/3").
    core_dx_level: str = "subcategory"
    #: Compare procedures on this many leading characters (None: the full code, SPEC 2).
    procedure_prefix: int | None = None
    #: Codes (or prefixes ending in ``*``) excluded in addition to the shipped list (SPEC 3.1).
    extra_exclusions: list[str] = field(default_factory=list)
    #: A core key needs at least this many calibration cases (SPEC 3.2; province: 50).
    core_min_cases: int = 15
    #: ``count``: the threshold above; ``coverage``: the smallest threshold at which core
    #: groups still cover ``core_coverage`` of the cases.
    core_rule: str = "count"
    core_coverage: float = 0.95
    #: Treatment class of a comprehensive case from the main procedure, the highest class
    #: of all procedures, or the first recorded procedure even if excluded (SPEC 3.2).
    comprehensive_class_from: str = "main"
    #: Comprehensive keys with fewer cases are kept (``keep``) or merged into a catch-all of
    #: their category (``merge``).
    comprehensive_min_cases: int = 1
    comprehensive_small: str = "keep"
    #: ``core_first``: core surgery > therapeutic > diagnostic > conservative > comprehensive;
    #: ``operative_comprehensive_first``: operative comprehensive groups come before
    #: conservative core groups (SPEC 3.2).
    group_priority: str = "core_first"
    #: Among equally ranked matching groups: the mean cost closest to the case's cost, or
    #: the highest score.
    tie_break: str = "closest_mean"
    #: Basic groups (SPEC 3.2): core groups with CV <= basic_max_cv and a primary-level share
    #: of cases >= basic_min_primary_share, plus any group codes listed in basic_groups.
    basic_max_cv: float = 0.7
    basic_min_primary_share: float = 0.2
    basic_groups: list[str] = field(default_factory=list)

    # ---- calibration (SPEC 4) ---------------------------------------------------------------
    #: Weights of the calibration years, oldest to newest (renormalised over present years).
    year_weights: list[float] = field(default_factory=lambda: [1.0, 2.0, 7.0])
    #: Trim group costs outside [trim_low, trim_high] percentiles for groups with at least
    #: trim_min_cases cases; percentiles are taken over the group's pooled calibration years.
    trim: str = "percentile"
    trim_low: float = 2.5
    trim_high: float = 97.5
    trim_min_cases: int = 25
    #: RW = m_i / M * score_scale, or m_i / m_ref * score_scale with a reference group.
    score_scale: float = 1000.0
    score_base: str = "mean"
    reference_group: str | None = None
    #: A combination with related procedures stays its own group only when its mean cost is
    #: this much above the main-procedure-alone group (SPEC 4).
    related_min_uplift: float = 0.10
    #: Explicit level coefficients {"1": k1, "2": k2, "3": k3}; computed as M_L / M if empty.
    level_coefficients: dict[str, float] = field(default_factory=dict)
    #: Auxiliary subtypes (SPEC 4).
    aux_min_group_cases: int = 15
    aux_min_subtype_cases: int = 5
    aux_min_cv_reduction: float = 0.20
    aux_dimensions: list[str] = field(default_factory=lambda: ["cci", "age", "death", "icu"])
    #: ICU-days bands (lower bounds of the bands after "none"): 1-2, 3-6, >= 7 days.
    icu_bands: list[int] = field(default_factory=lambda: [1, 3, 7])
    #: Budget point value for monthly prepayment (SPEC 6); computed from history if empty.
    budget_point_value: dict[str, float] = field(default_factory=dict)
    #: Computing it: ``none`` takes every case; ``outliers`` leaves low-, high- and
    #: extreme-cost cases out of both the cost and the points ("optionally trimmed").
    budget_pv_trim: str = "none"

    # ---- DRG weights (SPEC 10.2) -------------------------------------------------------------
    #: Trimming of each DRG's history costs before its means: ``sd`` drops cases outside
    #: mean +- drg_trim_sd standard deviations (population SD, one pass over the DRG's pooled
    #: calibration years and levels); ``percentile`` drops those outside [trim_low,
    #: trim_high]; ``none``. Only DRGs with at least drg_trim_min_cases cases are trimmed.
    drg_trim: str = "sd"
    drg_trim_sd: float = 3.0
    drg_trim_min_cases: int = 25
    #: Base points B_d = RW_d x drg_scale.
    drg_scale: float = 100.0
    #: A DRG with fewer history cases (calibration years, untrimmed) or a larger CV (of its
    #: trimmed costs) is unstable: its cases are paid by cost (SPEC 10.3).
    drg_min_cases: int = 5
    drg_max_cv: float = 1.0
    #: Weight adjustments (seed 004): ``[{match = ["FM1", "GB19"], factor = 1.1}, ...]``; an
    #: entry of ``match`` is a DRG code or a prefix of DRG codes (an ADRG such as ``FM1``, an
    #: MDC letter). A DRG matched by several entries takes the longest match (the most
    #: specific rule); the same match in two entries is an error.
    drg_weight_adjustments: list[dict] = field(default_factory=list)
    #: Rescale every stable DRG's adjusted weight so that the history's total weight
    #: (sum over stable DRGs of calibration cases x RW) is what it was before adjusting.
    drg_adjust_budget_neutral: bool = False

    # ---- points (SPEC 5) ----------------------------------------------------------------------
    low_ratio: float = 0.5
    #: ``False``: low-cost when r < low_ratio; ``True``: when r <= low_ratio.
    low_inclusive: bool = False
    #: ``actual_cost``: RW*k*a*min(1, cost/(m_L*k*a)); ``ratio_2020``: RW*r.
    low_rule: str = "actual_cost"
    high_ratio: float = 2.0
    #: ``national_2020``: RW*k*a*((r-high)+1); ``shandong``: RW*(r-2+k); ``hubei``: RW*k*a*(r-1).
    high_rule: str = "national_2020"
    extreme_ratio: float = 5.0
    #: Extreme cases (r > extreme_ratio, flagged for review) paid as high-cost or as normal.
    extreme_pay: str = "high"
    #: Apply the level and auxiliary coefficients to outlier points (SPEC 9).
    coefficients_on_outliers: bool = True
    ungrouped_discount: float = 0.7
    special_quota: float = 0.005
    #: Bed-day payment (SPEC 5.6): cap on paid days, taper after a day at a factor.
    bed_day_cap: int | None = None
    bed_day_taper_after: int | None = None
    bed_day_taper_factor: float = 1.0
    #: Explicit bed-day rates (points per day) by category; calibrated if empty.
    bed_day_rates: dict[str, float] = field(default_factory=dict)

    # ---- DRG points (SPEC 10.3-10.4) ----------------------------------------------------------
    #: Hospital coefficient k: ``level`` (M_L / M from the catalogue, as DIP), ``hospital``
    #: (``hospital_coefficients``: hospital id -> k; a hospital missing there takes its level
    #: coefficient, with a warning) or ``drg_level`` (m_d,L / m_d, the DRG's mean cost at the
    #: hospital's level over its mean; 1.0 where the level has no history).
    drg_coefficient: str = "level"
    hospital_coefficients: dict[str, float] = field(default_factory=dict)
    #: High-cost threshold multiple t(B) by base points: [[upto_B, t], ...] with increasing
    #: limits (B <= upto), and ``drg_high_above`` beyond the last: B <= 100 -> 3.0,
    #: 100 < B <= 300 -> 2.0, B > 300 -> 1.5.
    drg_high_bands: list[list[float]] = field(default_factory=lambda: [[100.0, 3.0], [300.0, 2.0]])
    drg_high_above: float = 1.5
    #: High-cost points when r >= t(B): ``additive`` B*k + B*(r - t); ``multiplicative``
    #: B*k*(1 + r - t).
    drg_high_rule: str = "additive"
    #: Low-cost case when r <= drg_low_ratio: points B*k*r (at most B*k).
    drg_low_ratio: float = 0.4
    #: New technology (SPEC 10.4): a case with a filed new procedure discharged within this
    #: many days from its filing date is paid by cost and left out of calibration.
    new_technology_days: int = 365

    # ---- point value (SPEC 6) ----------------------------------------------------------------
    pv_mode: str = "floating"
    #: Fixed point value per pool (``fixed`` mode, and the base part of ``elastic``).
    fixed_point_value: dict[str, float] = field(default_factory=dict)
    #: Elastic mode: this share of the budget pays points at the fixed value up to the base
    #: volume it buys; the rest of the budget floats over the points above it.
    elastic_base_share: float = 0.8
    #: Elastic mode: the floating value is capped at this multiple of the fixed value.
    elastic_ceiling: float | None = None

    # ---- settlement (SPEC 7) ---------------------------------------------------------------
    #: ``ratio``: F = D*f*c - deductions; ``patient_payments``: F = D*c - patient payments -
    #: deductions.
    fund_share_method: str = "ratio"
    #: Surplus kept at most this share of D (None: all of it).
    surplus_cap: float | None = None
    #: Overspend sharing bands [[upto_share_of_D, fund_share], ...]; the fund pays its share of
    #: each band of overspend at the fund payment ratio. Empty: no sharing.
    sharing_bands: list[list[float]] = field(default_factory=list)
    reserve: float = 0.10
    allocation: str = "exact"
    #: The largest appraisal coefficient c_h an appraisal table may give (SPEC 7 leaves it
    #: open). Coefficients sit near 1 (scores over 100, a bonus of a few per cent): one
    #: above this stops the run naming its row, since a score of 98 typed for 0.98 would
    #: pay 98 times the amount. Raise it where a region's rewards go higher.
    appraisal_max: float = 1.5

    # ---- supervision (SPEC 8) --------------------------------------------------------------
    #: A readmission of the same patient for the same diagnosis category within this many
    #: days of the previous discharge is a suspected split admission (variants 14, 31).
    readmit_days: int = 15
    #: Low-standard admission: a low-cost case in a conservative group with LOS <= this.
    low_standard_max_los: int = 2
    #: SPEC 11 funnel limits: a hospital is flagged only when its standardised difference
    #: is beyond this two-sided control limit (0.998: z = 3.09) ...
    audit_control_limit: float = 0.998
    #: ... *and* its ratio O/E (or, for growth, this year's O/E over last year's) is at
    #: least this: a huge hospital is not flagged for a trivial excess.
    audit_min_ratio: float = 1.2
    #: Hospitals with fewer cases get indicators but no flags (and a warning naming them).
    audit_min_cases: int = 30
    #: An event indicator (readmissions, low-standard, severe cases ...) needs at least this
    #: many events at a hospital before it can flag: never a flag from one or two cases.
    audit_min_events: int = 5
    #: Over-dispersion of the funnel limits (Spiegelhalter 2005): "additive" widens every
    #: hospital's limits by the spread among its peers beyond chance (tau^2 from winsorised
    #: z-scores; 0 when there is none), "none" uses chance alone.
    audit_overdispersion: str = "additive"
    #: The scale of the funnel tests: "log" tests log(O/E) (hospitals differ from their
    #: peers by factors, so their spread is symmetric there), "ratio" tests O/E itself.
    audit_scale: str = "log"
    #: Expected values from hospitals of the same level (同级别医院) within each stratum.
    audit_peer_level: bool = True

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Check types, choices and ranges; raises :class:`InputError` naming the
        parameter."""
        self._validate_types()
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"policy '{name}' must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, name)!r}")
        positive = ("core_min_cases", "score_scale", "high_ratio", "extreme_ratio",
                    "aux_min_group_cases", "aux_min_subtype_cases", "readmit_days",
                    "audit_min_ratio", "comprehensive_min_cases", "drg_min_cases",
                    "drg_max_cv", "procedure_prefix", "elastic_ceiling", "appraisal_max",
                    "drg_scale", "drg_trim_sd", "drg_high_above", "new_technology_days")
        not_negative = ("basic_max_cv", "related_min_uplift", "trim_min_cases",
                        "drg_trim_min_cases", "low_standard_max_los", "surplus_cap",
                        "audit_min_cases", "audit_min_events")
        for names, ok, what in ((positive, lambda v: v > 0, "be positive"),
                                (not_negative, lambda v: v >= 0, "not be negative")):
            for name in names:
                value = getattr(self, name)      # None: an optional field left out
                if value is not None and not ok(value):
                    raise InputError(f"policy '{name}' must {what}, not {value!r}")
        if not 0 <= self.low_ratio < self.high_ratio <= self.extreme_ratio:
            raise InputError("policy needs 0 <= low_ratio < high_ratio <= extreme_ratio")
        if len(self.year_weights) == 0 or any(w < 0 for w in self.year_weights) \
                or sum(self.year_weights) <= 0:
            raise InputError("policy 'year_weights' must be non-negative with a positive sum")
        if not 0 <= self.reserve < 1:
            raise InputError("policy 'reserve' must be in [0, 1)")
        if self.score_base == "reference_group" and not self.reference_group:
            raise InputError("policy 'score_base = reference_group' needs 'reference_group'")
        for dim in self.aux_dimensions:
            if dim not in ("cci", "age", "death", "icu"):
                raise InputError(f"policy 'aux_dimensions' has unknown dimension {dim!r}")
        bands = [b[0] for b in self.sharing_bands]
        if any(len(b) != 2 or not 0 <= b[1] <= 1 for b in self.sharing_bands) \
                or bands != sorted(bands):
            raise InputError("policy 'sharing_bands' must be [[upto_share, fund_share], ...] "
                             "with increasing limits and shares in [0, 1]")
        if not 0.5 <= self.audit_control_limit < 1:
            raise InputError("policy 'audit_control_limit' must be in [0.5, 1) "
                             f"(two-sided coverage, 0.998 by default), not {self.audit_control_limit!r}")
        for key in self.level_coefficients:
            if key not in ("1", "2", "3"):
                raise InputError(f"policy 'level_coefficients' key must be 1, 2 or 3, not {key!r}")
        for name in ("bed_day_cap", "bed_day_taper_after"):
            value = getattr(self, name)
            if value is not None and (value != int(value) or value < 0):
                raise InputError(f"policy '{name}' must be a whole number of days, not {value!r}")
        self._validate_ranges()
        self._validate_drg()
        if self.pv_mode in ("fixed", "elastic") and not self.fixed_point_value:
            raise InputError(f"policy 'pv_mode = {self.pv_mode}' needs 'fixed_point_value'")

    def _validate_types(self) -> None:
        """Each field of the type its annotation gives (``_TYPE_CHECKS``): a text where a
        number goes, ``"no"`` where a boolean goes or a list where a table goes is an error
        here, not a wrong rule or a traceback later."""
        for f in fields(self):
            check, expected = _TYPE_CHECKS[f.type]
            value = getattr(self, f.name)
            if not check(value):
                raise InputError(f"policy '{f.name}' must be {expected}, not {value!r}")

    def _validate_ranges(self) -> None:
        """Ranges of the fields the checks of :meth:`validate` leave open."""
        shares = ("core_coverage", "basic_min_primary_share", "aux_min_cv_reduction",
                  "ungrouped_discount", "special_quota", "elastic_base_share",
                  "bed_day_taper_factor")
        for name in shares:
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"policy '{name}' must be in [0, 1], not {getattr(self, name)!r}")
        if not 0 <= self.trim_low < self.trim_high <= 100:
            raise InputError("policy needs 0 <= trim_low < trim_high <= 100 (percentiles), not "
                             f"{self.trim_low!r} and {self.trim_high!r}")
        for name in ("level_coefficients", "budget_point_value", "fixed_point_value",
                     "bed_day_rates", "hospital_coefficients"):
            for key, value in getattr(self, name).items():
                if not value > 0:
                    raise InputError(f"policy '{name}' of {key!r} must be positive, not {value!r}")
        bands = self.icu_bands
        if not bands or bands[0] < 1 or any(b >= c for b, c in zip(bands, bands[1:])):
            raise InputError("policy 'icu_bands' must be increasing whole numbers of days from "
                             f"1 (the first day of each band), not {bands!r}")

    def _validate_drg(self) -> None:
        """The SPEC 10 parameters."""
        if not 0 <= self.drg_low_ratio < 1:
            raise InputError("policy 'drg_low_ratio' must be in [0, 1)")
        limits = [b[0] for b in self.drg_high_bands if len(b) == 2]
        if len(limits) != len(self.drg_high_bands) or limits != sorted(set(limits)) \
                or any(b[1] <= 0 for b in self.drg_high_bands):
            raise InputError("policy 'drg_high_bands' must be [[upto_base_points, multiple], ...] "
                             "with increasing limits and positive multiples")
        seen: set[str] = set()
        for i, adj in enumerate(self.drg_weight_adjustments):
            if not isinstance(adj, dict) or set(adj) - {"match", "factor", "note"} \
                    or not isinstance(adj.get("match"), list) or "factor" not in adj:
                raise InputError(f"policy 'drg_weight_adjustments' entry {i + 1} must be "
                                 "{match = [codes or prefixes], factor = x[, note = ...]}")
            if not float(adj["factor"]) > 0:
                raise InputError(f"policy 'drg_weight_adjustments' entry {i + 1}: factor must "
                                 "be positive")
            for m in adj["match"]:
                key = str(m).strip().upper()
                if not key or key in seen:
                    raise InputError(f"policy 'drg_weight_adjustments' entry {i + 1}: match "
                                     f"{m!r} is empty or given twice")
                seen.add(key)
        if self.drg_coefficient == "hospital" and not self.hospital_coefficients:
            raise InputError("policy 'drg_coefficient = hospital' needs 'hospital_coefficients'")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>",
                  retired: str = "error") -> "Policy":
        """Build a policy from a mapping (keys at top level, or under section tables);
        unknown keys, and keys under the wrong section, are an error naming them.

        ``retired``: what to do with keys of ``RETIRED`` (parameters earlier versions had):
        ``"error"`` names the parameters that replace them; ``"ignore"`` drops them (a
        catalogue saved by an earlier version records its whole policy)."""
        data = _drop_retired(data, source, retired)
        data = flatten_sections(data, source)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown policy key(s): {', '.join(unknown)}", source=source)
        data = dict(data)
        # a whole number written as 60.0 in a file (or stored so by an earlier version) is
        # the whole number; 1.5 stays, for ``validate`` to name
        whole = {f.name for f in fields(cls) if f.type in ("int", "int | None")}
        for name in whole & set(data):
            value = data[name]
            if isinstance(value, float) and value.is_integer():
                data[name] = int(value)
        for name in ("level_coefficients", "budget_point_value", "bed_day_rates",
                     "fixed_point_value", "hospital_coefficients"):
            # keys as text, numbers as floats; anything else is left for ``validate`` to
            # name
            value = data.get(name)
            if isinstance(value, dict) and all(_is_number(v) for v in value.values()):
                data[name] = {str(k): float(v) for k, v in value.items()}
        try:
            return cls(**data)
        except TypeError as exc:
            raise InputError(f"bad policy value ({exc})", source=source) from None

    @classmethod
    def load(cls, path: str | Path) -> "Policy":
        """Read a policy TOML file: keys at top level (see ``data/policies/national.toml``)
        or under section tables (``[grouping]``, ``[points]``, ...)."""
        return cls.from_dict(read_toml(path, "policy"), source=str(path))

    @classmethod
    def builtin(cls, name: str) -> "Policy":
        """One of the shipped policies: ``national``, ``shandong_example``, ``hubei_example``."""
        from importlib import resources
        path = resources.files("dipcore").joinpath("data", "policies", f"{name}.toml")
        if not path.is_file():
            raise InputError(f"no built-in policy named {name!r}")
        return cls.from_dict(tomllib.loads(path.read_text(encoding="utf-8")), source=name)

    @classmethod
    def of(cls, value: "Policy | dict[str, Any] | str | os.PathLike | None",
           default: "Policy | None" = None) -> "Policy | None":
        """The policy ``value`` names: a :class:`Policy` as it is; a mapping of its fields
        (:meth:`from_dict`); a built-in name (:meth:`builtin`) or a TOML file
        (:meth:`load`); ``None`` gives ``default``. Anything else is an
        :class:`InputError`."""
        if value is None:
            return default
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        if isinstance(value, (str, os.PathLike)):
            text = str(value)
            # a bare word that is no file: one of the shipped policies
            if not Path(text).exists() and "/" not in text and not text.endswith(".toml"):
                return cls.builtin(text)
            return cls.load(text)
        raise InputError(f"policy must be a Policy, a mapping of its fields, a built-in name "
                         f"or a TOML file, not {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the form stored in a catalogue."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def fingerprint(self, names: tuple[str, ...] | None = None) -> str:
        """SHA-256 of the canonical JSON of all fields, or of ``names`` only."""
        d = self.to_dict()
        if names is not None:
            d = {k: d[k] for k in names}
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def differences(self, other: "Policy", names: tuple[str, ...] | None = None) -> list[str]:
        """Names of the fields among ``names`` (default: those a DIP catalogue depends on)
        whose values differ."""
        names = self.catalogue_fields() if names is None else names
        # the fields themselves: ``to_dict`` deep-copies every field, and a settlement
        # compares its policy with its catalogue's (a sweep, once per variant)
        return [n for n in names if getattr(self, n) != getattr(other, n)]

    # -- sections -------------------------------------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        """The values of one section (:data:`SECTIONS`), as a new dict."""
        if name not in SECTIONS:
            raise InputError(f"no policy section {name!r} (sections: {', '.join(SECTIONS)})")
        d = self.to_dict()
        return {k: d[k] for k in SECTIONS[name]}

    def section_fingerprints(self) -> dict[str, str]:
        """SHA-256 of each section's canonical JSON."""
        return {name: self.fingerprint(names) for name, names in SECTIONS.items()}

    @staticmethod
    def catalogue_fields(scheme: str = "dip") -> tuple[str, ...]:
        """The fields a catalogue of ``scheme`` depends on (its scheme's sections)."""
        return tuple(n for s in get_scheme(scheme).catalogue_sections for n in SECTIONS[s])

    def replace(self, **changes: Any) -> "Policy":
        """A copy with some fields changed (checked like any policy)."""
        return Policy.from_dict({**self.to_dict(), **changes}, source="<replace>")


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a one-line InputError naming
    it (``what``: "policy", "variants" ...)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no such {what} file", source=str(path)) from None
    except OSError as exc:          # a directory, no permission...
        raise InputError(f"cannot read the {what} file ({exc.strerror})",
                         source=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid TOML {what} file ({exc})", source=str(path)) from None


def flatten_sections(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Top-level keys as they are; a section table's keys lifted to the top, each checked
    to belong to that section."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            for k, v in value.items():
                if _SECTION_OF.get(k, key) != key:
                    raise InputError(f"policy key '{k}' belongs to section "
                                     f"[{_SECTION_OF[k]}], not [{key}]", source=source)
                if k in out:
                    raise InputError(f"policy key '{k}' is given twice", source=source)
                out[k] = v
        elif key in out:
            raise InputError(f"policy key '{key}' is given twice", source=source)
        else:
            out[key] = value
    return out


def _check_sections() -> None:
    """Every field is in exactly one section (checked on import: a new field must be
    placed)."""
    names = [f.name for f in fields(Policy)]
    placed = [n for s in SECTIONS.values() for n in s]
    if sorted(names) != sorted(placed) or len(set(placed)) != len(placed):
        raise RuntimeError("dipcore.policy.SECTIONS does not place every field exactly once")


_check_sections()
