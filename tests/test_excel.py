"""Excel in and out: result workbooks read back equal to the tables (to the fen), with their
number formats, continuation sheets, umask permissions and atomic writes; official tables
and rule packs read from .xlsx exactly as from CSV; bad workbooks as one-line errors."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import stat
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import python_calamine
import xlsxwriter

import dipcore as dc
from dipcore.errors import InputError
from dipcore.reports.excel import number_format, sheet_names, with_names, write_tables
from naive_drg import copy_pack, pack_dir
from test_cli import assert_one_line_error, run

PACK = pack_dir()


# -------------------------------------------------------------------------------------------
# reading a workbook back
# -------------------------------------------------------------------------------------------
def sheets_of(path) -> dict[str, list[list]]:
    """Every sheet of a workbook as python-calamine reads it (header row first)."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            for name in book.sheet_names}


def expected_cell(value, field: pa.Field):
    """What a cell of ``field`` holding ``value`` reads back as (see dipcore.reports.excel)."""
    t = field.type
    if value is None:
        return ""
    if pa.types.is_list(t):
        return ";".join(value)
    if pa.types.is_floating(t):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if pa.types.is_string(t) and value == "":
        return ""
    return value


def read_cell(got, field: pa.Field):
    """A cell as read, in the table's terms: decimals rounded to their scale."""
    t = field.type
    if got == "":
        return got
    if isinstance(got, str):
        # a number too long for a double is its exact text
        if pa.types.is_decimal(t):
            return Decimal(got)
        return int(got) if pa.types.is_integer(t) else got
    if pa.types.is_decimal(t):
        return Decimal(str(round(got, t.scale)))
    if pa.types.is_integer(t):
        assert float(got).is_integer()
        return int(got)
    return got


def assert_sheet_equals(rows: list[list], table: pa.Table):
    header, *body = rows
    assert header == table.column_names
    assert len(body) == table.num_rows
    for j, field in enumerate(table.schema):
        want = [expected_cell(v, field) for v in table.column(j).to_pylist()]
        got = [read_cell(r[j], field) for r in body]
        if pa.types.is_floating(field.type):
            # 16 significant digits written: equal to the last bit or next to it
            assert got == [w if isinstance(w, str) else pytest.approx(w, rel=1e-15, abs=1e-300)
                           for w in want], field.name
        else:
            assert got == want, field.name


# -------------------------------------------------------------------------------------------
# a small settled and audited province
# -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from data_gen import generate
    out = tmp_path_factory.mktemp("excelprov")
    generate(out, 1500, (2023, 2024), hospitals=8, seed=5, chunk_rows=1000, bad_share=0.003)
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    catalog = dc.calibrate(out / "cases" / "year=2023", policy=dc.Policy(core_min_cases=5),
                           hospitals=hospitals)
    catalog.save(out / "catalog.parquet")
    settled = dc.settle(out / "cases" / "year=2024", catalog,
                        budget={"employee": 1.5e7, "resident": 1e7}, hospitals=hospitals)
    audited = dc.audit(out / "cases" / "year=2024", catalog, hospitals=hospitals,
                       previous=out / "cases" / "year=2023")
    return out, hospitals, settled, audited


def test_settlement_workbook_reads_back_to_the_fen(results, tmp_path):
    _, _, settled, _ = results
    assert settled.quarantine.num_rows > 0
    settled.save(tmp_path, format="xlsx")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cases.parquet", "hospitals.parquet", "monthly.parquet", "pools.parquet",
                     "quarantine.parquet", "settlement.xlsx", "summary.json"]
    sheets = sheets_of(tmp_path / "settlement.xlsx")
    assert list(sheets) == ["statements", "monthly prepayments", "pools", "quarantine"]
    assert_sheet_equals(sheets["statements"], settled.hospitals)
    # the monthly sheet names each hospital, from the statements
    monthly = with_names(settled.monthly, settled.hospitals)
    assert monthly.column_names[:3] == ["hospital_id", "hospital_name", "pool"]
    assert_sheet_equals(sheets["monthly prepayments"], monthly)
    assert_sheet_equals(sheets["pools"], settled.pools)
    assert_sheet_equals(sheets["quarantine"], settled.quarantine)
    # the Parquet copies are the tables themselves
    assert pq.read_table(tmp_path / "hospitals.parquet").equals(settled.hospitals)
    # a money total to the fen: the sum of the sheet's balances is the table's
    col = settled.hospitals.column_names.index("balance")
    got = sum(Decimal(str(round(r[col], 2))) for r in sheets["statements"][1:])
    assert got == sum(settled.hospitals.column("balance").to_pylist())


