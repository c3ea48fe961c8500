"""The per-case output of a CHS-DRG settlement (``Settlement.cases``, SPEC.md section 10.3):
the grouper's result beside every term of the case's points."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import OUTLIER_NAMES, Scored
from dipcore.schema import label_array, money_array, points_array
from dipcore.schemes.drg.features import DrgFeatures
from dipcore.schemes.drg.grouper import result_names
from dipcore.schemes.drg.rules import DrgRules

#: Names of the case kinds (``dipcore._kernels.points`` DIP..NEW_TECH) under CHS-DRG.
KIND_NAMES = ("drg", "ungrouped", "special", "bed_day", "unstable", "new_technology")
_KINDS = pa.array(list(KIND_NAMES))
_OUTLIERS = pa.array(list(OUTLIER_NAMES))


def case_table(b: CheckedBatch, f: DrgFeatures, s: Scored, catalog: Catalog,
               rules: DrgRules) -> pa.Table:
    """One row per case: ids, the grouper's status/MDC/ADRG/DRG/CC-MCC, the kind it was paid
    as, base points, coefficient, comparison mean, ratio, outlier class and points."""
    names = result_names(rules)
    ok = f.status == 0
    by_weight = s.kind == P.DIP
    return pa.table({
        "case_id": b.case_id,
        "hospital_id": b.codebook.hospital.canon.labels(b.hospital),
        "pool": b.codebook.pool.labels(b.pool),
        "hospital_level": pa.array(b.level),
        "discharge_date": pa.array(b.discharge, pa.int32()).cast(pa.date32()),
        "status": label_array(names["status"], f.status),
        "mdc": label_array(names["mdc"], f.mdc),
        "adrg": label_array(names["adrg"], f.adrg),
        "drg": label_array(names["drg"], np.where(ok, f.drg, -1)),
        "cc_kind": label_array(names["cc_kind"], f.cc.astype(np.int16) - 1),
        "kind": label_array(_KINDS, s.kind),
        "base_points": pa.array(s.rw, mask=s.row < 0),
        "coefficient": pa.array(s.k, mask=~by_weight),
        "base_cost": pa.array(s.base / 100.0, mask=~by_weight),
        "ratio": pa.array(s.ratio, mask=~by_weight),
        "outlier": label_array(_OUTLIERS, s.outlier),
        "los": pa.array(f.los),
        "cci": pa.array(f.cci),
        "bed_day_category": b.codebook.bed.labels(b.bed),
        "total_cost": money_array(b.cost),
        "fund_paid": money_array(b.fund),
        "points": points_array(s.units),
    })
