"""Codebook hash tables (dipcore._kernels.intern) against tests/naive.py and Python dicts."""
import pickle

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore._kernels import intern as I
from dipcore._kernels.strings import string_buffers

# short and long strings (the two key forms), the empty string, non-ASCII, nulls
text = st.one_of(st.none(), st.text(st.sampled_from("ab\u00e9 x"), max_size=3),
                 st.text(st.sampled_from("abc"), min_size=14, max_size=20))
batches = st.lists(st.lists(text, max_size=40), max_size=5)


def _buffers(values):
    return string_buffers(pa.array(values, pa.string()))


@given(batches)
def test_string_index_matches_first_sight_order(bs):
    idx = I.StringIndex(1)                  # tiny start: every batch makes it grow
    got = []
    for b in bs:
        out = np.empty(len(b), np.int32)
        idx.intern(*_buffers(b), out)
        got.append(out.tolist())
    assert got == naive.interned(bs)
    off, data = idx.strings()
    back = pa.StringArray.from_buffers(len(off) - 1, pa.py_buffer(off), pa.py_buffer(data))
    assert back.to_pylist() == list(dict.fromkeys(v for b in bs for v in b if v is not None))
    # lookup reads without adding; a pickled copy has the same ids
    again = pickle.loads(pickle.dumps(idx))
    flat = [v for b in bs for v in b] + ["never-seen-value-xyz"]
    out = np.empty(len(flat), np.int32)
    again.lookup(*_buffers(flat), out)
    assert out.tolist() == sum(naive.interned(bs), []) + [-2]
    assert len(again) == len(idx)


@given(batches, st.lists(st.integers(-2, 50), max_size=60))
def test_string_index_encode_writes_values_and_marks_new(bs, values):
    """``encode`` returns lut[id] for known strings and NEW - id (<= -16) for new ones,
    including on an empty table (every string is new then)."""
    idx = I.StringIndex(1)
    lut = np.zeros(0, np.int32)
    ids: dict[str, int] = {}
    for b in bs:
        out = np.empty(len(b), np.int32)
        before = idx.encode(*_buffers(b), lut, out)
        assert before == len(lut)
        for v, o in zip(b, out):
            if v is None:
                assert o == -1
                continue
            e = ids.setdefault(v, len(ids))
            assert o == (lut[e] if e < len(lut) else -16 - e)
        # the caller gives values to the new entries
        new = np.array([values[i % len(values)] if values else 0
                        for i in range(len(lut), len(ids))], np.int32)
        lut = np.concatenate([lut, new]).astype(np.int32)
    assert len(idx) == len(ids)


@given(batches)
def test_string_set_matches_python_set(bs):
    s = I.StringSet(1)
    got = [s.add(*_buffers(b)).tolist() for b in bs]
    assert got == naive.duplicates(bs)
    assert len(s) == len({v for b in bs for v in b if v is not None})


@given(batches)
def test_string_set_on_mapped_tables_matches_python_set(bs):
    """Tables above ``HUGE_TABLE_BYTES`` live in an anonymous mapping advised for huge
    pages; with the threshold at 0 every table does, growth and ``clear`` included."""
    kept = I.HUGE_TABLE_BYTES
    I.HUGE_TABLE_BYTES = 0
    try:
        s = I.StringSet(1)
        got = [s.add(*_buffers(b)).tolist() for b in bs]
        assert got == naive.duplicates(bs)
        s.clear()
        assert len(s) == 0
        assert [s.add(*_buffers(b)).tolist() for b in bs] == naive.duplicates(bs)
    finally:
        I.HUGE_TABLE_BYTES = kept


@given(st.integers(0, 2**32), st.integers(1, 6))
def test_string_set_grows_past_its_load_and_stays_exact(seed, n_batches):
    """Thousands of ids (short and long, repeats among them) through a set made for one:
    it grows (each time to twice its slots) at 7/10 full and reports exactly the repeats."""
    rng = np.random.default_rng(seed)
    bs = [[f"S{v:013d}" if v % 3 else f"LONG-CASE-ID-{v:020d}"
           for v in rng.integers(0, 4000, rng.integers(500, 1500)).tolist()]
          for _ in range(n_batches)]
    s = I.StringSet(1)
    assert s.fits(700) and not s.fits(800)         # 1024 slots, at most 716 strings
    got = [s.add(*_buffers(b)).tolist() for b in bs]
    assert got == naive.duplicates(bs)
    assert len(s) == len({v for b in bs for v in b})
    assert s.fits(len(s))


def test_zeroed_tables_are_zero_and_writable_on_either_path():
    for threshold in (0, I.HUGE_TABLE_BYTES):
        kept = I.HUGE_TABLE_BYTES
        I.HUGE_TABLE_BYTES = threshold
        try:
            t = I._zeroed_table(4096)
        finally:
            I.HUGE_TABLE_BYTES = kept
        assert t.shape == (4096, 2) and t.dtype == np.uint64 and t.flags.writeable
        assert not t.any()
        t[4095, 1] = 7
        assert t.sum() == 7


@given(st.lists(st.lists(st.integers(-2, 2**31 - 1), max_size=6), max_size=80), st.integers(1, 4))
def test_rows_of_ints_as_strings(seqs, cuts):
    """Sequences of ids (procedure combinations) interned as the bytes of their values;
    the empty sequence first, as the codebook does, so it is id 0."""
    from dipcore.ingest.codebook import index_rows, intern_rows
    idx = I.StringIndex(1)
    intern_rows(idx, np.zeros(2, np.int32), np.zeros(0, np.int32))
    ref = {(): 0}
    step = max(1, len(seqs) // cuts)
    for start in range(0, len(seqs), step):
        part = seqs[start:start + step]
        off = np.concatenate([[0], np.cumsum([len(x) for x in part])]).astype(np.int32)
        vals = np.array([v for x in part for v in x], np.int32)
        assert intern_rows(idx, off, vals).tolist() == [ref.setdefault(tuple(x), len(ref)) for x in part]
    off, vals = index_rows(pickle.loads(pickle.dumps(idx)), np.int32)
    assert [tuple(vals[off[k]:off[k + 1]].tolist()) for k in range(len(off) - 1)] == list(ref)


@given(st.lists(st.one_of(st.none(), st.text(st.sampled_from(" ab\t\u3000\u00e9"), max_size=4)),
                max_size=30))
def test_text_shape(values):
    trim, blank = I.text_shape(*_buffers(values))
    ref_trim, ref_blank = naive.text_shape(values)
    assert blank.tolist() == ref_blank
    assert bool(trim) == ref_trim


def test_hash_is_a_function_of_the_bytes_and_never_zero():
    values = ["", "a", "a", "b", "x" * 15, "x" * 16, "x" * 16]
    h = I.hash_strings(*_buffers(values)[:2])
    assert (h != 0).all()
    assert h[1] == h[2] and h[5] == h[6] and len({h[0], h[1], h[3], h[4], h[5]}) == 5
