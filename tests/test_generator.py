"""The synthetic province: determinism, realism checks, gaming behaviours and their ground
truth."""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from data_gen import BEHAVIOURS, STRENGTHS, Province, default_gaming, generate, month_bounds
from data_gen.gaming import procedure_targets, size_classes
from dipcore.schema import CASE_SCHEMA, fen


#: Every behaviour at its strongest, on hospitals large enough to show it. The procedure
#: upcoder records an operation on every conservative case it can: in a province this
#: small, few diagnoses have an operation common enough to be a core group (the only
#: ones it upcodes), so a realistic strength would hide in the noise.
STRONG = [{"behaviour": b, **({"variant": v} if v else {}),
           "strength": 1.0 if b == "upcoding_procedure" else s[2], "size": size}
          for ((b, v), s), size in zip(STRENGTHS.items(), ("large", "large", "medium", "large",
                                                            "large", "large", "medium"))]
STRONG_ARGS = {"cases_per_year": 8000, "years": (2022, 2024), "hospitals": 24, "seed": 5}


@pytest.fixture(scope="module")
def strong(tmp_path_factory):
    """Every behaviour at its strongest: 3 years x 8000 cases, 24 hospitals; the cases as
    a pandas frame with what the behaviour checks need."""
    out = tmp_path_factory.mktemp("strong")
    manifest = generate(out, gaming=STRONG, **STRONG_ARGS)
    return out, manifest, _frame(out, manifest)


@pytest.fixture(scope="module")
def strong_honest(tmp_path_factory):
    """The ``strong`` province generated honest (in other chunks)."""
    out = tmp_path_factory.mktemp("honest")
    return out, generate(out, gaming=[], chunk_rows=777, **STRONG_ARGS)


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
        t = pq.ParquetFile(f).read()          # the file alone, not its hive directories
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
    # too small a province for a procedure upcoder to find an operation with a core group
    kinds = set(labels.column("anomaly").to_pylist())
    assert kinds | {"upcoding_procedure"} == set(BEHAVIOURS) | {"bad_input"}
    gaming = manifest["gaming_hospitals"]
    assert sorted(gaming) == sorted(BEHAVIOURS)
    corrupted = {r["case_id"] for r in labels.to_pylist() if r["anomaly"] == "bad_input"}
    for r in labels.to_pylist():
        case = by_id[r["case_id"]]
        if r["anomaly"] == "bad_input":
            continue
        if r["case_id"] not in corrupted:
            assert r["hospital_id"] in gaming[r["anomaly"]]
        if r["anomaly"] == "split_admission" and not {r["case_id"], r["related_case_id"]} & corrupted:
            first = by_id[r["related_case_id"]]
            assert first["patient_id"] == case["patient_id"]
            assert first["hospital_id"] == case["hospital_id"]
            assert first["primary_dx"][:3] == case["primary_dx"][:3]
            gap = (case["admission_date"] - first["discharge_date"]).days
            assert 1 <= gap <= 10
            assert case["discharge_date"].month == first["discharge_date"].month
        if r["anomaly"] == "upcoding_diagnosis":
            assert len(case["secondary_dx"]) >= 1


def test_manifest_names_the_gaming_hospitals(small_province):
    out, manifest = small_province
    entries = manifest["gaming"]
    assert [(e["behaviour"], e["variant"]) for e in entries] == list(STRENGTHS)
    assert all(e["size"] == "any" and e["strength"] == STRENGTHS[e["behaviour"], e["variant"]][1]
               for e in entries)
    for name, ids in manifest["gaming_hospitals"].items():
        assert ids == sorted({e["hospital_id"] for e in entries if e["behaviour"] == name})
    last = _all_cases(out).filter(pc.equal(pc.year(_all_cases(out)["discharge_date"]), 2024))
    counts = {r["values"]: r["counts"] for r in pc.value_counts(last["hospital_id"]).to_pylist()}
    assert all(e["cases_last_year"] == counts[e["hospital_id"]] for e in entries)


