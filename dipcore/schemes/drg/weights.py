"""The DRG weight table: the catalogue's group table under CHS-DRG (SPEC.md section 10.2),
and its index by the rule pack's DRG positions for scoring.

One row per DRG with history (or per row of an official weight table): its MDC and ADRG,
calibration cases (per year), the year-weighted trimmed mean cost overall and per hospital
level, the CV of its trimmed costs, the raw relative weight ``m_d / M``, the adjustment
factor applied (SPEC 10.2 seed 004, budget-neutral scaling included), the adjusted weight,
the base points ``B_d = RW_d x drg_scale`` and whether the DRG is stable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.schemes.drg.rules import DrgRules
from dipcore.schemes.statistics import round4

WEIGHT_SCHEMA = pa.schema([
    pa.field("drg", pa.string(), nullable=False),
    pa.field("name_zh", pa.string()),
    pa.field("mdc", pa.string()),
    pa.field("adrg", pa.string()),
    pa.field("cases", pa.int64()),
    pa.field("cases_by_year", pa.list_(pa.int64())),
    pa.field("mean_cost", pa.float64()),
    pa.field("mean_cost_level1", pa.float64()),
    pa.field("mean_cost_level2", pa.float64()),
    pa.field("mean_cost_level3", pa.float64()),
    pa.field("cv", pa.float64()),
    pa.field("rw_raw", pa.float64()),
    pa.field("adjustment", pa.float64()),
    pa.field("rw", pa.float64()),
    pa.field("base_points", pa.float64()),
    pa.field("stable", pa.bool_()),
])


@dataclass
class WeightIndex:
    """A DRG catalogue indexed by the rule pack's DRG positions (made once per catalogue
    and pack): row, base points, stability, mean cost and per-level mean cost in fen, and
    the per-DRG-and-level coefficient ``m_d,L / m_d`` (SPEC 10.2 variant)."""

    row: np.ndarray          # int32 [n_drg + n_mdc + 1]: catalogue row, -1 none
    base_points: np.ndarray  # float64 [G]
    stable: np.ndarray       # bool [G]
    mean: np.ndarray         # float64 [G] fen
    level_mean: np.ndarray   # float64 [G, 4] fen, the all-level mean where a level has none
    level_k: np.ndarray      # float64 [G, 4]: m_d,L / m_d (4 decimals), 1.0 where none


def weight_index(catalog: Catalog, rules: DrgRules) -> WeightIndex:
    """The index of ``catalog`` under ``rules`` (cached on the catalogue)."""
    key = ("_drg_index", rules.fingerprint)
    cached = catalog.__dict__.get("_drg_index")
    if cached is not None and cached[0] == key:
        return cached[1]
    g = catalog.groups
    codes = g.column("drg").to_pylist()
    position = {d.drg: i for i, d in enumerate(rules.drgs)}
    unknown = [c for c in codes if c not in position]
    if unknown:
        raise InputError(f"the DRG catalogue has DRGs that rule pack {rules.name!r} does not "
                         f"know: {', '.join(sorted(unknown)[:10])}"
                         f"{' ...' if len(unknown) > 10 else ''}")
    # positions past the pack's DRGs (QY results) and -1 (none) have no row
    row = np.full(len(rules.drgs) + len(rules.mdcs) + 1, -1, np.int32)
    for r, c in enumerate(codes):
        row[position[c]] = r
    G = max(len(codes), 1)

    def col(name: str, fill: float) -> np.ndarray:
        out = np.full(G, fill)
        if len(codes):
            v = g.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            out[:len(codes)] = np.where(np.isnan(v), fill, v)
        return out
    mean = col("mean_cost", np.nan) * 100.0
    level_mean = np.stack([mean] + [col(f"mean_cost_level{L}", np.nan) * 100.0
                                    for L in (1, 2, 3)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        level_k = round4(level_mean / mean[:, None])
    level_k = np.where(np.isfinite(level_k) & (level_k > 0), level_k, 1.0)
    level_mean = np.where(np.isnan(level_mean), mean[:, None], level_mean)
    stable = np.zeros(G, bool)
    if len(codes):
        stable[:len(codes)] = g.column("stable").to_numpy(zero_copy_only=False)
    index = WeightIndex(row=row, base_points=col("base_points", 0.0), stable=stable,
                        mean=mean, level_mean=level_mean, level_k=level_k)
    catalog.__dict__["_drg_index"] = (key, index)
    return index
