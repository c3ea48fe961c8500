"""The synthetic province: determinism, realism checks, labels."""
import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from data_gen import Province, generate, month_bounds
from dipcore.schema import CASE_SCHEMA, fen


def _all_cases(out):
    t = ds.dataset(out / "cases", format="parquet", partitioning="hive").to_table()
    return t.sort_by("case_id")


def test_same_seed_same_data_whatever_the_chunk_size(tmp_path):
    a = generate(tmp_path / "a", 3000, (2023, 2024), hospitals=10, seed=11, chunk_rows=97)
    b = generate(tmp_path / "b", 3000, (2023, 2024), hospitals=10, seed=11, chunk_rows=5000)
    ta, tb = _all_cases(tmp_path / "a"), _all_cases(tmp_path / "b")
    assert ta.num_rows == 6000 and ta.equals(tb)
    la = pq.read_table(tmp_path / "a" / "labels.parquet").sort_by([("case_id", "ascending"), ("anomaly", "ascending")])
    lb = pq.read_table(tmp_path / "b" / "labels.parquet").sort_by([("case_id", "ascending"), ("anomaly", "ascending")])
    assert la.equals(lb)
    assert a["anomaly_cases"] == b["anomaly_cases"]
    generate(tmp_path / "c", 3000, (2023, 2024), hospitals=10, seed=12, chunk_rows=5000)
    assert not _all_cases(tmp_path / "c").equals(ta)


def test_month_bounds_partition_the_year():
    b = month_bounds(1_000_003)
    assert b[0] == 0 and b[-1] == 1_000_003 and (np.diff(b) > 0).all() and len(b) == 13


def test_partitions_hold_their_months(small_province):
    out, _ = small_province
    for f in sorted((out / "cases").rglob("*.parquet")):
        year = int(f.parent.parent.name.split("=")[1])
        month = int(f.parent.name.split("=")[1])
        t = pq.read_table(f)
        assert t.schema.names == list(CASE_SCHEMA.names)
        d = t.column("discharge_date")
        assert pc.all(pc.equal(pc.year(d), year)).as_py()
        assert pc.all(pc.equal(pc.month(d), month)).as_py()


def test_province_is_realistic_enough(small_province):
    out, manifest = small_province
    cases, _ = dc.read_cases(out / "cases", hospitals=dc.read_hospitals(out / "hospitals.csv"))
    n = cases.num_rows
    levels = pc.value_counts(cases["hospital_level"]).to_pylist()
    assert {r["values"] for r in levels} == {1, 2, 3}
    pools = {r["values"] for r in pc.value_counts(cases["pool"]).to_pylist()}
    assert pools == {"employee", "resident"}
    bed = cases["bed_day_category"].is_valid().to_numpy(zero_copy_only=False).mean()
    assert 0.005 < bed < 0.03
    ways = {r["values"] for r in pc.value_counts(cases["discharge_way"]).to_pylist()}
    assert {1, 2, 5} <= ways
    # several admissions of one patient happen
    assert pc.count_distinct(cases["patient_id"]).as_py() < 0.9 * n
    # Zipf-like: the most common principal diagnosis subcategories hold many cases,
    # and many are rare
    sub = pc.utf8_slice_codeunits(cases["primary_dx"], 0, 5)
    counts = np.sort(np.array([r["counts"] for r in pc.value_counts(sub).to_pylist()]))[::-1]
    assert counts[0] >= 15 and (counts == 1).sum() > 50
    # costs: lognormal-ish spread, fund below total
    total, fund = fen(cases["total_cost"]), fen(cases["fund_paid"])
    assert (fund <= total).all() and np.percentile(total, 90) > 2.5 * np.percentile(total, 50)
    # Charlson conditions appear among secondary diagnoses
    sec = pc.list_flatten(cases["secondary_dx"])
    assert pc.any(pc.starts_with(sec, "E11")).as_py() or pc.any(pc.starts_with(sec, "I50")).as_py()
    # excluded simple procedures are recorded alongside real ones
    procs = pc.list_flatten(cases["procedures"])
    assert pc.any(pc.equal(procs, "99.2900")).as_py()
    # costs inflate year on year
    year = pc.year(cases["discharge_date"]).to_numpy()
    assert np.median(total[year == 2024]) > np.median(total[year == 2023])


def test_labels_are_ground_truth(small_province):
    out, manifest = small_province
    labels = pq.read_table(out / "labels.parquet")
    cases = _all_cases(out)
    by_id = {r["case_id"]: r for r in cases.select(
        ["case_id", "patient_id", "hospital_id", "primary_dx", "admission_date",
         "discharge_date", "secondary_dx"]).to_pylist()}
    kinds = set(labels.column("anomaly").to_pylist())
    assert {"split_admission", "upcoded_secondary_dx", "low_standard_admission",
            "point_inflation", "bad_input"} <= kinds
    gaming = manifest["gaming_hospitals"]
    corrupted = {r["case_id"] for r in labels.to_pylist() if r["anomaly"] == "bad_input"}
    for r in labels.to_pylist():
        case = by_id[r["case_id"]]
        if r["anomaly"] == "split_admission" and not {r["case_id"], r["related_case_id"]} & corrupted:
            first = by_id[r["related_case_id"]]
            assert first["patient_id"] == case["patient_id"]
            assert first["primary_dx"][:3] == case["primary_dx"][:3]
            gap = (case["admission_date"] - first["discharge_date"]).days
            assert 1 <= gap <= 10
        elif r["anomaly"] in ("upcoded_secondary_dx", "low_standard_admission", "point_inflation"):
            assert r["hospital_id"] in gaming[r["anomaly"]]
        if r["anomaly"] == "upcoded_secondary_dx":
            assert len(case["secondary_dx"]) >= 2


def test_registry_is_readable(small_province):
    out, manifest = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    assert hospitals.num_rows == manifest["hospitals"]
    assert set(hospitals.column("kind").to_pylist()) == {"general", "tcm", "specialty"}


def test_chunks_must_stay_in_a_month():
    p = Province(1, 8)
    bounds = month_bounds(1200)
    with pytest.raises(ValueError):
        p.cases(2024, 0, 1200, int(bounds[1]) - 5, int(bounds[1]) + 5)
