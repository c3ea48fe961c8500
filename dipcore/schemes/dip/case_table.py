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
from dipcore.schema import label_array, money_array, points_array
from dipcore.schemes.dip.features import SUBTYPE_CODES, Features
from dipcore.schemes.dip.grouping import UNGROUPED_REASONS

_GROUP_KINDS = pa.array(["core", "comprehensive", "basic", "bed_day", "ungrouped", "special"])
_CLASS_LABELS = pa.array(list(CLASS_NAMES))
_OUTLIER_LABELS = pa.array(list(OUTLIER_NAMES))
_REASON_LABELS = pa.array(list(UNGROUPED_REASONS))
_AUX_LABELS = pa.array([""] + list(SUBTYPE_CODES))


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


def _row_labels(catalog: Catalog) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """The catalogue's group codes, its distinct treatment classes and each row's index
    among them: the dictionaries of the case table's group columns, made once per
    catalogue (a label dictionary holds each string once)."""
    cached = catalog.__dict__.get("_row_labels")
    if cached is None:
        g = catalog.groups
        encoded = pc.dictionary_encode(g.column("treatment_class")).combine_chunks()
        # a row without a class (null) points at no label: null in the case table too
        of_row = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        # an empty catalogue: one unused entry, so that the lookup of row 0 stays in bounds
        cached = catalog.__dict__["_row_labels"] = (
            g.column("group_code").combine_chunks(), encoded.dictionary,
            of_row if len(of_row) else np.zeros(1, np.int32))
    return cached


def case_table(b: CheckedBatch, f: Features, s: Scored, catalog: Catalog) -> pa.Table:
    """The per-case explanation of points (``result.cases``)."""
    safe = np.maximum(s.row, 0)
    kind_of_row, basic = _row_kinds(catalog)
    group_codes, classes, class_of_row = _row_labels(catalog)
    kind = np.where(s.kind == P.SPECIAL, 5, np.where(
        s.kind == P.BED_DAY, 3, np.where(s.kind == P.UNGROUPED, 4, np.where(
            basic[safe], 2, kind_of_row[safe]))))
    return pa.table({
        "case_id": b.case_id,
        "hospital_id": b.codebook.hospital.canon.labels(b.hospital),
        "pool": b.codebook.pool.labels(b.pool),
        "hospital_level": pa.array(b.level),
        "discharge_date": pa.array(b.discharge, pa.int32()).cast(pa.date32()),
        "group_code": label_array(group_codes, s.row),
        "group_kind": label_array(_GROUP_KINDS, kind),
        "treatment_class": label_array(classes, np.where(s.row >= 0, class_of_row[safe], -1)),
        "case_class": label_array(_CLASS_LABELS, f.treatment_class),
        "combination": label_array(f.grouping.combination_strings(), f.comb),
        "los": pa.array(f.los),
        "cci": pa.array(f.cci),
        "aux_code": label_array(_AUX_LABELS, s.aux_slot.astype(np.int32) + 1),
        "aux_coefficient": pa.array(s.a),
        "level_coefficient": pa.array(s.k),
        "score": pa.array(s.rw),
        "base_cost": pa.array(s.base / 100.0, mask=s.kind != P.DIP),
        "ratio": pa.array(s.ratio, mask=s.kind != P.DIP),
        "outlier": label_array(_OUTLIER_LABELS, s.outlier),
        "ungrouped_reason": label_array(_REASON_LABELS, s.reason),
        "bed_day_category": b.codebook.bed.labels(b.bed),
        "total_cost": money_array(b.cost),
        "fund_paid": money_array(b.fund),
        "points": points_array(s.units),
    })
