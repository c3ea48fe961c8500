"""The payment-scheme seam (SPEC.md section 10: "everything after the case points is the
same machinery for both schemes").

What differs between DIP and CHS-DRG is:

* how a case is **grouped** and turned into the terms of its points (group, kind, reason,
  score, coefficients, comparison mean): :meth:`Scheme.prepare` and :meth:`Scheme.score`;
* how group **weights are calibrated** from history: :meth:`Scheme.calibrate`, a job of
  passes run by any executor;
* the catalogue's **group table** (:attr:`Scheme.group_schema`), the per-case output
  columns (:meth:`Scheme.case_table`) and the official tables a bureau may load instead
  (:meth:`Scheme.load_official`).

Everything after case points (point value, statements, prepayment, clearing, appraisal,
sharing, allocation, indicators, supervision) reads only the :class:`~dipcore.payment.points.Scored`
arrays and the shared case features (cost, fund, LOS, discharge way, month, level, pool,
hospital, bed-day category), so a scheme is added beside DIP without touching it. A
catalogue records the scheme that made it; :func:`scheme_for` finds it again.
"""
from __future__ import annotations

import abc
import importlib
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa

from dipcore._kernels.points import DIP
from dipcore.errors import InputError

if TYPE_CHECKING:   # annotations only: the seam imports no implementation
    from dipcore.catalog import Catalog
    from dipcore.ingest.validate import CheckedBatch
    from dipcore.payment.points import Scored, Terms
    from dipcore.policy import Policy


class CaseFeatures(Protocol):
    """The case features every scheme's ``prepare`` gives (NumPy arrays, one per case):
    what payment and supervision read after the case points."""

    n: int
    year: np.ndarray             # int16 discharge year
    month: np.ndarray            # int8 discharge month
    los: np.ndarray              # int32 length of stay, at least 1
    level: np.ndarray            # int8 hospital level
    cost: np.ndarray             # int64 fen
    fund: np.ndarray             # int64 fen
    way: np.ndarray              # int8 discharge way
    bed: np.ndarray              # int8 bed-day category (-1 none)
    cci: np.ndarray              # int16 Charlson index of the secondary diagnoses
    treatment_class: np.ndarray  # int8 CONSERVATIVE..SURGERY (operation rate)
    pool: np.ndarray             # int8 index into schema.POOLS
    hospital: np.ndarray         # int32 hospital (codebook)


