"""CHS-DRG grouper: the reference cases, the kernel against the naive grouper, bad input,
traces, and independence from batching and row order."""
from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from naive_drg import NaiveGrouper, copy_pack, fold, pack_dir

PACK = pack_dir()
if not (PACK / "pack.json").exists():
    pytest.skip(f"CHS-DRG pack not found at {PACK.resolve()} (set DIPCORE_DRG_PACK)",
                allow_module_level=True)

import dipcore as dc  # noqa: E402
from dipcore.errors import InputError  # noqa: E402

RULES = dc.DrgRules.load(PACK)
NAIVE = NaiveGrouper(PACK)
CASES = pq.read_table(PACK / "cases-public.parquet")
FIELDS = ("status", "mdc", "adrg", "drg", "cc_kind")

SCHEMA = pa.schema([
    ("case_id", pa.string()), ("sex", pa.int8()), ("age_years", pa.int16()),
    ("age_days", pa.int32()), ("birth_weight_g", pa.int32()), ("primary_dx", pa.string()),
    ("secondary_dx", pa.list_(pa.string())), ("procedures", pa.list_(pa.string())),
])


def table_of(cases: list[dict], schema=SCHEMA) -> pa.Table:
    rows = [{"case_id": c.get("case_id", f"c{i}"), **c} for i, c in enumerate(cases)]
    return pa.Table.from_pylist(rows, schema=schema)


def case(**kw) -> dict:
    base = dict(sex=1, age_years=40, age_days=None, birth_weight_g=None,
                primary_dx="K72.004", secondary_dx=[], procedures=[])
    base.update(kw)
    return base


def results(out: pa.Table) -> list[tuple]:
    return list(zip(*(out.column(f).to_pylist() for f in FIELDS)))


# -------------------------------------------------------------------------------------------
# the reference: all 3,000 public cases
# -------------------------------------------------------------------------------------------
def test_all_public_cases_agree_with_opendrg():
    with open(PACK / "expected-public.csv", encoding="utf-8", newline="") as f:
        expected = list(csv.DictReader(f))
    out = dc.drg_group(CASES, RULES)
    assert out.num_rows == len(expected) == 3000
    assert out.column("case_id").to_pylist() == [e["case_id"] for e in expected]
    got = [tuple(v or "" for v in r[:4]) for r in results(out)]
    want = [(e["status"], e["mdc"], e["adrg"], e["drg"]) for e in expected]
    diff = [(e["case_id"], w, g) for e, w, g in zip(expected, want, got) if w != g]
    assert diff == [], f"{len(diff)} of 3000 differ, first: {diff[:5]}"


def test_public_cases_agree_with_naive_including_cc_kind():
    out = dc.drg_group(CASES, RULES)
    want = [NAIVE.group(c) for c in CASES.to_pylist()]
    assert results(out) == want


def test_public_cases_in_map_mode_agree_with_naive():
    out = dc.drg_group(CASES, RULES, map_codes=True)
    want = [NAIVE.group(c, map_codes=True) for c in CASES.to_pylist()]
    assert results(out) == want
    statuses = set(out.column("status").to_pylist())
    assert {"invalid_dx", "invalid_proc", "ok"} <= statuses


def test_output_schema_and_cc_kind_follows_the_drg_digit():
    out = dc.drg_group(CASES, RULES)
    assert out.column_names == ["case_id", "status", "mdc", "adrg", "drg", "cc_kind"]
    for status, mdc, adrg, drg, cc in results(out):
        if status != "ok":
            assert (mdc, adrg, drg, cc) == (None, None, None, None)
            continue
        assert mdc == "MDC" + adrg[0] and drg.startswith(adrg)
        # README section 4: 1 MCC, 3 CC (or MCC where there is no x1), 5 neither, 9 unsplit
        assert cc == {"1": "mcc", "5": None, "9": None}.get(drg[3], cc)
        if drg[3] == "3":
            assert cc in ("mcc", "cc")


