"""The HTML report (``dipcore report``): what it shows equals the results it reads, it is
self-contained, it renders in both languages, and a real browser draws and prints it."""
import html
import os
import re
import shutil
import subprocess
import sys
import time
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from dipcore.reports.i18n import TEXT, Labels

CHROMIUM = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
APPRAISED, DEDUCTION = 0.95, Decimal("12345.67")


def run(*args):
    env = dict(os.environ)
    env.pop("DIPCORE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "dipcore", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dipcore: error: ") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def demo_like(small_province, tmp_path_factory):
    """A folder laid out as the demo's: catalog.parquet, settlement/, audit/ -- settled
    under sharing bands and a surplus cap, one hospital appraised, one deducted."""
    out, _ = small_province
    root = tmp_path_factory.mktemp("report")
    policy = dc.Policy(core_min_cases=5)
    catalog = dc.calibrate(out / "cases" / "year=2023", policy=policy)
    catalog.save(root / "catalog.parquet")
    registry = dc.read_hospitals(out / "hospitals.csv")
    cases, _ = dc.read_cases(out / "cases" / "year=2024", hospitals=registry)
    budget = {}
    for p in sorted(set(cases.column("pool").to_pylist())):
        mine = cases.filter(pc.equal(cases.column("pool"), p))
        budget[p] = float(pc.sum(mine.column("fund_paid")).as_py()) * 0.97
    ids = sorted(set(cases.column("hospital_id").to_pylist()))
    settled = dc.settle(cases, catalog, budget=budget,
                        policy=policy.replace(sharing_bands=[[0.1, 0.5], [0.2, 0.3]],
                                              surplus_cap=0.02),
                        hospitals=registry,
                        appraisal=pa.table({"hospital_id": [ids[0]], "coefficient": [APPRAISED]}),
                        deductions=pa.table({"hospital_id": [ids[1]],
                                             "amount": [float(DEDUCTION)]}))
    settled.save(root / "settlement")
    found = dc.audit(cases, catalog, previous=out / "cases" / "year=2023")
    found.save(root / "audit")
    return root


@pytest.fixture(scope="module")
def report_zh(demo_like):
    path = dc.report(demo_like, demo_like / "report.html")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report_en(demo_like):
    path = dc.report(demo_like, demo_like / "report_en.html", lang="en")
    return path.read_text(encoding="utf-8")


def statement_lines(text):
    """``{(hospital, pool): {line: shown value}}`` parsed back from the report."""
    out = {}
    for h, p, body in re.findall(r'<table class="lines" data-hospital="(.*?)" '
                                 r'data-pool="(.*?)">(.*?)</table>', text, re.S):
        rows = re.findall(r'<tr data-line="(\w+)"[^>]*><th>.*?</th><td class="num">(.*?)</td>',
                          body, re.S)
        out[(html.unescape(h), html.unescape(p))] = {k: html.unescape(v) for k, v in rows}
    return out


def number(shown):
    return Decimal(shown.replace(",", ""))


def outside_plotly(text):
    """The report without the inlined plotly.js bundle (whose code mentions URLs of map
    tiles and logos it never loads here)."""
    start = text.index('<script id="plotlyjs">')
    return text[:start] + text[text.index("</script>", start):]


# ------------------------------------------------------------------------------------------
def test_every_statement_line_equals_the_table(demo_like, report_zh):
    table = pq.read_table(demo_like / "settlement" / "hospitals.parquet").to_pylist()
    shown = statement_lines(report_zh)
    assert len(shown) == len(table) > 0
    money = ("dip_amount", "total_cost", "gain", "fund_base", "appraisal_adjustment",
             "deductions", "sharing", "surplus_clawback", "fund_payable", "prepaid",
             "reserve_withheld", "advance", "balance")
    for row in table:
        lines = shown[(row["hospital_id"], row["pool"])]
        for column in money:
            assert number(lines[column]) == row[column], (row["hospital_id"], column)
        assert number(lines["points"]) == row["points"]
        assert abs(float(number(lines["point_value"])) - row["point_value"]) < 1e-6
        assert abs(float(number(lines["appraisal_coefficient"]))
                   - row["appraisal_coefficient"]) < 1e-9
        # every hospital appears with its name and level
        assert html.escape(row["hospital_name"]) in report_zh
    # the equations shown hold for these results (none marked as not matching)
    assert Labels("zh")("mismatch") not in report_zh
    # the settlement's inputs reach their lines: the appraisal coefficient and the deduction
    appraised = [r for r in table if r["appraisal_coefficient"] == APPRAISED]
    assert appraised and all(r["appraisal_adjustment"] != 0 for r in appraised)
    assert any(r["deductions"] == DEDUCTION for r in table)


