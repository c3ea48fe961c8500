"""DIP (按病种分值付费), the first payment scheme (SPEC.md sections 3-5).

* ``features``: a checked batch -> kernel-ready features (SPEC 3.1 preparation);
* ``grouping``, ``groups``: the catalogue's groups and the grouping of a case (SPEC 3.2);
* ``scoring``: group, coefficients and points of each case (SPEC 5);
* ``calibration``, ``passes``: building the catalogue from history (SPEC 4);
* ``case_table``: the per-case output; ``official``: a bureau's catalogue as CSV.
"""
from __future__ import annotations

from typing import Any

from dipcore.catalog import Catalog
from dipcore.engine.passes import HistoryPoints
from dipcore.payment.point_value import budget_point_values
from dipcore.policy import SECTIONS, Policy
from dipcore.schemes.base import Scheme, register
from dipcore.schemes.dip import calibration as cal
from dipcore.schemes.dip.case_table import case_table
from dipcore.schemes.dip.features import features
from dipcore.schemes.dip.groups import GROUP_SCHEMA
from dipcore.schemes.dip.official import load_csv
from dipcore.schemes.dip.passes import GroupAssignments, KeysState, PrepareKeys
from dipcore.schemes.dip.scoring import case_points, case_terms
from dipcore.schemes.statistics import calibration_years, fingerprint_text, year_weights


def draft_catalog(keys: KeysState, policy: Policy, years: list[int] | None
                  ) -> tuple[cal.CoreDefinition, Catalog, list[int], list[str]]:
    """Between passes 1 and 2: calibration years, warnings, provisional groups."""
    cal_years, warnings = calibration_years(keys.years, policy, years, keys.quarantined)
    draft = cal.choose_groups(keys.counts[0], policy, cal_years)
    catalog = Catalog(groups=draft.groups, mean_cost=1.0, level_coefficients={},
                      bed_day_rates={}, policy=policy)
    return draft, catalog, cal_years, warnings


class DipScheme(Scheme):
    """DIP: diagnosis + procedure combination -> core, comprehensive or basic group."""

    name = "dip"
    group_schema = GROUP_SCHEMA
    catalogue_sections = ("grouping", "calibration")
    #: ``features`` reads the grouping section and the auxiliary dimensions and ICU bands.
    prepare_fields = SECTIONS["grouping"] + ("aux_dimensions", "icu_bands")

    def prepare(self, batch, policy):
        return features(batch, policy)

    def terms(self, f, catalog, policy, special=None):
        return case_terms(f, catalog, policy, special)

    def points(self, terms, f, catalog, policy):
        return case_points(terms, f, catalog, policy)

    def case_table(self, batch, f, scored, catalog):
        return case_table(batch, f, scored, catalog)

    def calibrate(self, executor, source: Any, policy: Policy, years: list[int] | None) -> Catalog:
        """SPEC 4 in three passes: key counts and kept features; group statistics; the
        history's points for the budget point value (unless the policy gives it)."""
        keys, kept = executor.scan(source, PrepareKeys(policy), keep=True)
        draft, draft_cat, cal_years, warnings = draft_catalog(keys, policy, years)
        state = executor.over(kept, GroupAssignments(draft_cat, cal_years))
        catalog = cal.build_catalog(draft, state, policy,
                                    fingerprint_text(keys.fingerprints, cal_years), warnings)
        if policy.budget_point_value:
            catalog.budget_point_value = dict(policy.budget_point_value)
        else:
            sums = executor.over(kept, HistoryPoints(catalog, cal_years))
            catalog.budget_point_value = budget_point_values(
                sums, year_weights(policy, cal_years))
        return catalog

    def load_official(self, path, **options):
        return load_csv(path, **options)


DIP = register(DipScheme())
