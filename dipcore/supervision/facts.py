"""What supervision needs from each case (SPEC.md sections 8 and 11): the audit pass's
per-batch step.

Per batch of scored cases:

* the stays (patient, hospital, level, diagnosis category, admission and discharge day),
  from which readmissions are found once the year is merged;
* the low-standard admissions (低标入院): low-cost cases in conservative groups with LOS
  <= ``low_standard_max_los``;
* per hospital, the ``HOSPITAL_SUMS`` of statements (the same kernel, so a CMI means the
  same in both) plus severe cases (Charlson index >= ``SEVERE_CCI``), secondary diagnoses
  and low-standard admissions;
* per (hospital, stratum) of each stratification of ``dipcore.supervision.measures``, the
  exact sums behind the case-mix adjusted indicators (SPEC 11): cases, the sum of each
  indicator's per-case value and, for amounts, the sum of its squares.

Sums of squares are exact too: a value ``q`` (an amount in a coarse unit, < 2**31) has
``q**2 < 2**62``, summed as ``q**2 >> 31`` and ``q**2 & (2**31 - 1)`` in two int64
columns that cannot overflow below 2**32 cases; :func:`squares` joins them.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by, sum_by_key
from dipcore._kernels.group import SURGERY
from dipcore.catalog import Catalog
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import UNITS, Scored
from dipcore.payment.sums import HOSPITAL_SUMS, N_POOLS, hospital_sums
from dipcore.policy import Policy
from dipcore.schemes.base import scheme_for
from dipcore.supervision.cases import batch_candidates
from dipcore.supervision.measures import MEASURES, SEVERE_CCI, sum_columns

#: The per-hospital sums of the audit: the statements' plus supervision's own.
AUDIT_SUMS = HOSPITAL_SUMS + ("severe", "secondary", "low_standard")


def _conservative_rows(catalog: Catalog) -> np.ndarray:
    """Per catalogue row: a conservative (medical) group, by the catalogue's scheme (made
    once per catalogue)."""
    cached = catalog.__dict__.get("_conservative_rows")
    if cached is None:
        rows = scheme_for(catalog).conservative_rows(catalog)
        cached = catalog.__dict__["_conservative_rows"] = rows if len(rows) else np.zeros(1, bool)
    return cached


#: Squares are split at this bit (see the module docstring).
_SQ_SHIFT = 31
_SQ_MASK = (1 << _SQ_SHIFT) - 1
_Q_MAX = (1 << 31) - 1


def square_halves(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(q**2 >> 31, q**2 & (2**31 - 1))`` of int64 values clipped to ``[0, 2**31)``
    (an amount beyond that in the coarse unit of its measure is not a real case)."""
    q = np.clip(q, 0, _Q_MAX).astype(np.int64)
    q2 = q * q
    return q2 >> _SQ_SHIFT, q2 & _SQ_MASK


