"""Points of a batch of CHS-DRG cases against a DRG catalogue (SPEC.md section 10.3).

The kind of each case, in this order: special review (SPEC 5.5), bed-day (5.6),
new technology (10.4), then by the grouper's result: a DRG with a stable weight is paid by
its base points (kind ``DIP``: "paid by the group's weight", the kind shared with DIP), a
DRG that is unstable or has no weight in the catalogue is paid by cost (``UNSTABLE``), and a
case that is ungroupable, fails the checks or lands in an ambiguous (QY) group is paid by
cost at the ungrouped discount (``UNGROUPED``). The formulas are the kernel
``dipcore._kernels.points.drg_case_points``.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.payment.points import Scored, Terms, bed_day_rates, level_coefficient_array
from dipcore.policy import Policy
from dipcore.schemes.drg.features import DrgFeatures
from dipcore.schemes.drg.rules import STATUSES, DrgRules
from dipcore.schemes.drg.weights import weight_index

_OK = STATUSES.index("ok")
HIGH_RULES = {"additive": P.DRG_HIGH_ADDITIVE, "multiplicative": P.DRG_HIGH_MULTIPLICATIVE}
#: Notes a batch's scoring leaves for the settlement's warnings: (what, item).
NO_WEIGHT = "DRGs without a weight in the catalogue (paid by cost as unstable)"
NO_COEFFICIENT = "hospitals without a coefficient in hospital_coefficients (level coefficient used)"


def point_rules(policy: Policy, catalog: Catalog) -> P.DrgPointRules:
    """The record of SPEC 10.3 scalars the kernel reads (M from the catalogue)."""
    return P.DrgPointRules(
        mean_all=float(catalog.mean_cost * 100.0), scale=float(policy.drg_scale),
        low_ratio=float(policy.drg_low_ratio), high_rule=int(HIGH_RULES[policy.drg_high_rule]),
        ungrouped_discount=float(policy.ungrouped_discount),
        bed_cap=int(policy.bed_day_cap or 0), taper_after=int(policy.bed_day_taper_after or 0),
        taper_factor=float(policy.bed_day_taper_factor))


def high_bands(policy: Policy) -> tuple[np.ndarray, np.ndarray, float]:
    """The high-cost threshold bands t(B) (SPEC 10.3) as arrays."""
    bands = policy.drg_high_bands
    return (np.array([b[0] for b in bands], np.float64), np.array([b[1] for b in bands], np.float64),
            float(policy.drg_high_above))


def hospital_coefficients(f: DrgFeatures, policy: Policy, level_k: np.ndarray
                          ) -> tuple[np.ndarray, set]:
    """SPEC 10.2 variant: each case's coefficient from the per-hospital table; a hospital
    missing there takes its level's coefficient (and is noted)."""
    names = f.codebook.hospital.canon.strings()
    table = policy.hospital_coefficients
    keys = pa.array(list(table), pa.string())
    idx = pc.index_in(names, value_set=keys).fill_null(-1).to_numpy()
    per_hospital = np.append(np.array([float(table[k]) for k in table]), np.nan)[idx]
    k = per_hospital[f.hospital]
    missing = np.isnan(k)
    notes = set()
    if missing.any():
        k = np.where(missing, level_k[f.level], k)
        notes = {(NO_COEFFICIENT, n) for n in names.take(pa.array(np.unique(
            f.hospital[missing]))).to_pylist()}
    return k, notes


def case_terms(f: DrgFeatures, catalog: Catalog, policy: Policy, rules: DrgRules,
               special: np.ndarray | None = None) -> Terms:
    """Kind, base points, coefficient, comparison mean and bed-day rate of each case
    (SPEC 10.3), before the point rules.

    Parameters
    ----------
    f : DrgFeatures
        Grouped cases.
    catalog : Catalog
        A DRG catalogue (weights, M, level coefficients, bed-day rates).
    policy : Policy
        The hospital coefficient (``drg_coefficient``, ``hospital_coefficients``).
    rules : DrgRules
        The rule pack the cases were grouped with (DRG positions -> catalogue rows).
    special : bool array, optional
        Cases approved by special review (paid at actual cost).
    """
    idx = weight_index(catalog, rules)
    special = np.zeros(f.n, bool) if special is None else special
    grouped = f.status == _OK
    row = np.where(grouped, idx.row[f.drg], -1)        # -1 (none) reads the last entry
    has = row >= 0
    safe = np.maximum(row, 0)
    stable = has & idx.stable[safe]
    kind = np.select(
        [special, f.bed >= 0, f.new_tech, stable, grouped],
        [P.SPECIAL, P.BED_DAY, P.NEW_TECH, P.DIP, P.UNSTABLE], P.UNGROUPED).astype(np.int8)
    level_k = level_coefficient_array(catalog)
    notes: set = set()
    if policy.drg_coefficient == "hospital":
        k, notes = hospital_coefficients(f, policy, level_k)
    elif policy.drg_coefficient == "drg_level":
        k = np.where(has, idx.level_k[safe, f.level], 1.0)
    else:
        k = level_k[f.level]
    unweighted = grouped & ~has & (kind == P.UNSTABLE)
    if unweighted.any():
        notes |= {(NO_WEIGHT, rules.drgs[d].drg) for d in np.unique(f.drg[unweighted]).tolist()
                  if 0 <= d < len(rules.drgs)}
    b = np.where(has, idx.base_points[safe], 0.0)
    base = np.where(has, idx.level_mean[safe, f.level], 1.0)
    rates = bed_day_rates(catalog)
    bed_rate = np.where(f.bed >= 0, rates[np.maximum(f.bed, 0)], 0.0)
    return Terms(row=row.astype(np.int32), reason=f.status, kind=kind, rw=b, k=k,
                 a=np.ones(f.n), aux_slot=np.full(f.n, -1, np.int8), base=base,
                 bed_rate=bed_rate, notes=notes)


def case_points(t: Terms, f: DrgFeatures, catalog: Catalog, policy: Policy) -> Scored:
    """The point rules of SPEC 10.3 applied to the terms (base points ``t.rw``): the
    high-cost bands and rule, the low-cost ratio, bed-day caps and the ungrouped
    discount."""
    units, outlier, ratio = P.drg_case_points(
        t.kind, t.rw, t.k, t.base, f.cost.astype(np.float64), t.bed_rate,
        f.los.astype(np.int64), *high_bands(policy), point_rules(policy, catalog))
    return t.scored(units, outlier, ratio)


def score_batch(f: DrgFeatures, catalog: Catalog, policy: Policy, rules: DrgRules,
                special: np.ndarray | None = None) -> Scored:
    """Kind, base points, coefficient, comparison mean and points of each case (SPEC 10.3):
    :func:`case_points` of :func:`case_terms`."""
    return case_points(case_terms(f, catalog, policy, rules, special), f, catalog, policy)