def test_settlement_without_quarantine_rows_has_no_quarantine_sheet(results, tmp_path):
    _, _, settled, _ = results
    import copy
    clean = copy.copy(settled)
    clean.quarantine = settled.quarantine.slice(0, 0)
    clean.save(tmp_path, format="xlsx")
    assert list(sheets_of(tmp_path / "settlement.xlsx")) == ["statements",
                                                             "monthly prepayments", "pools"]


def test_csv_format_is_unchanged(results, tmp_path):
    _, _, settled, audited = results
    settled.save(tmp_path / "s")
    audited.save(tmp_path / "a")
    assert not list(tmp_path.rglob("*.xlsx"))
    import pyarrow.csv as pacsv
    buf = io.BytesIO()
    pacsv.write_csv(settled.hospitals, buf)
    assert (tmp_path / "s" / "hospitals.csv").read_bytes() == buf.getvalue()
    with pytest.raises(InputError, match="unknown output format 'xls'"):
        settled.save(tmp_path / "x", format="xls")


def test_audit_workbook_reads_back_with_hospital_names(results, tmp_path):
    _, hospitals, _, audited = results
    audited.save(tmp_path, format="xlsx", names=hospitals)
    assert not list(tmp_path.glob("*.csv"))
    tables = {n: getattr(audited, n) for n in audited.TABLES if getattr(audited, n) is not None}
    for name in tables:
        assert (tmp_path / f"{name}.parquet").exists()
    sheets = sheets_of(tmp_path / "audit.xlsx")
    assert list(sheets) == list(tables)
    for name, table in tables.items():
        assert_sheet_equals(sheets[name], with_names(table, hospitals))
    header = sheets["hospitals"][0]
    assert header[:2] == ["hospital_id", "hospital_name"]
    registry = dict(zip(hospitals.column("hospital_id").to_pylist(),
                        hospitals.column("name").to_pylist()))
    assert all(r[1] == registry[r[0]] for r in sheets["hospitals"][1:])
    assert any(r[1] and any("\u4e00" <= ch <= "\u9fff" for ch in r[1])
               for r in sheets["hospitals"][1:])
    # flags are joined with ';', as in the CSV
    flags = [";".join(f) for f in audited.hospitals.column("flags").to_pylist()]
    assert [r[header.index("flags")] for r in sheets["hospitals"][1:]] == flags
    if audited.readmissions.num_rows:
        head = sheets["readmissions"][0]
        assert head.index("previous_hospital_name") == head.index("previous_hospital_id") + 1


def test_number_formats_header_filter_and_widths(results, tmp_path):
    _, _, settled, _ = results
    settled.save(tmp_path, format="xlsx")
    book = openpyxl.load_workbook(tmp_path / "settlement.xlsx")
    ws = book["statements"]
    header = [c.value for c in ws[1]]
    fmt = {h: ws.cell(row=2, column=j + 1).number_format for j, h in enumerate(header)}
    assert fmt["fund_payable"] == fmt["total_cost"] == fmt["balance"] == "#,##0.00"
    assert fmt["points"] == "#,##0.0000"
    assert fmt["outlier_share"] == fmt["death_rate"] == fmt["operation_rate"] == "0.00%"
    assert fmt["patient_paid_share"] == "0.00%"
    assert fmt["cases"] == "#,##0" and fmt["hospital_level"] == "0"
    assert fmt["appraisal_coefficient"] == "0.0000"
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}" \
                                 f"{ws.max_row}"
    # a Chinese hospital name is wider than its id
    width = {h: ws.column_dimensions[openpyxl.utils.get_column_letter(j + 1)].width
             for j, h in enumerate(header)}
    assert width["hospital_name"] > width["hospital_id"]
    pools = book["pools"]
    head = [c.value for c in pools[1]]
    assert pools.cell(row=2, column=head.index("fund_ratio") + 1).number_format == "0.00%"
    assert pools.cell(row=2, column=head.index("budget") + 1).number_format == "#,##0.00"


