"""Micro-benchmarks of the ingest kernels (pytest-benchmark): code normalisation, list
splitting, parsers, the codebook's interning, the duplicate check, validation kernels.

CI runs them with ``--benchmark-disable`` (pyproject addopts) as quick smoke tests, so they
cannot go stale; ``python -m pytest benchmarks --benchmark-enable`` measures.
"""
import numpy as np
import pyarrow as pa
import pytest

from dipcore._kernels import strings as K
from dipcore._kernels.validate import CheckLimits, RowColumns, encode_lists, first_failed_check
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
    cols = RowColumns(
        pre=np.full(N, -1, np.int16), case_blank=u8, dup=u8, hosp=col(0, 200, np.int32),
        reg_level=np.zeros(N, np.int64), level_v=col(1, 4, np.int8), level_st=u8,
        pool=col(0, 2, np.int32), adm_v=col(19000, 19100, np.int32), adm_st=u8,
        dis_v=col(19100, 19200, np.int32), dis_st=u8, age_v=col(0, 100, np.int16), age_st=u8,
        agd_v=np.zeros(N, np.int32), agd_st=np.ones(N, np.uint8), sex_v=col(1, 3, np.int8),
        sex_st=u8, wt_v=np.zeros(N, np.int32), wt_st=np.ones(N, np.uint8),
        dx=col(0, 3000, np.int32), sec_bad=u8, proc_bad=u8,
        tot_v=col(100_000, 200_000, np.int64), tot_st=u8, fund_v=col(0, 100_000, np.int64),
        fund_st=u8, way_v=col(1, 3, np.int8), way_st=u8, bed=np.full(N, -1, np.int32),
        icu_v=np.zeros(N, np.int16), icu_st=np.ones(N, np.uint8))
    limits = CheckLimits(registry=False, has_level=True, max_age=130, absurd_fen=10**11)
    check, level, sex = benchmark(first_failed_check, cols, limits)
    assert (check < 0).all()
