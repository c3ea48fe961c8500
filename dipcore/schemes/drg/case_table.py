"""The per-case output of a CHS-DRG settlement (``Settlement.cases``, SPEC.md section 10.3):
the grouper's result beside every term of the case's points."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import OUTLIER_NAMES, Scored
from dipcore.schema import money_array, points_array
from dipcore.schemes.drg.features import DrgFeatures
from dipcore.schemes.drg.grouper import result_names
from dipcore.schemes.drg.rules import DrgRules

#: Names of the case kinds (``dipcore._kernels.points`` DIP..NEW_TECH) under CHS-DRG.
KIND_NAMES = ("drg", "ungrouped", "special", "bed_day", "unstable", "new_technology")
_KINDS = pa.array(list(KIND_NAMES))
_OUTLIERS = pa.array(list(OUTLIER_NAMES))


def _decode(idx: np.ndarray, names: pa.Array) -> pa.Array:
    idx = idx.astype(np.int32, copy=False)
    return names.take(pa.array(idx, mask=idx < 0))


def case_table(b: CheckedBatch, f: DrgFeatures, s: Scored, catalog: Catalog,
               rules: DrgRules) -> pa.Table:
    """One row per case: ids, the grouper's status/MDC/ADRG/DRG/CC-MCC, the kind it was paid
    as, base points, coefficient, comparison mean, ratio, outlier class and points."""
    names = result_names(rules)
    ok = f.status == 0
    by_weight = s.kind == P.DIP
    return pa.table({
        "case_id": b.case_id,
        "hospital_id": b.hospital_id(),
        "pool": b.pool_names(),
        "hospital_level": pa.array(b.level),
        "discharge_date": pa.array(b.discharge, pa.int32()).cast(pa.date32()),
        "status": _decode(f.status, names["status"]),
        "mdc": _decode(f.mdc, names["mdc"]),
        "adrg": _decode(f.adrg, names["adrg"]),
        "drg": _decode(np.where(ok, f.drg, -1), names["drg"]),
        "cc_kind": _decode(f.cc.astype(np.int16) - 1, names["cc_kind"]),
        "kind": _KINDS.take(pa.array(s.kind.astype(np.int32))),
        "base_points": pa.array(s.rw, mask=s.row < 0),
        "coefficient": pa.array(s.k, mask=~by_weight),
        "base_cost": pa.array(s.base / 100.0, mask=~by_weight),
        "ratio": pa.array(s.ratio, mask=~by_weight),
        "outlier": _OUTLIERS.take(pa.array(s.outlier.astype(np.int32))),
        "los": pa.array(f.los),
        "cci": pa.array(f.cci),
        "bed_day_category": b.bed_names(),
        "total_cost": money_array(b.cost),
        "fund_paid": money_array(b.fund),
        "points": points_array(s.units),
    })