def test_region_table_equals_the_statements(demo_like, report_zh):
    table = pq.read_table(demo_like / "settlement" / "hospitals.parquet").to_pylist()
    rows = re.findall(r'<tr data-hospital="(.*?)" data-pool="(.*?)">(.*?)</tr>', report_zh, re.S)
    cells = {(h, p): dict(re.findall(r'data-col="(\w+)">(.*?)</td>', body)) for h, p, body in rows
             if "data-col" in body}
    assert len(cells) == len(table)
    for row in table:
        mine = cells[(row["hospital_id"], row["pool"])]
        for column in ("dip_amount", "fund_payable", "balance", "gain", "prepaid"):
            assert number(mine[column]) == row[column]
        assert int(mine["cases"].replace(",", "")) == row["cases"]


def test_formulas_explain_the_policy(demo_like, report_en):
    """The formula texts follow the settlement's policy and the allocation rule."""
    assert "allocated by largest remainder" in report_en
    assert "(0.9500 − 1)" in report_en
    table = pq.read_table(demo_like / "settlement" / "hospitals.parquet").to_pylist()
    assert any(r["gain"] < 0 for r in table) and any(r["gain"] > 0 for r in table)
    assert "up to 10% of D shared 50%; up to 20% of D shared 30%" in report_en
    assert "above 2% of D" in report_en                      # the surplus cap, with numbers
    assert "surplus_cap" in report_en and "sharing_bands" in report_en   # non-default params
    pools = pq.read_table(demo_like / "settlement" / "pools.parquet").to_pylist()
    for p in pools:
        assert f"PV = B / (f × P) = {Decimal(str(p['budget'])):,.2f}" in report_en
    catalog = dc.Catalog.load(demo_like / "catalog.parquet")
    assert catalog.fingerprint and catalog.fingerprint in report_en
    for fingerprint in catalog.policy.section_fingerprints().values():
        assert fingerprint[:16] in report_en


def test_flags_and_evidence(demo_like, report_en):
    evidence = pq.read_table(demo_like / "audit" / "evidence.parquet").to_pylist()
    flagged = {r["hospital_id"] for r in evidence}
    for h in flagged:
        assert f'<tr data-hospital="{h}">' in report_en
    expected_charts = 4 + len({(r["indicator"], r["test"]) for r in evidence})
    assert f'data-charts-expected="{expected_charts}"' in report_en
    if not evidence:
        assert Labels("en")("no_flags") in report_en


def test_self_contained(report_zh):
    """No reference to anything outside the file: no src/href/@import/url() to a URL, no
    link, image or external script; plotly.js inlined once and exactly as plotly ships it
    (its code holds URL strings of map tiles and logos that these charts never create)."""
    from plotly.offline import get_plotlyjs
    start = report_zh.index('<script id="plotlyjs">') + len('<script id="plotlyjs">')
    bundle = report_zh[start:report_zh.index("</script>", start)]
    assert bundle == get_plotlyjs().replace("</script", "<\\/script")
    assert report_zh.count(bundle[:2000]) == 1
    rest = outside_plotly(report_zh)
    assert not re.search(r"https?:|//[\w.-]+\.(?:com|org|net|cn)\b", rest)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", rest)
    assert not re.search(r"@import|url\(", rest)
    assert not re.search(r"<link\b|<script[^>]*\bsrc=|<img\b|<iframe\b|<object\b", rest)
    # the configuration keeps plotly's own links (logo, "edit in Chart Studio") off
    assert "displaylogo: false" in rest and "showLink: false" in rest