# -------------------------------------------------------------------------------------------
# property: the kernel agrees with the naive grouper on random cases from the pack's lists
# -------------------------------------------------------------------------------------------
def _pools():
    main = sorted(set().union(*NAIVE.mdc_dx.values()) | set(NAIVE.cce))
    adrg_dx = sorted(set().union(*NAIVE.adrg_dx.values()))
    sev = sorted(set(NAIVE.mcc) | set(NAIVE.cc))
    by_table = defaultdict(list)              # exclusion table -> MCC/CC codes in it
    for code, t in list(NAIVE.mcc.items()) + list(NAIVE.cc.items()):
        by_table[t].append(code)
    trauma = sorted(set().union(*(set(d) for d in NAIVE.region.values())))
    procs = sorted(set().union(*(s for lists in NAIVE.adrg_proc.values()
                                 for s in lists.values())))
    valid = sorted(NAIVE.valid)
    return main, adrg_dx, sev, {k: sorted(v) for k, v in by_table.items()}, trauma, procs, valid


MAIN, ADRG_DX, SEV, BY_TABLE, TRAUMA, PROCS, VALID = _pools()
# malformed and unknown codes (README *Test cases*): subcategory only, no dot, empty, no such
# code, lower case and padding (folded away), a dagger code without its asterisk part
JUNK = ["", "K35", "K35900", "XYZ.999", "k35.900", " I10.x00 ", "A17.000", "头颈部创伤",
        "47.01", "  ", "99.9999x999"]


def pick(pool):
    """An element of a large list. (``sampled_from`` re-checks every element of a pool
    each time a strategy over it is built, which costs seconds for pools of 30,000.)"""
    return st.integers(0, len(pool) - 1).map(pool.__getitem__)


MAIN_ST, ADRG_DX_ST, TRAUMA_ST, SEV_ST = pick(MAIN), pick(ADRG_DX), pick(TRAUMA), pick(SEV)
PROC_ST = st.one_of(pick(PROCS), pick(VALID), st.sampled_from(JUNK))
JUNK_ST = st.sampled_from(JUNK)
MAIN_DX_ST = st.one_of(MAIN_ST, ADRG_DX_ST, TRAUMA_ST, JUNK_ST, st.none())
OTHER_ST = st.one_of(SEV_ST, TRAUMA_ST, ADRG_DX_ST, MAIN_ST, JUNK_ST, st.none())


@st.composite
def dx_case(draw):
    main = draw(MAIN_DX_ST)
    others = draw(st.lists(OTHER_ST, max_size=6))
    # codes of the main diagnosis' own exclusion table, and the main code repeated
    t = NAIVE.cce.get(fold(main))
    if t in BY_TABLE and draw(st.booleans()):
        others += draw(st.lists(pick(BY_TABLE[t]), min_size=1, max_size=3))
    if draw(st.booleans()) and main is not None:
        others.insert(draw(st.integers(0, len(others))), main)
    procs = draw(st.lists(PROC_ST, max_size=5))
    newborn = draw(st.booleans())
    return dict(
        sex=draw(SEX_ST),
        age_years=0 if newborn else draw(st.sampled_from([45, 1, 17, 90, 0, None])),
        age_days=draw(st.sampled_from([28, 0, 1, 27, 29, 200, None])),
        birth_weight_g=draw(st.sampled_from([3800, 1499, 1500, 1999, 2000, 2499, 2500, 1, 0,
                                             None])),
        primary_dx=main,
        secondary_dx=draw(st.sampled_from([None, others])) if not others else others,
        procedures=None if (not procs and draw(st.booleans())) else procs,
    )


MDC_OF = {a["adrg"]: m for m, adrgs in NAIVE.adrgs.items() for a in adrgs}
ADRG_NAMES = sorted(MDC_OF)
ADRG_DX = {a: sorted(s) for a, s in NAIVE.adrg_dx.items()}
ADRG_LISTS = {a: {k: sorted(s) for k, s in lists.items()} for a, lists in NAIVE.adrg_proc.items()}
MDC_DX = {m: sorted(s) for m, s in NAIVE.mdc_dx.items()}
# failing values last: Hypothesis draws the first elements more often
SEX_ST = st.sampled_from([1, 2, 1, 2, 1, 2, 1, 2, 9, 0, None])


