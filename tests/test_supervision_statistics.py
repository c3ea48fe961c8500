"""SPEC 11 statistics by hand: indirect standardisation, funnel z, growth, over-dispersion,
and the exact sums of squares; property tests against per-case references."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from dipcore.supervision import statistics as st
from dipcore.supervision.audit import _flags
from dipcore.supervision.facts import square_halves, squares
from dipcore.supervision.measures import MEASURES


def test_z_limit_is_the_two_sided_control_limit():
    # SPEC 11: the 99.8 % limit is z = 3.09 (one-sided 99.9 % point); 95 % is 1.96
    assert st.z_limit(0.998) == pytest.approx(3.0902, abs=1e-4)
    assert st.z_limit(0.95) == pytest.approx(1.9600, abs=1e-4)


def _binomial_example():
    # hospital A: stratum 1, 100 cases with 10 events; stratum 2, 50 cases with 20 events
    # hospital B: stratum 1, 300 cases with 15 events; stratum 2, 150 cases with 30 events
    hospital = np.array([0, 0, 1, 1])
    stratum = np.array([0, 1, 0, 1])
    n = np.array([100.0, 50, 300, 150])
    events = np.array([10.0, 20, 15, 30])
    return st.standardise(hospital, stratum, n, events, None, 2, 2)


def test_binomial_standardisation_by_hand():
    # region: p1 = 25/400 = 0.0625, p2 = 50/200 = 0.25
    # A: O = 30; E = 100*0.0625 + 50*0.25 = 18.75;
    #    V = 100*0.0625*0.9375 + 50*0.25*0.75 = 5.859375 + 9.375 = 15.234375 (= 975/64)
    #    O/E = 1.6; z = (30 - 18.75) / sqrt(975/64) = 90 / sqrt(975) = 2.8823
    s = _binomial_example()
    assert s.observed[0] == 30 and s.expected[0] == pytest.approx(18.75)
    assert s.variance[0] == pytest.approx(15.234375)
    assert s.ratio[0] == pytest.approx(1.6)
    t = st.level_test(s, "none")
    assert t.z[0] == pytest.approx(90 / math.sqrt(975), rel=1e-12)
    assert t.z[0] == pytest.approx(2.8823, abs=1e-4)
    # B: O = 45, E = 300*0.0625 + 150*0.25 = 56.25: O/E 0.8, below expectation
    assert s.expected[1] == pytest.approx(56.25) and s.ratio[1] == pytest.approx(0.8)
    assert t.z[1] < 0
    # region's E equals its O: indirect standardisation keeps the total
    assert s.expected.sum() == pytest.approx(s.observed.sum())


def test_amount_standardisation_by_hand():
    # one stratum; A's cases have values 2 and 4, B's 1, 1, 3, 3.
    # region: N 6, mean 14/6 = 7/3, variance 40/6 - 49/9 = 11/9.
    # A: O 6, E 2*7/3 = 14/3, V 2*11/9 = 22/9; z = (6 - 14/3)/sqrt(22/9) = 4/sqrt(22)
    hospital, stratum = np.array([0, 1]), np.array([0, 0])
    n, total, sq = np.array([2.0, 4]), np.array([6.0, 8]), np.array([20.0, 20])
    s = st.standardise(hospital, stratum, n, total, sq, 2, 1)
    assert s.expected[0] == pytest.approx(14 / 3) and s.variance[0] == pytest.approx(22 / 9)
    assert s.ratio[0] == pytest.approx(9 / 7)
    assert st.level_test(s, "none").z[0] == pytest.approx(4 / math.sqrt(22), rel=1e-12)


def test_growth_test_by_hand():
    # last year A had O 20, E 20, V 16: O/E 1, se 0.2. This year (above) O/E 1.6 with
    # se^2 = (975/64) / 18.75^2 = 13/300. z = 0.6 / sqrt(13/300 + 0.04) = 0.6 * sqrt(12)
    now = _binomial_example()
    before = st.Standardised(observed=np.array([20.0, 45]), expected=np.array([20.0, 56.25]),
                             variance=np.array([16.0, 30.0]), cases=np.array([150.0, 450]))
    g = st.growth_test(now, before, "none")
    assert g.y[0] == pytest.approx(0.6)
    assert g.z[0] == pytest.approx(0.6 * math.sqrt(12), rel=1e-12)
    assert g.z[0] == pytest.approx(2.0785, abs=1e-4)


def test_additive_overdispersion_by_hand():
    # ten hospitals, se 0.1 each, z = -3, -2, -1, -1, 0, 0, 1, 1, 2, 3.
    # 10th/90th percentiles (linear): -2.1 and 2.1, so the winsorised squares sum to
    # 2*4.41 + 2*4 + 4*1 = 20.82: phi = 2.082 and I*phi = 20.82 > I - 1 = 9.
    # w = 100 each: sum w - sum w^2 / sum w = 1000 - 100 = 900; tau^2 = 11.82 / 900.
    z = np.array([-3, -2, -1, -1, 0, 0, 1, 1, 2, 3], float)
    se = np.full(10, 0.1)
    y = 1 + 0.1 * z
    assert st.additive_tau2(y, se, 1.0) == pytest.approx(11.82 / 900, rel=1e-12)
    t = st.funnel_test(y, se, 1.0, "additive")
    # the hospital at z = 3 is at 0.3 / sqrt(0.01 + 0.0131333) = 1.9725 once peers' spread counts
    assert t.z[-1] == pytest.approx(0.3 / math.sqrt(0.01 + 11.82 / 900), rel=1e-12)
    assert t.z[-1] == pytest.approx(1.9725, abs=1e-4)
    # no more spread than chance: tau^2 = 0 and the z-scores are unchanged
    calm = 1 + 0.1 * np.array([-1, -0.5, 0, 0.5, 1, -1, -0.5, 0, 0.5, 1])
    assert st.additive_tau2(calm, se, 1.0) == 0.0
    # too few hospitals to tell peers' spread: none
    assert st.additive_tau2(y[:9], se[:9], 1.0) == 0.0


def test_funnel_grid_narrows_with_cases():
    cases = np.array([100.0, 400, 1600])
    se = np.array([0.2, 0.1, 0.05])                 # se^2 * n = 4 for each: c^2 = 4
    g = st.funnel_grid(cases, se, 0.0, 1.0, (1.96, 3.09), points=3)
    assert list(g["cases"]) == [100, 400, 1600]
    np.testing.assert_allclose(g["upper1"], 1 + 3.09 * np.array([0.2, 0.1, 0.05]))
    np.testing.assert_allclose(g["lower0"], 1 - 1.96 * np.array([0.2, 0.1, 0.05]))


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.integers(0, 2**31 - 1), min_size=1, max_size=50))
def test_squares_are_exact(values):
    hi, lo = square_halves(np.array(values, np.int64))
    total = int(hi.sum()) * 2**31 + int(lo.sum())
    assert total == sum(v * v for v in values)
    assert squares(np.array([hi.sum()]), np.array([lo.sum()]))[0] == float(total)


def _naive(cases):
    """Per-case reference: region mean and population variance of x per stratum, then
    each hospital's O, E and V by looping over its cases."""
    strata = {}
    for h, g, x in cases:
        strata.setdefault(g, []).append(x)
    mean = {g: sum(v) / len(v) for g, v in strata.items()}
    var = {g: sum(x * x for x in v) / len(v) - mean[g] ** 2 for g, v in strata.items()}
    out = {}
    for h, g, x in cases:
        o, e, v = out.get(h, (0.0, 0.0, 0.0))
        out[h] = (o + x, e + mean[g], v + max(var[g], 0.0))
    return out


