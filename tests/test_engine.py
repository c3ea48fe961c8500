"""Engine invariants, policies, bad input and the command line, on a generated province."""
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from dipcore.schema import fen


@pytest.fixture(scope="module")
def province(small_years):
    return small_years


@pytest.fixture(scope="module")
def catalog(province):
    return dc.calibrate(province["history"], policy=dc.Policy(core_min_cases=5))


def _budget(cases):
    pools = np.array(cases["pool"].to_pylist(), dtype=object)
    paid = fen(cases["fund_paid"])
    return {p: float(paid[pools == p].sum()) / 100.0 for p in sorted(set(pools))}


def _shuffled(table, seed):
    return table.take(pa.array(np.random.default_rng(seed).permutation(table.num_rows)))


def test_catalogue_is_independent_of_batches_and_row_order(province, catalog, tmp_path):
    policy = dc.Policy(core_min_cases=5)
    a = catalog
    b = dc.calibrate(province["history"], policy=policy, batch_rows=333)
    c = dc.calibrate(_shuffled(province["history"], 1), policy=policy, batch_rows=1000)
    for other in (b, c):
        assert other.groups.equals(a.groups)
        assert other.mean_cost == a.mean_cost
        assert other.level_coefficients == a.level_coefficients
        assert other.bed_day_rates == a.bed_day_rates
        assert other.budget_point_value == a.budget_point_value
        assert other.fingerprint == a.fingerprint
    a.save(tmp_path / "a.parquet")
    c.save(tmp_path / "c.parquet")
    with pytest.raises(dc.InputError, match="a catalogue is saved as Parquet"):
        a.save(tmp_path / "a.csv")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
    back = dc.Catalog.load(tmp_path / "a.parquet")
    assert back.groups.equals(a.groups) and back.policy == a.policy
    assert back.level_coefficients == a.level_coefficients


def test_catalogue_is_reasonable(catalog):
    g = catalog.groups
    kinds = set(g.column("kind").to_pylist())
    assert kinds == {"core", "comprehensive"}
    assert any(g.column("basic").to_pylist())
    assert catalog.level_coefficients[1] < catalog.level_coefficients[2] < catalog.level_coefficients[3]
    assert set(catalog.bed_day_rates) == {"psychiatric", "rehabilitation", "hospice"}
    assert all(v > 0 for v in catalog.budget_point_value.values())
    # score is mean / M x 1000 (4 decimals)
    for r in g.to_pylist()[:50]:
        assert r["score"] == pytest.approx(r["mean_cost"] / catalog.mean_cost * 1000, abs=6e-5)
    subtypes = [s for lst in g.column("subtypes").to_pylist() for s in lst]
    assert subtypes and all(s["cases"] >= 5 for s in subtypes)


def test_settlement_is_independent_of_batches_and_row_order(province, catalog):
    budget = _budget(province["current"])
    a = dc.settle(province["current"], catalog, budget=budget)
    b = dc.settle(_shuffled(province["current"], 2), catalog, budget=budget, batch_rows=257)
    assert a.point_value == b.point_value
    assert a.hospitals.equals(b.hospitals)
    assert a.monthly.equals(b.monthly)
    assert a.cases.sort_by("case_id").equals(b.cases.sort_by("case_id"))


def test_payments_close_to_the_budget_and_cases_are_kept(province, catalog):
    budget = _budget(province["current"])
    # read straight from the files, bad rows included: cases in = out + quarantined
    out = province["out"]
    rows_2024 = sum(pq.ParquetFile(f).metadata.num_rows
                    for f in (out / "cases" / "year=2024").rglob("*.parquet"))
    r = dc.settle(out / "cases" / "year=2024", catalog, budget=budget,
                  hospitals=province["hospitals"])
    assert r.cases.num_rows + r.quarantine.num_rows == rows_2024
    assert r.quarantine.num_rows > 0 and any("quarantined" in w for w in r.warnings)
    for pool, amount in budget.items():
        rows = [h for h in r.hospitals.to_pylist() if h["pool"] == pool]
        assert sum(h["fund_base"] for h in rows) == Decimal(str(round(amount, 2)))
        # points of the statements are the points of the cases
        pts = sum(c["points"] for c in r.cases.to_pylist() if c["pool"] == pool)
        assert sum(h["points"] for h in rows) == pts
    # every case has points and a kind; DIP cases an outlier class
    kinds = set(r.cases.column("group_kind").to_pylist())
    assert {"core", "comprehensive", "bed_day"} <= kinds
    assert pc.min(r.cases["points"]).as_py() >= 0


