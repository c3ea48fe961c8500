"""The command line, run as a user runs it: a subprocess, exit codes, one-line errors."""
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq


def run(*args, cwd=None):
    env = dict(os.environ)
    env.pop("DIPCORE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "dipcore", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dipcore: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_generate_then_validate(tmp_path):
    out = tmp_path / "prov"
    r = run("generate", out, "--cases-per-year", 2400, "--years", "2023-2024", "--hospitals", 8,
            "--seed", 5, "--bad-share", 0.01, "--heterogeneity", 1)
    assert r.returncode == 0, r.stderr
    assert "wrote 4,800 cases" in r.stdout
    assert (out / "labels.parquet").exists() and (out / "manifest.json").exists()
    assert json.loads((out / "manifest.json").read_text())["heterogeneity"] == 1.0
    r = run("validate", out / "cases", "--hospitals", out / "hospitals.csv",
            "--quarantine", tmp_path / "q.parquet")
    assert r.returncode == 0, r.stderr
    q = pq.read_table(tmp_path / "q.parquet")
    kept = int(r.stdout.split("cases kept: ")[1].split()[0].replace(",", ""))
    assert kept + q.num_rows == 4800 and q.num_rows > 0


def test_missing_column_is_one_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("case_id,hospital_id\nC1,H1\n")
    # required columns are checked in schema order: pool is the first one missing
    assert_one_line_error(run("validate", path), str(path), "'pool'")


def test_missing_file_and_bad_arguments(tmp_path):
    assert_one_line_error(run("validate", tmp_path / "nope.parquet"), "no such file")
    r = run("generate", tmp_path / "x", "--cases-per-year", "ten")
    assert r.returncode == 2 and "whole number" in r.stderr and "Traceback" not in r.stderr
    r = run("generate", tmp_path / "x", "--cases-per-year", 100, "--years", "2024-2021")
    assert r.returncode == 2 and "bad year range" in r.stderr


def test_corrupt_parquet_is_one_line(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 64)
    assert_one_line_error(run("validate", path), str(path))


def test_demo_runs_small(tmp_path):
    r = run("demo", "--out", tmp_path / "demo", "--cases-per-year", 3000, "--hospitals", 10)
    assert r.returncode == 0, r.stderr
    assert "point value" in r.stdout and "largest gains" in r.stdout
    demo = tmp_path / "demo"
    for name in ("quarantine.csv", "catalog.parquet", "settlement/hospitals.csv",
                 "settlement/cases.parquet", "province/labels.parquet", "drg_grouped.parquet",
                 "province/drg_pack/pack.json"):
        assert (demo / name).exists(), name
    # the year grouped by CHS-DRG too: one row per settled case, most of them grouped
    import pyarrow.parquet as pq
    grouped = pq.read_table(demo / "drg_grouped.parquet")
    settled = pq.read_table(demo / "settlement" / "cases.parquet")
    assert grouped.num_rows == settled.num_rows
    assert grouped.column("status").to_pylist().count("ok") >= 0.9 * grouped.num_rows
    assert "grouped 2024 by CHS-DRG" in r.stdout
    _assert_demo_report(demo, "dip")


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("dipcore ")


def test_console_exits_with_the_code_after_the_exit_handlers(tmp_path):
    """The console script leaves without the interpreter's teardown, but after its exit
    handlers (temporary directories, Dask's) and with everything printed: a run that
    wrote to a pipe and one that failed end as ``main`` says."""
    script = ("import atexit, sys\n"
              "from dipcore.cli.main import console\n"
              "atexit.register(lambda: print('handlers ran', flush=True))\n"
              "sys.argv = ['dipcore', *sys.argv[1:]]\n"
              "console()\n")
    ok = subprocess.run([sys.executable, "-c", script, "--version"], capture_output=True,
                        text=True, timeout=600)
    assert ok.returncode == 0 and ok.stdout.startswith("dipcore ")
    assert ok.stdout.rstrip().endswith("handlers ran")
    bad = subprocess.run([sys.executable, "-c", script, "validate", str(tmp_path / "no.parquet")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "no such file" in bad.stderr
    assert bad.stdout.strip() == "handlers ran"


def test_a_closed_output_pipe_ends_the_run_quietly(tmp_path):
    """``dipcore validate ... | head -1``: the reader leaves before the summary is printed;
    the run ends with 128 + SIGPIPE and no error line, not an "internal error"."""
    path = tmp_path / "a.csv"
    path.write_text("case_id,hospital_id,hospital_level,pool,admission_date,discharge_date,"
                    "age_years,sex,primary_dx,total_cost,fund_paid,discharge_way\n"
                    "C1,H1,3,employee,2024-03-01,2024-03-08,54,1,K35.900,1000.00,800.00,1\n",
                    encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DIPCORE_DEBUG"}
    r, w = os.pipe()
    os.close(r)             # nobody will read: the first line printed meets a closed pipe
    try:
        p = subprocess.run([sys.executable, "-m", "dipcore", "validate", str(path), "--quiet"],
                           stdout=w, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr == ""


# ---- CHS-DRG by the point method (SPEC 10) -------------------------------------------------

import csv  # noqa: E402

import pyarrow.compute as pc  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="module")
def drg_province(tmp_path_factory):
    """A small province with its synthetic CHS-DRG rule pack: 4 years x 2500 cases."""
    from data_gen import generate
    out = tmp_path_factory.mktemp("drgprov")
    generate(out, 2500, (2021, 2024), hospitals=8, seed=11, drg_pack=True)
    return out


@pytest.fixture(scope="module")
def drg_catalog(drg_province, tmp_path_factory):
    """``dipcore calibrate`` under national_drg with the pack: (catalogue path, run)."""
    path = tmp_path_factory.mktemp("drgcat") / "catalog.parquet"
    r = run("calibrate", drg_province / "cases", "--years", "2021-2023", "--policy",
            "national_drg", "--rules", drg_province / "drg_pack", "--hospitals",
            drg_province / "hospitals.csv", "--out", path)
    assert r.returncode == 0, r.stderr
    return path, r


def _top_drgs(stdout, heading):
    """The DRG codes listed under ``heading`` in a summary (lines ``CODE n cases, RW ...``)."""
    import re
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    codes = []
    for line in lines[start + 1:]:
        m = re.match(r"\s+(\S+)\s+[\d,]+ cases, RW\s+[\d.]+, \s*[\d.]+ base points", line)
        if not m:
            break
        codes.append(m.group(1))
    return codes


def test_drg_calibrate_prints_drgs(drg_province, drg_catalog):
    from dipcore.catalog import Catalog
    from dipcore.schemes.drg import DrgRules
    path, r = drg_catalog
    catalog = Catalog.load(path)
    rules = DrgRules.load(drg_province / "drg_pack")
    assert catalog.scheme == "drg" and catalog.years == [2021, 2022, 2023]
    assert catalog.rules == {"name": rules.name, "fingerprint": rules.fingerprint}
    assert catalog.policy.scheme == "drg"
    g = catalog.groups.to_pylist()
    stable = sum(row["stable"] for row in g)
    total = sum(row["cases"] for row in g)
    assert f"calibrated {total:,} grouped cases of [2021, 2022, 2023]" in r.stdout
    assert f"{len(g):,} DRGs ({stable:,} stable, {len(g) - stable:,} unstable" in r.stdout
    assert f"rule pack {rules.name} ({rules.fingerprint[:12]})" in r.stdout
    assert f"M = {catalog.mean_cost:,.2f} yuan" in r.stdout
    # the lists agree with the catalogue: most cases, and the heaviest stable DRGs
    by_cases = sorted(g, key=lambda row: (-row["cases"], row["drg"]))[:5]
    assert _top_drgs(r.stdout, "DRGs with the most cases:") == [row["drg"] for row in by_cases]
    heavy = sorted((row for row in g if row["stable"]), key=lambda row: (-row["rw"], row["drg"]))[:5]
    assert _top_drgs(r.stdout, "stable DRGs with the highest weights:") == [row["drg"] for row in heavy]
    assert f"{heavy[0]['base_points']:.4f} base points" in r.stdout
    assert "groups (" not in r.stdout and "core," not in r.stdout   # no DIP kinds
    assert f"catalogue written to {path}" in r.stdout


def test_drg_settle_and_audit(drg_province, drg_catalog, tmp_path):
    catalog, _ = drg_catalog
    pack = drg_province / "drg_pack"
    year = pq.read_table(drg_province / "cases" / "year=2024")
    # file the year's most frequent procedure as new technology on its first day
    flat = pc.list_flatten(year.column("procedures"))
    counts = pc.value_counts(flat).to_pylist()
    code = max(counts, key=lambda r: (r["counts"], r["values"]))["values"]
    newtech = tmp_path / "newtech.csv"
    newtech.write_text(f"procedure_code,filing_date\n{code},2024-01-01\n")
    expected = {row["case_id"] for row in year.select(["case_id", "procedures",
                                                       "bed_day_category"]).to_pylist()
                if code in row["procedures"] and row["bed_day_category"] is None}
    assert expected
    # no --policy: the catalogue's own (national_drg) applies
    r = run("settle", drg_province / "cases" / "year=2024", "--catalog", catalog,
            "--rules", pack, "--new-technology", newtech, "--hospitals",
            drg_province / "hospitals.csv", "--budget", "employee=3e7,resident=2e7",
            "--out", tmp_path / "settle")
    assert r.returncode == 0, r.stderr
    cases = pq.read_table(tmp_path / "settle" / "cases.parquet")
    assert cases.num_rows == year.num_rows
    assert "kind" in cases.column_names and "group_kind" not in cases.column_names
    kinds = {k["values"]: k["counts"] for k in pc.value_counts(cases.column("kind")).to_pylist()}
    assert set(kinds) <= {"drg", "unstable", "ungrouped", "new_technology", "special", "bed_day"}
    new = set(cases.filter(pc.equal(cases.column("kind"), "new_technology"))
              .column("case_id").to_pylist())
    assert new == expected
    assert f"new technology: {len(new):,} cases paid by cost" in r.stdout
    assert "cases by kind: " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())) in r.stdout
    assert "outliers among DRG cases: low " in r.stdout and "extreme" not in r.stdout
    assert "largest gains (DRG amount minus actual cost):" in r.stdout
    with open(tmp_path / "settle" / "hospitals.csv", newline="") as fh:
        statements = list(csv.DictReader(fh))
    assert "drg_amount" in statements[0] and "dip_amount" not in statements[0]
    assert sum(int(s["new_technology_cases"]) for s in statements) == len(new)
    assert sum(int(s["cases"]) for s in statements) == year.num_rows
    with open(tmp_path / "settle" / "pools.csv", newline="") as fh:
        budgets = {p["pool"]: float(p["budget"]) for p in csv.DictReader(fh)}
    assert budgets == {"employee": 3e7, "resident": 2e7}

    r = run("audit", drg_province / "cases" / "year=2024", "--catalog", catalog,
            "--rules", pack, "--new-technology", newtech, "--previous",
            drg_province / "cases" / "year=2023", "--out", tmp_path / "audit")
    assert r.returncode == 0, r.stderr
    assert f"audited {year.num_rows:,} cases of 8 hospitals" in r.stdout
    with open(tmp_path / "audit" / "hospitals.csv", newline="") as fh:
        audited = list(csv.DictReader(fh))
    assert sum(int(h["cases"]) for h in audited) == year.num_rows
    assert all(h["cmi"] for h in audited)


def test_drg_policy_without_rules_is_one_line(drg_province, drg_catalog, tmp_path):
    assert_one_line_error(
        run("calibrate", drg_province / "cases", "--policy", "national_drg",
            "--out", tmp_path / "c.parquet"), "rule pack", "--rules")
    assert not (tmp_path / "c.parquet").exists()
    # a DRG catalogue brings its DRG policy: settle and audit need the pack too
    catalog, _ = drg_catalog
    assert_one_line_error(
        run("settle", drg_province / "cases" / "year=2024", "--catalog", catalog,
            "--budget", "employee=1e7", "--out", tmp_path / "s"), "rule pack", "--rules")
    assert_one_line_error(
        run("audit", drg_province / "cases" / "year=2024", "--catalog", catalog,
            "--out", tmp_path / "a"), "rule pack", "--rules")


def test_catalogue_and_policy_of_different_schemes(drg_province, drg_catalog, tmp_path):
    r = run("calibrate", drg_province / "cases", "--years", "2021-2023",
            "--out", tmp_path / "dip.parquet")
    assert r.returncode == 0, r.stderr
    assert "core," in r.stdout and "comprehensive" in r.stdout     # the DIP summary
    assert_one_line_error(
        run("settle", drg_province / "cases" / "year=2024", "--catalog", tmp_path / "dip.parquet",
            "--policy", "national_drg", "--rules", drg_province / "drg_pack",
            "--budget", "employee=1e7,resident=1e7", "--out", tmp_path / "s"),
        "DIP catalogue", "DRG policy")
    catalog, _ = drg_catalog
    assert_one_line_error(
        run("audit", drg_province / "cases" / "year=2024", "--catalog", catalog,
            "--policy", "national", "--rules", drg_province / "drg_pack",
            "--out", tmp_path / "a"), "DRG catalogue", "DIP policy")
    # a rule pack given to a DIP run
    assert_one_line_error(
        run("calibrate", drg_province / "cases", "--rules", drg_province / "drg_pack",
            "--out", tmp_path / "x.parquet"), "rule pack")


def test_new_technology_bad_date_is_one_line(drg_province, tmp_path):
    bad = tmp_path / "newtech.csv"
    bad.write_text("procedure_code,filing_date\n36.0601,2024-03-01\n81.5100,2024-13-45\n")
    assert_one_line_error(
        run("calibrate", drg_province / "cases", "--policy", "national_drg",
            "--rules", drg_province / "drg_pack", "--new-technology", bad,
            "--out", tmp_path / "c.parquet"),
        str(bad), "row 2", "column 'filing_date'")


def test_demo_drg_runs_small(tmp_path):
    from dipcore.catalog import Catalog
    demo = tmp_path / "demo"
    r = run("demo", "--scheme", "drg", "--out", demo, "--cases-per-year", 3000,
            "--hospitals", 10)
    assert r.returncode == 0, r.stderr
    for name in ("quarantine.csv", "catalog.parquet", "new_technology.csv",
                 "settlement/hospitals.csv", "settlement/cases.parquet", "settlement/pools.csv",
                 "audit/hospitals.csv", "province/drg_pack/pack.json"):
        assert (demo / name).exists(), name
    assert not (demo / "drg_grouped.parquet").exists()       # the DIP demo's extra
    catalog = Catalog.load(demo / "catalog.parquet")
    assert catalog.scheme == "drg" and catalog.years == [2021, 2022, 2023]
    assert catalog.policy.scheme == "drg"
    g = catalog.groups.to_pylist()
    top = sorted(g, key=lambda row: (-row["cases"], row["drg"]))[:5]
    assert _top_drgs(r.stdout, "DRGs with the most cases:") == [row["drg"] for row in top]
    heavy = sorted((row for row in g if row["stable"]), key=lambda row: (-row["rw"], row["drg"]))[:5]
    assert _top_drgs(r.stdout, "stable DRGs with the highest weights:") == [row["drg"] for row in heavy]
    settled = pq.read_table(demo / "settlement" / "cases.parquet")
    kinds = set(settled.column("kind").to_pylist())
    assert {"drg", "new_technology", "bed_day"} <= kinds
    assert "outliers among DRG cases" in r.stdout and "largest gains (DRG amount" in r.stdout
    _assert_demo_report(demo, "drg")
    assert "point value" in r.stdout and "audited 2024 against 2023" in r.stdout
    # budgets equal to the fund's 2024 spending, per pool, as the DIP demo
    with open(demo / "settlement" / "pools.csv", newline="") as fh:
        pools = {p["pool"]: p for p in csv.DictReader(fh)}
    for pool, row in pools.items():
        paid = pc.sum(settled.filter(pc.equal(settled.column("pool"), pool))
                      .column("fund_paid")).as_py()
        assert abs(float(row["budget"]) - float(paid)) < 0.01


def test_settle_with_official_drg_weight_table(drg_province, drg_catalog, tmp_path):
    import json

    import pyarrow.csv as pacsv

    from dipcore.catalog import Catalog
    catalog = Catalog.load(drg_catalog[0])
    table = tmp_path / "weights.csv"
    pacsv.write_csv(catalog.groups.select(["drg", "base_points", "stable"]), table)
    (tmp_path / "weights.json").write_text(json.dumps({"mean_cost": catalog.mean_cost}))
    r = run("settle", drg_province / "cases" / "year=2024", "--catalog", table,
            "--policy", "national_drg", "--rules", drg_province / "drg_pack",
            "--budget", "employee=3e7,resident=2e7", "--out", tmp_path / "settle")
    assert r.returncode == 0, r.stderr
    cases = pq.read_table(tmp_path / "settle" / "cases.parquet")
    weights = dict(zip(catalog.groups.column("drg").to_pylist(),
                       catalog.groups.column("base_points").to_pylist()))
    normal = cases.filter(pc.equal(cases.column("kind"), "drg")).to_pylist()
    assert normal and all(c["base_points"] == weights[c["drg"]] for c in normal)
    assert "outliers among DRG cases" in r.stdout
    # a DRG the pack does not have: one line naming the file, the row and the column
    lines = table.read_text().splitlines()
    lines[3] = "ZZ99" + lines[3][lines[3].index(","):]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    (tmp_path / "bad.json").write_text(json.dumps({"mean_cost": catalog.mean_cost}))
    assert_one_line_error(
        run("settle", drg_province / "cases" / "year=2024", "--catalog", bad,
            "--rules", drg_province / "drg_pack", "--budget", "employee=3e7,resident=2e7",
            "--out", tmp_path / "s2"), str(bad), "row 3", "column 'drg'", "ZZ99")


def _assert_demo_report(demo, scheme):
    """The demo's report.html: the scheme's title, every hospital's statement, in Chinese."""
    from dipcore.reports.i18n import Labels
    text = (demo / "report.html").read_text(encoding="utf-8")
    assert Labels("zh")(f"title_{scheme}") in text and 'lang="zh-CN"' in text
    ids = set(pq.read_table(demo / "settlement" / "hospitals.parquet")
              .column("hospital_id").to_pylist())
    assert all(f'<table class="lines" data-hospital="{h}"' in text for h in ids)
