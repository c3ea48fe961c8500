"""Supervision signals (SPEC 8) against the generator's ground truth and by hand."""
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from dipcore.supervision.audit import find_readmissions


@pytest.fixture(scope="module")
def audited(small_province):
    out, manifest = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    catalog = dc.calibrate(out / "cases" / "year=2023", hospitals=hospitals,
                           policy=dc.Policy(core_min_cases=5))
    result = dc.audit(out / "cases" / "year=2024", catalog, hospitals=hospitals,
                      previous=out / "cases" / "year=2023")
    return out, manifest, result


def test_every_labelled_split_admission_is_found(audited):
    out, _, result = audited
    labels = pq.read_table(out / "labels.parquet")
    cases, _ = dc.read_cases(out / "cases" / "year=2024")
    kept = set(cases.column("case_id").to_pylist())
    want = {(r["case_id"], r["related_case_id"]) for r in labels.to_pylist()
            if r["anomaly"] == "split_admission" and r["year"] == 2024
            and r["case_id"] in kept and r["related_case_id"] in kept}
    found = set(zip(result.readmissions.column("case_id").to_pylist(),
                    result.readmissions.column("previous_case_id").to_pylist()))
    assert want and want <= found
    days = np.asarray(result.readmissions.column("days"))
    assert days.min() >= 0 and days.max() <= 15


def test_gaming_hospitals_are_flagged(audited):
    _, manifest, result = audited
    flags = {r["hospital_id"]: r["flags"] for r in result.hospitals.to_pylist()}
    gaming = manifest["gaming_hospitals"]
    assert "readmissions" in flags[gaming["split_admission"][0]]
    assert "low_standard" in flags[gaming["low_standard_admission"][0]]
    assert "point_inflation" in flags[gaming["point_inflation"][0]]
    # low-standard cases are low-cost conservative stays of at most 2 days
    low = result.low_standard.to_pylist()
    assert low and all(r["los"] <= 2 and r["ratio"] < 0.5 and r["group_code"].endswith(
        ("|conservative",)) for r in low)


def test_indicators_add_up(audited):
    _, _, result = audited
    h = result.hospitals
    assert sum(h.column("readmissions").to_pylist()) == result.readmissions.num_rows
    assert sum(h.column("low_standard_cases").to_pylist()) == result.low_standard.num_rows
    assert 0 < result.region["cmi"] < 5 and 0 < result.region["death_rate"] < 0.2
    assert "points_per_case_growth" in h.column_names


def test_readmission_rule_by_hand():
    # P1: K35 discharged day 10, K35 again on day 20 (10 days later): a readmission;
    #     an I10 stay in between does not hide it; K35 again on day 60: too late (15 days).
    # P2: different categories: none. P3: no patient id: skipped.
    stays = pa.table({
        "case_id": ["a", "b", "c", "d", "e", "f", "g"],
        "patient_id": ["P1", "P1", "P1", "P1", "P2", "P2", None],
        "hospital_id": ["H1", "H2", "H1", "H1", "H1", "H1", "H1"],
        "category": ["K35", "I10", "K35", "K35", "K35", "J18", "K35"],
        "admission": pa.array([1, 12, 20, 60, 1, 5, 1], pa.int32()),       # day numbers
        "discharge": pa.array([10, 14, 25, 65, 3, 8, 2], pa.int32()),
    })
    r = find_readmissions(stays, 15).to_pylist()
    assert [(x["case_id"], x["previous_case_id"], x["days"], x["same_hospital"]) for x in r] == [
        ("c", "a", 10, True)]
    assert find_readmissions(stays, 9).num_rows == 0


def test_cli_audit(small_province, tmp_path):
    out, manifest = small_province
    cat = dc.calibrate(out / "cases" / "year=2023", policy=dc.Policy(core_min_cases=5))
    cat.save(tmp_path / "cat.parquet")
    r = subprocess.run([sys.executable, "-m", "dipcore", "audit", str(out / "cases" / "year=2024"),
                        "--catalog", str(tmp_path / "cat.parquet"), "--out", str(tmp_path / "audit"),
                        "--previous", str(out / "cases" / "year=2023")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "suspected split admissions" in r.stdout
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert summary["readmissions"] > 0 and summary["flagged"]
    for name in ("readmissions.csv", "low_standard.csv", "hospitals.csv", "hospitals.parquet"):
        assert (tmp_path / "audit" / name).exists()
