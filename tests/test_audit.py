"""Supervision (SPEC 8 and 11) on generated provinces: the injected behaviours are found at
their hospitals with evidence, honest hospitals are not flagged, DIP and DRG alike; the
readmission rule by hand; bad input. The statistics by hand are in
test_supervision_statistics.py."""
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from data_gen import STRENGTHS
from dipcore.errors import InputError
from dipcore.supervision.audit import find_readmissions
from dipcore.supervision.measures import FLAGS, MEASURES


def _years(out):
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    cases, _ = dc.read_cases(out / "cases", hospitals=hospitals)
    year = pc.year(cases.column("discharge_date"))
    return hospitals, {y: cases.filter(pc.equal(year, y)) for y in (2022, 2023, 2024)}


#: Every behaviour at its strong strength, at one of the province's larger hospitals (a
#: hospital of a few hundred cases cannot show a behaviour of a few per cent beyond chance:
#: benchmarks/supervision.py measures small hospitals and weak strengths).
GAMING = [{"behaviour": b, "variant": v, "strength": s[2], "size": "large"}
          for (b, v), s in STRENGTHS.items()]


@pytest.fixture(scope="module")
def gaming_province(tmp_path_factory):
    """Three years, 40 hospitals, each behaviour of the generator at one large hospital."""
    from data_gen import generate
    out = tmp_path_factory.mktemp("gaming")
    manifest = generate(out, 40_000, (2022, 2024), hospitals=40, seed=21, drg_pack=True,
                        gaming=GAMING)
    hospitals, years = _years(out)
    return out, manifest, hospitals, years


@pytest.fixture(scope="module")
def audited(gaming_province):
    out, manifest, hospitals, years = gaming_province
    catalog = dc.calibrate(pa.concat_tables([years[2022], years[2023]]), hospitals=hospitals)
    result = dc.audit(years[2024], catalog, hospitals=hospitals, previous=years[2023])
    return manifest, catalog, result


def _honest_flagged(result, manifest):
    injected = {h for ids in manifest["gaming_hospitals"].values() for h in ids}
    flagged = result.flagged()
    honest = [h for h in result.hospitals.column("hospital_id").to_pylist() if h not in injected]
    return [h for h in honest if h in flagged], honest


def _assert_found(result, manifest):
    """Every injected behaviour flagged at its hospital; at most 5 % of honest ones flagged."""
    flagged = result.flagged()
    for behaviour, ids in manifest["gaming_hospitals"].items():
        for h in ids:
            assert behaviour in flagged.get(h, []), (behaviour, h, flagged.get(h))
    false, honest = _honest_flagged(result, manifest)
    assert len(false) <= 0.05 * len(honest), false


def test_every_injected_behaviour_is_found_at_its_hospital(audited):
    manifest, _, result = audited
    _assert_found(result, manifest)


def test_every_flag_has_its_evidence(audited):
    _, _, result = audited
    ev = result.evidence.to_pylist()
    assert ev
    for h, flags in result.flagged().items():
        for f in flags:
            rows = [r for r in ev if r["hospital_id"] == h and r["flag"] == f]
            # at least one test beyond the limit with O/E (or its growth) >= the minimum
            assert any(r["passed"] and r["z"] >= r["z_limit"] and r["effect"] >= 1.2
                       and r["cases"] >= 30 for r in rows), (h, f)
    for r in ev:
        assert r["flag"] in FLAGS and r["year"] == 2024
        assert r["ratio"] == pytest.approx(r["observed"] / r["expected"])
        assert r["observed_per_case"] == pytest.approx(r["observed"] / r["cases"])
        if r["test"] == "growth":
            assert r["effect"] == pytest.approx(r["ratio"] / r["previous_ratio"])
    # the wide table repeats the long one
    h = result.hospitals
    ind = {(r["hospital_id"], r["indicator"], r["test"]): r for r in result.indicators.to_pylist()}
    for row in h.to_pylist():
        lv = ind[(row["hospital_id"], "severe_share", "level")]
        assert row["severe_share_oe"] == lv["ratio"] and row["severe_share_z"] == lv["z"]