@settings(max_examples=150, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 4), hs.integers(0, 5), hs.integers(0, 1000)),
                min_size=1, max_size=120))
def test_standardise_matches_per_case_reference(cases):
    keys = sorted({(h, g) for h, g, _ in cases})
    index = {k: i for i, k in enumerate(keys)}
    n = np.zeros(len(keys))
    total = np.zeros(len(keys))
    sq = np.zeros(len(keys))
    for h, g, x in cases:
        i = index[(h, g)]
        n[i] += 1
        total[i] += x
        sq[i] += x * x
    hospital = np.array([k[0] for k in keys])
    stratum = np.array([k[1] for k in keys])
    s = st.standardise(hospital, stratum, n, total, sq, 5, 6)
    for h, (o, e, v) in _naive(cases).items():
        assert s.observed[h] == pytest.approx(o)
        assert s.expected[h] == pytest.approx(e, rel=1e-9, abs=1e-9)
        assert s.variance[h] == pytest.approx(v, rel=1e-6, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 3), hs.integers(0, 3), hs.booleans()),
                min_size=1, max_size=120))
def test_event_variance_is_binomial(cases):
    # for 0/1 events the population variance of the stratum is p (1 - p): with or without
    # squares the standardisation is the same
    keys = sorted({(h, g) for h, g, _ in cases})
    index = {k: i for i, k in enumerate(keys)}
    n, total = np.zeros(len(keys)), np.zeros(len(keys))
    for h, g, x in cases:
        n[index[(h, g)]] += 1
        total[index[(h, g)]] += x
    hospital, stratum = np.array([k[0] for k in keys]), np.array([k[1] for k in keys])
    a = st.standardise(hospital, stratum, n, total, None, 4, 4)
    b = st.standardise(hospital, stratum, n, total, total.copy(), 4, 4)
    np.testing.assert_allclose(a.variance, b.variance, atol=1e-9)