def test_default_list_gives_every_behaviour_its_own_hospital():
    assert default_gaming() == [
        {"behaviour": "split_admission", "strength": 0.07, "size": "any"},
        {"behaviour": "low_standard", "strength": 0.05, "size": "any"},
        {"behaviour": "upcoding_diagnosis", "variant": "level", "strength": 0.25, "size": "any"},
        {"behaviour": "upcoding_diagnosis", "variant": "growth", "strength": 0.25, "size": "any"},
        {"behaviour": "upcoding_procedure", "strength": 0.2, "size": "any"},
        {"behaviour": "point_inflation", "strength": 0.12, "size": "any"},
        {"behaviour": "cost_shifting", "strength": 0.12, "size": "any"},
    ]
    p = Province(3, 40)
    general = {h for h, k in enumerate(p.model.hosp_kind) if k == "general"}
    assert len(set(p.gaming_hosp)) == 7 and set(p.gaming_hosp) <= general
    assert Province(3, 40).gaming_hosp == p.gaming_hosp          # a function of the seed
    assert Province(4, 40).gaming_hosp != p.gaming_hosp
    # a province with fewer general hospitals than behaviours shares them
    tiny = Province(11, 8)
    assert len(tiny.gaming_hosp) == 7 and len(set(tiny.gaming_hosp)) < 7


def test_sizes_are_volume_terciles_of_general_hospitals():
    gaming = [{"behaviour": b, "strength": 0.1, "size": size}
              for b, size in (("split_admission", "small"), ("low_standard", "large"),
                              ("point_inflation", "medium"), ("cost_shifting", "large"))]
    p = Province(1, 40, gaming)
    classes = size_classes(p.model)
    weight = p.model.hosp_weight
    assert max(weight[classes["small"]]) <= min(weight[classes["medium"]])
    assert max(weight[classes["medium"]]) <= min(weight[classes["large"]])
    assert sorted(classes["small"] + classes["medium"] + classes["large"]) == classes["any"]
    assert [h in classes[e["size"]] for e, h in zip(gaming, p.gaming_hosp)] == [True] * 4
    assert len(set(p.gaming_hosp)) == 4
    # an explicit list never shares a hospital
    with pytest.raises(ValueError, match="large general hospital"):
        Province(1, 40, [{"behaviour": "low_standard", "strength": 0.05, "size": "large"}] * 11)


@pytest.mark.parametrize("entry, message", [
    ({"behaviour": "upcoding", "strength": 0.2}, "not one of"),
    ({"behaviour": "low_standard", "strength": 0}, "strength"),
    ({"behaviour": "low_standard", "strength": 1.5}, "strength"),
    ({"behaviour": "low_standard", "strength": "0.1"}, "strength"),
    ({"behaviour": "split_admission", "strength": 0.3}, "strength"),
    ({"behaviour": "low_standard", "strength": 0.1, "size": "huge"}, "size"),
    ({"behaviour": "low_standard", "variant": "growth", "strength": 0.1}, "variant"),
    ({"behaviour": "upcoding_diagnosis", "variant": "trend", "strength": 0.1}, "variant"),
    ({"behaviour": "low_standard", "strength": 0.1, "hospital": "H00001"}, "unknown keys"),
])
def test_a_bad_behaviour_list_is_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        Province(1, 40, [entry])