def test_funnel_data_places_flagged_hospitals_beyond_their_limit(audited):
    _, _, result = audited
    funnel = result.funnel.to_pylist()
    n = result.hospitals.num_rows
    tests = {(t["indicator"], t["test"]) for t in result.tests}
    assert len(funnel) == n * len(tests)
    for e in result.evidence.filter(pc.field("passed")).to_pylist():
        point = next(p for p in funnel if p["hospital_id"] == e["hospital_id"]
                     and p["indicator"] == e["indicator"] and p["test"] == e["test"])
        assert point["value"] > point["upper_limit"] > point["upper_95"] > point["null"]
    limits = result.funnel_limits.filter(pc.equal(result.funnel_limits["indicator"],
                                                  "severe_share")).to_pylist()
    widths = [r["upper_limit"] - r["lower_limit"] for r in limits if r["test"] == "level"]
    assert widths == sorted(widths, reverse=True)       # narrower as hospitals grow


def test_case_lists(audited):
    manifest, _, result = audited
    flagged = result.flagged()
    up = result.upcoded_cases.to_pylist()
    assert up
    for r in up:
        assert r["flag"] in flagged[r["hospital_id"]]
        if r["flag"] == "upcoding_diagnosis":
            assert r["cci"] >= 3
        else:
            assert r["ratio"] < 0.5
    low = result.low_standard.to_pylist()
    assert low and all(r["los"] <= 2 and r["ratio"] < 0.5
                       and r["group_code"].endswith("|conservative") for r in low)
    split = manifest["gaming_hospitals"]["split_admission"][0]
    pairs = result.readmissions.filter(pc.equal(result.readmissions["hospital_id"], split))
    assert pairs.num_rows and pc.all(pairs["same_hospital"]).as_py() is not None


def test_honest_province_flags_almost_nobody(tmp_path):
    from data_gen import generate
    generate(tmp_path, 40_000, (2022, 2024), hospitals=40, seed=22, gaming=[])
    hospitals, years = _years(tmp_path)
    catalog = dc.calibrate(pa.concat_tables([years[2022], years[2023]]), hospitals=hospitals)
    result = dc.audit(years[2024], catalog, hospitals=hospitals, previous=years[2023])
    assert len(result.flagged()) <= 1, result.flagged()
    assert result.evidence.num_rows == len(result.evidence.to_pylist())


@pytest.fixture(scope="module")
def drg_audited(gaming_province):
    out, manifest, hospitals, years = gaming_province
    rules = dc.DrgRules.load(out / "drg_pack")
    policy = dc.Policy.builtin("national_drg")
    catalog = dc.calibrate(pa.concat_tables([years[2022], years[2023]]), policy=policy,
                           hospitals=hospitals, rules=rules)
    result = dc.audit(years[2024], catalog, hospitals=hospitals, previous=years[2023],
                      rules=rules)
    return rules, catalog, result


def test_drg_audit_finds_the_injected_behaviours(gaming_province, drg_audited):
    _, manifest, _, _ = gaming_province
    _, _, result = drg_audited
    assert "cc_mcc_share_oe" in result.hospitals.column_names
    _assert_found(result, manifest)
    # CC/MCC cases behind the diagnosis upcoders' flags
    up = result.upcoded_cases.filter(pc.equal(result.upcoded_cases["flag"], "upcoding_diagnosis"))
    assert up.num_rows and all(r["cci"] >= 3 or r["cc"] for r in up.to_pylist())


def test_drg_audit_on_dask_gives_the_same_answers(gaming_province, drg_audited):
    _, _, hospitals, years = gaming_province
    rules, catalog, local = drg_audited
    dist = dc.audit(years[2024], catalog, hospitals=hospitals, previous=years[2023],
                    rules=rules, engine="dask", workers=2, batch_rows=9000)
    for name in local.TABLES:
        assert getattr(dist, name).equals(getattr(local, name)), name
    assert (dist.tests, dist.warnings, dist.region) == (local.tests, local.warnings, local.region)