def test_the_settlement_counts_its_case_labels(province, catalog, tmp_path):
    """``Settlement.case_labels`` (what the CLI summary prints) are the label counts of the
    per-case table, whether it is kept in memory or streamed to ``cases.parquet``."""
    from dipcore.schema import label_counts

    cur = province["current"]
    kept = dc.settle(cur, catalog, budget=_budget(cur), batch_rows=900)
    streamed = dc.settle(cur, catalog, budget=_budget(cur), batch_rows=900, out=tmp_path / "out")
    assert streamed.cases_path is not None
    for column in ("outlier", "group_kind"):
        counts = label_counts(kept.cases.column(column))
        assert kept.case_labels[column] == counts
        assert streamed.case_labels[column] == label_counts(streamed.cases.column(column)) == counts
    assert sum(kept.case_labels["group_kind"].values()) == kept.cases.num_rows
    assert {"core", "bed_day"} <= set(kept.case_labels["group_kind"])


def test_a_pool_without_budget_is_an_error(province, catalog):
    with pytest.raises(dc.InputError, match="resident"):
        dc.settle(province["current"], catalog, budget={"employee": 1e6})


def test_warnings(province, catalog, tmp_path):
    cur = province["current"]
    budget = _budget(cur)
    ids = cur.column("case_id").to_pylist()[:3] + ["NOPE-1"]
    r = dc.settle(cur, catalog, budget=budget, special_cases=ids,
                  policy=dc.Policy(core_min_cases=15),
                  appraisal=pa.table({"hospital_id": ["HX"], "coefficient": [0.9]}))
    text = "\n".join(r.warnings)
    assert "not among the cases" in text and "NOPE-1" in text
    assert "different policy (core_min_cases)" in text
    assert "appraisal: hospital HX has no cases" in text
    extra = dc.settle(cur, catalog, budget={**budget, "Employee": 1.0})
    assert "pool 'Employee' has a budget but no cases in this settlement (not used)" \
        in extra.warnings
    assert (r.cases.column("group_kind").to_pylist().count("special")) == 3
    no_rates = dc.Catalog(groups=catalog.groups, mean_cost=catalog.mean_cost,
                          level_coefficients=catalog.level_coefficients, bed_day_rates={},
                          policy=catalog.policy)
    r = dc.settle(cur, no_rates, budget=budget)
    assert any("no bed-day rate" in w for w in r.warnings)


def test_unreadable_catalogue(tmp_path):
    bad = tmp_path / "cat.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(dc.InputError, match="cat.parquet"):
        dc.Catalog.load(bad)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1]}), plain)
    with pytest.raises(dc.InputError, match="not a dipcore catalogue"):
        dc.Catalog.load(plain)


def test_official_csv_catalogue(tmp_path, province):
    path = tmp_path / "official.csv"
    path.write_text("group_code,dx_key,procedures,score,kind\n"
                    "K35.9|47.0100,K35.9,47.0100,1200.5,core\n"
                    "K35.9|conservative,K35.9,,600,basic\n"
                    "K35|surgery,K35,,900,comprehensive\n", encoding="utf-8")
    with pytest.raises(dc.InputError, match="mean cost M"):
        dc.Catalog.load(path)
    (tmp_path / "official.json").write_text('{"mean_cost": 8800, "level_coefficients": {"1": 0.6, "2": 0.85, "3": 1.1}}')
    cat = dc.Catalog.load(path)
    g = {r["group_code"]: r for r in cat.groups.to_pylist()}
    assert g["K35.9|47.0100"]["treatment_class"] == "surgery"
    assert g["K35.9|conservative"]["basic"] and g["K35|surgery"]["kind"] == "comprehensive"
    # a group without a mean cost is compared against the cost its score implies
    assert g["K35.9|47.0100"]["mean_cost"] == pytest.approx(1200.5 * 8.8)
    assert cat.level_coefficients == {1: 0.6, 2: 0.85, 3: 1.1}


def test_policy_files():
    for name in ("national", "shandong_example", "hubei_example"):
        dc.Policy.builtin(name)
    assert dc.Policy.builtin("national") == dc.Policy()
    p = dc.Policy.builtin("shandong_example")
    assert (p.high_rule, p.pv_mode, p.reserve, p.sharing_bands) == ("shandong", "fixed", 0.05,
                                                                    [[0.1, 0.5], [0.2, 0.3]])