def test_intensities_by_year():
    p = Province(2, 40, [
        {"behaviour": "upcoding_diagnosis", "strength": 0.2},
        {"behaviour": "upcoding_diagnosis", "variant": "growth", "strength": 0.3},
        {"behaviour": "point_inflation", "strength": 0.2},
        {"behaviour": "upcoding_procedure", "strength": 0.25},
        {"behaviour": "cost_shifting", "strength": 0.1},
    ], n_years=4)
    level, growth, inflation, procedure, shifting = p.gaming_hosp
    row = {b: k for k, b in enumerate(BEHAVIOURS)}
    by_year = [p.intensities(y) for y in range(4)]
    assert [m[row["upcoding_diagnosis"], level] for m in by_year] == [0.2] * 4
    assert [m[row["upcoding_diagnosis"], growth] for m in by_year] == [0, 0, 0, 0.3]
    assert [m[row["upcoding_procedure"], procedure] for m in by_year] == [0, 0, 0, 0.25]
    assert [m[row["cost_shifting"], shifting] for m in by_year] == [0, 0, 0, 0.1]
    assert [round(m[row["point_inflation"], inflation], 4) for m in by_year] == [0.05, 0.1, 0.15, 0.2]
    assert sum(int((m > 0).sum()) for m in by_year) == 4 + 1 + 4 + 1 + 1
    with pytest.raises(ValueError):
        p.intensities(4)


def test_an_honest_province_labels_nothing(strong_honest):
    out, manifest = strong_honest
    assert pq.read_table(out / "labels.parquet").num_rows == 0
    assert manifest["gaming"] == [] and manifest["anomaly_cases"] == {}
    assert manifest["gaming_hospitals"] == {b: [] for b in BEHAVIOURS}


def test_a_case_no_behaviour_changed_is_the_honest_provinces(strong, strong_honest):
    """Gaming draws never touch a case's honest draws: every case the labels do not name is
    the honest province's case at the same index, so the labels name every change."""
    out = strong[0]
    honest, gamed = _all_cases(strong_honest[0]), _all_cases(out)
    labelled = pq.read_table(out / "labels.parquet")
    assert set(labelled.column("anomaly").to_pylist()) == set(BEHAVIOURS)
    changed = pa.array(sorted(set(labelled.column("case_id").to_pylist())))
    keep_g = gamed.filter(pc.invert(pc.is_in(gamed["case_id"], changed)))
    keep_h = honest.filter(pc.invert(pc.is_in(honest["case_id"], changed)))
    assert keep_g.num_rows == keep_h.num_rows > 0.8 * honest.num_rows
    assert keep_g.equals(keep_h)


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


def _frame(out, manifest):
    """Cases as a pandas frame: hospital, year, patient, diagnosis category and subcategory,
    dates, LOS, cost, fund, bed-day, a severe Charlson secondary diagnosis, the main
    procedure (after exclusions) and its class, and the case's label set."""
    import pandas as pd

    from dipcore.coding.refdata import is_excluded_procedure, procedure_class
    t = _all_cases(out)
    model = Province(manifest["seed"], manifest["hospitals"], []).model
    severe = {model.dx_codes[k] for k in model.severe_charlson}
    main = [next((c for c in procs if not is_excluded_procedure(c)), "")
            for procs in t["procedures"].to_pylist()]
    f = pd.DataFrame({
        "case_id": t["case_id"].to_pylist(), "h": t["hospital_id"].to_pylist(),
        "year": pc.year(t["discharge_date"]).to_numpy(), "patient": t["patient_id"].to_pylist(),
        "dx": t["primary_dx"].to_pylist(), "adm": t["admission_date"].to_numpy(),
        "dis": t["discharge_date"].to_numpy(), "cost": fen(t["total_cost"]) / 100.0,
        "fund": fen(t["fund_paid"]) / 100.0, "level": t["hospital_level"].to_numpy(),
        "bed": t["bed_day_category"].is_valid().to_numpy(zero_copy_only=False),
        "severe": [any(c in severe for c in sec) for sec in t["secondary_dx"].to_pylist()],
        "main": main, "cls": [procedure_class(c) if c else "conservative" for c in main]})
    f["los"] = (f.dis - f.adm).dt.days.clip(lower=1)
    f["cat"], f["sub"] = f.dx.str[:3], f.dx.str[:5]
    labels = pq.read_table(out / "labels.parquet").to_pandas()
    for b in BEHAVIOURS:
        f[b] = f.case_id.isin(set(labels.case_id[labels.anomaly == b]))
    f["honest_hospital"] = ~f.h.isin({e["hospital_id"] for e in manifest["gaming"]})
    return f