def test_no_flags_from_a_handful_of_cases(gaming_province, audited):
    _, manifest, hospitals, years = gaming_province
    _, catalog, _ = audited
    strict = dc.Policy(audit_min_cases=10**6)
    result = dc.audit(years[2024], catalog, policy=strict, hospitals=hospitals,
                      previous=years[2023])
    assert result.flagged() == {} and result.evidence.num_rows == 0
    assert any("fewer than 1000000 cases and are not flagged" in w for w in result.warnings)


def test_untestable_indicators_are_named(audited):
    # a hospital with enough cases but too few of an indicator's own (grouped cases, stays
    # with a patient id ...) is named in a warning for that indicator, never silently skipped
    _, _, result = audited
    rows = result.indicators.filter(pc.equal(result.indicators["test"], "level")).to_pylist()
    cases = dict(zip(result.hospitals["hospital_id"].to_pylist(),
                     result.hospitals["cases"].to_pylist()))
    flagging = {m.name for m in MEASURES if m.flag}
    few = {}
    for r in rows:
        if r["indicator"] in flagging and r["cases"] < 30 and cases[r["hospital_id"]] >= 30:
            few.setdefault(r["hospital_id"], []).append(r["indicator"])
    named = [w for w in result.warnings if "of an indicator's own cases" in w]
    assert len(named) == (1 if few else 0)
    for h, names in list(few.items())[:10]:
        assert f"{h} ({', '.join(names)})" in named[0]


def test_previous_year_without_the_same_hospitals(gaming_province, audited):
    _, _, hospitals, years = gaming_province
    _, catalog, full = audited
    prev = years[2023]
    renamed = prev.set_column(prev.schema.get_field_index("hospital_id"), "hospital_id",
                              pc.binary_join_element_wise("X", prev["hospital_id"], ""))
    others = [{**r, "hospital_id": "X" + r["hospital_id"]} for r in hospitals.to_pylist()]
    registry = pa.concat_tables([hospitals, pa.Table.from_pylist(others, hospitals.schema)])
    result = dc.audit(years[2024], catalog, hospitals=registry, previous=renamed)
    assert "the previous year has none of this year's hospitals: no growth tests" in result.warnings
    assert not any(r["test"] == "growth" for r in result.evidence.to_pylist())
    # level flags stand as without a previous year
    no_prev = dc.audit(years[2024], catalog, hospitals=hospitals)
    assert result.evidence.equals(no_prev.evidence)


def test_an_empty_previous_year_gives_a_warning(gaming_province, audited):
    _, _, hospitals, years = gaming_province
    _, catalog, _ = audited
    result = dc.audit(years[2024], catalog, hospitals=hospitals, previous=years[2023].slice(0, 0))
    assert "the previous year has no usable cases: no growth tests" in result.warnings
    assert "severe_share_z_growth" not in result.hospitals.column_names


def test_an_empty_year_is_one_clear_error(gaming_province, audited):
    _, _, hospitals, years = gaming_province
    _, catalog, _ = audited
    with pytest.raises(InputError, match="no usable cases to audit"):
        dc.audit(years[2024].slice(0, 0), catalog, hospitals=hospitals)


def test_every_labelled_split_admission_is_found(small_province):
    out, _ = small_province
    catalog = dc.calibrate(out / "cases" / "year=2023", policy=dc.Policy(core_min_cases=5))
    result = dc.audit(out / "cases" / "year=2024", catalog)
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
    h = result.hospitals
    assert sum(h.column("readmissions").to_pylist()) == result.readmissions.num_rows
    assert sum(h.column("low_standard_cases").to_pylist()) == result.low_standard.num_rows
    assert 0 < result.region["cmi"] < 5 and 0 < result.region["death_rate"] < 0.2