def test_languages_differ(report_zh, report_en):
    zh, en = Labels("zh"), Labels("en")
    for key in ("fund_payable", "balance", "sec_region", "point_value"):
        assert html.escape(zh(key)) in report_zh and html.escape(en(key)) not in report_zh
        assert html.escape(en(key)) in report_en and html.escape(zh(key)) not in report_en
    assert 'lang="zh-CN"' in report_zh and 'lang="en"' in report_en
    assert all(len(v) == 2 and all(v) for v in TEXT.values())


def test_cli_on_results_dir_and_demo_dir(demo_like, tmp_path):
    r = run("report", demo_like, "--out", tmp_path / "a.html", "--lang", "en")
    assert r.returncode == 0, r.stderr
    a = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert Labels("en")("warn_no_audit") not in a          # audit/ found beside
    # a results directory on its own (no audit, no catalogue anywhere near)
    alone = tmp_path / "alone" / "results"
    shutil.copytree(demo_like / "settlement", alone)
    r = run("report", alone, "--out", tmp_path / "b.html", "--lang", "en")
    assert r.returncode == 0, r.stderr
    b = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert Labels("en")("warn_no_audit") in b and Labels("en")("no_catalog") in b
    # ... and with the audit and catalogue given
    r = run("report", alone, "--out", tmp_path / "c.html", "--audit", demo_like / "audit",
            "--catalog", demo_like / "catalog.parquet")
    assert r.returncode == 0, r.stderr
    c = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert Labels("zh")("warn_no_audit") not in c and Labels("zh")("no_catalog") not in c


def test_bad_inputs_are_one_line(demo_like, tmp_path):
    out = tmp_path / "r.html"
    assert_one_line_error(run("report", tmp_path / "nope", "--out", out), "no such results")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run("report", empty, "--out", out), str(empty), "hospitals.parquet")
    garbled = tmp_path / "garbled"
    shutil.copytree(demo_like / "settlement", garbled)
    (garbled / "hospitals.parquet").write_bytes(b"PAR1" + b"\0" * 64)
    assert_one_line_error(run("report", garbled, "--out", out),
                          str(garbled / "hospitals.parquet"))
    thin = tmp_path / "thin"
    shutil.copytree(demo_like / "settlement", thin)
    t = pq.read_table(thin / "pools.parquet").drop(["fund_ratio"])
    pq.write_table(t, thin / "pools.parquet")
    assert_one_line_error(run("report", thin, "--out", out), str(thin / "pools.parquet"),
                          "fund_ratio")
    audit = tmp_path / "audit"
    shutil.copytree(demo_like / "audit", audit)
    (audit / "evidence.parquet").write_text("not parquet")
    assert_one_line_error(run("report", demo_like, "--out", out, "--audit", audit),
                          str(audit / "evidence.parquet"))
    assert_one_line_error(run("report", demo_like, "--out", out, "--catalog",
                              tmp_path / "none.parquet"), "none.parquet")
    bad_json = tmp_path / "json"
    shutil.copytree(demo_like / "settlement", bad_json)
    (bad_json / "summary.json").write_text("{not json")
    assert_one_line_error(run("report", bad_json, "--out", out), "summary.json")
    assert not out.exists()


def test_statement_that_does_not_add_up_is_marked(demo_like, tmp_path):
    """The report checks each statement's sums with the statement rules: a payable that is
    not the sum of its lines is marked and warned about, not shown as an equation."""
    broken = tmp_path / "broken"
    shutil.copytree(demo_like / "settlement", broken)
    t = pq.read_table(broken / "hospitals.parquet")
    i = t.schema.get_field_index("fund_payable")
    payable = t.column("fund_payable").to_pylist()
    payable[0] += Decimal("1.00")
    t = t.set_column(i, "fund_payable", pa.array(payable, t.schema.field(i).type))
    pq.write_table(t, broken / "hospitals.parquet")
    text = dc.report(broken, tmp_path / "r.html", lang="en").read_text(encoding="utf-8")
    assert text.count(Labels("en")("mismatch")) == 2        # fund payable and balance
    assert "do not add up to the fund payable" in text