@st.composite
def targeted_case(draw):
    """A case built towards a random ADRG from its own tables, then disturbed: the main
    diagnosis from the ADRG's table (or its MDC's), procedures from its lists in any order
    (or dropped, or an unrelated valid one first), CC/MCC codes, newborn edges."""
    a = draw(pick(ADRG_NAMES))
    m = MDC_OF[a]
    pools = [p for p in (ADRG_DX.get(a), MDC_DX.get(m)) if p]
    main = draw(pick(draw(st.sampled_from(pools)))) if pools else draw(MAIN_ST)
    procs = []
    for k, codes in ADRG_LISTS.get(a, {}).items():
        if draw(st.integers(0, 4)) > 0:
            procs.append(draw(pick(codes)))
    procs = draw(st.permutations(procs)) if procs else procs
    if draw(st.integers(0, 3)) == 0:
        procs.insert(0, draw(pick(VALID)))
    others = draw(st.lists(st.one_of(SEV_ST, OTHER_ST), max_size=4))
    t = NAIVE.cce.get(fold(main))
    if t in BY_TABLE and draw(st.booleans()):
        others.append(draw(pick(BY_TABLE[t])))
    if a in ADRG_DX and draw(st.booleans()):
        others.append(draw(pick(ADRG_DX[a])))          # any_in ADRGs (PS1-4, YC1)
    newborn = m == "P" and draw(st.integers(0, 4)) > 0
    return dict(
        sex={"M": 1, "N": 2}.get(m, draw(SEX_ST)) if draw(st.integers(0, 5)) else draw(SEX_ST),
        age_years=0 if newborn else draw(st.sampled_from([30, 66, 3, 45, 0, 80, None])),
        age_days=draw(st.sampled_from([28, 0, 1, 27, 29, 200, None])),
        birth_weight_g=draw(st.sampled_from([3800, 1499, 1500, 1999, 2000, 2499, 2500, 1, 0,
                                             None])),
        primary_dx=main, secondary_dx=others, procedures=procs,
    )


CASE_ST = st.one_of(targeted_case(), targeted_case(), dx_case())


@given(st.lists(CASE_ST, min_size=1, max_size=25), st.sampled_from([1, 3, 64]))
def test_kernel_agrees_with_naive_on_random_cases(cases, batch_rows):
    out = dc.drg_group(table_of(cases), RULES, batch_rows=batch_rows)
    assert out.num_rows == len(cases)
    assert results(out) == [NAIVE.group(c) for c in cases]


@given(st.lists(CASE_ST, min_size=1, max_size=25))
def test_kernel_agrees_with_naive_in_map_mode(cases):
    out = dc.drg_group(table_of(cases), RULES, map_codes=True)
    assert results(out) == [NAIVE.group(c, map_codes=True) for c in cases]


@pytest.fixture(scope="module")
def qy_pack(tmp_path_factory):
    """The pack with the QY test switched on in every MDC (README *QY*), as a city might."""
    def enable(text):
        rows = list(csv.reader(text.splitlines()))
        col = rows[0].index("qy_enabled")
        for r in rows[1:]:
            r[col] = "1"
        buf = __import__("io").StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue()
    d = copy_pack(PACK, tmp_path_factory.mktemp("qy"), {"mdc.csv": enable})
    return dc.DrgRules.load(d), NaiveGrouper(d)


@given(cases=st.lists(CASE_ST, min_size=1, max_size=25))
def test_kernel_agrees_with_naive_with_qy_enabled(qy_pack, cases):
    rules, naive = qy_pack
    out = dc.drg_group(table_of(cases), rules)
    assert results(out) == [naive.group(c) for c in cases]


def test_qy_pack_gives_qy_results(qy_pack):
    rules, naive = qy_pack
    out = dc.drg_group(CASES, rules)
    assert results(out) == [naive.group(c) for c in CASES.to_pylist()]
    qy = [r for r in results(out) if r[0] == "ambiguous_qy"]
    assert qy and all(r[3] == r[1][3] + "QY" and r[2] is None for r in qy)


