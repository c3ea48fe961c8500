"""Points of a batch of DIP cases against a catalogue (SPEC.md sections 3 and 5).

The one place that turns prepared DIP features into group, coefficients, outlier class and
points: grouping (``dipcore.schemes.dip.grouping``), the terms of each case's formula
(``case_terms``: score, level and auxiliary coefficients, comparison mean) and the point
rules of SPEC 5 (``dipcore.payment.points``). Settlement, calibration (for the budget point
value) and supervision all call it, locally or on Dask workers alike.
"""
from __future__ import annotations

import numpy as np

from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.payment.points import (
    Scored,
    Terms,
    bed_day_rates,
    level_coefficient_array,
    point_rules,
)
from dipcore.policy import Policy
from dipcore.schemes.dip.features import Features
from dipcore.schemes.dip.grouping import assign_positions, index_for


def case_terms(f: Features, catalog: Catalog, policy: Policy,
               special: np.ndarray | None = None) -> Terms:
    """Group the cases and work out the terms of their points: kind, score, level and
    auxiliary coefficients, comparison mean, bed-day rate (SPEC 3, 5).

    Parameters
    ----------
    f : Features
        Prepared cases.
    catalog : Catalog
        Groups, scores, comparison means, coefficients, bed-day rates.
    policy : Policy
        Group priorities and tie-break (the grouping section).
    special : bool array, optional
        Cases approved by special review (paid at actual cost, SPEC 5.5).
    """
    idx = index_for(catalog, policy)
    pos, reason = assign_positions(f, idx, policy)
    special = np.zeros(f.n, bool) if special is None else special
    row, kind, rw, k, a, aux_slot, base, bed_rate = P.case_terms(
        pos, idx.perm, f.bed, special, f.level, f.slots, idx.score, idx.basic, idx.level_mean,
        idx.aux, level_coefficient_array(catalog), bed_day_rates(catalog))
    reason = np.where(f.bed >= 0, 0, reason).astype(np.int8)
    return Terms(row=row, reason=reason, kind=kind, rw=rw, k=k, a=a, aux_slot=aux_slot,
                 base=base, bed_rate=bed_rate)


def case_points(t: Terms, f: Features, catalog: Catalog, policy: Policy) -> Scored:
    """The point rules of SPEC 5 applied to the terms (the ``points`` section of the
    policy, M from the catalogue)."""
    units, outlier, ratio = P.case_points(t.kind, t.rw, t.k, t.a, t.base,
                                          f.cost.astype(np.float64), t.bed_rate,
                                          f.los.astype(np.int64), point_rules(policy, catalog))
    return t.scored(units, outlier, ratio)
