"""Micro-benchmarks of the engine kernels: combinations, grouping, CCI, points, aggregation,
calendar, subtype slots, the finalisation sort.

CI runs them with ``--benchmark-disable`` as smoke tests; ``python -m pytest
benchmarks/bench_engine.py --benchmark-enable`` measures (``extra_info`` holds cases/s).
"""
import numpy as np
import pytest

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore._kernels.calendar import year_month_los
from dipcore._kernels.group import canonical_combinations, key_candidates, pick_groups
from dipcore._kernels.severity import cci_scores, subtype_slots

N = 1_000_000


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(0)
    n_dx, per_dx = 2000, 3
    G = n_dx * per_dx
    g_off = np.zeros(G + 1, np.int32)
    procs = []
    for g in range(G):
        k = g % per_dx                       # conservative, main alone, main + related
        procs += [] if k == 0 else ([g // per_dx * 2] if k == 1 else [g // per_dx * 2, g // per_dx * 2 + 1])
        g_off[g + 1] = len(procs)
    K = 30_000
    n_procs = rng.integers(0, 4, N)
    proc_off = np.zeros(N + 1, np.int32)
    np.cumsum(n_procs, out=proc_off[1:])
    dx = rng.integers(0, n_dx, N).astype(np.int32)
    proc_ids = (np.repeat(dx, n_procs) * 2 + rng.integers(0, 3, proc_off[-1])).astype(np.int32)
    sec_n = rng.integers(0, 6, N)
    sec_off = np.zeros(N + 1, np.int32)
    np.cumsum(sec_n, out=sec_off[1:])
    return dict(
        dx=dx, cat=(dx % 2600).astype(np.int32), cls=rng.integers(0, 4, N).astype(np.int32),
        cost=rng.lognormal(9, 1, N), proc_off=proc_off, proc_ids=proc_ids,
        keep=rng.random(proc_off[-1]) > 0.2,
        dx_start=(np.arange(n_dx) * per_dx).astype(np.int32), dx_count=np.full(n_dx, per_dx, np.int32),
        g_off=g_off, g_procs=np.array(procs, np.int32), g_tier=np.tile([3, 0, 0], n_dx).astype(np.int32),
        g_mean=rng.lognormal(9, 0.5, G), g_score=rng.uniform(100, 3000, G),
        comp_group=np.full((2600, 4), -1, np.int32), comp_all=np.full(2600, -1, np.int32),
        cat_known=np.zeros(2600, bool), comp_tier=np.array([7, 6, 5, 4], np.int32),
        sec_off=sec_off, condition=rng.integers(-1, 17, sec_off[-1]).astype(np.int32),
        kind=rng.choice([0, 0, 0, 0, 1, 3], N).astype(np.int8),
        discharge=rng.integers(19_000, 19_365, N).astype(np.int32),
        level=rng.integers(1, 4, N).astype(np.int8),
        # grouping keys (diagnosis, combination, class): 30,000, Zipf-like popularity
        n_keys=K, key_dx=(np.arange(K) % n_dx).astype(np.int32),
        key_cat=(np.arange(K) % n_dx % 2600).astype(np.int32),
        key_cls=rng.integers(0, 4, K).astype(np.int32), key_comb=np.arange(K, dtype=np.int32),
        case_key=np.minimum(rng.zipf(1.3, N) - 1, K - 1).astype(np.int32),
    )


#: The national rules of SPEC 5 with M = 8 800 yuan (in fen), as the point kernels read them.
NATIONAL_RULES = P.PointRules(
    mean_all=8.8e5, scale=1000.0, low_ratio=0.5, low_inclusive=False, low_rule=P.LOW_ACTUAL,
    high_ratio=2.0, high_rule=P.HIGH_NATIONAL, extreme_ratio=5.0, extreme_as_high=True,
    coefficients_on_outliers=True, ungrouped_discount=0.7, bed_cap=0, taper_after=0,
    taper_factor=1.0)

def _rate(benchmark):
    if benchmark.stats is not None:
        benchmark.extra_info["cases_per_s"] = N / benchmark.stats.stats.median


def test_canonical_combinations(benchmark, cases):
    off, ids = benchmark(canonical_combinations, cases["proc_off"], cases["proc_ids"], cases["keep"])
    assert off[-1] == ids.size <= cases["proc_ids"].size
    _rate(benchmark)


def _candidates(c):
    """Best groups of each key (its combination: the procedures of case ``key`` of the
    fixture's per-case CSR)."""
    return key_candidates(c["key_dx"], c["key_cat"], c["key_cls"], c["key_comb"], c["proc_off"],
                          c["proc_ids"], c["dx_start"], c["dx_count"], c["g_off"], c["g_procs"],
                          c["g_tier"], c["comp_group"], c["comp_all"], c["cat_known"], c["comp_tier"])


def test_key_candidates(benchmark, cases):
    cand_off, cand, reason = benchmark(_candidates, cases)
    assert (np.diff(cand_off) >= 1).all()      # every diagnosis has a conservative core group
    if benchmark.stats is not None:
        benchmark.extra_info["keys_per_s"] = cases["n_keys"] / benchmark.stats.stats.median


def test_pick_groups(benchmark, cases):
    cand_off, cand, _ = _candidates(cases)
    cost = (cases["cost"] * 100).astype(np.int64)
    pos = benchmark(pick_groups, cases["case_key"], cost, cand_off, cand, cases["g_mean"],
                    cases["g_score"], False)
    assert (pos >= 0).all()
    _rate(benchmark)


def test_cci(benchmark, cases):
    weights = np.ones(17, np.int32)
    out = benchmark(cci_scores, cases["sec_off"], cases["condition"], weights,
                    np.array([9, 8, 13], np.int32), np.array([10, 14, 15], np.int32))
    assert out.shape == (N,) and out.max() <= 17
    _rate(benchmark)


def test_points(benchmark, cases):
    c = cases
    ones = np.ones(N)
    units, outlier, ratio = benchmark(
        P.case_points, c["kind"], np.full(N, 1000.0), np.full(N, 1.1), ones, np.full(N, 1e6),
        c["cost"] * 100, np.full(N, 40.0), np.full(N, 30, np.int64), NATIONAL_RULES)
    assert (units >= 0).all()
    _rate(benchmark)


def test_aggregate(benchmark, cases):
    codes = (cases["dx"] % 300).astype(np.int64)
    values = np.stack([np.ones(N, np.int64), (cases["cost"] * 100).astype(np.int64)], axis=1)
    out = benchmark(sum_by, codes, 300, values)
    assert out[:, 0].sum() == N
    _rate(benchmark)


def test_grouping_and_points(benchmark, cases):
    """The per-case scoring chain: group (the keys' candidates, worked out once per new key
    in the engine, are included here for all 30,000 keys), coefficients and terms, points
    (the target of 20M cases/s per core is for this chain)."""
    c = cases
    G = len(c["g_mean"])
    perm = np.arange(G, dtype=np.int32)
    level_mean = np.repeat(c["g_mean"][:, None], 4, axis=1)
    aux = np.zeros((G, 13))
    lc = np.array([1.0, 0.6, 0.85, 1.1])
    rates = np.array([40.0, 55.0, 30.0])
    bed = np.where(c["kind"] == 3, 0, -1).astype(np.int8)
    special = np.zeros(N, bool)
    slots = np.full((N, 4), -1, np.int8)
    cost = (c["cost"] * 100).astype(np.int64)
    los = np.full(N, 9, np.int64)

    def chain():
        cand_off, cand, _ = _candidates(c)          # once per batch's new keys in the engine
        pos = pick_groups(c["case_key"], cost, cand_off, cand, c["g_mean"], c["g_score"], False)
        row, kind, rw, k, a, _, base, rate = P.case_terms(
            pos, perm, bed, special, c["level"], slots, c["g_score"], np.zeros(G, bool),
            level_mean, aux, lc, rates)
        return P.case_points(kind, rw, k, a, base, cost, rate, los, NATIONAL_RULES)
    units, outlier, ratio = benchmark(chain)
    assert (units >= 0).all() and (outlier[c["kind"] == 0] > 0).all()
    _rate(benchmark)


def test_group_cost_sort(benchmark, cases):
    """Finalisation's sort of the calibration cases by (group, cost)."""
    from dipcore.schemes.statistics import sorted_by_group_cost as _sorted_by_group_cost
    group = (cases["dx"] * 3 + cases["cls"] % 3).astype(np.int32)
    cost = (cases["cost"] * 100).astype(np.int64)
    year = (cases["dx"] % 3).astype(np.int8)
    slots = np.full((N, 4), -1, np.int8)
    g, y, lv, c, sl, bounds = benchmark(_sorted_by_group_cost, group, year, cases["level"], cost,
                                        slots, 6000)
    assert len(c) == N and (np.diff(c)[np.diff(g) == 0] >= 0).all()
    _rate(benchmark)


def test_calendar(benchmark, cases):
    dis = cases["discharge"]
    year, month, los = benchmark(year_month_los, dis - 7, dis)
    assert year.min() >= 2022 and los.min() >= 1
    _rate(benchmark)


def test_subtype_slots(benchmark, cases):
    rng = np.random.default_rng(1)
    cci = rng.integers(0, 8, N).astype(np.int16)
    age = rng.integers(0, 100, N).astype(np.int16)
    out = benchmark(subtype_slots, cci, age, np.full(N, -1, np.int32), rng.integers(1, 6, N).astype(np.int8),
                    rng.integers(0, 9, N).astype(np.int32), True, True, True, True, 1, 3, 7)
    assert out.shape == (N, 4)
    _rate(benchmark)


def test_hospital_sums(benchmark, cases):
    c = cases
    codes = (c["dx"] % 400).astype(np.int64)
    out = benchmark(P.hospital_sums, codes, 400, c["kind"], np.full(N, P.NORMAL, np.int8),
                    np.full(N, 10_000_000, np.int64), np.full(N, 1000.0),
                    (c["cost"] * 100).astype(np.int64), (c["cost"] * 70).astype(np.int64),
                    np.full(N, 9, np.int32), np.ones(N, np.int8), c["cls"].astype(np.int8))
    assert out[:, 0].sum() == N
    _rate(benchmark)


def test_case_terms(benchmark, cases):
    c = cases
    G = len(c["g_mean"])
    pos = (c["dx"] * 3).astype(np.int32)
    row, kind, rw, k, a, slot, base, rate = benchmark(
        P.case_terms, pos, np.arange(G, dtype=np.int32), np.full(N, -1, np.int8),
        np.zeros(N, bool), c["level"], np.full((N, 4), -1, np.int8), c["g_score"],
        np.zeros(G, bool), np.repeat(c["g_mean"][:, None], 4, axis=1), np.zeros((G, 13)),
        np.array([1.0, 0.6, 0.85, 1.1]), np.array([40.0, 55.0, 30.0]))
    assert (row >= 0).all()
    _rate(benchmark)


def test_group_statistics(benchmark, cases):
    """Finalisation's per-group sums, counts and CVs over cases sorted by group."""
    from dipcore._kernels.aggregate import count_by, group_statistics
    G = 6000
    group = np.sort((cases["dx"] * 3 + cases["cls"] % 3).astype(np.int64))
    cost = (cases["cost"] * 100).astype(np.int64)
    year = (cases["dx"] % 3).astype(np.int8)
    starts = np.concatenate([[0], np.cumsum(count_by(group, G))])
    keep = np.ones(N, bool)

    def stats():
        out = [np.zeros((G, 3), np.int64) for _ in range(3)] + \
            [np.zeros((G, 4, 3), np.int64) for _ in range(2)] + [np.empty(G), np.zeros(G, np.int64)]
        group_statistics(cost, year, cases["level"], keep, starts, 0, G, *out)
        return out
    out = benchmark(stats)
    assert out[0].sum() == N
    _rate(benchmark)
