"""The per-case output of a DIP settlement (``Settlement.cases``): what explains each
case's points, line by line (SPEC.md sections 3 and 5)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.coding.facts import CLASS_NAMES
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import OUTLIER_NAMES, Scored
from dipcore.schema import money_array, points_array
from dipcore.schemes.dip.features import SUBTYPE_CODES, Features
from dipcore.schemes.dip.grouping import UNGROUPED_REASONS

_GROUP_KINDS = pa.array(["core", "comprehensive", "basic", "bed_day", "ungrouped", "special"])
_CLASS_LABELS = pa.array(list(CLASS_NAMES))
_OUTLIER_LABELS = pa.array(list(OUTLIER_NAMES))
_REASON_LABELS = pa.array(list(UNGROUPED_REASONS))
_AUX_LABELS = pa.array([""] + list(SUBTYPE_CODES))


def _labels(labels: pa.Array, codes: np.ndarray) -> pa.Array:
    return labels.take(pa.array(np.asarray(codes).astype(np.int32, copy=False)))


def _row_kinds(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Per catalogue row: 1 for a comprehensive group (else core), and the basic flag;
    made once per catalogue."""
    cached = catalog.__dict__.get("_row_kinds")
    if cached is None:
        g = catalog.groups
        comprehensive = pc.equal(g.column("kind"), "comprehensive").to_numpy(zero_copy_only=False)
        basic = g.column("basic").to_numpy(zero_copy_only=False)
        cached = catalog.__dict__["_row_kinds"] = (
            comprehensive.astype(np.int8) if g.num_rows else np.zeros(1, np.int8),
            basic if g.num_rows else np.zeros(1, bool))
    return cached


def case_table(b: CheckedBatch, f: Features, s: Scored, catalog: Catalog) -> pa.Table:
    """The per-case explanation of points (``result.cases``)."""
    g = catalog.groups
    has = s.row >= 0
    safe = np.maximum(s.row, 0)
    rows = pa.array(s.row, mask=~has)
    kind_of_row, basic = _row_kinds(catalog)
    kind = np.where(s.kind == P.SPECIAL, 5, np.where(
        s.kind == P.BED_DAY, 3, np.where(s.kind == P.UNGROUPED, 4, np.where(
            basic[safe], 2, kind_of_row[safe]))))
    return pa.table({
        "case_id": b.case_id,
        "hospital_id": b.hospital_id(),
        "pool": b.pool_names(),
        "hospital_level": pa.array(b.level),
        "discharge_date": pa.array(b.discharge, pa.int32()).cast(pa.date32()),
        "group_code": g.column("group_code").take(rows),
        "group_kind": _labels(_GROUP_KINDS, kind),
        "treatment_class": g.column("treatment_class").take(rows),
        "case_class": _labels(_CLASS_LABELS, f.treatment_class),
        "combination": f.grouping.combination_strings().take(pa.array(f.comb)),
        "los": pa.array(f.los),
        "cci": pa.array(f.cci),
        "aux_code": _labels(_AUX_LABELS, s.aux_slot.astype(np.int32) + 1),
        "aux_coefficient": pa.array(s.a),
        "level_coefficient": pa.array(s.k),
        "score": pa.array(s.rw),
        "base_cost": pa.array(s.base / 100.0, mask=s.kind != P.DIP),
        "ratio": pa.array(s.ratio, mask=s.kind != P.DIP),
        "outlier": _labels(_OUTLIER_LABELS, s.outlier),
        "ungrouped_reason": _labels(_REASON_LABELS, s.reason),
        "bed_day_category": b.bed_names(),
        "total_cost": money_array(b.cost),
        "fund_paid": money_array(b.fund),
        "points": points_array(s.units),
    })
