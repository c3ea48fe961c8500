"""Code normalisation and list splitting: Cython kernels against tests/naive.py, and every
code of the national CHS-DRG 1.1 code lists."""
import csv
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore._kernels import strings as K
from naive_drg import pack_dir

PACK = pack_dir()

KIND = {"diagnosis": K.DIAGNOSIS, "procedure": K.PROCEDURE}


def _run(values, kind):
    codes, status = K.normalize_codes(pa.array(values, pa.string()), KIND[kind])
    return list(zip(codes.to_pylist(), status.tolist()))


@pytest.mark.parametrize("raw, expected", [
    ("K35.900", "K35.900"), ("k35.900", "K35.900"), (" K35 .900 ", "K35.900"),
    ("K35900", "K35.900"), ("I10.x00", "I10.x00"), ("i10.X00", "I10.x00"),
    ("F03.x00", "F03.x00"), ("A15.000x010", "A15.000x010"), ("A15.000X010", "A15.000x010"),
    ("I10.x00x002", "I10.x00x002"), ("K35.9", "K35.9"), ("A17.0+G01*", "A17.0"),
    ("A17.0\u2020G01*", "A17.0"), ("G01*", None), ("Ｋ３５．９００", "K35.900"),
    ("K35.900\u3000", "K35.900"),
])
def test_diagnosis_examples(raw, expected):
    code, status = _run([raw], "diagnosis")[0]
    if expected is None:
        assert status == K.BAD
    else:
        assert (code, status) == (expected, K.OK)


@pytest.mark.parametrize("raw", ["K35", "K3X.9", "KK5.900", "K35.90", "K35.9000", "35.900",
                                 "K35.x", "K35.900y010", "K35.900x01", "K35.900x0100", "中文",
                                 "K35.9\u00e9"])
def test_malformed_diagnoses(raw):
    assert _run([raw], "diagnosis")[0] == ("", K.BAD)


@pytest.mark.parametrize("raw, expected", [
    ("47.0100", "47.0100"), ("00.6600x004", "00.6600x004"), ("00.6600X004", "00.6600x004"),
    ("4701", "47.01"), ("47.01", "47.01"), ("47.0", "47.0"), (" 99.29 ", "99.29"),
    # the shapes of the national code list, one example each
    ("00.0100", "00.0100"),                                  # DD.DDDD
    ("00.0200x001", "00.0200x001"),                          # DD.DDDDxDDD
    ("01.6x00", "01.6x00"), ("01.6X00", "01.6x00"),          # DD.DxDD
    ("03.1x00x001", "03.1x00x001"), ("03.1X00X001", "03.1x00x001"),   # DD.DxDDxDDD
    ("17.91100", "17.91100"),                                # DD.DDDDD
    ("17.912A0", "17.912A0"), ("17.912a0", "17.912A0"),      # DD.DDDLD
    ("86.700x0013", "86.700x0013"), ("86.700X0013", "86.700x0013"),   # DD.DDDxDDDD
    # without a dot
    ("016x00", "01.6x00"), ("031X00x001", "03.1x00x001"), ("1791100", "17.91100"),
    ("17912A0", "17.912A0"), ("86700X0013", "86.700x0013"), ("000200x001", "00.0200x001"),
    ("０１．６Ｘ００", "01.6x00"),
])
def test_procedure_examples(raw, expected):
    assert _run([raw], "procedure")[0] == (expected, K.OK)


@pytest.mark.parametrize("raw", ["4", "47.", "A7.01", "47.010", "47.0100x00", "47-01", "ABC",
                                 "1.2", "12.345678901", "12.3x", "12.34x00", "12.3x0", "12.3x000",
                                 "12.3x00x00", "12.3x00y001", "12.3xx0x001", "12.345A", "12.34AB0",
                                 "12.345A00", "12.345A0x001", "12.3456x001x", "12.345x001",
                                 "12.345x00001", "12.345Ax001", "12.34567x001", "12.34x0x0001",
                                 "4701.00", "1A.0100", "12.A100"])
def test_malformed_procedures(raw):
    assert _run([raw], "procedure")[0] == ("", K.BAD)


def test_null_and_blank_are_empty():
    assert _run([None, "", "   "], "diagnosis") == [("", K.EMPTY)] * 3


def test_sliced_array_uses_its_own_offsets():
    arr = pa.array(["xx", "K35.900", "47.01", None]).slice(1, 2)
    codes, status = K.normalize_codes(arr, K.DIAGNOSIS)
    assert codes.to_pylist() == ["K35.900", ""]
    assert status.tolist() == [K.OK, K.BAD]


code_chars = st.sampled_from(list("AKIZx X.0123459+*,|\t") + ["\u2020", "\u3000", "\uff2b",
                                                              "\uff15", "\uff0e", "é", "\u0665"])


def _shaped(pattern):
    """Codes matching ``pattern`` with ASCII digits only (``\\d`` alone would mostly draw
    other scripts' digits, which are never part of a code)."""
    return st.from_regex(re.compile(pattern, re.ASCII))