# -------------------------------------------------------------------------------------------
# bad input: a status, never an exception; rows out = rows in
# -------------------------------------------------------------------------------------------
def test_bad_input_is_grouped_as_the_readme_says():
    cases = [
        case(sex=9),                                             # 1: sex 9 fails
        case(sex=None),
        case(age_years=None),                                    # 2
        case(age_years=0, age_days=None),                        # 3
        case(age_years=0, age_days=28, birth_weight_g=None, primary_dx="P07.100"),  # 4
        case(age_years=0, age_days=29, birth_weight_g=None, primary_dx="P07.100"),  # passes
        case(age_years=0, age_days=3, birth_weight_g=0, primary_dx="P07.100"),      # passes
        case(primary_dx=None, secondary_dx=None, procedures=None),
        case(primary_dx="", secondary_dx=["", None], procedures=["", None]),
        case(primary_dx="NO.SUCH", secondary_dx=["ALSO.NOT"], procedures=["00.0000"]),
        case(primary_dx=" k72.004 "),                            # folded: same as K72.004
        case(primary_dx="K72.004"),
    ]
    out = dc.drg_group(table_of(cases), RULES)
    assert out.num_rows == len(cases)
    got = results(out)
    assert [g[0] for g in got[:5]] == ["check_failed"] * 5
    assert got[5][0] != "check_failed" and got[6][0] != "check_failed"
    # weight 0 passes the check and fails every PS band; PV1 catches the case
    assert got[6][2] not in ("PS1", "PS2", "PS3", "PS4")
    assert got[7] == got[8] == got[9] == ("ungroupable", None, None, None, None)
    assert got[10] == got[11] and got[11][0] == "ok"
    assert got == [NAIVE.group(c) for c in cases]


def test_dagger_asterisk_part_is_kept():
    with_star = [c for c in sorted(NAIVE.mdc_dx["H"]) if "+" in c][0]
    dagger = with_star.split("+")[0]
    out = dc.drg_group(table_of([case(primary_dx=with_star), case(primary_dx=dagger)]), RULES)
    assert results(out) == [NAIVE.group(case(primary_dx=with_star)),
                            NAIVE.group(case(primary_dx=dagger))]
    assert results(out)[0][0] == "ok"


def joined_lists(rows: pa.Table) -> pa.Table:
    """The list columns as text joined by "|" (diagnoses) and "," (procedures)."""
    joined = rows.set_column(
        rows.schema.get_field_index("secondary_dx"), "secondary_dx",
        pa.array(["|".join(v) if v else None for v in rows.column("secondary_dx").to_pylist()]))
    joined = joined.set_column(
        joined.schema.get_field_index("procedures"), "procedures",
        pa.array([",".join(v) if v else "" for v in rows.column("procedures").to_pylist()]))
    return joined


def test_joined_text_lists_equal_list_columns():
    rows = CASES.slice(0, 400)
    assert dc.drg_group(joined_lists(rows), RULES).equals(dc.drg_group(rows, RULES))


def test_other_arrow_types_and_sources(tmp_path):
    rows = CASES.slice(0, 300)
    want = dc.drg_group(rows, RULES)
    cast = rows.cast(pa.schema([
        (f.name, pa.large_list(pa.large_string()) if pa.types.is_list(f.type)
         else pa.large_string() if pa.types.is_string(f.type)
         else pa.int64() if pa.types.is_integer(f.type) else f.type) for f in rows.schema]))
    assert dc.drg_group(cast, RULES).equals(want)
    dictionary = rows.set_column(rows.schema.get_field_index("primary_dx"), "primary_dx",
                                 rows.column("primary_dx").dictionary_encode())
    assert dc.drg_group(dictionary, RULES).equals(want)
    assert dc.drg_group(rows.to_batches()[0], RULES).equals(want)
    pq.write_table(rows, tmp_path / "c.parquet", row_group_size=70)
    assert dc.drg_group(tmp_path / "c.parquet", RULES).equals(want)
    assert dc.drg_group(str(tmp_path / "c.parquet"), RULES).equals(want)
    # codes read as dictionaries, batches crossing row groups (and so dictionaries)
    assert dc.drg_group(tmp_path / "c.parquet", RULES, batch_rows=33).equals(want)
    encoded = pq.read_table(tmp_path / "c.parquet", read_dictionary=[
        "primary_dx", "secondary_dx.list.element", "procedures.list.element"])
    assert pa.types.is_dictionary(encoded.schema.field("primary_dx").type)
    assert dc.drg_group(encoded, RULES, batch_rows=50).equals(want)
    pq.write_table(joined_lists(rows), tmp_path / "j.parquet", row_group_size=70)
    assert dc.drg_group(tmp_path / "j.parquet", RULES, batch_rows=33).equals(want)
    pl = pytest.importorskip("polars")
    assert dc.drg_group(pl.from_arrow(rows), RULES).equals(want)


