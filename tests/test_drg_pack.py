"""The synthetic CHS-DRG rule pack (data_gen.drg_pack): it loads, groups a generated
province, agrees with the naive grouper of the pack README, and is reproducible."""
from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from naive_drg import NaiveGrouper

import dipcore as dc
from data_gen import generate
from data_gen.drg_pack import write_pack

FIELDS = ("status", "mdc", "adrg", "drg", "cc_kind")


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    """A small province with its pack, the pack loaded, its cases and their grouping."""
    out = tmp_path_factory.mktemp("drgpack")
    manifest = generate(out, 3000, (2024, 2024), hospitals=12, seed=7, drg_pack=True)
    rules = dc.DrgRules.load(out / "drg_pack")
    cases = pq.read_table(out / "cases")
    return out, manifest, rules, cases, dc.drg_group(cases, rules)


def _results(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(f).to_pylist() for f in FIELDS)))


def test_pack_loads_and_has_the_shape_of_chs_drg(province):
    out, manifest, rules, _, _ = province
    assert manifest["drg_pack"] == "drg_pack"
    meta = json.loads((out / "drg_pack" / "pack.json").read_text(encoding="utf-8"))
    assert meta["mdc_order"] == [m.mdc for m in rules.mdcs]
    assert "dx_map.csv" not in meta["files"] and rules.dx_map is None
    assert len(rules.mdcs) >= 10 and "P" in meta["mdc_order"]
    kinds = set(meta["adrg_kinds"])
    assert {"main_dx", "main_proc", "main_dx+main_proc", "main_proc+newborn",
            "main_dx+newborn", "any_dx+newborn+birth_weight", "always"} <= kinds
    # every split pattern of CHS-DRG 1.1: the DRG's fourth character tells the split
    splits = {d.drg[3]: d.split for d in rules.drgs}
    assert splits == {"1": "mcc", "3": "mcc_or_cc", "5": "none", "9": "none"}
    patterns = Counter("".join(d.drg[3] for d in rules.drgs if d.adrg == a.adrg)
                       for a in rules.adrgs)
    assert set(patterns) == {"135", "35", "15", "9"}
    assert rules.mcc and rules.cc and not set(rules.mcc) & set(rules.cc)
    # the main-diagnosis tables list the generator's diagnoses, MDCs do not overlap
    seen: set[str] = set()
    for codes in rules.mdc_dx.values():
        assert not codes & seen
        seen |= codes
    assert rules.proc_valid and rules.proc_valid <= set(rules.proc_names)


def test_pack_is_byte_identical_for_the_seed_and_independent_of_hospitals(province, tmp_path):
    out = province[0] / "drg_pack"
    again = write_pack(tmp_path / "again", seed=7, hospitals=30)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_generated_province_groups(province):
    _, _, rules, cases, got = province
    assert got.num_rows == cases.num_rows == 3000
    assert got.column("case_id").to_pylist() == cases.column("case_id").to_pylist()
    status = Counter(got.column("status").to_pylist())
    assert status["ok"] / got.num_rows >= 0.95, status
    # what does not group is a genital diagnosis of the other sex (MDC M/N entry fails)
    sexed = {m.mdc: m.sex for m in rules.mdcs if m.sex}
    for c, s in zip(cases.to_pylist(), got.column("status").to_pylist()):
        if s != "ok":
            mdc = next(k for k, v in rules.mdc_dx.items() if c["primary_dx"].upper() in v)
            assert mdc in sexed and c["sex"] != sexed[mdc]
    ok = [r for r in _results(got) if r[0] == "ok"]
    assert len({r[1] for r in ok}) >= 15
    assert len({r[3] for r in ok}) >= 60
    kind = {a.adrg: a for a in rules.adrgs}
    used = {r[2] for r in ok}
    assert any(kind[a].proc_rule == "main_in" for a in used)        # surgical
    assert any(kind[a].proc_rule == "" and kind[a].dx_rule == "main_in" for a in used)
    assert sum(a.startswith("PS") for a in used) >= 2           # newborns by birth weight
    cc_kind = Counter(r[4] for r in ok)
    assert cc_kind["mcc"] >= 100 and cc_kind["cc"] >= 100, cc_kind