def test_readmission_rule_by_hand():
    # P1: K35 discharged day 10, K35 again on day 20 (10 days later): a readmission;
    #     an I10 stay in between does not hide it; K35 again on day 60: too late (15 days).
    # P2: different categories: none. P3: no patient id: skipped.
    stays = pa.table({
        "case_id": ["a", "b", "c", "d", "e", "f", "g"],
        "patient_id": ["P1", "P1", "P1", "P1", "P2", "P2", None],
        "hospital_id": ["H1", "H2", "H1", "H1", "H1", "H1", "H1"],
        "level": pa.array([3, 2, 3, 3, 3, 3, 3], pa.int8()),
        "category": ["K35", "I10", "K35", "K35", "K35", "J18", "K35"],
        "admission": pa.array([1, 12, 20, 60, 1, 5, 1], pa.int32()),       # day numbers
        "discharge": pa.array([10, 14, 25, 65, 3, 8, 2], pa.int32()),
    })
    r = find_readmissions(stays, 15).to_pylist()
    assert [(x["case_id"], x["previous_case_id"], x["days"], x["same_hospital"]) for x in r] == [
        ("c", "a", 10, True)]
    assert find_readmissions(stays, 9).num_rows == 0


def _stays(rows):
    return pa.table({
        "case_id": [r[0] for r in rows], "patient_id": [r[1] for r in rows],
        "hospital_id": [r[2] for r in rows], "level": pa.array([3] * len(rows), pa.int8()),
        "category": [r[3] for r in rows],
        "admission": pa.array([r[4] for r in rows], pa.int32()),
        "discharge": pa.array([r[5] for r in rows], pa.int32()),
        "year": pa.array([2024] * len(rows), pa.int16())})


def test_a_stay_elsewhere_does_not_hide_a_split_and_december_counts():
    # P3: K35 at H1 (days 100-105), at H2 (107-110), at H1 again (112-115): the last is a
    # readmission after H2's stay (2 days, elsewhere) and after H1's first (7 days, same
    # hospital); H2's is one after H1's first (2 days, elsewhere).
    # P4: discharged from H1 on day -3 of last year's file, back at H1 on day 5: 8 days.
    now = _stays([("s1", "P3", "H1", "K35", 100, 105), ("s2", "P3", "H2", "K35", 107, 110),
                  ("s3", "P3", "H1", "K35", 112, 115), ("t1", "P4", "H1", "K35", 5, 9)])
    last = _stays([("t0", "P4", "H1", "K35", -10, -3), ("old", "P4", "H1", "K35", -300, -290)])
    r = find_readmissions(now, 15, last).to_pylist()
    assert sorted((x["case_id"], x["previous_case_id"], x["days"], x["same_hospital"])
                  for x in r) == [("s2", "s1", 2, False), ("s3", "s1", 7, True),
                                  ("s3", "s2", 2, False), ("t1", "t0", 8, True)]
    # last year's file overlapping this year's: a case is not its own readmission
    overlap = pa.concat_tables([last, now.filter(pc.equal(now["case_id"], "t1"))])
    again = find_readmissions(now, 15, overlap).to_pylist()
    assert sorted((x["case_id"], x["previous_case_id"]) for x in again) == [
        ("s2", "s1"), ("s3", "s1"), ("s3", "s2"), ("t1", "t0")]


def test_cli_audit(gaming_province, audited, tmp_path):
    out, manifest, _, _ = gaming_province
    _, catalog, result = audited
    catalog.save(tmp_path / "cat.parquet")
    r = subprocess.run([sys.executable, "-m", "dipcore", "audit", str(out / "cases" / "year=2024"),
                        "--catalog", str(tmp_path / "cat.parquet"), "--out", str(tmp_path / "audit"),
                        "--hospitals", str(out / "hospitals.csv"),
                        "--previous", str(out / "cases" / "year=2023")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "suspected split admissions" in r.stdout
    split = manifest["gaming_hospitals"]["split_admission"][0]
    assert any(line.strip().startswith(f"{split}: ") and "split_admission (same_hospital_readmission_rate level"
               in line for line in r.stdout.splitlines())
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert summary["flagged"] == result.flagged() and summary["year"] == 2024
    for name in result.TABLES:
        assert (tmp_path / "audit" / f"{name}.csv").exists()
