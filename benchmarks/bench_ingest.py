"""Micro-benchmarks of the ingest kernels (pytest-benchmark): code normalisation, list
splitting, parsers, the codebook's interning, the duplicate check, validation kernels.

CI runs them with ``--benchmark-disable`` (pyproject addopts) as quick smoke tests, so they
cannot go stale; ``python -m pytest benchmarks --benchmark-enable`` measures.
"""
import numpy as np
import pyarrow as pa
import pytest

from dipcore._kernels import strings as K
from dipcore._kernels.validate import encode_lists, first_failed_check
from dipcore.ingest.codebook import Codebook

N = 200_000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTZ"))
    dx = [f"{letters[a].lower()}{b:02d}.{c}{d:02d}" for a, b, c, d in
          zip(rng.integers(0, 21, N), rng.integers(0, 100, N), rng.integers(0, 10, N), rng.integers(0, 100, N))]
    lists = ["|".join(dx[i:i + 3]) for i in range(0, N)]
    money = [f"{x:.2f}" for x in rng.lognormal(9, 1, N)]
    dates = [f"2024-{m:02d}-{d:02d}" for m, d in zip(rng.integers(1, 13, N), rng.integers(1, 29, N))]
    ids = [f"S2024{i:09d}" for i in rng.permutation(N)]
    return {"dx": pa.array(dx), "lists": pa.array(lists), "money": pa.array(money),
            "dates": pa.array(dates), "ids": pa.array(ids)}


def test_normalize_diagnoses(benchmark, data):
    codes, status = benchmark(K.normalize_codes, data["dx"], K.DIAGNOSIS)
    assert (status == K.OK).all() and codes[0].as_py()[0].isupper()


def test_split_lists(benchmark, data):
    lists = benchmark(K.split_lists, data["lists"])
    assert len(lists) == N


def test_parse_money(benchmark, data):
    values, status = benchmark(K.parse_fen, data["money"])
    assert (status == K.OK).all()


def test_parse_dates(benchmark, data):
    values, status = benchmark(K.parse_date, data["dates"])
    assert (status == K.OK).all()


def test_duplicate_ids(benchmark, data):
    def run():
        return K.StringSet(N).add(*K.string_buffers(data["ids"]))
    seen = benchmark(run)
    assert not seen.any()


def test_codebook_encode(benchmark, data):
    """Interning with value lookup: the steady state once every code has been seen."""
    cb = Codebook()
    cb.dx.encode(data["dx"])
    values = benchmark(cb.dx.encode, data["dx"])
    assert (values >= 0).all()


def test_encode_lists(benchmark, data):
    rng = np.random.default_rng(2)
    lengths = rng.integers(0, 5, N)
    off = np.zeros(N + 1, np.int32)
    np.cumsum(lengths, out=off[1:])
    values = rng.choice(np.array([3, 7, 11, -1, -2], np.int32), off[-1], p=[.4, .3, .28, .019, .001])
    new_off, ids, bad, first = benchmark(encode_lists, off, values)
    assert new_off[-1] == ids.size


def test_first_failed_check(benchmark):
    rng = np.random.default_rng(3)
    u8 = np.zeros(N, np.uint8)

    def col(lo, hi, dtype):
        return rng.integers(lo, hi, N).astype(dtype)
    args = (np.full(N, -1, np.int16), u8, u8, col(0, 200, np.int32), False, np.zeros(N, np.int64),
            col(1, 4, np.int8), u8, True, col(0, 2, np.int32), col(19000, 19100, np.int32), u8,
            col(19100, 19200, np.int32), u8, col(0, 100, np.int16), u8, 130, np.zeros(N, np.int32),
            np.ones(N, np.uint8), col(1, 3, np.int8), u8, np.zeros(N, np.int32), np.ones(N, np.uint8),
            col(0, 3000, np.int32), u8, u8, col(100_000, 200_000, np.int64), u8,
            col(0, 100_000, np.int64), u8, 10**11, col(1, 3, np.int8), u8,
            np.full(N, -1, np.int32), np.zeros(N, np.int16), np.ones(N, np.uint8))
    check, level, sex = benchmark(first_failed_check, *args)
    assert (check < 0).all()