def squares(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """The sums of squares (float64) of summed halves."""
    return hi.astype(np.float64) * float(1 << _SQ_SHIFT) + lo.astype(np.float64)


def _coarse(values: np.ndarray, unit: float) -> np.ndarray:
    """``values / unit`` rounded half up, as int64 (the unit of a measure's squares)."""
    if unit == 1.0:
        return values.astype(np.int64)
    return np.floor(values / unit + 0.5).astype(np.int64)


def strata_of(b: CheckedBatch, f, s: Scored, scheme, policy: Policy) -> dict[str, np.ndarray]:
    """Per case, its stratum in each stratification of ``measures`` (-1: not in it).

    Only cases paid by their group's weight (kind DIP: a DIP group or a stable DRG) are
    compared within groups; with ``audit_peer_level`` a stratum is also split by level."""
    grouped = s.kind == P.DIP
    levels = (f.level.astype(np.int64) & 3) if policy.audit_peer_level else 0
    row = s.row.astype(np.int64)
    category = b.codebook.diagnoses.facts()["category"][b.dx].astype(np.int64)
    base = scheme.severity_strata(f, s).astype(np.int64)
    return {
        "group": np.where(grouped, row * 4 + levels, -1),
        "severity": np.where(base >= 0, base * 4 + levels, -1),
        "diagnosis": np.where(grouped & (category >= 0), category * 4 + levels, -1),
        "payment": np.where(grouped, (row * N_POOLS + f.pool) * 4 + levels, -1),
    }


def measure_values(b: CheckedBatch, f, s: Scored, low: np.ndarray) -> dict[str, np.ndarray]:
    """Per case, the int64 value of each measure's ``column`` (``measures.MEASURES``)."""
    cost = f.cost.astype(np.int64)
    return {
        "low_standard": low.astype(np.int64),
        "high": ((s.outlier == P.HIGH) | (s.outlier == P.EXTREME)).astype(np.int64),
        "points": s.units.astype(np.int64),
        "severe": (f.cci >= SEVERE_CCI).astype(np.int64),
        "secondary": np.diff(b.sec_off).astype(np.int64),
        "cc": (f.cc > 0).astype(np.int64) if hasattr(f, "cc") else np.zeros(f.n, np.int64),
        "surgical": (f.treatment_class == SURGERY).astype(np.int64),
        "surgical_low": ((f.treatment_class == SURGERY) & (s.outlier == P.LOW)).astype(np.int64),
        "rw": np.floor(s.rw * UNITS + 0.5).astype(np.int64),
        "cost": cost,
        "patient_paid": np.floor((cost - f.fund) * 1e6 / np.maximum(cost, 1) + 0.5)
        .astype(np.int64),
    }


def _stacked(columns: tuple[str, ...], values: dict[str, np.ndarray], keep: np.ndarray
             ) -> list[np.ndarray]:
    """The int64 per-case columns behind sum columns (a value, or the halves of its
    squares in its measure's coarse unit)."""
    by_column = {m.column: m for m in MEASURES}
    out = []
    for c in columns:
        if c.endswith("_sq_hi"):
            m = by_column[c[:-6]]
            out += list(square_halves(_coarse(values[m.column][keep], m.sq_unit)))
        elif not c.endswith("_sq_lo"):
            out.append(values[c][keep])
    return out


def strata_tables(b: CheckedBatch, f, s: Scored, scheme, policy: Policy,
                  low: np.ndarray) -> dict[str, pa.Table]:
    """Per stratification, the exact sums per (hospital, stratum) of one batch (rows in no
    particular order: merging sorts)."""
    strata = strata_of(b, f, s, scheme, policy)
    values = measure_values(b, f, s, low)
    hosp = f.hospital.astype(np.int64)
    # stratifications with the same strata (DIP's severity is its group) are summed at once
    groups: list[tuple[np.ndarray, list[str]]] = []
    for name, stratum in strata.items():
        same = next((g for g in groups if np.array_equal(g[0], stratum)), None)
        if same is None:
            groups.append((stratum, [name]))
        else:
            same[1].append(name)
    out = {}
    for stratum, names in groups:
        keep = np.flatnonzero(stratum >= 0)
        if not len(keep):
            continue
        columns = list(dict.fromkeys(c for name in names for c in sum_columns(name)))
        keys, sums = sum_by_key((hosp[keep] << 34) | stratum[keep], np.stack(
            [np.ones(len(keep), np.int64)] + _stacked(tuple(columns), values, keep), axis=1))
        hospital_id = b.codebook.hospital.canon.take(pa.array(keys >> 34))
        position = {c: j + 1 for j, c in enumerate(columns)}
        for name in names:
            out[name] = pa.table({
                "hospital_id": hospital_id, "stratum": pa.array(keys & ((1 << 34) - 1)),
                "cases": sums[:, 0], **{c: sums[:, position[c]] for c in sum_columns(name)}})
    return out


def batch_facts(b: CheckedBatch, f, s: Scored, catalog: Catalog, policy: Policy, scheme,
                candidates: bool = True) -> tuple:
    """``(stays, low-standard admissions or None, sums per hospital, strata tables,
    upcoding candidates or None)`` of one batch (candidates only when asked: the
    audited year's, not the previous year's)."""
    hospital_id = b.hospital_id()
    diagnoses = b.codebook.diagnoses
    stays = pa.table({
        "case_id": b.case_id, "patient_id": b.patient_id(), "hospital_id": hospital_id,
        "level": pa.array(f.level, pa.int8()),
        "category": diagnoses.keys[3].take(diagnoses.facts()["key3"][b.dx]),
        "admission": pa.array(b.admission, pa.int32()),
        "discharge": pa.array(b.discharge, pa.int32()),
        "year": pa.array(f.year, pa.int16()),
    })
    grouped = s.kind == P.DIP
    low = grouped & (s.outlier == P.LOW) & _conservative_rows(catalog)[np.maximum(s.row, 0)] & \
        (f.los <= policy.low_standard_max_los)
    lows = None
    if low.any():
        take = pa.array(np.flatnonzero(low))
        lows = pa.table({
            "case_id": b.case_id.take(take),
            "hospital_id": hospital_id.take(take),
            "group_code": scheme.group_codes(catalog).take(pa.array(s.row[low])),
            "los": pa.array(f.los[low]), "ratio": pa.array(s.ratio[low]),
        })
    hosp = f.hospital.astype(np.int64)
    K = int(hosp.max()) + 1
    sums = np.concatenate([hospital_sums(hosp, K, f, s), sum_by(hosp, K, np.stack(
        [(f.cci >= SEVERE_CCI).astype(np.int64), np.diff(b.sec_off).astype(np.int64),
         low.astype(np.int64)], axis=1))], axis=1)
    present = np.flatnonzero(sums[:, 0])
    return stays, lows, pa.table({
        "hospital_id": b.codebook.hospital.canon.take(present),
        **{c: sums[present, j] for j, c in enumerate(AUDIT_SUMS)}}), \
        strata_tables(b, f, s, scheme, policy, low), \
        batch_candidates(b, f, s, catalog, scheme) if candidates else None


def year_tables(state) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``(stays, low-standard admissions, sums per hospital)`` of a merged audit state;
    the sums sorted by hospital (the same whatever the batches or partitions)."""
    if not state.sums:
        empty = pa.table({"hospital_id": pa.array([], pa.string())})
        return empty, empty, empty
    total = pa.concat_tables(state.sums).group_by("hospital_id") \
        .aggregate([(c, "sum") for c in AUDIT_SUMS]) \
        .rename_columns(["hospital_id"] + list(AUDIT_SUMS)).sort_by("hospital_id")
    low_table = pa.concat_tables(state.low_standard) if state.low_standard else pa.table({
        "case_id": pa.array([], pa.string()), "hospital_id": pa.array([], pa.string()),
        "group_code": pa.array([], pa.string()), "los": pa.array([], pa.int32()),
        "ratio": pa.array([], pa.float64())})
    return pa.concat_tables(state.stays), low_table, total


#: The audit pass merges its pending per-batch strata tables once it holds this many (they
#: repeat most (hospital, stratum) keys, so merging keeps memory near one table's).
COMPACT_EVERY = 8


def strata_totals(state) -> dict[str, pa.Table]:
    """Per stratification, the merged sums per (hospital, stratum) of an audit state,
    sorted by hospital and stratum (the same whatever the batches or partitions)."""
    return merge_strata(state.strata)


def merge_strata(parts_list: list[dict[str, pa.Table]]) -> dict[str, pa.Table]:
    """Strata tables of several batches merged into one per stratification: exact integer
    sums, so any grouping of the merges gives the same tables."""
    out = {}
    for name in ("group", "severity", "diagnosis", "payment"):
        parts = [t[name] for t in parts_list if name in t]
        columns = ("cases",) + sum_columns(name)
        if not parts:
            out[name] = pa.table({"hospital_id": pa.array([], pa.string()),
                                  "stratum": pa.array([], pa.int64()),
                                  **{c: pa.array([], pa.int64()) for c in columns}})
            continue
        t = pa.concat_tables(parts)
        hospitals = pc.unique(t.column("hospital_id")).sort()
        h = pc.index_in(t.column("hospital_id"), value_set=hospitals).to_numpy().astype(np.int64)
        # sorting beats a hash table here: merged tables are large and their keys repeat
        keys, inverse = np.unique((h << 34) | t.column("stratum").to_numpy(),
                                  return_inverse=True)
        sums = sum_by(inverse.astype(np.int64), len(keys),
                      np.stack([t.column(c).to_numpy() for c in columns], axis=1))
        out[name] = pa.table({"hospital_id": hospitals.take(pa.array(keys >> 34)),
                              "stratum": pa.array(keys & ((1 << 34) - 1)),
                              **{c: sums[:, j] for j, c in enumerate(columns)}})
    return out
