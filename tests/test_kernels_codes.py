"""Code normalisation and list splitting: Cython kernels against tests/naive.py."""
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore._kernels import strings as K

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
])
def test_procedure_examples(raw, expected):
    assert _run([raw], "procedure")[0] == (expected, K.OK)


@pytest.mark.parametrize("raw", ["4", "47.", "A7.01", "47.010", "47.0100x00", "47-01"])
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
                                                              "\uff15", "\uff0e", "é"])
code_text = st.one_of(
    st.text(code_chars, max_size=16),
    st.from_regex(r"\A[A-Za-z]\d\d\.?[\dxX]\d\d([xX]\d\d\d)?\Z"),
    st.from_regex(r"\A\d\d\.?\d(\d(\d\d([xX]\d\d\d)?)?)?\Z"),
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
