"""What-if sweep against one settlement, at a size CI can run (the 10M-case measurement is
``benchmarks/sweep.py``).

CI runs it with ``--benchmark-disable`` as a smoke test (the sweep's variant is still checked
against ``settle``); ``python -m pytest benchmarks/bench_sweep.py --benchmark-enable``
measures, and ``extra_info`` holds the cases and variants.
"""
import numpy as np
import pyarrow.compute as pc
import pytest

import dipcore as dc
from dipcore.schema import fen

from benchmarks.sweep import variants_of

VARIANTS = 20


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    from data_gen import generate
    out = tmp_path_factory.mktemp("bench-sweep")
    generate(out, 30_000, (2023, 2024), hospitals=30, seed=3)
    cases, _ = dc.read_cases(out / "cases")
    years = pc.year(cases["discharge_date"])
    current = cases.filter(pc.equal(years, 2024))
    catalog = dc.calibrate(cases.filter(pc.equal(years, 2023)), policy=dc.Policy(core_min_cases=5))
    pools = np.array(current["pool"].to_pylist(), dtype=object)
    paid = fen(current["fund_paid"])
    budget = {p: float(paid[pools == p].sum()) / 100.0 for p in sorted(set(pools))}
    return current, catalog, budget


def test_settle_once(benchmark, year):
    current, catalog, budget = year
    result = benchmark(dc.settle, current, catalog, budget)
    benchmark.extra_info["cases"] = result.cases_count


def test_sweep_of_variants(benchmark, year):
    current, catalog, budget = year
    variants = variants_of(VARIANTS, "points", "dip")
    result = benchmark(dc.sweep, current, catalog, variants, budget)
    benchmark.extra_info.update(cases=result.baseline.cases_count, variants=VARIANTS)
    name = next(iter(variants))
    alone = dc.settle(current, catalog, budget, policy=result.settlements[name].policy)
    assert alone.hospitals.equals(result.settlements[name].hospitals)