def _result(name, test, z, hit):
    m = next(m for m in MEASURES if m.name == name)
    return (m, test, st.Test(y=z, null=0.0, se=np.ones_like(z), z=z, tau2=0.0), z, hit)


def test_procedure_upcoding_needs_cost_that_did_not_rise():
    # both hospitals' surgical share rose beyond the limit; at H2 cost per case rose too
    # (a real shift to surgery), so only H1 is flagged, and its evidence includes the cost row
    results = [_result("surgical_share", "growth", np.array([5.0, 5.0]), np.array([True, True])),
               _result("cost_per_case", "growth", np.array([0.4, 4.0]), np.array([False, True]))]
    flags, evidence = _flags(["H1", "H2"], results, 3.09)
    assert flags == {"H1": ["upcoding_procedure"], "H2": []}
    assert evidence == {("H1", "surgical_share", "growth"): "upcoding_procedure",
                        ("H1", "cost_per_case", "growth"): "upcoding_procedure"}


def test_a_test_raises_only_the_flag_its_measure_names():
    # a level excess of points per case is reported but raises nothing (point inflation is
    # a growth signal); a growth of the high-outlier share raises point_inflation
    results = [_result("points_per_case", "level", np.array([9.0]), np.array([True])),
               _result("high_outlier_share", "growth", np.array([9.0]), np.array([True])),
               _result("cmi", "level", np.array([9.0]), np.array([True]))]
    flags, evidence = _flags(["H1"], results, 3.09)
    assert flags == {"H1": ["point_inflation"]}
    assert list(evidence) == [("H1", "high_outlier_share", "growth")]


def _naive_readmissions(stays, days):
    """Each stay against the stay just before it among the same patient's stays of the same
    category, ordered by (admission, discharge, case id hash): stays on the same days are
    ordered by a hash of their id, which depends on nothing but the id."""
    import pyarrow as pa
    from dipcore._kernels.strings import hash_strings
    rank = dict(zip([s["case_id"] for s in stays],
                    hash_strings(pa.array([s["case_id"] for s in stays], pa.string()))))
    out = set()
    groups = {}
    for s in stays:
        if s["patient_id"] is not None:
            groups.setdefault((s["patient_id"], s["category"]), []).append(s)
    for members in groups.values():
        members.sort(key=lambda s: (s["admission"], s["discharge"], rank[s["case_id"]]))
        for a, b in zip(members, members[1:]):
            if 0 <= b["admission"] - a["discharge"] <= days:
                out.add((b["case_id"], a["case_id"], b["admission"] - a["discharge"],
                         b["hospital_id"] == a["hospital_id"]))
    return out


