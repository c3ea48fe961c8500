"""The cases behind an upcoding flag (SPEC.md 11), for the bureau's reviewers.

While the year is scored, every hospital's candidate cases are kept (compactly: a case id
and a few numbers); once the flags are known, :func:`case_list` keeps, at each hospital
flagged for

* ``upcoding_diagnosis``: its cases that carry the severity the indicator counted -- a
  Charlson index of at least ``SEVERE_CCI``, or (DRG) a CC/MCC -- with ``raised`` telling
  whether that severity raised the payment (DIP: an auxiliary coefficient above 1; DRG: the
  CC/MCC split, always a dearer DRG of the ADRG);
* ``upcoding_procedure``: its cases in surgical groups paid as low-cost (cost at most the
  low ratio of the group's mean): an operation recorded without the cost of one.

Rows are sorted by hospital, flag and case id, so the list is the same whatever the
partitioning.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import points as P
from dipcore._kernels.group import SURGERY
from dipcore.catalog import Catalog
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import UNITS, Scored
from dipcore.supervision.measures import SEVERE_CCI

#: Flags whose cases are listed.
LISTED = ("upcoding_diagnosis", "upcoding_procedure")

SCHEMA = pa.schema([
    ("hospital_id", pa.string()), ("flag", pa.string()), ("case_id", pa.string()),
    ("group_code", pa.string()), ("cci", pa.int16()), ("secondary", pa.int32()),
    ("cc", pa.bool_()), ("raised", pa.bool_()), ("ratio", pa.float64()),
    ("points", pa.float64())])


def batch_candidates(b: CheckedBatch, f, s: Scored, catalog: Catalog, scheme
                     ) -> pa.Table | None:
    """The cases of one batch that would be listed if their hospital were flagged."""
    cc = (f.cc > 0) if hasattr(f, "cc") else np.zeros(f.n, bool)
    severe = (scheme.severity_strata(f, s) >= 0) & ((f.cci >= SEVERE_CCI) | cc)
    surgical_low = (s.kind == P.DIP) & (f.treatment_class == SURGERY) & (s.outlier == P.LOW)
    parts = []
    codes = scheme.group_codes(catalog)
    hospital_id = None
    for flag, mask in (("upcoding_diagnosis", severe), ("upcoding_procedure", surgical_low)):
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        hospital_id = b.hospital_id() if hospital_id is None else hospital_id
        take = pa.array(idx)
        raised = cc[idx] | (s.a[idx] > 1.0) if flag == "upcoding_diagnosis" \
            else np.ones(len(idx), bool)
        parts.append(pa.table({
            "hospital_id": hospital_id.take(take), "flag": pa.array([flag] * len(idx)),
            "case_id": b.case_id.take(take),
            # a DRG without a weight (paid as unstable) has no catalogue row
            "group_code": codes.take(pa.array(s.row[idx], mask=s.row[idx] < 0)),
            "cci": pa.array(f.cci[idx], pa.int16()),
            "secondary": pa.array(np.diff(b.sec_off)[idx], pa.int32()),
            "cc": pa.array(cc[idx]), "raised": pa.array(raised),
            # no ratio (NaN) where the case has no comparison mean: null
            "ratio": pa.array(s.ratio[idx], mask=np.isnan(s.ratio[idx])),
            "points": pa.array(s.units[idx] / UNITS)},
            schema=SCHEMA))
    return pa.concat_tables(parts) if parts else None


def case_list(candidates: list[pa.Table], flagged: dict[str, list[str]]) -> pa.Table:
    """The candidates of the hospitals flagged for their flag, sorted."""
    pairs = [(h, f) for h, flags in flagged.items() for f in flags if f in LISTED]
    if not candidates or not pairs:
        return SCHEMA.empty_table()
    t = pa.concat_tables(candidates)
    keys = pc.binary_join_element_wise(t.column("hospital_id"), t.column("flag"), "\x1f")
    wanted = pa.array([f"{h}\x1f{f}" for h, f in pairs])
    return t.filter(pc.is_in(keys, value_set=wanted)).sort_by(
        [("hospital_id", "ascending"), ("flag", "ascending"), ("case_id", "ascending")])