def test_empty_input_and_null_list_slots_spanning_values():
    empty = dc.drg_group(table_of([]), RULES)
    assert empty.num_rows == 0 and empty.column_names[0] == "case_id"
    # Arrow lets a null list slot span child values: they must not count
    values = pa.array(["A41.900", "J96.000"])
    lst = pa.ListArray.from_arrays(pa.array([0, 2, 2], pa.int32()), values,
                                   mask=pa.array([True, False]))
    t = table_of([case(), case()])
    t = t.set_column(t.schema.get_field_index("secondary_dx"), "secondary_dx", lst)
    got = results(dc.drg_group(t, RULES))
    assert got[0] == got[1] == NAIVE.group(case(secondary_dx=None))


def test_unreadable_input_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="column 'procedures'.*missing"):
        dc.drg_group(CASES.drop_columns(["procedures"]), RULES)
    bad = CASES.slice(0, 3).set_column(
        CASES.schema.get_field_index("age_years"), "age_years", pa.array(["x", "1", "2"]))
    with pytest.raises(InputError, match="age_years"):
        dc.drg_group(bad, RULES)
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="x.parquet"):
        dc.drg_group(tmp_path / "x.parquet", RULES)
    with pytest.raises(InputError):
        dc.drg_group([1, 2, 3], RULES)


# -------------------------------------------------------------------------------------------
# invariants: batch size, threads and row order change nothing
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_rows", [1, 7, 3000])
def test_same_answer_for_any_batch_size(batch_rows):
    rows = CASES if batch_rows > 1 else CASES.slice(0, 500)
    want = dc.drg_group(rows, RULES, batch_rows=100_000)
    assert dc.drg_group(rows, RULES, batch_rows=batch_rows).equals(want)


def test_row_order_and_threads_change_nothing():
    want = dict(zip(CASES.column("case_id").to_pylist(), results(dc.drg_group(CASES, RULES))))
    order = np.random.default_rng(5).permutation(CASES.num_rows)
    shuffled = CASES.take(order)
    dc.set_threads(1)
    try:
        one = dc.drg_group(shuffled, RULES, batch_rows=250)
    finally:
        dc.set_threads(None)
    many = dc.drg_group(shuffled, RULES, batch_rows=250)
    assert one.equals(many)
    assert one.column("case_id").to_pylist() == shuffled.column("case_id").to_pylist()
    assert dict(zip(one.column("case_id").to_pylist(), results(one))) == want


# -------------------------------------------------------------------------------------------
# trace
# -------------------------------------------------------------------------------------------
def _trace(c, **kw):
    out = dc.drg_group(table_of([c]), RULES, trace=True, **kw)
    steps = out.column("trace")[0].as_py()
    return results(out)[0], [s["zh"] for s in steps], [s["en"] for s in steps]


def test_trace_on_public_cases_matches_results():
    plain = dc.drg_group(CASES, RULES)
    traced = dc.drg_group(CASES, RULES, trace=True)
    assert traced.drop_columns(["trace"]).equals(plain)
    assert traced.schema.field("trace").type == pa.list_(
        pa.struct([("zh", pa.string()), ("en", pa.string())]))
    for steps, (status, *_rest) in zip(traced.column("trace").to_pylist(), results(plain)):
        assert steps and all(s["zh"] and s["en"] for s in steps)
        last = steps[-1]["en"]
        assert last.startswith("grouped to DRG") if status == "ok" else True


