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

from dipcore.payment.allocation import round_ratio
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
    :func:`~dipcore.payment.allocation.round_ratio`); prepayment = gross - withheld."""
    exact = [(f.numerator, f.denominator) for f in factors]
    gross = round_products(np.asarray(units, np.int64), np.asarray(pools, np.intp), exact)
    withheld = round_products(gross, np.zeros(len(gross), np.intp),
                              [(reserve.numerator, reserve.denominator)])
    return gross, withheld, gross - withheld


#: Below this magnitude a float64 holds every integer and every half-integer exactly.
_FLOAT_EXACT = 2.0 ** 52
#: Below this, ``2 |v| n + d`` and ``2 d`` of values and ratios held in int64 stay in int64.
_INT_EXACT = 1 << 61
#: A bound on the relative error of ``value x float(n / d)`` (two roundings of 2^-53 each),
#: with a factor of four to spare.
_FLOAT_ERROR = 2.0 ** -50


def round_products(values: np.ndarray, at: np.ndarray,
                   exact: list[tuple[int, int]]) -> np.ndarray:
    """``round_ratio(values[i] x n, d)`` for ``(n, d) = exact[at[i]]``, as int64: exact.

    The factors of a pool (a point value of 17 significant digits times a fund ratio of
    two sums in fen) have numerators and denominators far beyond int64, so the exact
    product is a Python integer, a microsecond a row for the tens of thousands of rows of
    a province of thousands of hospitals. Instead each row is estimated in float64, whose
    error is bounded (``_FLOAT_ERROR``); rounding half away from zero can only differ from
    the exact one where the estimate lies that close to a half-integer, and those rows
    (ties among them), values too large for a float, are worked out exactly.
    """
    values = np.asarray(values, np.int64)
    if len(values) == 0:
        return np.zeros(0, np.int64)
    ratio = np.array([n / d for n, d in exact], np.float64)[at]   # int / int: correctly rounded
    x = np.abs(values.astype(np.float64) * ratio)
    est = np.floor(x + 0.5)
    doubtful = ((np.abs(x - np.floor(x) - 0.5) <= x * _FLOAT_ERROR)
                | (x >= _FLOAT_EXACT) | (np.abs(values) >= 1 << 53))
    out = np.where((values < 0) != (ratio < 0), -est, est).astype(np.int64)
    doubt = np.flatnonzero(doubtful)
    # exactly, in int64 where n, d and the value are small enough (a reserve of 1/20 has
    # a tie in one gross amount of twenty), else in Python integers
    for k in np.unique(at[doubt]).tolist():
        n, d = exact[k]
        rows = doubt[at[doubt] == k]
        if 0 <= n < _INT_EXACT and 0 < d < _INT_EXACT:
            v = values[rows]
            bound = _INT_EXACT // n if n else _INT_EXACT
            fits = (v > -bound) & (v < bound)
            small, v = rows[fits], v[fits]
            q = (2 * np.abs(v) * n + d) // (2 * d)       # round_ratio, below 2^63 throughout
            out[small] = np.where(v < 0, -q, q)
            rows = rows[~fits]
        for i in rows.tolist():
            out[i] = round_ratio(int(values[i]) * n, d)
    return out