def test_generated_province_agrees_with_the_naive_grouper(province):
    out, _, _, cases, got = province
    naive = NaiveGrouper(out / "drg_pack")
    assert _results(got) == [naive.group(c) for c in cases.to_pylist()]


def test_exclusion_decides_some_generated_cases(province):
    """Cases whose CC/MCC the main diagnosis' exclusion table removes: without the
    exclusion some would be in a 'with complication' DRG."""
    out, _, rules, cases, got = province
    naive = NaiveGrouper(out / "drg_pack")
    drgs = {a.adrg: [d for d in rules.drgs if d.adrg == a.adrg] for a in rules.adrgs}

    def drg_of(adrg: str, mcc: bool, cc: bool) -> str:      # README section 4
        return next(d.drg for d in drgs[adrg] if d.split == "none"
                    or (d.split == "mcc" and mcc) or (d.split == "mcc_or_cc" and (mcc or cc)))

    decided = 0
    for c, r in zip(cases.to_pylist(), _results(got)):
        if r[0] != "ok":
            continue
        D = [c["primary_dx"].upper()] + [d.upper() for d in c["secondary_dx"] or []]
        assert drg_of(r[2], *naive.severity(D)) == r[3]
        raw = (any(d in naive.mcc for d in D[1:]), any(d in naive.cc for d in D[1:]))
        decided += drg_of(r[2], *raw) != r[3]
    assert decided >= 3, decided


def test_exclusion_table_removes_a_cc_by_hand(province):
    _, _, rules, _, _ = province
    # a medical ADRG split on CC whose diagnosis table holds a main diagnosis whose own
    # exclusion table also holds a CC code other than itself
    for a in rules.adrgs:
        splits = [d.split for d in rules.drgs if d.adrg == a.adrg]
        if a.proc_rule or a.dx_rule != "main_in" or a.age_days_max or "mcc_or_cc" not in splits:
            continue
        main = other = None
        for dx in sorted(rules.adrg_dx[a.adrg]):
            t = rules.cce.get(dx)
            same = sorted(c for c, tc in rules.cc.items() if tc == t and c != dx)
            if same:
                main, excluded = dx, same[0]
                other = next(c for c, tc in sorted(rules.cc.items()) if tc != t)
                break
        if main:
            break
    else:
        pytest.fail("no ADRG with an exclusion to test")
    drgs = [d.drg for d in rules.drgs if d.adrg == a.adrg]
    schema = pa.schema([("case_id", pa.string()), ("sex", pa.int8()),
                        ("age_years", pa.int16()), ("age_days", pa.int32()),
                        ("birth_weight_g", pa.int32()), ("primary_dx", pa.string()),
                        ("secondary_dx", pa.list_(pa.string())),
                        ("procedures", pa.list_(pa.string()))])
    sex = next((m.sex for m in rules.mdcs if m.mdc == a.mdc), None) or 1
    rows = [{"case_id": f"c{i}", "sex": sex, "age_years": 50, "age_days": None,
             "birth_weight_g": None, "primary_dx": main, "secondary_dx": sec, "procedures": []}
            for i, sec in enumerate([[excluded], [other], [excluded, other]])]
    out = dc.drg_group(pa.Table.from_pylist(rows, schema=schema), rules, trace=True)
    res = _results(out)
    assert res[0][2] == a.adrg and res[0][3] == drgs[-1] and res[0][4] is None
    assert res[1][3] == next(d for d in drgs if d[3] == "3") and res[1][4] == "cc"
    assert res[2][4] == "cc"
    trace = json.dumps(out.column("trace")[0].as_py(), ensure_ascii=False)
    assert "excludes it" in trace


def test_drg_pack_does_not_change_the_cases(province, tmp_path):
    out, _, _, cases, _ = province
    plain = generate(tmp_path / "plain", 3000, (2024, 2024), hospitals=12, seed=7)
    assert "drg_pack" not in plain and not (tmp_path / "plain" / "drg_pack").exists()
    assert pq.read_table(tmp_path / "plain" / "cases").equals(cases)
    assert (pq.read_table(tmp_path / "plain" / "labels.parquet")
            .equals(pq.read_table(out / "labels.parquet")))