def test_policy_rejects_unknown_and_bad_values(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('high_rule = "hubei"\nhigh_ration = 2.0\nfoo = 1\n')
    with pytest.raises(dc.InputError, match="unknown policy key.*foo, high_ration") as info:
        dc.Policy.load(path)
    assert str(path) in str(info.value)
    with pytest.raises(dc.InputError, match="high_rule"):
        dc.Policy(high_rule="beijing")
    with pytest.raises(dc.InputError, match="fixed_point_value"):
        dc.Policy(pv_mode="fixed")
    with pytest.raises(dc.InputError, match="low_ratio"):
        dc.Policy(low_ratio=3.0)
    path.write_text("high_rule = ")
    with pytest.raises(dc.InputError, match="TOML"):
        dc.Policy.load(path)


def test_regional_policies_settle(province, catalog):
    budget = _budget(province["current"])
    for name in ("shandong_example", "hubei_example"):
        r = dc.settle(province["current"], catalog, budget=budget, policy=dc.Policy.builtin(name))
        assert r.hospitals.num_rows > 0
        assert all(v > 0 for v in r.point_value.values())


def test_api_takes_a_catalogue_path_a_policy_by_name_and_one_year(province, catalog, tmp_path):
    """``settle`` reads a catalogue from its path and a policy from a built-in name or a
    mapping of its fields, with the same result as the objects; ``calibrate`` takes one
    year alone. Arguments of another type stop with one line, not a traceback."""
    budget = _budget(province["current"])
    catalog.save(tmp_path / "cat.parquet")
    national = dc.Policy.builtin("national")
    want = dc.settle(province["current"], catalog, budget=budget, policy=national)
    for given, policy in ((tmp_path / "cat.parquet", "national"),
                          (str(tmp_path / "cat.parquet"), national.to_dict())):
        got = dc.settle(province["current"], given, budget=budget, policy=policy)
        assert got.point_value == want.point_value and got.hospitals.equals(want.hospitals)
    history = province["history"]
    year = max(history["discharge_date"].to_pylist()).year
    one = dc.calibrate(history, policy=catalog.policy, years=year)
    listed = dc.calibrate(history, policy=catalog.policy, years=[np.int64(year)])
    assert one.fingerprint == listed.fingerprint and one.groups.equals(listed.groups)
    for call, message in (
            (lambda: dc.settle(province["current"], catalog, budget=5e7),
             "the budget is a mapping of pool to yuan"),
            (lambda: dc.sweep(province["current"], catalog, {"a": {}}, budget=5e7),
             "the budget is a mapping of pool to yuan"),
            (lambda: dc.settle(province["current"], 5, budget=budget),
             "catalog must be a Catalog or the path of a saved one, not int"),
            (lambda: dc.settle(province["current"], catalog, budget=budget, policy=5),
             "policy must be a Policy"),
            (lambda: dc.calibrate(history, years=2023.0), "years must be a year or a list"),
            (lambda: dc.calibrate(history, years=[]), "years is empty"),
            (lambda: dc.calibrate(history, years=[year - 9, year]),
             f"no usable cases discharged in {year - 9} \\(the history's are in ")):
        with pytest.raises(dc.InputError, match=message):
            call()


def test_reading_options_are_checked_where_a_job_starts(province, catalog, tmp_path):
    """Encoding, hospitals, mapping, batch size, code list, rule pack and progress of a
    wrong kind stop with one line; a registry may be given as its path."""
    cur, budget = province["current"], _budget(province["current"])
    for call, message in (
            (lambda: dc.read_cases(cur, encoding="no-such-codec"), "unknown encoding 'no-such-codec'"),
            (lambda: dc.read_hospitals(cur, encoding=8), "encoding must be a text"),
            (lambda: dc.settle(cur, catalog, budget, hospitals=5), "hospitals must be a registry"),
            (lambda: dc.settle(cur, catalog, budget, hospitals=pa.table({"id": ["H1"]})),
             "the hospital registry lacks a required column"),
            (lambda: dc.settle(cur, catalog, budget, batch_rows=0), "batch_rows must be a positive"),
            (lambda: dc.calibrate(cur, batch_rows="many"), "batch_rows must be a positive"),
            (lambda: dc.read_cases(cur, mapping=["case_id"]), "mapping must be a dict"),
            (lambda: dc.read_cases(cur, code_list=3), "code_list must be a CodeList"),
            (lambda: dc.drg_group(cur, 3), "a rule pack is the path of its directory"),
            (lambda: dc.calibrate(cur, workers=2), "workers and client are for engine='dask'"),
            (lambda: dc.calibrate(cur, engine="dask", workers=-1), "workers must be a positive"),
            (lambda: dc.calibrate(cur, engine="dask", client="tcp://x:1"),
             "client must be a dask.distributed.Client"),
            (lambda: dc.settle(cur, catalog, budget, progress="bar"),
             "progress must be a function progress\\(stage, done, total\\), not str")):
        with pytest.raises(dc.InputError, match=message):
            call()
    from dipcore.engine import threads
    with pytest.raises(dc.InputError, match="threads must be a positive whole number"):
        threads.set_threads(0)
    with pytest.MonkeyPatch.context() as env:        # a NumPy integer is a whole number
        env.setattr(threads, "_threads", None)
        threads.set_threads(np.int64(2))
        assert threads.threads() == 2 and type(threads._threads) is int
    with pytest.MonkeyPatch.context() as env:
        env.setattr(threads, "_threads", None)      # as no set_threads before: the variable
        env.setenv("DIPCORE_THREADS", "x")
        with pytest.raises(dc.InputError, match="DIPCORE_THREADS must be a positive"):
            threads.threads()
    path = tmp_path / "registry.csv"
    pacsv.write_csv(province["hospitals"], path)
    by_path = dc.settle(cur, catalog, budget, hospitals=path)
    by_table = dc.settle(cur, catalog, budget, hospitals=province["hospitals"])
    assert by_path.hospitals.equals(by_table.hospitals)


def run(*args):
    return subprocess.run([sys.executable, "-m", "dipcore", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def test_cli_calibrate_and_settle(small_province, tmp_path):
    out, _ = small_province
    r = run("calibrate", out / "cases" / "year=2023", "--out", tmp_path / "cat.parquet",
            "--hospitals", out / "hospitals.csv", "--policy", "national")
    assert r.returncode == 0, r.stderr
    assert "groups" in r.stdout and (tmp_path / "cat.parquet").exists()
    r = run("settle", out / "cases" / "year=2024", "--catalog", tmp_path / "cat.parquet",
            "--budget", "employee=3e7,resident=3e7", "--out", tmp_path / "res",
            "--hospitals", out / "hospitals.csv")
    assert r.returncode == 0, r.stderr
    assert "point value" in r.stdout and "largest losses" in r.stdout
    for name in ("cases.parquet", "hospitals.csv", "monthly.csv", "pools.csv", "summary.json"):
        assert (tmp_path / "res" / name).exists()
    r = run("settle", out / "cases" / "year=2024", "--catalog", tmp_path / "cat.parquet",
            "--budget", "employee=3e7", "--out", tmp_path / "res2")
    assert r.returncode == 2 and "pool 'resident'" in r.stderr and "Traceback" not in r.stderr
    r = run("settle", out / "cases", "--catalog", tmp_path / "nope.parquet",
            "--budget", "employee=1", "--out", tmp_path / "x")
    assert r.returncode == 2 and "nope.parquet" in r.stderr
    r = run("settle", out / "cases", "--catalog", tmp_path / "cat.parquet",
            "--budget", "employee:1", "--out", tmp_path / "x")
    assert r.returncode == 2 and "budget must look like" in r.stderr
    # one --budget per pool is the comma form; a pool given two budgets is an error
    r = run("settle", out / "cases" / "year=2024", "--catalog", tmp_path / "cat.parquet",
            "--budget", "employee=3e7", "--budget", "resident=3e7", "--out", tmp_path / "res3",
            "--hospitals", out / "hospitals.csv")
    assert r.returncode == 0, r.stderr
    assert ((tmp_path / "res3" / "hospitals.csv").read_bytes()
            == (tmp_path / "res" / "hospitals.csv").read_bytes())
    for budgets in (["employee=1", "--budget", "employee=2"], ["employee=1,employee=2"]):
        r = run("settle", out / "cases", "--catalog", tmp_path / "cat.parquet",
                "--budget", *budgets, "--out", tmp_path / "x")
        assert r.returncode == 2 and "pool 'employee' has two budgets" in r.stderr
    r = run("settle", out / "cases", "--catalog", tmp_path / "cat.parquet",
            "--budget", "=5e7", "--out", tmp_path / "x")
    assert r.returncode == 2 and "budget must look like" in r.stderr


def test_statements_carry_the_registry_names(province, catalog):
    """A statement names its hospital and level from the registry; without a registry those
    columns are there but empty."""
    named = dc.settle(province["current"], catalog, budget=_budget(province["current"]),
                      hospitals=province["hospitals"])
    registry = {r["hospital_id"]: (r["name"], r["level"])
                for r in province["hospitals"].to_pylist()}
    rows = named.hospitals.to_pylist()
    assert rows and all((r["hospital_name"], r["hospital_level"]) == registry[r["hospital_id"]]
                        for r in rows)
    assert named.hospitals.column_names[:3] == ["hospital_id", "hospital_name", "hospital_level"]
    bare = dc.settle(province["current"], catalog, budget=_budget(province["current"]))
    assert bare.hospitals.column("hospital_name").null_count == bare.hospitals.num_rows
    assert bare.hospitals.drop_columns(["hospital_name", "hospital_level"]).equals(
        named.hospitals.drop_columns(["hospital_name", "hospital_level"]))