class Scheme(abc.ABC):
    """A payment scheme: grouping, scoring and calibration of group weights."""

    #: Name recorded in catalogues (``dip``, ``drg``).
    name: str
    #: Schema of the catalogue's group table.
    group_schema: pa.Schema
    #: Policy sections a catalogue of this scheme depends on (``dipcore.policy.SECTIONS``).
    catalogue_sections: tuple[str, ...] = ("grouping", "calibration")
    #: The scheme groups codes as recorded (``CheckedBatch.dx_raw``...), not DIP's
    #: canonical codes: passes that prepare its features ask the executor to keep them.
    raw_codes: bool = False
    #: Statement columns renamed for this scheme (``dip_amount`` -> ``drg_amount``, ...).
    statement_renames: dict[str, str] = {}
    #: Policy fields :meth:`prepare` reads (a what-if sweep prepares the cases again for a
    #: variant that changes one of them, ``dipcore.payment.sweep``).
    prepare_fields: tuple[str, ...] = ()
    #: Policy fields outside the catalogue's sections that :meth:`terms` reads (a sweep
    #: works out the terms once for the variants that agree on them).
    terms_fields: tuple[str, ...] = ()
    #: ``HOSPITAL_SUMS`` counts and points the scheme's statements add.
    statement_counts: tuple[str, ...] = ()
    statement_points: tuple[str, ...] = ()

    def bind(self, rules: Any = None, new_technology: Any = None,
             catalog: "Catalog | None" = None) -> "Scheme":
        """The scheme with what its grouping needs (a CHS-DRG rule pack, new-technology
        filings); ``catalog``: the catalogue it will score with, to check they belong
        together. A scheme that needs nothing refuses them."""
        if rules is not None or new_technology is not None:
            raise InputError(f"rule packs and new-technology tables belong to a DRG policy; "
                             f"this is a {self.name.upper()} run (set scheme = \"drg\")")
        return self

    def group_codes(self, catalog: "Catalog") -> pa.Array:
        """The code of each catalogue row (``group_code`` for DIP)."""
        return catalog.groups.column("group_code").combine_chunks()

    def conservative_rows(self, catalog: "Catalog") -> np.ndarray:
        """Per catalogue row: a group of conservative (medical) treatment, where a
        low-cost short stay is a suspected low-standard admission (SPEC 8)."""
        return np.array([c == "conservative"
                         for c in catalog.groups.column("treatment_class").to_pylist()], bool)

    def severity_strata(self, features: Any, scored: "Scored") -> np.ndarray:
        """Per case, the group *before* severity, within which supervision compares
        severity coding (SPEC 11; -1: not compared). DIP's severity raises a case's
        auxiliary subtype, not its group, so it is the group of a case paid by its weight."""
        return np.where(scored.kind == DIP, scored.row, -1)

    def scale(self, policy: "Policy") -> float:
        """The score scale of this scheme's weights (DIP ``score_scale``)."""
        return float(policy.score_scale)

    @abc.abstractmethod
    def prepare(self, batch: "CheckedBatch", policy: "Policy") -> CaseFeatures:
        """Kernel-ready features of a checked batch (shared columns plus the scheme's own)."""

    def score(self, features: Any, catalog: "Catalog", policy: "Policy",
              special: Any = None) -> "Scored":
        """Group each case and compute its points (``special``: bool array of cases
        approved by special review): :meth:`points` of :meth:`terms`."""
        return self.points(self.terms(features, catalog, policy, special), features,
                           catalog, policy)

    @abc.abstractmethod
    def terms(self, features: Any, catalog: "Catalog", policy: "Policy",
              special: Any = None) -> "Terms":
        """Group each case and work out the terms of its points (kind, score,
        coefficients, comparison mean): everything before the point rules."""

    @abc.abstractmethod
    def points(self, terms: "Terms", features: Any, catalog: "Catalog",
               policy: "Policy") -> "Scored":
        """The point rules (the policy's ``points`` section) applied to the terms."""

    @abc.abstractmethod
    def case_table(self, batch: "CheckedBatch", features: Any, scored: "Scored",
                   catalog: "Catalog") -> pa.Table:
        """The per-case explanation of points (``Settlement.cases``)."""

    @abc.abstractmethod
    def calibrate(self, executor: Any, source: Any, policy: "Policy",
                  years: list[int] | None) -> "Catalog":
        """Build a catalogue from history with ``executor`` (``dipcore.engine``)."""

    def load_official(self, path: Any, **options: Any) -> "Catalog":
        """A catalogue from a bureau's official table (CSV, or a sheet of an ``.xlsx``
        workbook: ``options["sheet"]``)."""
        raise InputError(f"scheme {self.name!r} has no official table format")


#: Built-in schemes: name -> module that registers it on import.
_BUILTIN = {"dip": "dipcore.schemes.dip", "drg": "dipcore.schemes.drg"}
_SCHEMES: dict[str, Scheme] = {}


def register(scheme: Scheme) -> Scheme:
    """Make ``scheme`` available by its name (a module registers its scheme on import)."""
    _SCHEMES[scheme.name] = scheme
    return scheme


def get_scheme(name: str) -> Scheme:
    """The scheme registered under ``name``."""
    if name not in _SCHEMES and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _SCHEMES[name]
    except KeyError:
        raise InputError(f"unknown payment scheme {name!r} "
                         f"(known: {', '.join(sorted(set(_SCHEMES) | set(_BUILTIN)))})") from None


def scheme_for(catalog: "Catalog") -> Scheme:
    """The scheme that made ``catalog``."""
    return get_scheme(getattr(catalog, "scheme", "dip"))
