"""An official DRG weight table, read instead of calibrated (SPEC.md section 10.2).

A CSV file or a sheet of an ``.xlsx`` workbook (``dipcore.ingest.tables``), with columns
``drg`` and either ``rw`` or ``base_points``; optional ``name_zh``,
``mean_cost`` (yuan), ``coefficient_level1..3`` (per-DRG level coefficients,
``m_d,L / m_d``, read by ``drg_coefficient = "drg_level"``) and ``stable`` (true/false,
default true). The region-wide numbers (M, level coefficients, bed-day rates, budget point
values) come from keyword arguments or a JSON file next to it with the same name, as for a
DIP catalogue. A missing DRG mean is ``RW x M`` (the definition of RW); per-level means are
the level coefficient times the mean. With a rule pack, every DRG must be one of the pack's
and the MDC and ADRG columns are filled from it.
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
from dipcore.schemes.drg.rules import DrgRules
from dipcore.schemes.drg.weights import WEIGHT_SCHEMA
from dipcore.schemes.statistics import round4


def load_weights(path: Path, rules: DrgRules | None = None, mean_cost: float | None = None,
                 level_coefficients: dict | None = None, bed_day_rates: dict | None = None,
                 policy: Policy | None = None, sheet: str | int | None = None) -> Catalog:
    """An official DRG weight table as a DRG catalogue: CSV, or a sheet of an ``.xlsx``
    workbook (``sheet``: its name or position, the first by default;
    ``dipcore.ingest.tables``), see :meth:`dipcore.Catalog.load`."""
    path = Path(path)
    policy = policy or Policy(scheme="drg")
    sidecar = path.with_suffix(".json")
    side: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    mean_cost = mean_cost if mean_cost is not None else side.get("mean_cost")
    if mean_cost is None:
        raise InputError("a DRG weight table needs the all-case mean cost M (mean_cost=..., or "
                         f"\"mean_cost\" in {sidecar.name})", source=str(path))
    if not float(mean_cost) > 0:
        raise InputError(f"the all-case mean cost M must be positive, not {mean_cost!r}",
                         source=str(path))
    src = read_table(path, "DRG weight table",
                     {"drg": pa.string(), "name_zh": pa.string(), "stable": pa.string()},
                     sheet=sheet)
    t = src.table
    if "drg" not in t.column_names:
        raise src.error("DRG weight table lacks a required column", column="drg")
    if "rw" not in t.column_names and "base_points" not in t.column_names:
        raise src.error("DRG weight table needs a column rw or base_points", column="rw")
    n = t.num_rows
    scale = float(policy.drg_scale)
    codes = [str(c or "").strip().upper() for c in t.column("drg").to_pylist()]
    weight_col = "rw" if "rw" in t.column_names else "base_points"
    weights = src.floats(weight_col)
    seen: set[str] = set()
    for i, (code, w) in enumerate(zip(codes, weights)):
        if not code:
            raise src.error("empty DRG code", i, "drg")
        if code in seen:
            raise src.error(f"DRG {code} is listed twice", i, "drg")
        seen.add(code)
        if w is None or not w > 0:
            raise src.error(f"weight of {code} must be positive, not {w!r}", i, weight_col)
    if rules is not None:
        known = {d.drg: d for d in rules.drgs}
        for i, code in enumerate(codes):
            if code not in known:
                raise src.error(f"DRG {code} is not in rule pack {rules.name!r}", i, "drg")
    rw = np.array(weights, float) if weight_col == "rw" else np.array(weights, float) / scale
    means = src.floats("mean_cost") if "mean_cost" in t.column_names else [None] * n
    mean = np.array([m if m is not None else r * mean_cost for m, r in zip(means, rw)], float)
    levels = {}
    for L in (1, 2, 3):
        name = f"coefficient_level{L}"
        k = src.floats(name) if name in t.column_names else [None] * n
        levels[f"mean_cost_level{L}"] = pa.array(
            [None if v is None else v * m for v, m in zip(k, mean)], pa.float64())
    stable = [str(s).strip().lower() not in ("false", "0", "no", "n")
              for s in (t.column("stable").to_pylist() if "stable" in t.column_names else [""] * n)]
    if rules is not None:
        adrg_of = {a.adrg: a for a in rules.adrgs}
        mdc_code = {m.mdc: m.code for m in rules.mdcs}
        adrg = [known[c].adrg for c in codes]
        mdc = [mdc_code.get(adrg_of[a].mdc) for a in adrg]
        names = [known[c].name_zh for c in codes]
    else:
        adrg = [c[:3] for c in codes]
        mdc = [None] * n
        names = [None] * n
    if "name_zh" in t.column_names:
        names = [a or b for a, b in zip(t.column("name_zh").to_pylist(), names)]
    groups = pa.table({
        "drg": codes, "name_zh": pa.array(names, pa.string()), "mdc": pa.array(mdc, pa.string()),
        "adrg": adrg, "cases": [0] * n, "cases_by_year": [[]] * n, "mean_cost": mean, **levels,
        "cv": pa.nulls(n, pa.float64()), "rw_raw": round4(rw), "adjustment": np.ones(n),
        "rw": round4(rw), "base_points": round4(rw * scale), "stable": stable,
    }).cast(WEIGHT_SCHEMA).sort_by("drg")
    level_coef = level_coefficients or side.get("level_coefficients") or {1: 1.0, 2: 1.0, 3: 1.0}
    return Catalog(groups=groups, mean_cost=float(mean_cost),
                   level_coefficients={int(k): float(v) for k, v in level_coef.items()},
                   bed_day_rates=bed_day_rates or side.get("bed_day_rates") or {},
                   budget_point_value=side.get("budget_point_value") or {},
                   policy=policy, fingerprint="official:" + path.name, version="official",
                   scheme="drg",
                   rules={"name": rules.name, "fingerprint": rules.fingerprint} if rules else {})