def _gamer(manifest, behaviour, variant=""):
    return next(e["hospital_id"] for e in manifest["gaming"]
                if (e["behaviour"], e["variant"]) == (behaviour, variant))


def _by_hospital_year(f, column):
    return f.groupby(["h", "year"])[column].mean().unstack("year")


def _honest(table, f):
    """The rows of ``table`` (indexed by hospital) of honest hospitals with at least 100 DIP
    cases every year: a smaller hospital's shares are mostly noise."""
    dip = f[~f.bed]
    counts = dip.groupby(["h", "year"]).size().unstack("year").min(axis=1)
    honest = set(dip.h[dip.honest_hospital])
    return table.loc[[h for h in table.index if h in honest and counts[h] >= 100]]


def test_split_admissions_show_as_readmissions(strong):
    _, manifest, f = strong
    f = f[~f.bed].sort_values(["patient", "cat", "adm"])
    gap = (f.adm - f.dis.shift()).dt.days
    f = f.assign(readmit=(f.patient == f.patient.shift()) & (f.cat == f.cat.shift())
                 & (f.h == f.h.shift()) & gap.between(1, 15))
    rate = f.groupby("h").readmit.mean()
    assert rate[_gamer(manifest, "split_admission")] > 0.05
    assert _honest(rate, f).max() < 0.015


def test_low_standard_admissions_are_short_cheap_and_conservative(strong):
    _, manifest, f = strong
    f = f[~f.bed]
    typical = f[f.cls == "conservative"].groupby(["sub", "year"]).cost.median()
    ratio = f.cost / typical.reindex(list(zip(f["sub"], f.year))).to_numpy()
    share = f.assign(low=(f.los <= 2) & (f.cls == "conservative") & (ratio < 0.5)).groupby("h").low.mean()
    assert share[_gamer(manifest, "low_standard")] > 0.04
    assert _honest(share, f).max() < 0.02


def test_diagnosis_upcoding_by_level_and_by_growth(strong):
    _, manifest, f = strong
    severe = _by_hospital_year(f[~f.bed], "severe")
    honest = _honest(severe, f)
    level = severe.loc[_gamer(manifest, "upcoding_diagnosis", "level")]
    growth = severe.loc[_gamer(manifest, "upcoding_diagnosis", "growth")]
    assert (level > honest.max() + 0.1).all()                 # every year
    assert growth[2024] > growth[2023] + 0.15 and growth[2024] > honest[2024].max() + 0.1
    assert (growth[[2022, 2023]] < honest[[2022, 2023]].max() + 0.02).all()
    # upcoded comorbidities are not treated: the cost does not follow them
    up = f[f.upcoding_diagnosis]
    same = f[f.h.isin(up.h.unique()) & ~f.upcoding_diagnosis & ~f.bed]
    assert up.cost.median() < 1.1 * same.cost.median()