def make_sweep(demo_like, directory):
    """A small hand-made what-if sweep in the format the sweep command writes."""
    statements = pq.read_table(demo_like / "settlement" / "hospitals.parquet").to_pylist()
    pools = pq.read_table(demo_like / "settlement" / "pools.parquet").to_pylist()
    variants, rows = [], []
    for k, (name, change) in enumerate((("t2.5", "high_ratio = 2.5"),
                                        ("reserve5", "reserve = 0.05"))):
        for p in pools:
            variants.append(dict(variant=name, pool=p["pool"],
                                 point_value=p["point_value"] * (1 + 0.01 * (k + 1)),
                                 points=p["points"], fund_payable=p["budget"],
                                 recalibrated=k == 0, changes=change))
        for i, s in enumerate(statements):
            d = Decimal((i % 5) - 2) * 1000 * (k + 1)
            rows.append(dict(variant=name, hospital_id=s["hospital_id"], pool=s["pool"],
                             fund_payable=s["fund_payable"] + d,
                             baseline_fund_payable=s["fund_payable"], difference=d))
    directory.mkdir()
    pq.write_table(pa.Table.from_pylist(variants), directory / "variants.parquet")
    money = pa.decimal128(18, 2)
    t = pa.Table.from_pylist(rows)
    for c in ("fund_payable", "baseline_fund_payable", "difference"):
        t = t.set_column(t.schema.get_field_index(c), c, t.column(c).cast(money))
    pq.write_table(t, directory / "hospitals.parquet")
    return directory


def test_sweep_section(demo_like, tmp_path, report_en):
    assert Labels("en")("no_sweep") in report_en
    sweep = make_sweep(demo_like, tmp_path / "sweep")
    text = dc.report(demo_like, tmp_path / "r.html", lang="en", sweep=sweep) \
        .read_text(encoding="utf-8")
    assert Labels("en")("no_sweep") not in text
    assert "high_ratio = 2.5" in text and "reserve5" in text
    before = int(re.search(r'data-charts-expected="(\d+)"', report_en).group(1))
    assert f'data-charts-expected="{before + 1}"' in text
    # found beside the results too, as sweep/
    shutil.copytree(sweep, demo_like / "sweep")
    try:
        found = dc.report(demo_like, tmp_path / "s.html", lang="en").read_text(encoding="utf-8")
        assert "high_ratio = 2.5" in found
    finally:
        shutil.rmtree(demo_like / "sweep")
    bad = tmp_path / "bad_sweep"
    shutil.copytree(sweep, bad)
    pq.write_table(pq.read_table(bad / "variants.parquet").drop(["changes"]),
                   bad / "variants.parquet")
    r = run("report", demo_like, "--out", tmp_path / "x.html", "--sweep", bad)
    assert_one_line_error(r, str(bad / "variants.parquet"), "changes")


def province(demo_like, target, copies):
    """A province-sized results folder: the small one's hospitals repeated ``copies`` times
    under new ids (settlement, monthly, audit), with its pools, cases and catalogue."""
    def tiled(table):
        parts = []
        for k in range(copies):
            ids = pc.binary_join_element_wise(table.column("hospital_id"), pa.scalar(f"{k:02d}"), "-")
            t = table.set_column(table.schema.get_field_index("hospital_id"), "hospital_id", ids)
            if "hospital_name" in t.column_names:
                names = pc.binary_join_element_wise(t.column("hospital_name"), pa.scalar(f"{k:02d}"), "·")
                t = t.set_column(t.schema.get_field_index("hospital_name"), "hospital_name", names)
            parts.append(t)
        return pa.concat_tables(parts)
    (target / "settlement").mkdir(parents=True)
    (target / "audit").mkdir()
    for name in ("hospitals", "monthly"):
        pq.write_table(tiled(pq.read_table(demo_like / "settlement" / f"{name}.parquet")),
                       target / "settlement" / f"{name}.parquet")
    for name in ("pools.parquet", "cases.parquet", "summary.json"):
        shutil.copy(demo_like / "settlement" / name, target / "settlement" / name)
    for name in ("hospitals", "evidence", "funnel"):
        pq.write_table(tiled(pq.read_table(demo_like / "audit" / f"{name}.parquet")),
                       target / "audit" / f"{name}.parquet")
    shutil.copy(demo_like / "audit" / "funnel_limits.parquet", target / "audit")
    shutil.copy(demo_like / "catalog.parquet", target)
    return target


