"""CHS-DRG by the point method (SPEC.md section 10) on the scheme seam.

A :class:`DrgScheme` is bound to a rule pack and, optionally, a new-technology table
(:meth:`DrgScheme.bind`); the registered instance is unbound, and any use that groups asks
for a pack. Everything after the case points (point value, statements, prepayment,
clearing, supervision) is the shared machinery.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dipcore._kernels.points import DIP, UNSTABLE
from dipcore.catalog import Catalog
from dipcore.engine.passes import HistoryPoints
from dipcore.errors import InputError
from dipcore.payment.point_value import budget_point_values
from dipcore.policy import Policy
from dipcore.schemes.base import Scheme
from dipcore.schemes.drg import calibration as cal
from dipcore.schemes.drg.case_table import case_table
from dipcore.schemes.drg.features import MEDICAL_CLASS, adrg_class, features
from dipcore.schemes.drg.newtech import NewTechnology
from dipcore.schemes.drg.official import load_weights
from dipcore.schemes.drg.passes import DrgHistory
from dipcore.schemes.drg.rules import DrgRules
from dipcore.schemes.drg.scoring import case_points, case_terms
from dipcore.schemes.drg.weights import WEIGHT_SCHEMA
from dipcore.schemes.statistics import calibration_years, fingerprint_text, year_weights


class DrgScheme(Scheme):
    """CHS-DRG: MDC -> ADRG -> DRG with a region's rule pack; weights from history."""

    name = "drg"
    group_schema = WEIGHT_SCHEMA
    catalogue_sections = ("grouping", "calibration")
    raw_codes = True
    statement_renames = {"dip_cases": "drg_cases", "dip_amount": "drg_amount"}
    statement_counts = ("unstable", "new_technology")
    statement_points = ("new_technology_points",)
    #: Grouping is the rule pack's; ``features`` reads only the new-technology window.
    prepare_fields = ("new_technology_days",)
    #: The hospital coefficient k is a term of a case's points (SPEC 10.3).
    terms_fields = ("drg_coefficient", "hospital_coefficients")

    def __init__(self, rules: DrgRules | None = None,
                 new_technology: NewTechnology | None = None):
        self.rules = rules
        self.new_technology = new_technology or NewTechnology({})

    def bind(self, rules: DrgRules | None = None, new_technology: Any = None,
             catalog: Catalog | None = None) -> "DrgScheme":
        if rules is None:
            raise InputError("a DRG policy needs the CHS-DRG rule pack it groups with "
                             "(rules=dipcore.DrgRules.load(DIR), or --rules DIR)")
        rules = DrgRules.of(rules)
        if catalog is not None and catalog.rules:
            made = catalog.rules
            if made.get("fingerprint") != rules.fingerprint:
                raise InputError(
                    f"the catalogue was made with rule pack {made.get('name')!r} (fingerprint "
                    f"{str(made.get('fingerprint'))[:12]}) but the rule pack given is "
                    f"{rules.name!r} (fingerprint {rules.fingerprint[:12]})")
        return DrgScheme(rules, NewTechnology.load(new_technology))

    def _rules(self) -> DrgRules:
        if self.rules is None:
            raise InputError("CHS-DRG grouping needs a rule pack (DrgScheme.bind(rules=...))")
        return self.rules

    def group_codes(self, catalog):
        return catalog.groups.column("drg").combine_chunks()

    def severity_strata(self, features, scored):
        """The ADRG: CC/MCC moves a case to a dearer DRG of its ADRG (SPEC 10.1), so severity
        coding is compared within ADRGs; cases paid by a DRG's points (stable or not)."""
        paid = (scored.kind == DIP) | (scored.kind == UNSTABLE)
        return np.where(paid & (features.adrg >= 0), features.adrg, -1)

    def conservative_rows(self, catalog):
        """Medical DRGs (ADRG second letter R-Z, ``features.adrg_classes``)."""
        return np.array([MEDICAL_CLASS == adrg_class(a)
                         for a in catalog.groups.column("adrg").to_pylist()], bool)

    def scale(self, policy: Policy) -> float:
        return float(policy.drg_scale)

    def prepare(self, batch, policy):
        return features(batch, self._rules(), self.new_technology, policy.new_technology_days)

    def terms(self, f, catalog, policy, special=None):
        return case_terms(f, catalog, policy, self._rules(), special)

    def points(self, terms, f, catalog, policy):
        return case_points(terms, f, catalog, policy)

    def case_table(self, batch, f, scored, catalog):
        return case_table(batch, f, scored, catalog, self._rules())

    def calibrate(self, executor, source: Any, policy: Policy, years: list[int] | None) -> Catalog:
        """SPEC 10.2: one pass grouping the history, the weights, then the history's points
        with the new weights for the budget point value (unless the policy gives it)."""
        rules = self._rules()
        state, kept = executor.scan(source, DrgHistory(self, policy), keep=True)
        cal_years, warnings = calibration_years(state.years, policy, years, state.quarantined)
        records = state.arrays()
        new_tech, ungrouped = (int(v) for v in records["left_out"])
        if new_tech:
            warnings.append(f"{new_tech} new-technology cases within their window were left "
                            "out of the weights (SPEC 10.4)")
        if ungrouped:
            warnings.append(f"{ungrouped} history cases were not grouped into a DRG "
                            "(ungroupable or failing the checks) and were left out")
        catalog = cal.build_catalog(records, rules, policy, cal_years,
                                    fingerprint_text(state.fingerprints, cal_years), warnings)
        if policy.budget_point_value:
            catalog.budget_point_value = dict(policy.budget_point_value)
        else:
            sums = executor.over(kept, HistoryPoints(catalog, cal_years, scheme=self))
            catalog.budget_point_value = budget_point_values(sums, year_weights(policy, cal_years))
        return catalog

    def load_official(self, path, **options):
        return load_weights(path, rules=self.rules, **options)