def test_format_rules_by_name_and_type():
    f = lambda name, t: number_format(pa.field(name, t))  # noqa: E731
    assert f("anything", pa.decimal128(18, 2)) == "#,##0.00"
    assert f("anything", pa.decimal128(18, 4)) == "#,##0.0000"
    assert f("fund_ratio", pa.float64()) == f("readmission_rate", pa.float64()) == "0.00%"
    assert f("cmi_oe", pa.float64()) == f("ratio", pa.float64()) == "0.000"
    assert f("cmi_z_growth", pa.float64()) == f("z", pa.float64()) == "0.00"
    assert f("year", pa.int32()) == "0" and f("cases", pa.int64()) == "#,##0"
    assert f("death_rate", pa.string()) is None          # a name rule needs a number
    assert f("admission", pa.date32()) == "yyyy-mm-dd"


# -------------------------------------------------------------------------------------------
# values, continuation sheets, permissions, atomicity
# -------------------------------------------------------------------------------------------
def _typed_table() -> pa.Table:
    return pa.table({
        "hospital_id": ["H1", "H2", None, "H1", "H3"],
        "money": pa.array([Decimal("0.01"), Decimal("-12345.67"), None,
                           Decimal("9999999999999.99"), Decimal("12345678901234.56")],
                          pa.decimal128(18, 2)),
        "points": pa.array([Decimal("1.0001"), None, Decimal("0.0000"),
                            Decimal("99999999999.9999"), Decimal("-3.1416")],
                           pa.decimal128(18, 4)),
        "oe": [1.25, float("nan"), float("inf"), float("-inf"), None],
        "n": pa.array([1, 2 ** 53, None, -(2 ** 53) - 1, 0], pa.int64()),
        "flags": pa.array([["cost", "upcoding"], [], None, ["x"], ["一", "二"]],
                          pa.list_(pa.string())),
        "day": pa.array([dt.date(2024, 1, 31), None, dt.date(2023, 12, 1),
                         dt.date(2024, 2, 29), dt.date(2000, 1, 1)], pa.date32()),
        "ok": [True, False, None, True, False],
        "text": ["=1+1", "", "医院", "0012", None],
    })


def test_values_read_back_exactly_including_nan_inf_and_big_numbers(tmp_path):
    t = _typed_table()
    write_tables(tmp_path / "t.xlsx", {"t": t})
    rows = sheets_of(tmp_path / "t.xlsx")["t"]
    assert_sheet_equals(rows, t)
    col = {h: [r[j] for r in rows[1:]] for j, h in enumerate(rows[0])}
    assert col["oe"] == [1.25, "", "inf", "-inf", ""]
    # 15 digits: a number; 16 digits: the exact text rather than a rounded number
    assert col["money"][3] == 9999999999999.99
    assert col["money"][4] == "12345678901234.56"
    assert col["n"][1] == 2 ** 53 and col["n"][3] == str(-(2 ** 53) - 1)
    assert col["flags"] == ["cost;upcoding", "", "", "x", "一;二"]
    assert col["day"][0] == dt.date(2024, 1, 31)
    assert col["text"][0] == "=1+1" and col["text"][3] == "0012"   # text stays text


def test_hospital_names_from_a_mapping_or_a_registry():
    t = pa.table({"hospital_id": ["H2", "H9", "H1"], "v": [1, 2, 3]})
    named = with_names(t, {"H1": "一院", "H2": "二院"})
    assert named.column("hospital_name").to_pylist() == ["二院", None, "一院"]
    registry = pa.table({"hospital_id": ["H1", "H2"], "name": ["一院", "二院"]})
    assert with_names(t, registry).column("hospital_name").to_pylist() == ["二院", None, "一院"]
    assert with_names(t, None).equals(t)


