"""The shape of a synthetic province's cases and files, beside its size and hospitals.

Provinces differ in more than their number of cases: how often a patient comes back, how
many distinct codes the coders use, how many codes a case carries, and how the files are
cut and ordered. :class:`Shape` holds these knobs (the keyword arguments of
:func:`data_gen.generate` that document each); its defaults are the province generated
before they existed, case for case and file for file. Every knob keeps the output a
function of the seed and independent of ``chunk_rows`` (a shuffled file's order is a
function of its rows, see :func:`shuffle_order`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from . import kernel

from dipcore.errors import InputError  # a ValueError: a bad shape is bad input (exit 2)

#: Diagnoses of the default catalogue (``model.build_model``).
DEFAULT_DIAGNOSES = 3000
#: Pool of repeat patients per case of a year and the skew of the draw among them, when
#: ``patients_per_case`` is not given: a fifth of the cases are readmissions of someone.
DEFAULT_PATIENT_POOL = 0.6
DEFAULT_PATIENT_SKEW = 1.6
#: Largest patient pool: ids from 10^10 on are the newborns and mothers the kernel numbers
#: by case, so a pool must stay below them.
MAX_PATIENT_POOL = 10_000_000_000 - 1
ORDERS = ("sorted", "shuffled")
#: Seed stream of the shuffled order, beside the province's seed.
_SHUFFLE_STREAM = 0x5F0F


@dataclass(frozen=True)
class Shape:
    """Validated shape knobs (see :func:`data_gen.generate` for each one's meaning)."""

    patients_per_case: float | None = None
    diagnoses: int = DEFAULT_DIAGNOSES
    procedures: int | None = None
    max_secondary: int = kernel.MAX_SEC - 4
    secondary_scale: float = 1.0
    max_procedures: int = kernel.MAX_PROCS
    extra_procedure_share: float = 0.5
    row_group_rows: int = 1 << 17
    order: str = "sorted"

    def __post_init__(self) -> None:
        def number(name: str, low: float, high: float = math.inf, integer: bool = False):
            value = getattr(self, name)
            kinds = (int,) if integer else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) \
                    or not (low <= value <= high):
                raise InputError(f"{name} must be {'an integer' if integer else 'a number'} "
                                 f"in [{low}, {high}], got {value!r}")
        if self.patients_per_case is not None:
            number("patients_per_case", 1e-3, 1.0)
        number("diagnoses", 10, 100_000, integer=True)
        if self.procedures is not None:
            number("procedures", 20, 10_000_000, integer=True)
        number("max_secondary", 0, 60, integer=True)
        number("secondary_scale", 0.0, 10.0)
        number("max_procedures", 1, 60, integer=True)
        number("extra_procedure_share", 0.0, 1.0)
        number("row_group_rows", 1, 1 << 30, integer=True)
        if self.order not in ORDERS:
            raise InputError(f"order must be one of {list(ORDERS)}, got {self.order!r}")

    def changed(self) -> dict:
        """The knobs that differ from the defaults (``manifest["shape"]``)."""
        default = Shape()
        return {f.name: v for f in fields(self)
                if (v := getattr(self, f.name)) != getattr(default, f.name)}

    def as_dict(self) -> dict:
        return asdict(self)

    def patient_pool(self, cases_per_year: int) -> tuple[int, float]:
        """``(pool, skew)`` of the kernel's patient draw for a year of ``cases_per_year``.

        By default a pool of 0.6 patients a case, drawn skewed. With ``patients_per_case``
        ``r`` the draw is uniform over a pool ``N`` whose expected number of distinct
        patients in a year, ``N (1 - exp(-n / N))``, is ``r n`` (the largest pool for
        ``r = 1``: a readmission is then one case in thousands at 10M cases a year).
        """
        if self.patients_per_case is None:
            return max(1000, int(cases_per_year * DEFAULT_PATIENT_POOL)), DEFAULT_PATIENT_SKEW
        r = self.patients_per_case
        if r >= 1.0:
            return MAX_PATIENT_POOL, 1.0
        # (1 - exp(-x)) / x = r with x = n / N, decreasing in x: bisection
        lo, hi = 1e-12, 2.0 / r
        for _ in range(200):
            x = 0.5 * (lo + hi)
            if -math.expm1(-x) / x > r:
                lo = x
            else:
                hi = x
        pool = int(round(cases_per_year / (0.5 * (lo + hi))))
        return min(MAX_PATIENT_POOL, max(1, pool)), 1.0

    def widths(self) -> tuple[int, int]:
        """Columns of the kernel's secondary-diagnosis and procedure outputs."""
        return max(kernel.MAX_SEC, self.max_secondary + 4), max(kernel.MAX_PROCS,
                                                                 self.max_procedures)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over uint64 (wrapping), as the kernel's ``_mix``."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def shuffle_order(seed: int, year: int, index: np.ndarray) -> np.ndarray:
    """The order of a shuffled file holding cases ``index`` of ``year``: by a hash of each
    case's (seed, year, index), so that the order is a function of the rows alone (the
    same, whatever the chunk size, for a file holding the same cases)."""
    key = np.uint64(((seed & 0xFFFFFFFF) << 32 | (year & 0xFFFF) << 16 | _SHUFFLE_STREAM)
                    & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        h = _mix(index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ _mix(
            np.full(index.shape, key, np.uint64)))
    return np.argsort(h, kind="stable")