code_text = st.one_of(
    st.text(code_chars, max_size=16),
    _shaped(r"\A[A-Za-z]\d\d\.?[\dxX]\d\d([xX]\d\d\d)?\Z"),
    _shaped(r"\A\d\d\.?\d(\d(\d\d([xX]\d\d\d)?)?)?\Z"),
    _shaped(r"\A\d\d\.?\d([xX]\d\d([xX]\d\d\d)?|\d\d([\dA-Za-z]\d|[xX]\d\d\d\d))\Z"),
    _shaped(r"\A\d\d\.?[\dxX]{2,4}[\dxXA]{0,3}[\dxX]{0,4}\Z"),
)


@given(st.lists(st.one_of(st.none(), code_text), max_size=30),
       st.sampled_from(["diagnosis", "procedure"]))
def test_normalize_matches_reference(values, kind):
    assert _run(values, kind) == [naive.normalize_code(v, kind) for v in values]


@given(st.lists(st.one_of(st.none(), st.text(st.sampled_from(list("ab |, \t1.")), max_size=20)),
                max_size=30))
def test_split_matches_reference(values):
    lists = K.split_lists(pa.array(values, pa.string()))
    assert lists.to_pylist() == [naive.split_list(v) for v in values]


@given(st.lists(st.one_of(st.none(), st.lists(st.one_of(st.none(), code_text), max_size=5)),
                max_size=20))
def test_code_lists_match_reference(rows):
    from dipcore.ingest.codebook import Codebook
    from dipcore.ingest.convert import code_lists
    cb = Codebook()
    off, ids, bad, first, items = code_lists(pa.array(rows, pa.list_(pa.string())), cb.dx)
    canon = cb.dx.canon.strings().to_pylist()
    got = [[canon[i] for i in ids[off[k]:off[k + 1]]] for k in range(len(rows))]
    expected, expected_bad, expected_first = [], [], []
    for row in rows:
        results = [naive.normalize_code(v, "diagnosis") for v in (row or [])]
        expected.append([c for c, s in results if s == naive.OK])
        expected_bad.append(1 if any(s == naive.BAD for _, s in results) else 0)
        expected_first.append(next((v for v, (_, s) in zip(row or [], results) if s == naive.BAD), None))
    assert got == expected
    assert bad.tolist() == expected_bad
    assert [items[int(f)].as_py() if f >= 0 else None for f in first] == expected_first


# -------------------------------------------------------------------------------------------
# the national CHS-DRG 1.1 code lists and public cases (outside data, beside the repository)
# -------------------------------------------------------------------------------------------
def _pack_file(name):
    path = PACK / name
    if not path.exists():
        pytest.skip(f"national CHS-DRG 1.1 file not found at {path.resolve()} "
                    "(expected in ../shared/drg/chs-drg-1.1 beside the repository, "
                    "or set DIPCORE_DRG_PACK)")
    return path


def _code_list(name):
    with open(_pack_file(name), encoding="utf-8", newline="") as f:
        return [row["code"] for row in csv.DictReader(f)]


@pytest.mark.parametrize("name, kind", [("proc_codes.csv", "procedure"),
                                        ("dx_codes.csv", "diagnosis")])
def test_every_national_code_is_accepted_unchanged(name, kind):
    codes = _code_list(name)
    assert len(codes) > 10_000
    got = _run(codes, kind)
    rejected = [c for c, (_, s) in zip(codes, got) if s != K.OK]
    assert rejected == []
    # a listed code is already normal: only a dagger/asterisk part is dropped
    assert [g for g, _ in got] == [c.split("+")[0] for c in codes]
    assert got == [naive.normalize_code(c, kind) for c in codes]


def test_public_cases_quarantine_no_listed_code_as_malformed():
    import dipcore as dc
    table = pq.read_table(_pack_file("cases-public.parquet"))
    listed = {"procedures": set(_code_list("proc_codes.csv")),
              "diagnoses": {c.split("+")[0] for c in _code_list("dx_codes.csv")}}
    cases, quarantine = dc.read_cases(table)
    rows = table.to_pylist()

    def malformed(reason):
        return set(quarantine.filter(pc.equal(quarantine["reason"], reason))["case_id"].to_pylist())

    bad_proc, bad_dx = malformed("malformed_procedure"), malformed("malformed_diagnosis")
    for row in rows:
        if all(p in listed["procedures"] for p in row["procedures"] or []):
            assert row["case_id"] not in bad_proc, row["procedures"]
        if all(d in listed["diagnoses"] for d in [row["primary_dx"], *(row["secondary_dx"] or [])]
               if d):
            assert row["case_id"] not in bad_dx, (row["primary_dx"], row["secondary_dx"])
    # what is left are the pack's deliberately malformed codes, of no accepted shape
    # ("4701.00" twice)
    procedures = {row["case_id"]: row["procedures"] for row in rows}
    for case_id in bad_proc:
        assert any(naive.normalize_code(p, "procedure")[1] == naive.BAD
                   for p in procedures[case_id])
    assert len(bad_proc) <= 2
    assert cases.num_rows + len(set(quarantine["row"].to_pylist())) == len(rows)


def test_national_code_list_keeps_every_code():
    import dipcore as dc
    _pack_file("proc_codes.csv")
    _pack_file("dx_codes.csv")
    lists = dc.CodeList.load(PACK)
    assert sorted(lists.procedures.to_pylist()) == sorted(_code_list("proc_codes.csv"))
    assert sorted(lists.diagnoses.to_pylist()) == sorted({c.split("+")[0]
                                                          for c in _code_list("dx_codes.csv")})
