"""A bureau's official DIP catalogue, read from CSV or an Excel sheet instead of calibrated
(SPEC.md section 4).

Columns ``group_code``, ``dx_key``, ``procedures`` (``+``-joined; empty: conservative) and
``score``; optional ``kind`` (core/comprehensive/basic), ``treatment_class``,
``mean_cost`` and ``mean_cost_level1..3``. The region-wide numbers (M, level coefficients,
bed-day rates, budget point values) come from keyword arguments or a JSON file next to it
with the same name. A missing group mean is taken as ``score * M / scale``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.ingest.tables import read_table
from dipcore.policy import Policy
from dipcore.schemes.dip.features import treatment_class
from dipcore.schemes.dip.groups import GROUP_SCHEMA


def load_csv(path: Path, mean_cost: float | None = None, level_coefficients: dict | None = None,
             bed_day_rates: dict | None = None, policy: Policy | None = None,
             sheet: str | int | None = None) -> Catalog:
    """An official DIP catalogue as CSV, or as a sheet of an ``.xlsx`` workbook (``sheet``:
    its name or position, the first by default; ``dipcore.ingest.tables``), see
    :meth:`dipcore.Catalog.load`."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    side: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    mean_cost = mean_cost if mean_cost is not None else side.get("mean_cost")
    if mean_cost is None:
        raise InputError("an official catalogue needs the all-case mean cost M (mean_cost=..., "
                         f"or \"mean_cost\" in {sidecar.name})", source=str(path))
    src = read_table(path, "catalogue", {
        "group_code": pa.string(), "dx_key": pa.string(), "procedures": pa.string(),
        "kind": pa.string(), "treatment_class": pa.string()},
        sheet=sheet, strings_can_be_null=False)
    t = src.table
    for col in ("group_code", "dx_key", "procedures", "score"):
        if col not in t.column_names:
            raise src.error("catalogue lacks a required column", column=col)
    n = t.num_rows
    get = lambda c, default: t.column(c).to_pylist() if c in t.column_names else [default] * n  # noqa: E731
    score = np.array(src.floats("score"), dtype=float)
    for i in range(n):
        if not np.isfinite(score[i]):
            # an empty cell (or n/a) would otherwise score every case of the group NaN
            raise src.error("a group needs a score", i, "score")
    kinds = get("kind", "core")
    dx = [str(d).strip().upper() for d in get("dx_key", "")]
    procs = [str(p or "").strip() for p in get("procedures", "")]
    classes = get("treatment_class", None)
    out_kind, basic, tclass = [], [], []
    for i in range(n):
        k = (kinds[i] or "core").strip().lower()
        if k not in ("core", "comprehensive", "basic"):
            raise src.error(f"kind must be core, comprehensive or basic, not {k!r}", i, "kind")
        out_kind.append("comprehensive" if k == "comprehensive" else "core")
        basic.append(k == "basic")
        cls_name = (classes[i] or "").strip().lower() or None
        if cls_name is None and k != "comprehensive":
            cls_name = treatment_class(procs[i].split("+")[0])
        tclass.append(cls_name)
    means = src.floats("mean_cost") if "mean_cost" in t.column_names else [None] * n
    mean = np.array([m if m is not None else s * mean_cost / (policy or Policy()).score_scale
                     for m, s in zip(means, score)], dtype=float)
    cols = {c: src.floats(c) if c in t.column_names else [None] * n
            for c in ("mean_cost_level1", "mean_cost_level2", "mean_cost_level3")}
    groups = pa.table({
        "group_code": get("group_code", ""), "kind": out_kind, "basic": basic, "dx_key": dx,
        "procedures": [p if k == "core" else None for p, k in zip(procs, out_kind)],
        "treatment_class": tclass, "cases": [0] * n, "cases_by_year": [[]] * n,
        "mean_cost": mean, **{k: pa.array(v, pa.float64()) for k, v in cols.items()},
        "cv": pa.nulls(n, pa.float64()), "score": score, "subtypes": [[]] * n,
    }).cast(GROUP_SCHEMA)
    levels = level_coefficients or side.get("level_coefficients") or {1: 1.0, 2: 1.0, 3: 1.0}
    return Catalog(groups=groups, mean_cost=float(mean_cost),
                   level_coefficients={int(k): float(v) for k, v in levels.items()},
                   bed_day_rates=bed_day_rates or side.get("bed_day_rates") or {},
                   budget_point_value=side.get("budget_point_value") or {},
                   policy=policy or Policy(), fingerprint="official:" + path.name,
                   version="official")
