"""How the report writes numbers: money with thousands separators and 2 decimals (exact,
from the results' decimal yuan), points with 4, ratios as percentages."""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

DASH = "—"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: Any) -> str:
    """Yuan: ``1,234,567.89`` (a fen count is given as ``Decimal(fen) / 100``)."""
    return DASH if _missing(value) else f"{Decimal(str(value)):,.2f}"


def points(value: Any) -> str:
    """Points with 4 decimals (as stored)."""
    return DASH if _missing(value) else f"{Decimal(str(value)):,.4f}"


def number(value: Any, digits: int = 2) -> str:
    """A plain number with thousands separators."""
    return DASH if _missing(value) else f"{float(value):,.{digits}f}"


def percent(value: Any, digits: int = 2) -> str:
    """A ratio as a percentage."""
    if _missing(value):
        return DASH
    if math.isinf(float(value)):
        return "∞"
    return f"{float(value):.{digits}%}"


def ratio(value: Any, digits: int = 2) -> str:
    """O/E, z and the like (∞ where the peers had none)."""
    if _missing(value):
        return DASH
    return "∞" if math.isinf(float(value)) else f"{float(value):,.{digits}f}"


def integer(value: Any) -> str:
    """A count with thousands separators."""
    return DASH if _missing(value) else f"{int(value):,}"
