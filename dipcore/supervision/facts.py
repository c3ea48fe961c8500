"""What supervision needs from each case (SPEC.md section 8): the audit pass's per-batch step.

Per batch of scored cases:

* the stays (patient, hospital, diagnosis category, admission and discharge day), from
  which readmissions are found once the year is merged;
* the low-standard admissions (低标入院): low-cost cases in conservative groups with LOS
  <= ``low_standard_max_los``;
* per hospital, the ``HOSPITAL_SUMS`` of statements (the same kernel, so a CMI means the
  same in both) plus severe cases (Charlson index >= ``SEVERE_CCI``), secondary diagnoses
  and low-standard admissions.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore._kernels.group import CONSERVATIVE
from dipcore.catalog import Catalog
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import Scored
from dipcore.payment.sums import HOSPITAL_SUMS, hospital_sums
from dipcore.policy import Policy

#: A severe case has a Charlson index of at least this (SPEC 8 "share of severe cases").
SEVERE_CCI = 3
#: The per-hospital sums of the audit: the statements' plus supervision's own.
AUDIT_SUMS = HOSPITAL_SUMS + ("severe", "secondary", "low_standard")


def _conservative_rows(catalog: Catalog) -> np.ndarray:
    """Per catalogue row: a conservative-class group (made once per catalogue)."""
    cached = catalog.__dict__.get("_conservative_rows")
    if cached is None:
        cached = catalog.__dict__["_conservative_rows"] = np.array(
            [c == "conservative" for c in catalog.groups.column("treatment_class").to_pylist()]
            or [False])
    return cached


def _conservative(catalog: Catalog, f, s: Scored) -> np.ndarray:
    """Per case: grouped in a conservative group. A catalogue without treatment classes
    (DRG weights) takes the case's class: a medical ADRG (R-Z) is the conservative kind."""
    if "treatment_class" in catalog.groups.column_names:
        return _conservative_rows(catalog)[np.maximum(s.row, 0)]
    return f.treatment_class == CONSERVATIVE


def _group_codes(catalog: Catalog) -> pa.ChunkedArray:
    """The catalogue's group codes (DIP ``group_code``, DRG ``drg``)."""
    groups = catalog.groups
    return groups.column("group_code" if "group_code" in groups.column_names else "drg")


def batch_facts(b: CheckedBatch, f, s: Scored, catalog: Catalog, policy: Policy
                ) -> tuple[pa.Table, pa.Table | None, pa.Table]:
    """``(stays, low-standard admissions or None, sums per hospital)`` of one batch."""
    hospital_id = b.hospital_id()
    diagnoses = b.codebook.diagnoses
    stays = pa.table({
        "case_id": b.case_id, "patient_id": b.patient_id(), "hospital_id": hospital_id,
        "category": diagnoses.keys[3].take(diagnoses.facts()["key3"][b.dx]),
        "admission": pa.array(b.admission, pa.int32()),
        "discharge": pa.array(b.discharge, pa.int32()),
    })
    grouped = s.kind == P.DIP
    low = grouped & (s.outlier == P.LOW) & _conservative(catalog, f, s) & \
        (f.los <= policy.low_standard_max_los)
    lows = None
    if low.any():
        take = pa.array(np.flatnonzero(low))
        lows = pa.table({
            "case_id": b.case_id.take(take),
            "hospital_id": hospital_id.take(take),
            "group_code": _group_codes(catalog).take(pa.array(s.row[low])),
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
        **{c: sums[present, j] for j, c in enumerate(AUDIT_SUMS)}})


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
