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
    return MonthlyPrepayment(gross, withheld, paid)


def monthly_prepayments(units: list[int], pools: list[int], factors: list[Fraction],
                        reserve: Fraction) -> tuple[list[int], list[int], list[int]]:
    """SPEC 7 for many rows at once: each row's point units and the index of its pool in
    ``factors`` (the pools' factors). ``(gross, withheld, prepayment)`` lists: gross =
    P_month x factor and withheld = gross x reserve, each rounded half away from zero to
    the fen (exact integers, :func:`~dipcore.payment.allocation.round_ratio`);
    prepayment = gross - withheld."""
    exact = [(f.numerator, f.denominator) for f in factors]
    if _fits_int64(units, exact, reserve):
        return _monthly_prepayments_int64(units, pools, exact, reserve)
    # Python integers (a factor from a point value of 17 significant digits overflows
    # int64); round_ratio written inline, a call per row being most of the cost
    gross = []
    for u, p in zip(units, pools):
        x, d = u * exact[p][0], exact[p][1]
        gross.append((2 * x + d) // (2 * d) if x >= 0 else -((-2 * x + d) // (2 * d)))
    rn, rd = reserve.numerator, reserve.denominator
    withheld = [(2 * g * rn + rd) // (2 * rd) if g >= 0 else -((-2 * g * rn + rd) // (2 * rd))
                for g in gross]
    return gross, withheld, [g - w for g, w in zip(gross, withheld)]


#: Every intermediate of the int64 path stays below this (``2 |x| + den`` included).
_INT64_SAFE = 1 << 62


def _fits_int64(units: list[int], exact: list[tuple[int, int]], reserve: Fraction) -> bool:
    """Whether the int64 path is exact for these rows: a bound on every product and sum it
    forms, worked out in Python integers first."""
    if not units or not exact:
        return False
    top = max(abs(min(units)), abs(max(units)))
    gross_top = max(top * n // d + 1 for n, d in exact)
    return (all(2 * top * n + d < _INT64_SAFE and 2 * d < _INT64_SAFE for n, d in exact)
            and 2 * gross_top * reserve.numerator + reserve.denominator < _INT64_SAFE
            and 2 * reserve.denominator < _INT64_SAFE)


def _round_ratio_int64(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """``round_ratio`` over arrays (half away from zero, exact in int64 within the bound)."""
    q = (2 * np.abs(num) + den) // (2 * den)
    return np.where(num < 0, -q, q)


def _monthly_prepayments_int64(units, pools, exact, reserve):
    """:func:`monthly_prepayments` in NumPy int64: the same integers, one pass per column
    instead of Python arithmetic per row (tens of thousands of rows in a province of
    thousands of hospitals)."""
    at = np.asarray(pools, np.intp)
    num = np.array([n for n, _ in exact], np.int64)[at]
    den = np.array([d for _, d in exact], np.int64)[at]
    gross = _round_ratio_int64(np.asarray(units, np.int64) * num, den)
    withheld = _round_ratio_int64(gross * reserve.numerator, reserve.denominator)
    return gross.tolist(), withheld.tolist(), (gross - withheld).tolist()
