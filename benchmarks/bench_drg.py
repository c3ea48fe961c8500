"""Micro-benchmarks of CHS-DRG grouping (pytest-benchmark): the kernel alone on interned
cases, and ``drg_group`` end to end from an Arrow table.

CI runs them with ``--benchmark-disable`` as quick smoke tests; measure with
``python -m pytest benchmarks/bench_drg.py --benchmark-enable``. Throughput at scale
(1M / 10M cases, memory and Parquet): ``python -m benchmarks.drg_throughput``.
"""
import numpy as np
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from benchmarks.drg_throughput import pack_dir, resample
from dipcore._kernels import drg as K
from dipcore.schemes.drg import cases as cases_in
from dipcore.schemes.drg import grouper as G

N = 20_000
PACK = pack_dir()
pytestmark = pytest.mark.skipif(not (PACK / "pack.json").exists(),
                                reason=f"CHS-DRG pack not found at {PACK.resolve()}")


@pytest.fixture(scope="module")
def setup():
    rules = dc.DrgRules.load(PACK)
    cases = resample(pq.read_table(PACK / "cases-public.parquet"), N)
    return rules, cases


def test_kernel(benchmark, setup):
    rules, cases = setup
    dx, proc = G._interners(rules, False)
    ints = [cases_in.ints(cases.column(c), c) for c in cases_in.INT_COLUMNS]
    d0 = dx.ids(cases_in.text_column(cases_in.one_chunk(cases.column("primary_dx")), "primary_dx"))
    s_lo, s_hi, s_vals = cases_in.list_parts(cases.column("secondary_dx"), "secondary_dx")
    p_lo, p_hi, p_vals = cases_in.list_parts(cases.column("procedures"), "procedures")
    s_ids, p_ids = dx.ids(s_vals), proc.ids(p_vals)
    outs = [np.empty(N, t) for t in (np.int8, np.int16, np.int16, np.int16, np.int8)]

    def run():
        K.group_cases(*ints, d0, s_lo, s_hi, s_ids, p_lo, p_hi, p_ids, False,
                      *rules.compiled.kernel_args(), *outs)
        return outs[0]

    status = benchmark(run)
    assert (status == 0).mean() > 0.9


def test_drg_group_from_table(benchmark, setup):
    rules, cases = setup
    out = benchmark(dc.drg_group, cases, rules)
    assert out.num_rows == N
