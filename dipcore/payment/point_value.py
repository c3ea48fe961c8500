"""Point value (点值), SPEC.md section 6: one rule per mode, and the budget point value.

Every value is an exact rational (``fractions.Fraction``) of yuan of total cost per point,
so the statements that use it round once, at the fen.

=====================  ======================================  ===========================
mode (``pv_mode``)     rule                                    knobs
=====================  ======================================  ===========================
``floating``           PV = (B / f) / P                        -
``fixed``              PV given                                ``fixed_point_value``
``elastic``            base volume at the fixed PV, the rest   ``fixed_point_value``,
                       of the budget floating over the points  ``elastic_base_share``,
                       above it (optionally capped)            ``elastic_ceiling``
=====================  ======================================  ===========================
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore.errors import InputError
from dipcore.policy import Policy
from dipcore.schema import POOLS


@dataclass(frozen=True)
class PoolValue:
    """A pool's point value: ``value`` pays every point; ``base`` and ``floating`` are its
    parts in elastic mode (both equal ``value`` otherwise)."""

    value: Fraction
    base: Fraction
    floating: Fraction


def floating_value(dip_total: Fraction, points: Fraction, policy: Policy, pool: str) -> PoolValue:
    """SPEC 6 floating: PV = (B / f) / P (``dip_total`` = B / f, in fen)."""
    value = dip_total / points / 100 if points else Fraction(0)
    return PoolValue(value, value, value)


def _fixed(policy: Policy, pool: str) -> Fraction:
    fixed = Fraction(str(policy.fixed_point_value.get(pool, 0)))
    if fixed <= 0:
        raise InputError(f"policy gives no fixed point value for pool '{pool}'")
    return fixed


def fixed_value(dip_total: Fraction, points: Fraction, policy: Policy, pool: str) -> PoolValue:
    """SPEC 6 fixed: the policy's point value for the pool."""
    fixed = _fixed(policy, pool)
    return PoolValue(fixed, fixed, fixed)


def elastic_value(dip_total: Fraction, points: Fraction, policy: Policy, pool: str) -> PoolValue:
    """SPEC 6 elastic: ``elastic_base_share`` of the budget buys a base volume of points at
    the fixed value; the rest of the budget floats over the points above it, at most
    ``elastic_ceiling`` times the fixed value. ``value`` is the mean over all points."""
    fixed = _fixed(policy, pool)
    share = Fraction(str(policy.elastic_base_share))
    base_volume = share * dip_total / 100 / fixed        # points the base share buys
    if points <= base_volume:
        return PoolValue(fixed, fixed, fixed)
    extra = points - base_volume
    float_pv = (1 - share) * dip_total / 100 / extra
    if policy.elastic_ceiling is not None:
        float_pv = min(float_pv, Fraction(str(policy.elastic_ceiling)) * fixed)
    return PoolValue((base_volume * fixed + extra * float_pv) / points, fixed, float_pv)


#: ``pv_mode`` -> rule.
PV_MODES = {"floating": floating_value, "fixed": fixed_value, "elastic": elastic_value}


def pool_point_value(policy: Policy, pool: str, budget_fen: int, fund_ratio: Fraction,
                     point_units: int) -> PoolValue:
    """The point value of a pool under the policy's mode.

    Parameters
    ----------
    budget_fen : int
        B, the pool's fund budget in fen.
    fund_ratio : Fraction
        f = fund paid / total cost over the pool's cases.
    point_units : int
        P, the pool's total points in units of 1e-4.
    """
    dip_total = Fraction(budget_fen) / fund_ratio if fund_ratio else Fraction(0)   # B / f, fen
    return PV_MODES[policy.pv_mode](dip_total, Fraction(point_units, P.UNITS), policy, pool)


# ---------------------------------------------------------------------------------------------
# budget point value (SPEC 6): for monthly prepayment
# ---------------------------------------------------------------------------------------------
def in_years(year: np.ndarray, years: list[int]) -> np.ndarray:
    """``year`` is one of ``years`` (a handful of values)."""
    out = np.zeros(len(year), bool)
    for y in years:
        out |= year == y
    return out


def history_points(s, f, policy: Policy, years: list[int]) -> dict:
    """Cost and points of scored history cases by (pool, year): the per-batch step of the
    budget point value. ``budget_pv_trim = "outliers"`` leaves low-, high- and
    extreme-cost cases out ("optionally trimmed")."""
    use = in_years(f.year, years)
    if policy.budget_pv_trim == "outliers":
        use &= (s.outlier != P.LOW) & (s.outlier != P.HIGH) & (s.outlier != P.EXTREME)
    Y = len(years)
    key = f.pool.astype(np.int64) * Y + np.searchsorted(np.array(years), f.year)
    key = np.where(use, key, -1)
    sums = sum_by(key, len(POOLS) * Y, np.stack([f.cost, s.units], axis=1))
    return {(POOLS[k // Y], years[k % Y]): sums[k] for k in np.flatnonzero(sums.any(axis=1))}


def budget_point_values(sums: dict, weights: dict[int, float]) -> dict[str, float]:
    """Year-weighted total cost over year-weighted total points, per pool, yuan per point
    (``weights``: the calibration year weights, SPEC 4)."""
    out = {}
    for pool in sorted({p for p, _ in sums}):
        cost = sum(weights[y] * sums[(pool, y)][0] for p, y in sums if p == pool) / 100.0
        pts = sum(weights[y] * sums[(pool, y)][1] for p, y in sums if p == pool) / P.UNITS
        if pts > 0:
            out[pool] = cost / pts
    return out
