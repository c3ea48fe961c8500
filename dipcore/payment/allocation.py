"""Money rounding and allocation (SPEC.md section 7: "money is rounded to the fen").

Amounts are integer fen. Every rounding here is exact (integer or rational arithmetic; the
float64 estimates of the array forms are checked, and redone exactly where they could be
wrong) and half away from zero; :func:`round_products` rounds arrays of amounts times exact
factors (prepayments, appraisal adjustments, ``round`` allocation); :func:`allocate` splits
a total by largest remainder so that the parts add up to it to the fen (policy
``allocation = "exact"``).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np


def fen(amount) -> int:
    """Yuan (number or text) -> fen, half away from zero."""
    d = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(d * 100)


def round_fen(x: Fraction | float) -> int:
    """A fen amount (possibly fractional) -> whole fen, half away from zero."""
    fr = Fraction(x)
    return round_ratio(fr.numerator, fr.denominator)


def round_ratio(num: int, den: int) -> int:
    """``num / den`` (``den > 0``) rounded to an integer, half away from zero, exactly."""
    q = (2 * abs(num) + den) // (2 * den)
    return -q if num < 0 else q


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


#: Bounds of the int64 path of :func:`allocate`: a float64 estimate of ``total x w / W`` is
#: within two units of the floor below 2^52, and remainders off by a few multiples of a
#: sum of weights below 2^60 still fit an int64.
_ALLOCATE_TOTAL = 1 << 52
_ALLOCATE_WEIGHTS = 1 << 60


def allocate(total: int, weights: list[int], keys) -> list[int]:
    """Split ``total`` fen in proportion to integer ``weights`` (>= 0) by largest remainder.

    The parts add up to ``total`` exactly; ties in the remainder go to the smaller key, so
    the result does not depend on the order of the inputs. ``keys`` are the parts' names,
    or any integers in the same order (their ranks: cheaper to sort, and worked out once
    for the two allocations of a pool).

    ``total x w`` passes int64 for a province's budget and point units, so each part is
    estimated in float64 and made exact with its remainder ``total x w - q x W``, worked
    out modulo 2^64: that is the true remainder once the estimate is right, and shows
    which way it is off otherwise (a province of thousands of hospitals: a millisecond,
    where Python integers took several). Beyond the bounds, Python integers.
    """
    W = sum(weights)
    if W == 0:
        return [0] * len(weights)
    if abs(total) < _ALLOCATE_TOTAL and W < _ALLOCATE_WEIGHTS:
        w = np.array(weights, np.int64)
        q = np.floor(w * (total / W)).astype(np.int64)
        r = _remainders(w, total, q, W)
        while True:                     # an estimate off by a unit or two, either way
            low, high = r < 0, r >= W
            if not (low.any() or high.any()):
                break
            q += high.astype(np.int64) - low
            r += np.where(low, W, 0) - np.where(high, W, 0)
        rest = total - int(q.sum())
        if rest:
            # the largest remainders first, ties to the smaller key
            q[np.lexsort((np.asarray(keys), -r))[:rest]] += 1
        return q.tolist()
    qr = [divmod(total * w, W) for w in weights]
    q = [a for a, _ in qr]
    rest = total - sum(q)
    if rest:
        r = [b for _, b in qr]
        by = list(keys)
        first = sorted(range(len(weights)), key=lambda i: (-r[i], by[i]))[:rest]
        for i in first:
            q[i] += 1
    return q


def _remainders(w: np.ndarray, total: int, q: np.ndarray, W: int) -> np.ndarray:
    """``total x w - q x W`` modulo 2^64, as int64 (unsigned arithmetic wraps by definition;
    the true value when it lies within int64)."""
    u = np.uint64
    return (w.astype(u) * u(total % (1 << 64)) - q.astype(u) * u(W)).view(np.int64)