@settings(max_examples=150, deadline=None)
@given(hs.lists(hs.tuples(hs.sampled_from(["P1", "P2", "P3", None]), hs.sampled_from(["K35", "I10"]),
                          hs.sampled_from(["H1", "H2"]), hs.integers(0, 60), hs.integers(0, 9)),
                min_size=0, max_size=40),
       hs.sampled_from([0, 14, 15, 31]))
def test_readmissions_match_naive(rows, days):
    import pyarrow as pa
    from dipcore.supervision.audit import find_readmissions
    stays = [{"case_id": f"C{i:03d}", "patient_id": p, "category": c, "hospital_id": h,
              "admission": a, "discharge": a + los} for i, (p, c, h, a, los) in enumerate(rows)]
    table = pa.table({
        "case_id": pa.array([s["case_id"] for s in stays], pa.string()),
        "patient_id": pa.array([s["patient_id"] for s in stays], pa.string()),
        "hospital_id": pa.array([s["hospital_id"] for s in stays], pa.string()),
        "level": pa.array([3] * len(stays), pa.int8()),
        "category": pa.array([s["category"] for s in stays], pa.string()),
        "admission": pa.array([s["admission"] for s in stays], pa.int32()),
        "discharge": pa.array([s["discharge"] for s in stays], pa.int32())})
    got = find_readmissions(table, days)
    assert set(zip(got["case_id"].to_pylist(), got["previous_case_id"].to_pylist(),
                   got["days"].to_pylist(), got["same_hospital"].to_pylist())) \
        == _naive_readmissions(stays, days)
    # the order of the stays does not matter
    flipped = find_readmissions(table.take(pa.array(np.arange(table.num_rows)[::-1])), days)
    assert flipped.equals(got)


@settings(max_examples=60, deadline=None)
@given(hs.lists(hs.lists(hs.tuples(hs.sampled_from(["H1", "H2", "H3"]), hs.integers(0, 4),
                                   hs.integers(0, 50)), min_size=1, max_size=8),
                min_size=1, max_size=6), hs.randoms())
def test_merged_strata_do_not_depend_on_grouping(batches, rnd):
    import pyarrow as pa
    from dipcore.supervision.facts import merge_strata
    from dipcore.supervision.measures import sum_columns
    columns = ("cases",) + sum_columns("diagnosis")

    def table(rows):
        return {"diagnosis": pa.table({
            "hospital_id": [r[0] for r in rows], "stratum": pa.array([r[1] for r in rows], pa.int64()),
            **{c: pa.array([r[2] + j for r in rows], pa.int64()) for j, c in enumerate(columns)}})}
    parts = [table(b) for b in batches]
    whole = merge_strata(parts)["diagnosis"]
    shuffled = parts[:]
    rnd.shuffle(shuffled)
    cut = rnd.randint(1, len(shuffled))
    two_step = merge_strata([merge_strata(shuffled[:cut]), merge_strata(shuffled[cut:])]
                            if cut < len(shuffled) else shuffled)["diagnosis"]
    assert two_step.equals(whole)
    # and equals a plain per-key sum
    want = {}
    for b in batches:
        for h, g, v in b:
            acc = want.setdefault((h, g), [0] * len(columns))
            for j in range(len(columns)):
                acc[j] += v + j
    got = {(r["hospital_id"], r["stratum"]): [r[c] for c in columns] for r in whole.to_pylist()}
    assert got == want