def test_long_tables_continue_on_further_sheets(tmp_path):
    t = pa.table({"i": list(range(10)), "s": [f"r{i}" for i in range(10)]})
    empty = t.slice(0, 0)
    write_tables(tmp_path / "t.xlsx", {"readmissions": t, "none": empty}, max_rows=4)
    sheets = sheets_of(tmp_path / "t.xlsx")
    assert list(sheets) == ["readmissions", "readmissions (2)", "readmissions (3)",
                            "readmissions (4)", "none"]
    assert [len(s) - 1 for s in sheets.values()] == [3, 3, 3, 1, 0]
    body = [r for name, s in sheets.items() if name.startswith("readmissions") for r in s[1:]]
    assert all(s[0] == ["i", "s"] for s in sheets.values())
    assert [int(r[0]) for r in body] == list(range(10))
    assert [name for name, _, _ in sheet_names("x" * 40, 7, max_rows=4)] == \
        ["x" * 31, "x" * 27 + " (2)", "x" * 27 + " (3)"]


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_workbook_permissions_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        write_tables(tmp_path / "t.xlsx", {"t": _typed_table()})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "t.xlsx").st_mode) == 0o666 & ~mask


def test_a_failure_mid_write_leaves_no_file(tmp_path):
    good = pa.table({"a": [1, 2]})
    too_long = pa.table({"a": ["x" * 40_000]})           # beyond Excel's cell limit
    with pytest.raises(ValueError, match="longer than Excel"):
        write_tables(tmp_path / "t.xlsx", {"good": good, "bad": too_long})
    assert list(tmp_path.iterdir()) == []
    # replacing a workbook: the old one stays as it was
    write_tables(tmp_path / "t.xlsx", {"good": good})
    before = (tmp_path / "t.xlsx").read_bytes()
    with pytest.raises(ValueError):
        write_tables(tmp_path / "t.xlsx", {"good": good, "bad": too_long})
    assert (tmp_path / "t.xlsx").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]


# -------------------------------------------------------------------------------------------
# official tables from .xlsx
# -------------------------------------------------------------------------------------------
def xlsx_from_csv(csv_text: str, path: Path, numbers: set[str], sheet: str = "Sheet1",
                  before: list[str] = ()) -> Path:
    """A workbook holding the CSV table; cells of the ``numbers`` columns that look like
    numbers are stored as numbers (as Excel does with typed codes); sheets named in
    ``before`` come first, each with a note."""
    header, *rows = list(csv.reader(io.StringIO(csv_text)))
    book = xlsxwriter.Workbook(str(path))
    for name in before:
        book.add_worksheet(name).write_string(0, 0, "说明：本表为示例")
    ws = book.add_worksheet(sheet)
    ws.write_row(0, 0, header)
    for i, row in enumerate(rows, start=1):
        for j, v in enumerate(row):
            if header[j] in numbers and v and _numeric(v):
                ws.write_number(i, j, float(v))
            elif v:
                ws.write_string(i, j, v)
    book.close()
    return path


