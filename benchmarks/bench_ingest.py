"""Micro-benchmarks of the ingest kernels (pytest-benchmark).

CI runs them with ``--benchmark-disable`` (pyproject addopts) as quick smoke tests, so they
cannot go stale; ``python -m pytest benchmarks --benchmark-enable`` measures.
"""
import numpy as np
import pyarrow as pa
import pytest

from dipcore._kernels import strings as K

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