def test_procedure_upcoding_raises_the_surgical_share_not_the_cost(strong):
    _, manifest, f = strong
    gamer = _gamer(manifest, "upcoding_procedure")
    model = Province(manifest["seed"], manifest["hospitals"], []).model
    targets = procedure_targets(model, manifest["cases_per_year"], 2)
    upcodable = {model.dx_codes[model.dx_base[d]][:5] for d in np.flatnonzero(targets >= 0)}
    dip = f[~f.bed & f["sub"].isin(upcodable)]
    surgical = dip.assign(s=dip.cls == "surgery")
    by_year = surgical[surgical.h == gamer].groupby("year").s.mean()
    honest = surgical[surgical.honest_hospital].groupby("year").s.mean()
    assert by_year[2024] > by_year[2023] + 0.25 and abs(by_year[2023] - by_year[2022]) < 0.1
    assert abs(honest[2024] - honest[2023]) < 0.03
    # the cost per case does not follow: the operations are not done
    cost = f[~f.bed & (f.h == gamer)].groupby("year").cost.mean()
    assert cost[2024] < 1.1 * cost[2023]
    # its upcoded cases cost much less than its real operations, against the same
    # operations at honest hospitals
    ops = f[~f.bed & (f.cls == "surgery") & f.honest_hospital]
    typical = ops.groupby(["sub", "main"]).cost.median()
    mine = f[~f.bed & (f.h == gamer) & (f.year == 2024) & (f.cls == "surgery")]
    ratio = mine.cost / typical.reindex(list(zip(mine["sub"], mine["main"]))).to_numpy()
    assert ratio[mine.upcoding_procedure].median() < 0.5 * ratio[~mine.upcoding_procedure].median()
    assert (mine.upcoding_procedure.sum() == f.upcoding_procedure.sum()
            == (f.upcoding_procedure & f["sub"].isin(upcodable)).sum() > 30)


def test_point_inflation_pushes_a_growing_share_over_the_high_cost_line(strong):
    _, manifest, f = strong
    dip = f[~f.bed]
    # a case's typical cost: the mean (at 2022 prices) of honest hospitals' cases of the same
    # diagnosis subcategory, main procedure and hospital level, where they have 5 or more
    real = dip.cost / 1.045 ** (dip.year - 2022)
    cell = [dip["sub"], dip["main"], dip.level]
    honest = real[dip.honest_hospital].groupby([c[dip.honest_hospital] for c in cell])
    typical = honest.mean()[honest.size() >= 5]
    ratio = real / typical.reindex(list(zip(*cell))).to_numpy()
    dip = dip.assign(high=ratio > 2)[ratio.notna()]
    high = _by_hospital_year(dip, "high")
    gamer = high.loc[_gamer(manifest, "point_inflation")]
    assert gamer[2022] + 0.03 < gamer[2023] < gamer[2024] - 0.03
    assert gamer[2024] > _honest(high, f)[2024].max() + 0.1
    assert dip.high[dip.point_inflation].mean() > 0.85


def test_cost_shifting_lowers_the_fund_share_in_the_last_year_only(strong):
    _, manifest, f = strong
    sums = f.groupby(["h", "year"])[["fund", "cost"]].sum()
    share = (sums.fund / sums.cost).unstack("year")
    change = share.diff(axis=1)
    gamer = change.loc[_gamer(manifest, "cost_shifting")]
    assert gamer[2024] < -0.1 and abs(gamer[2023]) < 0.02
    assert _honest(change, f)[[2023, 2024]].abs().max().max() < 0.03


def test_procedure_upcoding_moves_cases_to_surgical_dip_groups(strong):
    out, _, f = strong
    cases, _ = dc.read_cases(out / "cases", hospitals=dc.read_hospitals(out / "hospitals.csv"))
    year = pc.year(cases["discharge_date"])
    catalog = dc.calibrate(cases.filter(pc.less(year, 2024)), years=[2022, 2023])
    result = dc.settle(cases.filter(pc.equal(year, 2024)), catalog,
                       budget={"employee": 1e7, "resident": 1e7})
    upcoded = pa.array(f.case_id[f.upcoding_procedure].tolist())
    settled = result.cases.filter(pc.is_in(result.cases["case_id"], upcoded))
    assert settled.num_rows == len(upcoded)
    assert set(settled["case_class"].to_pylist()) == {"surgery"}
    grouped = settled.filter(pc.is_valid(settled["treatment_class"]))
    assert set(grouped["treatment_class"].to_pylist()) == {"surgery"}
    assert grouped.num_rows > 0.8 * settled.num_rows


# ---- honest hospital heterogeneity --------------------------------------------------------

