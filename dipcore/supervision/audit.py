"""Supervision signals and appraisal indicators (SPEC.md section 8).

``audit`` scores a year's cases against a catalogue (the same ``score_batch`` as settlement,
so groups, outlier classes and CMI are the settlement's) and reports:

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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore.api import _replayable
from dipcore.catalog import Catalog
from dipcore.ingest.reader import pieces
from dipcore.reports.files import atomic_path
from dipcore.engine.local import Checking
from dipcore.policy import Policy
from dipcore.schemes.dip.features import features
from dipcore.payment.points import score_batch
from dipcore.payment.settlement import HOSPITAL_SUMS, hospital_sums
from dipcore.ingest.sources import DEFAULT_BATCH_ROWS, count_rows

MIN_EVENTS = 5
SEVERE_CCI = 3
_SUMS = HOSPITAL_SUMS + ("severe", "secondary", "low_standard")


@dataclass
class Audit:
    """Result of :func:`audit`.

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


def _year_facts(cases: Any, catalog: Catalog, policy: Policy, hospitals, encoding, mapping,
                batch_rows) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Per-case stay facts (for readmissions), low-standard cases, per-hospital sums."""
    conservative = np.array([c == "conservative" for c in
                             catalog.groups.column("treatment_class").to_pylist()] or [False])
    codes = catalog.groups.column("group_code")

    def work(b):            # on the pool: everything that depends on one batch only
        if b.n == 0:
            return None
        f = features(b, policy)
        s = score_batch(f, catalog, policy)
        hospital_id = b.hospital_id()
        diagnoses = b.codebook.diagnoses
        stays = pa.table({
            "case_id": b.case_id, "patient_id": b.patient_id(), "hospital_id": hospital_id,
            "category": diagnoses.keys[3].take(diagnoses.facts()["key3"][b.dx]),
            "admission": pa.array(b.admission, pa.int32()),
            "discharge": pa.array(b.discharge, pa.int32()),
        })
        dip = s.kind == P.DIP
        low = dip & (s.outlier == P.LOW) & conservative[np.maximum(s.row, 0)] & \
            (f.los <= policy.low_standard_max_los)
        lows = None
        if low.any():
            take = pa.array(np.flatnonzero(low))
            lows = pa.table({
                "case_id": b.case_id.take(take),
                "hospital_id": hospital_id.take(take),
                "group_code": codes.take(pa.array(s.row[low])),
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
            **{c: sums[present, j] for j, c in enumerate(_SUMS)}})

    source = _replayable(cases)
    checking = Checking(hospitals, expected_rows=count_rows(source))
    stays, lows, sums = [], [], []
    for done in checking.run(pieces(source, hospitals, encoding, mapping, batch_rows), work):
        if done is not None:
            stays.append(done[0])
            if done[1] is not None:
                lows.append(done[1])
            sums.append(done[2])
    if not sums:
        empty = pa.table({"hospital_id": pa.array([], pa.string())})
        return empty, empty, empty
    total = pa.concat_tables(sums).group_by("hospital_id").aggregate([(c, "sum") for c in _SUMS]) \
        .rename_columns(["hospital_id"] + list(_SUMS)).sort_by("hospital_id")
    low_table = pa.concat_tables(lows) if lows else pa.table({
        "case_id": pa.array([], pa.string()), "hospital_id": pa.array([], pa.string()),
        "group_code": pa.array([], pa.string()), "los": pa.array([], pa.int32()),
        "ratio": pa.array([], pa.float64())})
    return pa.concat_tables(stays), low_table, total


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


def _indicators(sums: dict[str, np.ndarray], readmits: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    n = np.maximum(sums["cases"], 1).astype(float)
    dip = sums["dip_cases"].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "cmi": np.where(dip > 0, sums["rw"] / 10_000.0 / dip / scale, np.nan),
            "mean_cost": sums["cost"] / 100.0 / n,
            "mean_los": sums["los"] / n,
            "outlier_share": np.where(dip > 0, (sums["low"] + sums["high"] + sums["extreme"]) / dip,
                                      np.nan),
            "readmission_rate": readmits / n,
            "operation_rate": np.where(dip > 0, sums["surgery"] / dip, np.nan),
            "severe_share": sums["severe"] / n,
            "patient_paid_share": (sums["cost"] - sums["fund"]) / np.maximum(sums["cost"], 1),
            "death_rate": sums["deaths"] / n,
            "low_standard_share": sums["low_standard"] / n,
            "secondary_per_case": sums["secondary"] / n,
            "points_per_case": sums["points"] / 10_000.0 / n,
        }


def _columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {c: table.column(c).to_numpy() for c in _SUMS}


def audit(cases: Any, catalog: Catalog, policy: Policy | None = None,
          hospitals: pa.Table | None = None, previous: Any = None, *, encoding: str = "utf-8",
          mapping: dict | None = None, batch_rows: int = DEFAULT_BATCH_ROWS) -> Audit:
    """Supervision signals and appraisal indicators of a year (SPEC.md section 8).

    Parameters
    ----------
    cases : path, table or stream
        The year's cases (anything :func:`dipcore.read_cases` accepts).
    catalog : Catalog
        Scores the cases (CMI, outliers, groups).
    policy : Policy, optional
        Thresholds (``readmit_days``, ``low_standard_max_los``, ``audit_share_ratio``,
        ``audit_growth_margin``); defaults to the catalogue's policy.
    hospitals : pyarrow.Table, optional
        Hospital registry.
    previous : path, table or stream, optional
        The previous year's cases, for the year-on-year signals.

    Returns
    -------
    Audit
    """
    policy = policy or catalog.policy
    stays, low, sums_t = _year_facts(cases, catalog, policy, hospitals, encoding, mapping, batch_rows)
    warnings: list[str] = []
    if sums_t.num_rows == 0:
        from dipcore.errors import InputError
        raise InputError("no usable cases to audit")
    readmissions = find_readmissions(stays, policy.readmit_days)
    ids = sums_t.column("hospital_id").to_pylist()
    pos = {h: i for i, h in enumerate(ids)}
    counts = np.zeros(len(ids))
    for h in readmissions.column("hospital_id").to_pylist():
        counts[pos[h]] += 1
    sums = _columns(sums_t)
    ind = _indicators(sums, counts, policy.score_scale)
    region_sums = {k: np.array([v.sum()]) for k, v in sums.items()}
    region = {k: float(v[0]) for k, v in _indicators(region_sums, np.array([counts.sum()]),
                                                      policy.score_scale).items()}
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
        _, _, prev_t = _year_facts(previous, catalog, policy, hospitals, encoding, mapping, batch_rows)
        prev_ids = prev_t.column("hospital_id").to_pylist()
        prev_pos = {h: i for i, h in enumerate(prev_ids)}
        prev_sums = _columns(prev_t)
        prev_ind = _indicators(prev_sums, np.zeros(len(prev_ids)), policy.score_scale)
        prev_region = {k: float(v[0]) for k, v in _indicators(
            {k: np.array([v.sum()]) for k, v in prev_sums.items()}, np.zeros(1),
            policy.score_scale).items()}
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