def _numeric(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


DIP_CSV = ("group_code,dx_key,procedures,score,kind,mean_cost\n"
           "1234,K35.9,47.0100,1200.5,core,\n"
           "12.3,K35.9,,600,basic,5100.25\n"
           "K35|surgery,K35,,900,comprehensive,\n"
           "2001,I10,,350.25,core,3000\n")


def _same_catalogue(a: dc.Catalog, b: dc.Catalog):
    assert a.groups.equals(b.groups)
    for attr in ("mean_cost", "level_coefficients", "bed_day_rates", "budget_point_value",
                 "scheme", "policy", "rules"):
        assert getattr(a, attr) == getattr(b, attr), attr


def test_official_dip_catalogue_from_xlsx_equals_csv(tmp_path):
    (tmp_path / "official.csv").write_text(DIP_CSV, encoding="utf-8")
    side = '{"mean_cost": 8800, "level_coefficients": {"1": 0.6, "2": 0.85, "3": 1.1}}'
    (tmp_path / "official.json").write_text(side)
    from_csv = dc.Catalog.load(tmp_path / "official.csv")
    xlsx = xlsx_from_csv(DIP_CSV, tmp_path / "official.xlsx",
                         {"group_code", "score", "mean_cost"})
    from_xlsx = dc.Catalog.load(xlsx)
    _same_catalogue(from_xlsx, from_csv)
    # codes Excel stored as numbers come back as the code text
    assert from_xlsx.groups.column("group_code").to_pylist()[:2] == ["1234", "12.3"]


WEIGHTS_CSV = ("drg,name_zh,rw,mean_cost,coefficient_level1,stable\n"
               "GZ13,其他消化系统诊断，伴并发症,0.9512,,0.8,true\n"
               "FR15,心力衰竭,1.25,12000.5,,false\n"
               "ES29,慢性阻塞性肺病,1.1,,,\n")


def test_official_drg_weight_table_from_a_named_sheet_equals_csv(tmp_path):
    (tmp_path / "weights.csv").write_text(WEIGHTS_CSV, encoding="utf-8")
    from_csv = dc.Catalog.load(tmp_path / "weights.csv", mean_cost=10_000.0)
    xlsx = xlsx_from_csv(WEIGHTS_CSV, tmp_path / "weights.xlsx",
                         {"rw", "mean_cost", "coefficient_level1"}, sheet="权重",
                         before=["说明"])
    from_xlsx = dc.Catalog.load(xlsx, mean_cost=10_000.0, sheet="权重")
    assert from_xlsx.scheme == "drg"
    _same_catalogue(from_xlsx, from_csv)
    assert dc.Catalog.load(xlsx, mean_cost=10_000.0, sheet=1).groups.equals(from_csv.groups)


def test_bad_official_workbooks_are_one_line_errors(tmp_path):
    (tmp_path / "cat.json").write_text('{"mean_cost": 8800}')
    path = xlsx_from_csv(DIP_CSV, tmp_path / "cat.xlsx", {"score"}, sheet="目录")

    def error(**kw) -> str:
        with pytest.raises(InputError) as exc:
            dc.Catalog.load(path, **kw)
        text = str(exc.value)
        assert "\n" not in text and str(path) in text
        return text
    assert "no sheet named 'groups'" in error(sheet="groups")
    assert "'目录'" in error(sheet="groups")                   # the sheets there are named
    # a bad cell: the sheet, the row Excel shows (header on row 1) and the column
    bad = DIP_CSV.replace("350.25", "abc")
    xlsx_from_csv(bad, path, {"score"}, sheet="目录")
    text = error()
    assert "sheet '目录'" in text and "row 5" in text and "column 'score'" in text
    assert "not a number: 'abc'" in text
    xlsx_from_csv(DIP_CSV.replace("350.25", ""), path, {"score"}, sheet="目录")
    assert "row 5, column 'score': a group needs a score" in error()
    xlsx_from_csv(DIP_CSV.replace("core,\n", "kernel,\n", 1), path, set(), sheet="目录")
    assert "row 2, column 'kind'" in error()
    xlsx_from_csv(DIP_CSV.replace("score", "points"), path, set(), sheet="目录")
    assert "lacks a required column" in error() and "column 'score'" in error()
    path.write_bytes(b"this is not a workbook")
    assert "not a readable Excel workbook" in error()
    # an empty sheet
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("空")
    book.close()
    assert "empty sheet" in error()


def test_cli_bad_xlsx_catalogue_is_one_line(results, tmp_path):
    out, _, _, _ = results
    (tmp_path / "cat.json").write_text('{"mean_cost": 8800}')
    path = xlsx_from_csv(DIP_CSV.replace("350.25", "abc"), tmp_path / "cat.xlsx", {"score"})
    r = run("settle", out / "cases" / "year=2024", "--catalog", path, "--budget",
            "employee=1e7,resident=1e7", "--out", tmp_path / "s", "--format", "xlsx")
    assert_one_line_error(r, "cat.xlsx", "sheet 'Sheet1'", "row 5", "column 'score'")
    assert not (tmp_path / "s").exists()


# -------------------------------------------------------------------------------------------
# the command line
# -------------------------------------------------------------------------------------------
def test_cli_settle_and_audit_write_workbooks_and_no_csv(results, tmp_path):
    out, hospitals, _, _ = results
    common = ["--catalog", out / "catalog.parquet", "--hospitals", out / "hospitals.csv",
              "--format", "xlsx"]
    r = run("settle", out / "cases" / "year=2024", "--budget", "employee=1.5e7,resident=1e7",
            "--out", tmp_path / "s", *common)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s" / "settlement.xlsx").exists()
    assert not list((tmp_path / "s").glob("*.csv"))
    statements = pq.read_table(tmp_path / "s" / "hospitals.parquet")
    sheets = sheets_of(tmp_path / "s" / "settlement.xlsx")
    assert_sheet_equals(sheets["statements"], statements)
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["point_value"]

    r = run("audit", out / "cases" / "year=2024", "--previous", out / "cases" / "year=2023",
            "--out", tmp_path / "a", *common)
    assert r.returncode == 0, r.stderr
    assert not list((tmp_path / "a").glob("*.csv"))
    sheets = sheets_of(tmp_path / "a" / "audit.xlsx")
    table = pq.read_table(tmp_path / "a" / "hospitals.parquet")
    assert_sheet_equals(sheets["hospitals"], with_names(table, hospitals))


# -------------------------------------------------------------------------------------------
# a CHS-DRG rule pack with .xlsx tables
# -------------------------------------------------------------------------------------------
needs_pack = pytest.mark.skipif(not (PACK / "pack.json").exists(),
                                reason=f"CHS-DRG pack not found at {PACK} (set DIPCORE_DRG_PACK)")

#: Columns whose numeric-looking cells a bureau's sheet would hold as numbers.
PACK_NUMBERS = {"order", "seq", "list", "exclusion_table", "sex", "age_years",
                "min_trauma_regions", "qy_after_seq", "qy_enabled", "age_days_max",
                "weight_min_g", "weight_max_g", "adrg_count", "drg_count"}


def xlsx_pack(tmp_path: Path) -> Path:
    """A copy of the pack whose grouping tables are workbooks (the optional tables stay
    CSV), pack.json listing the workbooks with their SHA-256 and rows."""
    from dipcore.schemes.drg.rules import TABLE_COLUMNS
    dst = copy_pack(PACK, tmp_path / "xlsx_pack")
    meta = json.loads((dst / "pack.json").read_text(encoding="utf-8"))
    for name in TABLE_COLUMNS:
        text = (dst / name).read_text(encoding="utf-8")
        target = dst / name.replace(".csv", ".xlsx")
        xlsx_from_csv(text, target, PACK_NUMBERS, sheet=name[:-4])
        (dst / name).unlink()
        entry = meta["files"].pop(name)
        entry["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
        meta["files"][target.name] = entry
    (dst / "pack.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    if not (PACK / "pack.json").exists():
        pytest.skip(f"CHS-DRG pack not found at {PACK} (set DIPCORE_DRG_PACK)")
    return dc.DrgRules.load(PACK), xlsx_pack(tmp_path_factory.mktemp("packs"))


@needs_pack
def test_rule_pack_with_xlsx_tables_groups_the_reference_cases_alike(packs):
    from_csv, path = packs
    rules = dc.DrgRules.load(path)
    for attr in ("mdcs", "adrgs", "drgs", "mdc_dx", "trauma_regions", "adrg_dx", "adrg_proc",
                 "mcc", "cc", "cce", "proc_valid", "checks"):
        assert getattr(rules, attr) == getattr(from_csv, attr), attr
    assert rules.fingerprint != from_csv.fingerprint       # the files are not the same
    cases = pq.read_table(PACK / "cases-public.parquet")
    got = dc.drg_group(cases, rules)
    assert got.equals(dc.drg_group(cases, from_csv))
    with open(PACK / "expected-public.csv", encoding="utf-8", newline="") as f:
        expected = list(csv.DictReader(f))
    fields = ("status", "mdc", "adrg", "drg")
    rows = list(zip(*(got.column(c).to_pylist() for c in fields)))
    assert [tuple(v or "" for v in r) for r in rows] == \
        [tuple(e[c] for c in fields) for e in expected]


@needs_pack
def test_bad_xlsx_rule_pack_tables_are_one_line_errors(packs, tmp_path):
    import shutil
    _, good = packs
    broken = tmp_path / "pack"
    shutil.copytree(good, broken)
    meta = json.loads((broken / "pack.json").read_text(encoding="utf-8"))

    def load() -> str:
        with pytest.raises(InputError) as exc:
            dc.DrgRules.load(broken)
        assert "\n" not in str(exc.value)
        return str(exc.value)

    # a bad cell: the workbook, its sheet, the row Excel shows and the column
    text = (PACK / "drg.csv").read_text(encoding="utf-8")
    xlsx_from_csv(text.replace(",mcc,", ",severe,", 1), broken / "drg.xlsx", PACK_NUMBERS,
                  sheet="drg")
    meta["files"]["drg.xlsx"]["sha256"] = hashlib.sha256(
        (broken / "drg.xlsx").read_bytes()).hexdigest()
    (broken / "pack.json").write_text(json.dumps(meta), encoding="utf-8")
    row = next(i for i, r in enumerate(csv.DictReader(io.StringIO(text)), start=2)
               if r["split"] == "mcc")
    message = load()
    assert "drg.xlsx, sheet 'drg'" in message and f"row {row}," in message
    assert "column 'split'" in message and "severe" in message
    # pack.json listing the CSV form of a table that is there as a workbook
    meta["files"]["drg.csv"] = meta["files"].pop("drg.xlsx")
    (broken / "pack.json").write_text(json.dumps(meta), encoding="utf-8")
    assert "pack.json lists drg.csv but the pack holds drg.xlsx" in load()
    # both forms of one table
    (broken / "drg.csv").write_text(text, encoding="utf-8")
    assert "both drg.csv and drg.xlsx" in load()
    # a workbook without the table's columns
    (broken / "drg.csv").unlink()
    meta["files"]["drg.xlsx"] = meta["files"].pop("drg.csv")
    meta["files"]["drg.xlsx"].pop("sha256")
    (broken / "pack.json").write_text(json.dumps(meta), encoding="utf-8")
    xlsx_from_csv(text.replace("split", "severity", 1), broken / "drg.xlsx", set())
    assert "column missing from the header" in load() and "column 'split'" in load()


def test_report_workbook_and_sweep_workbook(results, tmp_path):
    """``dipcore report --format xlsx``: the report's tables, names beside ids, read back
    equal; ``Sweep.save(format="xlsx")``: the sweep's tables in sweep.xlsx, no CSV."""
    out, hospitals, settled, audited = results
    root = tmp_path / "results"
    settled.save(root / "settlement")
    audited.save(root / "audit")
    catalog = dc.Catalog.load(out / "catalog.parquet")
    swept = dc.sweep(out / "cases" / "year=2024", catalog, {"t": {"high_ratio": 2.5}},
                     budget={"employee": 1.5e7, "resident": 1e7}, hospitals=hospitals)
    swept.save(root / "sweep", format="xlsx")
    assert sorted(p.name for p in (root / "sweep").iterdir()) == [
        "hospitals.parquet", "statements.parquet", "summary.json", "sweep.xlsx",
        "variants.parquet"]
    assert_sheet_equals(sheets_of(root / "sweep" / "sweep.xlsx")["variants"], swept.totals)
    r = run("report", root, "--format", "xlsx", "--out", tmp_path / "report.xlsx")
    assert r.returncode == 0, r.stderr
    sheets = sheets_of(tmp_path / "report.xlsx")
    assert list(sheets) == ["pools", "statements", "monthly prepayments", "flagged hospitals",
                            "evidence", "sweep variants", "sweep hospitals"]
    assert_sheet_equals(sheets["statements"], settled.hospitals)
    flagged = audited.hospitals.filter(pa.compute.greater(
        pa.compute.list_value_length(audited.hospitals.column("flags")), 0))
    assert_sheet_equals(sheets["flagged hospitals"], with_names(flagged, settled.hospitals))
    assert_sheet_equals(sheets["sweep hospitals"], swept.hospitals)