HET_ARGS = {"cases_per_year": 12000, "years": (2024, 2024), "hospitals": 40, "seed": 3,
            "gaming": []}


@pytest.fixture(scope="module")
def heterogeneous(tmp_path_factory):
    """One honest province generated without heterogeneity (no argument) and with
    ``heterogeneity=1``: 12000 cases, 40 hospitals."""
    out = tmp_path_factory.mktemp("het")
    plain = generate(out / "plain", **HET_ARGS)
    het = generate(out / "het1", heterogeneity=1.0, **HET_ARGS)
    return out, plain, het


def _het_frame(out):
    import pandas as pd
    t = _all_cases(out)
    return pd.DataFrame({
        "h": t["hospital_id"].to_pylist(), "level": t["hospital_level"].to_numpy(),
        "secondary": pc.list_value_length(t["secondary_dx"]).to_numpy(),
        "log_cost": np.log(fen(t["total_cost"]) / 100.0),
        "bed": t["bed_day_category"].is_valid().to_numpy(zero_copy_only=False)})


def test_no_heterogeneity_is_the_province_as_before(heterogeneous, tmp_path):
    out, plain, _ = heterogeneous
    assert plain["heterogeneity"] == 0.0
    # explicitly 0 (whatever the drift, in other chunks): the same cases and labels
    zero = generate(tmp_path / "zero", heterogeneity=0, heterogeneity_drift=0.8,
                    chunk_rows=1111, **HET_ARGS)
    assert zero["heterogeneity"] == 0.0 and zero["heterogeneity_drift"] == 0.8
    assert _all_cases(tmp_path / "zero").equals(_all_cases(out / "plain"))
    p = Province(3, 40, [])
    assert (p.effects[:, [0, 1, 2, 3, 4, 6, 7]] == 1.0).all() and (p.effects[:, 5] == 0.0).all()


def test_heterogeneity_is_deterministic_and_changes_the_cases(heterogeneous, tmp_path):
    out, _, het = heterogeneous
    assert het["heterogeneity"] == 1.0 and het["heterogeneity_drift"] == pytest.approx(1 / 3)
    again = generate(tmp_path / "again", heterogeneity=1.0, chunk_rows=997, **HET_ARGS)
    one = _all_cases(out / "het1")
    assert _all_cases(tmp_path / "again").equals(one)
    assert again["anomaly_cases"] == het["anomaly_cases"] == {}
    plain = _all_cases(out / "plain")
    # who is admitted where for what does not move (but for honest readmissions, whose
    # rate is a hospital effect); how they are treated and coded does
    assert one["case_id"].equals(plain["case_id"])
    same = pc.and_(pc.equal(one["patient_id"], plain["patient_id"]),
                   pc.equal(one["hospital_id"], plain["hospital_id"]))
    assert 0.99 * one.num_rows < pc.sum(same).as_py() < one.num_rows
    assert not one["total_cost"].equals(plain["total_cost"])
    assert not one["secondary_dx"].equals(plain["secondary_dx"])


def test_heterogeneity_makes_hospitals_of_a_level_differ(heterogeneous):
    out, _, _ = heterogeneous
    plain, het = _het_frame(out / "plain"), _het_frame(out / "het1")
    plain, het = plain[~plain.bed], het[~het.bed]
    counts = plain.groupby("h").size()
    big = counts[counts >= 150].index
    assert len(big) >= 15

    def spread(f):
        """Between-hospital spread, within levels, of secondary diagnoses per case (relative
        to the level's mean)."""
        mean = f[f.h.isin(big)].groupby(["level", "h"]).secondary.mean()
        return (mean / mean.groupby(level="level").transform("mean")).std()
    assert spread(het) > 1.5 * spread(plain)
    # the same cases at the same hospitals: the hospital's effects show in its cases
    from data_gen.heterogeneity import EFFECTS, NAMES
    effects = Province(3, 40, [], heterogeneity=1.0).effects[0]
    index = [int(h[1:]) for h in big]
    assert [e[1] for e in EFFECTS] == [0.10, 0.10, 0.08, 0.08, 0.10, 0.02, 0.30, 0.20]
    secondary = np.log(het.groupby("h").secondary.mean()[big]
                       / plain.groupby("h").secondary.mean()[big])
    depth = np.log(effects[NAMES.index("coding_depth"), index])
    assert np.corrcoef(secondary, depth)[0, 1] > 0.95
    cost = het.groupby("h").log_cost.mean()[big] - plain.groupby("h").log_cost.mean()[big]
    level = np.log(effects[NAMES.index("cost"), index])
    assert np.corrcoef(cost, level)[0, 1] > 0.5
    assert 0.5 < np.polyfit(level, cost, 1)[0] < 1.5
    assert 0.04 < np.std(level) < 0.14      # about 0.08 at heterogeneity 1


