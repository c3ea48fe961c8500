"""Money rounding and allocation (SPEC.md section 7: "money is rounded to the fen").

Amounts are integer fen. Every rounding here is exact (integer or rational arithmetic, no
floats) and half away from zero; :func:`allocate` splits a total by largest remainder so
that the parts add up to it to the fen (policy ``allocation = "exact"``).
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


def allocate(total: int, weights: list[int], keys: list[str]) -> list[int]:
    """Split ``total`` fen in proportion to integer ``weights`` by largest remainder.

    The parts add up to ``total`` exactly; ties in the remainder go to the smaller key, so
    the result does not depend on the order of the inputs.
    """
    W = sum(weights)
    if W == 0:
        return [0] * len(weights)
    qr = [divmod(total * w, W) for w in weights]
    q = [a for a, _ in qr]
    rest = total - sum(q)
    if rest:
        # the largest remainders first, ties to the smaller key; a remainder is below W
        # (a sum of point units), so int64 holds it unless W is beyond any real pool
        r = [b for _, b in qr]
        if W < 1 << 63:
            first = np.lexsort((np.array(keys), -np.array(r, np.int64)))[:rest].tolist()
        else:
            first = sorted(range(len(weights)), key=lambda i: (-r[i], keys[i]))[:rest]
        for i in first:
            q[i] += 1
    return q
