"""Supervision signals and appraisal indicators (SPEC.md section 8).

``dipcore.audit`` scores a year's cases against a catalogue (the same scheme scoring as
settlement, so groups, outlier classes and CMI are the settlement's; the per-batch facts
are ``dipcore.supervision.facts``) and :func:`finish` reports:

* **readmissions** (suspected split admissions, 分解住院): the same patient admitted again
  within ``readmit_days`` of the previous discharge, for the same diagnosis category;
* **low-standard admissions** (低标入院): low-cost cases in conservative groups with
  LOS <= ``low_standard_max_los``;
* per hospital, the appraisal indicators (cases, CMI, mean cost, mean LOS, outlier share,
  readmission rate, operation rate, severe-case share, patient-paid share, death rate,
  secondary diagnoses per case, points per case) beside the region's, with flags where a
  share is ``audit_share_ratio`` times the region's;
* with the previous year's cases, growth of CMI, secondary diagnoses per case and severe
  share (upcoding, 高套编码), of points per case (point inflation, 冲点数) and of the
  patient-paid share (cost shifting), flagged where a hospital's growth exceeds the
  region's by ``audit_growth_margin``.

A severe case is one with a Charlson index of 3 or more. Shares need at least
``MIN_EVENTS`` events at a hospital before they are flagged, so one odd case does not.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore.errors import InputError
from dipcore.payment.points import UNITS
from dipcore.policy import Policy
from dipcore.reports.files import atomic_path
from dipcore.supervision.facts import AUDIT_SUMS, year_tables
from dipcore.supervision.indicators import hospital_indicators

#: Shares need at least this many events at a hospital before they are flagged.
MIN_EVENTS = 5


@dataclass
class Audit:
    """Result of :func:`dipcore.audit`.

    Attributes
    ----------
    readmissions : pyarrow.Table
        One row per readmission: case and previous case, patient, hospitals, category, days.
    low_standard : pyarrow.Table
        One row per low-standard admission: case, hospital, group, LOS, ratio.
    hospitals : pyarrow.Table
        Indicators per hospital, the region's, growth (with a previous year) and flags.
    warnings : list of str
    """

    readmissions: pa.Table
    low_standard: pa.Table
    hospitals: pa.Table
    region: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``readmissions.csv``, ``low_standard.csv``, ``hospitals.csv`` and
        ``summary.json`` (each atomically)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        hospitals = self.hospitals.set_column(
            self.hospitals.schema.get_field_index("flags"), "flags",
            pc.binary_join(self.hospitals.column("flags"), ";"))
        for name, table in (("readmissions", self.readmissions), ("low_standard", self.low_standard),
                            ("hospitals", hospitals)):
            with atomic_path(d / f"{name}.csv") as tmp:
                pacsv.write_csv(table, tmp)
        with atomic_path(d / "hospitals.parquet") as tmp:
            pq.write_table(self.hospitals, tmp)
        flagged = {r["hospital_id"]: r["flags"] for r in self.hospitals.to_pylist() if r["flags"]}
        with atomic_path(d / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps({"region": self.region, "flagged": flagged,
                                             "readmissions": self.readmissions.num_rows,
                                             "low_standard": self.low_standard.num_rows,
                                             "warnings": self.warnings},
                                            indent=2, ensure_ascii=False), encoding="utf-8")


def find_readmissions(stays: pa.Table, days: int) -> pa.Table:
    """Readmissions of the same patient for the same category within ``days`` of discharge."""
    t = stays.filter(pc.is_valid(stays.column("patient_id")))
    # the previous stay *of the same category*: stays of other categories in between do not
    # hide a split admission
    t = t.sort_by([("patient_id", "ascending"), ("category", "ascending"),
                   ("admission", "ascending"), ("case_id", "ascending")])
    patient = t.column("patient_id").to_numpy(zero_copy_only=False)
    cat = t.column("category").to_numpy(zero_copy_only=False)
    adm = t.column("admission").to_numpy()
    dis = t.column("discharge").to_numpy()
    gap = adm[1:] - dis[:-1]
    hit = np.flatnonzero((patient[1:] == patient[:-1]) & (cat[1:] == cat[:-1])
                         & (gap >= 0) & (gap <= days)) + 1
    cur, prev = pa.array(hit), pa.array(hit - 1)
    same = pc.equal(t.column("hospital_id").take(cur), t.column("hospital_id").take(prev))
    return pa.table({
        "case_id": t.column("case_id").take(cur), "previous_case_id": t.column("case_id").take(prev),
        "patient_id": t.column("patient_id").take(cur),
        "hospital_id": t.column("hospital_id").take(cur),
        "previous_hospital_id": t.column("hospital_id").take(prev),
        "category": t.column("category").take(cur),
        "days": pa.array(gap[hit - 1].astype(np.int32)), "same_hospital": same,
    })


#: Column order of the audit's indicators.
INDICATORS = ("cmi", "mean_cost", "mean_los", "outlier_share", "readmission_rate",
              "operation_rate", "severe_share", "patient_paid_share", "death_rate",
              "low_standard_share", "secondary_per_case", "points_per_case")


def _indicators(sums: dict[str, np.ndarray], readmits: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    """The statements' indicators (``dipcore.supervision.indicators``) and supervision's."""
    n = np.maximum(sums["cases"], 1).astype(float)
    ind = hospital_indicators(sums, scale)
    ind.update({
        "readmission_rate": readmits / n,
        "severe_share": sums["severe"] / n,
        "low_standard_share": sums["low_standard"] / n,
        "secondary_per_case": sums["secondary"] / n,
        "points_per_case": sums["points"] / UNITS / n,
    })
    return {k: ind[k] for k in INDICATORS}


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {c: table.column(c).to_numpy() for c in AUDIT_SUMS}


def finish(current, previous, policy: Policy, scale: float | None = None) -> Audit:
    """The audit of merged audit states (``dipcore.engine.passes.AuditSums``) of a year and,
    optionally, of the year before; ``scale``: the scheme's score scale (CMI = mean weight
    over it; DIP's ``score_scale`` when not given)."""
    scale = float(policy.score_scale if scale is None else scale)
    stays, low, sums_t = year_tables(current)
    warnings: list[str] = []
    if sums_t.num_rows == 0:
        raise InputError("no usable cases to audit")
    readmissions = find_readmissions(stays, policy.readmit_days)
    ids = sums_t.column("hospital_id").to_pylist()
    pos = {h: i for i, h in enumerate(ids)}
    counts = np.zeros(len(ids))
    for h in readmissions.column("hospital_id").to_pylist():
        counts[pos[h]] += 1
    sums = _columns(sums_t)
    ind = _indicators(sums, counts, scale)
    region_sums = {k: np.array([v.sum()]) for k, v in sums.items()}
    region = {k: float(v[0]) for k, v in _indicators(region_sums, np.array([counts.sum()]),
                                                      scale).items()}
    flags: list[list[str]] = [[] for _ in ids]
    events = {"readmission_rate": counts, "low_standard_share": sums["low_standard"],
              "severe_share": sums["severe"]}
    names = {"readmission_rate": "readmissions", "low_standard_share": "low_standard",
             "severe_share": "severity"}
    for key, n_events in events.items():
        if region[key] > 0:
            hit = (ind[key] >= policy.audit_share_ratio * region[key]) & (n_events >= MIN_EVENTS)
            for i in np.flatnonzero(hit):
                flags[i].append(names[key])
    growth_cols: dict[str, np.ndarray] = {}
    if previous is not None:
        _, _, prev_t = year_tables(previous)
        prev_ids = prev_t.column("hospital_id").to_pylist()
        prev_pos = {h: i for i, h in enumerate(prev_ids)}
        prev_sums = _columns(prev_t)
        prev_ind = _indicators(prev_sums, np.zeros(len(prev_ids)), scale)
        prev_region = {k: float(v[0]) for k, v in _indicators(
            {k: np.array([v.sum()]) for k, v in prev_sums.items()}, np.zeros(1),
            scale).items()}
        idx = np.array([prev_pos.get(h, -1) for h in ids])
        have = idx >= 0
        checks = {"cmi": "upcoding_cmi", "secondary_per_case": "upcoding_secondary_dx",
                  "severe_share": "upcoding_severity", "points_per_case": "point_inflation"}
        for key, name in checks.items():
            before = np.where(have, prev_ind[key][np.maximum(idx, 0)], np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                g = ind[key] / before - 1.0
                region_g = region[key] / prev_region[key] - 1.0
            growth_cols[f"{key}_growth"] = g
            for i in np.flatnonzero(have & (g - region_g >= policy.audit_growth_margin)):
                flags[i].append(name)
        # cost shifting: the patient-paid share rising (percentage points) faster than the region's
        before = np.where(have, prev_ind["patient_paid_share"][np.maximum(idx, 0)], np.nan)
        change = ind["patient_paid_share"] - before
        region_change = region["patient_paid_share"] - prev_region["patient_paid_share"]
        growth_cols["patient_paid_share_change"] = change
        for i in np.flatnonzero(have & (change - region_change >= policy.audit_growth_margin / 2)):
            flags[i].append("cost_shifting")
        missing = int((~have).sum())
        if missing:
            warnings.append(f"{missing} hospitals have no cases in the previous year: no growth")
    table = pa.table({
        "hospital_id": ids, "cases": sums["cases"], "readmissions": counts.astype(np.int64),
        "low_standard_cases": sums["low_standard"],
        **{k: pa.array(v, mask=np.isnan(v)) for k, v in ind.items()},
        **{k: pa.array(v, mask=np.isnan(v)) for k, v in growth_cols.items()},
        "flags": pa.array(flags, pa.list_(pa.string())),
    })
    return Audit(readmissions=readmissions, low_standard=low, hospitals=table, region=region,
                 warnings=warnings)