def test_hospital_effects_are_stable_scaled_and_drift():
    from data_gen.heterogeneity import EFFECTS, hospital_effects
    sizes = np.array([s for _, s, _ in EFFECTS])
    mult = np.array([m for _, _, m in EFFECTS])

    def log(e):
        return np.where(mult[:, None], np.log(np.where(mult[:, None], e, 1.0)), e)
    one = hospital_effects(7, 300, 4, 1.0)
    assert one.shape == (4, len(EFFECTS), 300)
    # the same standard normals, scaled by heterogeneity (readmission and tail are capped)
    two = hospital_effects(7, 300, 4, 2.0)
    np.testing.assert_allclose(log(two)[:, :6], 2 * log(one)[:, :6], rtol=1e-12, atol=1e-15)
    # a year's effects do not depend on how many years follow
    np.testing.assert_array_equal(hospital_effects(7, 300, 2, 1.0), one[:2])
    # stable: the first year's spread is each effect's size; without drift, every year alike
    first = log(one)[0]
    np.testing.assert_allclose(first.std(axis=1), sizes, rtol=0.2)
    still = hospital_effects(7, 300, 4, 1.0, drift=0.0)
    assert (still == still[:1]).all() and (still[0] == one[0]).all()
    # drift: a random walk, a third of the size a year
    steps = np.diff(log(one), axis=0)
    np.testing.assert_allclose(steps.std(axis=(0, 2)), sizes / 3, rtol=0.2)
    assert not (hospital_effects(8, 300, 4, 1.0) == one).all()
    for bad in (-0.5, float("nan"), "1", True):
        with pytest.raises(ValueError, match="heterogeneity"):
            Province(1, 8, [], heterogeneity=bad)
    with pytest.raises(ValueError, match="heterogeneity_drift"):
        Province(1, 8, [], heterogeneity=1.0, heterogeneity_drift=-1)


def test_generating_again_replaces_the_cases_and_refuses_foreign_ones(tmp_path):
    """A province generated where one was before holds only its own cases (no month or
    part file of the earlier one left to be read twice); a cases/ folder the generator did
    not write is refused, not deleted; a negative seed is an error."""
    out = tmp_path / "prov"
    generate(out, 120, (2023, 2024), hospitals=5, seed=1)
    second = generate(out, 24, (2024, 2024), hospitals=5, seed=2)
    cases = dc.read_cases(out / "cases")[0]
    assert cases.num_rows == second["cases"] == 24
    foreign = tmp_path / "foreign"
    (foreign / "cases").mkdir(parents=True)
    (foreign / "cases" / "mine.parquet").write_bytes(b"x")
    with pytest.raises(dc.InputError, match="holds a cases/ folder the generator did not write"):
        generate(foreign, 24, (2024, 2024), hospitals=5)
    assert (foreign / "cases" / "mine.parquet").exists()
    with pytest.raises(dc.InputError, match="seed must not be negative"):
        generate(tmp_path / "p3", 24, (2024, 2024), seed=-1)
