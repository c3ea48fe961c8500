"""Monthly prepayment (月度预拨), SPEC.md section 7.

Per (hospital, pool, month): gross = P_month x PV_budget x f, withheld = gross x reserve,
prepayment = gross - withheld. Each is rounded half away from zero to the fen with exact
integer arithmetic: one exact rational factor per pool (PV_budget x 100 x f / units), so
the table is the same whatever the order of its rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from dipcore.payment.allocation import round_products
from dipcore.payment.points import UNITS


@dataclass(frozen=True)
class MonthlyPrepayment:
    gross: int        # fen
    reserve: int      # fen withheld (the quality reserve)
    prepayment: int   # fen paid


def pool_factor(budget_point_value: float, fund_ratio: Fraction) -> Fraction:
    """Fen per point unit of a pool's prepayment: PV_budget x 100 x f / units."""
    return Fraction(str(budget_point_value)) * 100 * fund_ratio / UNITS


def monthly_prepayment(point_units: int, factor: Fraction, reserve: Fraction) -> MonthlyPrepayment:
    """SPEC 7: (P_month x PV_budget x f) x (1 - reserve), the reserve withheld (one row of
    :func:`monthly_prepayments`)."""
    (gross,), (withheld,), (paid,) = monthly_prepayments([point_units], [0], [factor], reserve)
    return MonthlyPrepayment(int(gross), int(withheld), int(paid))


def monthly_prepayments(units, pools, factors: list[Fraction],
                        reserve: Fraction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SPEC 7 for many rows at once: each row's point units and the index of its pool in
    ``factors`` (the pools' factors), as sequences or arrays. ``(gross, withheld,
    prepayment)`` int64 arrays: gross = P_month x factor and withheld = gross x reserve,
    each rounded half away from zero to the fen (exact integers,
    :func:`~dipcore.payment.allocation.round_products`); prepayment = gross - withheld."""
    exact = [(f.numerator, f.denominator) for f in factors]
    gross = round_products(np.asarray(units, np.int64), np.asarray(pools, np.intp), exact)
    withheld = round_products(gross, np.zeros(len(gross), np.intp),
                              [(reserve.numerator, reserve.denominator)])
    return gross, withheld, gross - withheld
