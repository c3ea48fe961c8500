"""Money, integer and date parsing, CSV record scanning, the exact string set."""
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore._kernels import strings as K


def _parse(fn, values):
    out, status = fn(pa.array(values, pa.string()))
    return [(int(v) if s == K.OK else 0, int(s)) for v, s in zip(out, status)]


@pytest.mark.parametrize("text, fen", [
    ("12.34", 1234), ("12.3", 1230), ("12", 1200), (" 0.01 ", 1), ("-0.005", -1),
    ("0.125", 13), ("0.124", 12), ("1e3", 100000), ("1.5E-2", 2), (".5", 50), ("5.", 500),
    ("+7", 700), ("0.1249999999999999995", 12), ("0.1250000000000000000001", 13),
    ("999999999.99", 99999999999),
])
def test_fen_examples(text, fen):
    assert _parse(K.parse_fen, [text]) == [(fen, K.OK)]


@pytest.mark.parametrize("text, status", [
    ("abc", K.BAD), ("1,000", K.BAD), ("nan", K.BAD), ("1e", K.BAD), ("--1", K.BAD),
    ("", K.EMPTY), (None, K.EMPTY), ("12345678901234567890", K.RANGE), ("1e400", K.RANGE),
])
def test_fen_rejects(text, status):
    assert _parse(K.parse_fen, [text])[0][1] == status


money = st.one_of(
    st.from_regex(r"\A\s?[+-]?\d{1,12}(\.\d{0,6})?\s?\Z"),
    st.from_regex(r"\A[+-]?\.\d{1,6}\Z"),
    st.from_regex(r"\A\d{1,6}(\.\d{1,6})?[eE][+-]?\d\Z"),
    st.text(st.sampled_from(list("0123456789.eE+- x")), max_size=10),
)


@given(st.lists(st.one_of(st.none(), money), max_size=40))
def test_fen_matches_reference(values):
    assert _parse(K.parse_fen, values) == [naive.parse_fen(v) for v in values]


@given(st.lists(st.one_of(st.none(), st.from_regex(r"\A\s?[+-]?\d{1,17}(\.0{0,3})?\s?\Z"),
                          st.text(st.sampled_from(list("0123456789.-+ a")), max_size=8)),
                max_size=40))
def test_int_matches_reference(values):
    assert _parse(K.parse_int, values) == [naive.parse_int(v) for v in values]


@pytest.mark.parametrize("text, iso", [
    ("2024-01-05", "2024-01-05"), ("2024/1/5", "2024-01-05"), ("20240105", "2024-01-05"),
    ("2024.01.05", "2024-01-05"), ("2024-02-29", "2024-02-29"), ("2000-02-29", "2000-02-29"),
    ("2024-01-05 10:22:01", "2024-01-05"), ("2024-01-05T10:22", "2024-01-05"),
])
def test_date_examples(text, iso):
    days, status = K.parse_date(pa.array([text]))
    assert status[0] == K.OK
    assert str(np.datetime64(int(days[0]), "D")) == iso


@pytest.mark.parametrize("text", ["2024-02-30", "2023-02-29", "1900-02-29", "2024-13-01",
                                  "2024-00-10", "2024-1-32", "2024-01/05", "24-01-05", "2024",
                                  "202401051", "2024-01-05x"])
def test_impossible_dates_are_bad(text):
    assert K.parse_date(pa.array([text]))[1][0] == K.BAD


dates = st.one_of(
    st.from_regex(r"\A(19|20|21|22|23)\d\d[-/.]\d{1,2}[-/.]\d{1,2}( \d\d:\d\d(:\d\d)?)?\Z"),
    st.from_regex(r"\A\d{8}\Z"),
    st.dates().map(lambda d: d.isoformat()),
    st.text(st.sampled_from(list("0123456789-/ T:")), max_size=12),
)


@given(st.lists(st.one_of(st.none(), dates), max_size=40))
def test_date_matches_reference(values):
    assert _parse(K.parse_date, values) == [naive.parse_date(v) for v in values]


# ---- CSV record scanner -------------------------------------------------------------------
field = st.one_of(
    st.text(st.sampled_from(list("ab1 .")), max_size=4),
    st.text(st.sampled_from(list('ab,"\n\r x')), max_size=5).map(
        lambda t: '"' + t.replace('"', '""') + '"'),
)
record = st.lists(field, min_size=1, max_size=5).map(",".join)


@given(st.lists(record, min_size=1, max_size=20), st.sampled_from(["\n", "\r\n"]),
       st.booleans(), st.integers(1, 7))
def test_scanner_matches_csv_module(records, newline, final_newline, chunk):
    records = [r for r in records if r != ""] or ["a"]
    text = newline.join(records) + (newline if final_newline else "")
    data = text.encode()
    scanner = K.CsvRecordScanner()
    for start in range(0, len(data), chunk):   # any cut into chunks
        scanner.feed(np.frombuffer(data[start:start + chunk], np.uint8))
    bad = scanner.finish()
    expected_bad, n = naive.malformed_records(text)
    assert bad.tolist() == expected_bad
    assert scanner.records == n


def test_scanner_skips_blank_lines_and_flags_truncated_quote():
    scanner = K.CsvRecordScanner()
    scanner.feed(np.frombuffer(b'a,b\n1,2\n\n3\n"4,5', np.uint8))
    assert scanner.finish().tolist() == [2, 3]
    assert scanner.unterminated_quote
