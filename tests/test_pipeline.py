"""Batch passes on threads (dipcore.engine.threads): order, errors, and identical results."""
import random
import time

import pyarrow.compute as pc
import pytest

import dipcore as dc
from dipcore.engine import threads as pipeline


def test_ordered_map_keeps_order_and_raises_in_order():
    def slow(x):
        time.sleep(random.random() / 500)
        return x * x
    for n in (1, 2, 4):
        assert list(pipeline.ordered_map(slow, range(50), n)) == [x * x for x in range(50)]

    def fails_at_7(x):
        if x == 7:
            raise ValueError("seven")
        return x
    got = []
    with pytest.raises(ValueError, match="seven"):
        for v in pipeline.ordered_map(fails_at_7, range(20), 3):
            got.append(v)
    assert got == list(range(7))


def test_prefetch_hands_over_the_producers_error():
    def produce():
        yield 1
        raise RuntimeError("broken source")
    with pytest.raises(RuntimeError, match="broken source"):
        list(pipeline.prefetch(produce()))


def test_thread_setting():
    pipeline.set_threads(3)
    try:
        assert pipeline.threads() == 3
    finally:
        pipeline.set_threads(None)
    assert pipeline.threads() >= 1


@pytest.fixture(scope="module")
def province(small_province):
    out, _ = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    return out, hospitals


def test_results_do_not_depend_on_threads_or_reused_codebooks(province, tmp_path):
    out, hospitals = province
    policy = dc.Policy(core_min_cases=5)
    results = []
    for n in (1, 2, 3, 2):            # the last run reuses codebooks filled by earlier runs
        pipeline.set_threads(n)
        try:
            cat = dc.calibrate(out / "cases" / "year=2023", policy=policy, hospitals=hospitals,
                               batch_rows=700)
            r = dc.settle(out / "cases" / "year=2024", cat, budget={"employee": 3e7, "resident": 2e7},
                          hospitals=hospitals, batch_rows=900)
        finally:
            pipeline.set_threads(None)
        path = tmp_path / f"cat{len(results)}.parquet"
        cat.save(path)
        results.append((path.read_bytes(), r))
    first_bytes, first = results[0]
    for data, r in results[1:]:
        assert data == first_bytes
        assert r.point_value == first.point_value
        assert r.hospitals.equals(first.hospitals) and r.monthly.equals(first.monthly)
        assert r.cases.equals(first.cases)
        assert r.quarantine.equals(first.quarantine)
    assert first.quarantine.num_rows > 0         # the province has bad rows: they stay in order
    assert pc.all(pc.greater(first.quarantine["row"], 0)).as_py()