def test_province_size_and_time(demo_like, tmp_path):
    n = pq.read_metadata(demo_like / "settlement" / "hospitals.parquet").num_rows
    copies = -(-600 // n)                       # 300+ hospitals in two pools
    root = province(demo_like, tmp_path / "province", copies)
    t0 = time.perf_counter()
    path = dc.report(root, tmp_path / "province.html")
    seconds = time.perf_counter() - t0
    text = path.read_text(encoding="utf-8")
    hospitals = set(pq.read_table(root / "settlement" / "hospitals.parquet")
                    .column("hospital_id").to_pylist())
    assert len(hospitals) >= 300
    assert len(statement_lines(text)) == n * copies
    size = path.stat().st_size
    print(f"{len(hospitals)} hospitals: {size / 1e6:.1f} MB in {seconds:.1f} s")
    assert size < 15e6


# ------------------------------------------------------------------------------------------
def chromium(profile, *args):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,900",
         # no network at all: whatever the report needs, it carries
         "--host-resolver-rules=MAP * ~NOTFOUND", *args],
        capture_output=True, timeout=300)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: no browser check")
def test_browser_draws_every_chart(demo_like, report_zh, tmp_path):
    r = chromium(tmp_path / "profile", "--virtual-time-budget=30000", "--dump-dom",
                 (demo_like / "report.html").as_uri())
    dom = r.stdout.decode("utf-8", "replace")
    root = re.search(r"<html[^>]*>", dom)
    assert root, r.stderr.decode()[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', root.group(0)))
    expected = int(re.search(r'data-charts-expected="(\d+)"', report_zh).group(1))
    assert attrs["data-script-errors"] == "none"
    assert expected >= 4 and attrs["data-charts-drawn"] == str(expected)
    assert dom.count('class="main-svg"') >= 2 * expected      # plotly drew SVG into each


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: no print check")
def test_browser_prints_a4(demo_like, report_zh, tmp_path):
    pdf = tmp_path / "r.pdf"
    chromium(tmp_path / "profile", "--virtual-time-budget=30000", "--no-pdf-header-footer",
             f"--print-to-pdf={pdf}", (demo_like / "report.html").as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 100_000
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    hospitals = len(set(pq.read_table(demo_like / "settlement" / "hospitals.parquet")
                        .column("hospital_id").to_pylist()))
    # each hospital's statement starts a page, after the region, charts and tables
    assert pages >= hospitals + 3
    # A4 portrait: 595 x 842 points (Chromium writes 594.96 x 841.92)
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert boxes and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1
                         for w, h in boxes)


def test_formulas_follow_other_policies():
    """Fund base from patient payments, rounding per hospital, and an elastic point value are
    explained by their own rules (no engine needed: one statement row)."""
    from dipcore.reports.html import _pool_views
    from dipcore.reports.inputs import ReportInputs
    from dipcore.reports.statement import explain
    en = Labels("en")
    row = dict(hospital_id="H1", pool="employee", points=Decimal("1000.0000"), point_value=10.0,
               dip_amount=Decimal("10000.00"), total_cost=Decimal("12000.00"),
               gain=Decimal("-2000.00"), patient_paid=Decimal("3000.00"),
               fund_base=Decimal("7000.00"), appraisal_coefficient=1.0,
               appraisal_adjustment=Decimal("0.00"), deductions=Decimal("0.00"),
               sharing=Decimal("0.00"), surplus_clawback=Decimal("0.00"),
               fund_payable=Decimal("7000.00"), prepaid=Decimal("6000.00"),
               reserve_withheld=Decimal("600.00"), advance=Decimal("0.00"),
               balance=Decimal("1000.00"))
    pool = dict(fund_ratio=0.75)
    policy = dc.Policy(fund_share_method="patient_payments", allocation="round")
    lines = {x.key: x for x in explain(row, pool, policy, "dip_amount", (12, 600000, 60000), en)}
    assert lines["fund_base"].formula == "D − patient payments = 10,000.00 − 3,000.00 = 7,000.00"
    assert "rounded to the fen" in lines["dip_amount"].formula
    assert lines["prepaid"].formula == en("fx_prepaid_months", months=12)
    assert all(x.holds for x in lines.values())
    lines = explain(row, pool, dc.Policy(), "dip_amount", (12, 1, 1), en)
    assert "largest remainder" in lines[2].formula
    assert [x.formula for x in lines if x.key == "prepaid"] == [en("fx_prepaid_given")]
    pools = pa.table({"pool": ["employee"], "budget": [Decimal("72000000.00")],
                      "points": [Decimal("10000000.0000")], "total_cost": [Decimal("1.00")],
                      "fund_paid": [Decimal("0.72")], "fund_ratio": [0.72], "point_value": [9.5],
                      "base_point_value": [9.0], "floating_point_value": [11.5],
                      "budget_point_value": [9.0], "mode": ["elastic"]})
    elastic = dc.Policy(pv_mode="elastic", fixed_point_value={"employee": 9.0},
                        elastic_ceiling=1.5)
    inputs = ReportInputs(settlement=None, statements=None, pools=pools, monthly=None,
                          summary={}, scheme="dip", amount_column="dip_amount", policy=elastic,
                          policy_source="settlement")
    [view] = _pool_views(inputs, en)
    assert "80% of the budget buys base points at the base value 9.000000" in view["formula"]
    assert "11.500000 (at most 1.50 times the base value)" in view["formula"]


def test_sweep_section_of_a_real_sweep(demo_like, small_province, tmp_path):
    """The report reads what ``dc.sweep`` writes: every variant named with its changes."""
    out, _ = small_province
    catalog = dc.Catalog.load(demo_like / "catalog.parquet")
    pools = pq.read_table(demo_like / "settlement" / "pools.parquet").to_pylist()
    budget = {p["pool"]: float(p["budget"]) for p in pools}
    swept = dc.sweep(out / "cases" / "year=2024", catalog,
                     dc.grid(high_ratio=[1.5, 3.0], reserve=[0.0, 0.2]), budget)
    swept.save(tmp_path / "sweep")
    text = dc.report(demo_like, tmp_path / "r.html", lang="en", sweep=tmp_path / "sweep") \
        .read_text(encoding="utf-8")
    assert Labels("en")("no_sweep") not in text
    for v in swept.variants[1:]:
        assert html.escape(v.changes(), quote=False) in text or v.changes() in text, v.changes()
    # this sweep's baseline is the catalogue's policy, not the settlement reported (settled
    # with sharing bands and a surplus cap: the same point values) -- then another budget
    warning = Labels("en")("warn_sweep_baseline")
    assert warning not in html.unescape(text)
    other = dc.sweep(out / "cases" / "year=2024", catalog, {"x": {"high_ratio": 2.5}},
                     {p: b * 1.1 for p, b in budget.items()})
    other.save(tmp_path / "other")
    text = dc.report(demo_like, tmp_path / "o.html", lang="en", sweep=tmp_path / "other") \
        .read_text(encoding="utf-8")
    assert warning in html.unescape(text)


def test_report_inputs_of_the_wrong_kind_are_one_line(demo_like, tmp_path, monkeypatch):
    """A results argument that is no path, and a catalogue of the other scheme than the
    results', stop with one line instead of a traceback or a report that mixes them."""
    import dataclasses

    from dipcore.reports import inputs as report_inputs
    with pytest.raises(dc.InputError, match="the results of a report is given as a path, not int"):
        dc.report(1, tmp_path / "r.html")
    catalog = dc.Catalog.load(demo_like / "catalog.parquet")
    with pytest.raises(dc.InputError, match="catalog of a report is given as a path, not Catalog"):
        dc.report(demo_like, tmp_path / "r.html", catalog=catalog)
    as_drg = dataclasses.replace(catalog, scheme="drg")
    monkeypatch.setattr(report_inputs.Catalog, "load", classmethod(lambda cls, path: as_drg))
    with pytest.raises(dc.InputError, match="a DRG catalogue cannot explain DIP results"):
        dc.report(demo_like, tmp_path / "r.html")