def test_trace_names_mdc_adrg_and_the_exclusion():
    # a main diagnosis with an exclusion table, one MCC it excludes and one it does not
    main = next(c for c in sorted(NAIVE.mdc_dx["E"]) if c in NAIVE.cce
                and any(NAIVE.mcc.get(x) == NAIVE.cce[c] for x in BY_TABLE[NAIVE.cce[c]]))
    t = NAIVE.cce[main]
    excluded = next(x for x in BY_TABLE[t] if NAIVE.mcc.get(x) == t)
    counted = next(x for x in sorted(NAIVE.mcc) if NAIVE.mcc[x] != t)
    c = case(primary_dx=main, secondary_dx=[excluded, counted])
    result, zh, en = _trace(c)
    assert result == NAIVE.group(c)
    text = "\n".join(en)
    assert f"entered {result[1]}" in text and f"ADRG {result[2]}" in text
    assert f"other diagnosis {excluded} is an MCC, but the main diagnosis {main} excludes it" \
        in text
    assert f"other diagnosis {counted} is an MCC: counted" in text
    assert en[-1].startswith(f"grouped to DRG {result[3]}")
    assert any("排除表" in s and "不计" in s for s in zh)


def test_trace_says_which_mdc_fell_through_and_which_check_failed():
    c = CASES.filter(pa.compute.equal(CASES.column("case_id"), "D1-0000002")).to_pylist()[0]
    _result, zh, en = _trace(c)
    assert any(s.startswith("entered MDCA") for s in en)
    assert any("no ADRG of MDCA matches" in s for s in en)
    assert any("转入后续 MDC" in s for s in zh)
    _r, zh, en = _trace(case(sex=9))
    assert en == ["sex 9 is not one of 1, 2: check failed"] and "信息校验不通过" in zh[0]
    r, _zh, en = _trace(case(primary_dx="NO.SUCH"))
    assert r[0] == "ungroupable" and en[-1] == "ungroupable (group 0000)"


def test_trace_in_map_mode_names_the_unmappable_code():
    missing = next(c for c in sorted(NAIVE.mdc_dx["G"]) if c not in NAIVE.dx_map)
    r, _zh, en = _trace(case(primary_dx=missing), map_codes=True)
    assert r[0] == "invalid_dx" and missing in en[-1]


def test_pack_metadata_is_carried():
    assert RULES.name == json.loads((PACK / "pack.json").read_text())["name"]
    assert len(RULES.fingerprint) == 64
    assert dc.DrgRules.load(PACK).fingerprint == RULES.fingerprint


# -------------------------------------------------------------------------------------------
# the command line and file inputs
# -------------------------------------------------------------------------------------------
def _cli(*args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "dipcore", "drg-group", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_cli_writes_the_grouped_cases(tmp_path):
    out = tmp_path / "grouped.parquet"
    r = _cli(PACK / "cases-public.parquet", "--rules", PACK, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "grouped 3,000 cases" in r.stdout
    assert results(pq.read_table(out)) == results(dc.drg_group(CASES, RULES))


def test_csv_input_groups_like_parquet_and_csv_output_holds_the_trace(tmp_path):
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    sample = CASES.slice(0, 200)
    flat = sample.select(["case_id", "sex", "age_years", "age_days", "birth_weight_g",
                          "primary_dx"])
    for name in ("secondary_dx", "procedures"):
        flat = flat.append_column(name, pc.binary_join(sample.column(name), "|"))
    src = tmp_path / "cases.csv"
    pacsv.write_csv(flat, src)
    assert results(dc.drg_group(src, RULES)) == results(dc.drg_group(sample, RULES))
    out = tmp_path / "grouped.csv"
    r = _cli(src, "--rules", PACK, "--out", out, "--trace", "--lang", "en")
    assert r.returncode == 0, r.stderr
    grouped = pacsv.read_csv(out)
    assert grouped.num_rows == 200
    traces = grouped.column("trace").to_pylist()
    assert all(traces) and sum(t.startswith("main diagnosis") for t in traces) >= 190


def test_cli_bad_pack_is_one_line(tmp_path):
    broken = copy_pack(PACK, tmp_path / "pack")
    (broken / "drg.csv").unlink()
    r = _cli(PACK / "cases-public.parquet", "--rules", broken, "--out", tmp_path / "g.parquet")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "drg.csv" in r.stderr
