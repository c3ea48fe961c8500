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
    return st.standardise(hospital, stratum, stratum, n, events, None, 2)


def test_binomial_standardisation_by_hand():
    # A's peers are B: p1 = 15/300 = 0.05, p2 = 30/150 = 0.2
    # A: O = 30; E = 100*0.05 + 50*0.2 = 15; V = 100*0.05*0.95 + 50*0.2*0.8 = 12.75
    #    O/E = 2; z = (30 - 15) / sqrt(12.75) = 4.2008
    s = _binomial_example()
    assert s.observed[0] == 30 and s.expected[0] == pytest.approx(15.0)
    assert s.variance[0] == pytest.approx(12.75)
    assert s.ratio[0] == pytest.approx(2.0)
    t = st.level_test(s, "none", "ratio")
    assert t.z[0] == pytest.approx(15 / math.sqrt(12.75), rel=1e-12)
    assert t.z[0] == pytest.approx(4.2008, abs=1e-4)
    # on the log scale: log(2) / (sqrt(12.75) / 15) = 2.9118
    lt = st.level_test(s, "none", "log")
    assert lt.z[0] == pytest.approx(math.log(2) * 15 / math.sqrt(12.75), rel=1e-12)
    assert lt.z[0] == pytest.approx(2.9118, abs=1e-4)
    # its limits are ratios: exp(+-3.09 * 0.2380) = 0.479 .. 2.087
    lo, hi = lt.limits(3.09)
    assert (lo[0], hi[0]) == pytest.approx((math.exp(-3.09 * math.sqrt(12.75) / 15),
                                            math.exp(3.09 * math.sqrt(12.75) / 15)))
    # B's peers are A: p1 = 0.1, p2 = 0.4: E = 300*0.1 + 150*0.4 = 90, O = 45, O/E = 0.5
    assert s.expected[1] == pytest.approx(90.0) and s.ratio[1] == pytest.approx(0.5)
    assert t.z[1] < 0


def test_peers_of_another_level_when_alone_at_its_own():
    # strata carry the level: A is the only level-3 hospital in stratum "K35" (fine
    # stratum 0), B and C are level 2 (fine stratum 1); all three share coarse stratum 0.
    # A: 200 cases, 40 events; B: 100 cases, 5 events; C: 300 cases, 15 events.
    # A's peers at its level: none -> B and C: p = 20/400 = 0.05; E = 10, V = 9.5, O/E = 4.
    # B's peers at its level: C: p = 0.05; E = 5, O/E = 1 (A, at another level, not used).
    hospital = np.array([0, 1, 2])
    fine = np.array([0, 1, 1])
    coarse = np.array([0, 0, 0])
    s = st.standardise(hospital, fine, coarse, np.array([200.0, 100, 300]),
                       np.array([40.0, 5, 15]), None, 3)
    assert s.expected[0] == pytest.approx(10.0) and s.variance[0] == pytest.approx(9.5)
    assert s.ratio[0] == pytest.approx(4.0)
    assert s.expected[1] == pytest.approx(5.0) and s.ratio[1] == pytest.approx(1.0)
    # one hospital alone in the whole stratum: nothing to compare with, left out
    alone = st.standardise(np.array([0, 1]), np.array([0, 1]), np.array([0, 1]),
                           np.array([50.0, 80]), np.array([5.0, 4]), None, 2)
    assert alone.cases.tolist() == [0, 0] and np.isnan(alone.ratio).all()


def test_amount_standardisation_by_hand():
    # one stratum; A's cases have values 2 and 4, B's 1, 1, 3, 3.
    # A's peers (B): mean 8/4 = 2, variance 20/4 - 4 = 1.
    # A: O 6, E 2*2 = 4, V 2*1 = 2; O/E 1.5; z = (6 - 4)/sqrt(2) = sqrt(2)
    hospital, stratum = np.array([0, 1]), np.array([0, 0])
    n, total, sq = np.array([2.0, 4]), np.array([6.0, 8]), np.array([20.0, 20])
    s = st.standardise(hospital, stratum, stratum, n, total, sq, 2)
    assert s.expected[0] == pytest.approx(4.0) and s.variance[0] == pytest.approx(2.0)
    assert s.ratio[0] == pytest.approx(1.5)
    assert st.level_test(s, "none", "ratio").z[0] == pytest.approx(math.sqrt(2), rel=1e-12)


def test_growth_test_by_hand():
    # last year A had O 20, E 20, V 16: O/E 1, se^2 0.04. This year (above) O/E 2 with
    # se^2 = 12.75 / 15^2 = 17/300. For an event the variance scales by the pooled ratio
    # rho = (30 + 20) / (15 + 20) = 10/7: z = 1 / sqrt(10/7 * (17/300 + 12/300)) = 2.6910
    now = _binomial_example()
    before = st.Standardised(observed=np.array([20.0, 45]), expected=np.array([20.0, 90.0]),
                             variance=np.array([16.0, 30.0]), cases=np.array([150.0, 450]))
    g = st.growth_test(now, before, "none", event=True, scale="ratio")
    assert g.y[0] == pytest.approx(1.0)
    assert g.z[0] == pytest.approx(1 / math.sqrt(10 / 7 * 29 / 300), rel=1e-12)
    assert g.z[0] == pytest.approx(2.6910, abs=1e-4)
    # an amount: no rho; z = 1 / sqrt(29/300) = 3.2163
    assert st.growth_test(now, before, "none", event=False, scale="ratio").z[0] == \
        pytest.approx(3.2163, abs=1e-4)
    # log scale, an event: log((30.5 / 15.5) / (20.5 / 20.5)) (half-event correction), its z
    # that of the exact conditional test: 30 of the 50 events fell this year, where
    # 15 / (15 + 20) = 3/7 were expected: P(X >= 30) for Bin(50, 3/7)
    lg = st.growth_test(now, before, "none", event=True, scale="log")
    tail = sum(math.comb(50, k) * (3 / 7) ** k * (4 / 7) ** (50 - k) for k in range(30, 51))
    from statistics import NormalDist
    assert lg.z[0] == pytest.approx(NormalDist().inv_cdf(1 - tail), rel=1e-9)
    assert lg.y[0] == pytest.approx(math.log(30.5 / 15.5))
    assert lg.value[0] == pytest.approx(30.5 / 15.5) and lg.plotted_null == 1.0
    # an amount on the log scale: log(2) / sqrt(29/300) = 2.2294
    assert st.growth_test(now, before, "none", event=False, scale="log").z[0] == \
        pytest.approx(2.2294, abs=1e-4)


def test_an_event_count_is_tested_by_its_exact_tail():
    # 10 cases expected to give 1 event (p = 0.1) gave 5: P(X >= 5) for Bin(10, 0.1)
    # = sum_k C(10, k) 0.1^k 0.9^(10-k), k = 5..10 = 0.0016349; its one-sided z is 2.94,
    # where the normal approximation would say (5 - 1) / sqrt(0.9) = 4.2
    tail = sum(math.comb(10, k) * 0.1 ** k * 0.9 ** (10 - k) for k in range(5, 11))
    assert tail == pytest.approx(0.0016349, abs=1e-7)
    s = st.Standardised(np.array([5.0]), np.array([1.0]), np.array([0.9]), np.array([10.0]))
    t = st.level_test(s, "none", "log", event=True)
    from statistics import NormalDist
    assert t.z[0] == pytest.approx(NormalDist().inv_cdf(1 - tail), rel=1e-9)
    assert t.z[0] == pytest.approx(2.94, abs=0.01)
    assert t.y[0] == pytest.approx(math.log(5.5 / 1.5))     # half an event each side
    assert st.level_test(s, "none", "ratio").z[0] == pytest.approx(4 / math.sqrt(0.9))


def test_exact_tails_by_hand():
    # Poisson(2): P(X >= 5) = 1 - e^-2 (1 + 2 + 2 + 4/3 + 2/3) = 1 - 7 e^-2 = 0.052653
    assert st.poisson_upper_tail(5, 2.0) == pytest.approx(1 - 7 * math.exp(-2), rel=1e-9)
    assert st.poisson_upper_tail(1, 2.0) == 1.0          # at or below the mean: no excess
    # Poisson(5): P(X <= 0) = e^-5 = 0.0067379 (not beyond a one-sided 0.001: no hospital is
    # "far below" for having none of 5 expected events); P(X <= 1) = 6 e^-5
    assert st.poisson_lower_tail(0, 5.0) == pytest.approx(math.exp(-5), rel=1e-12)
    assert st.poisson_lower_tail(1, 5.0) == pytest.approx(6 * math.exp(-5), rel=1e-12)
    # Bin(4, 0.5): P(X >= 3) = (4 + 1) / 16
    assert st.binomial_upper_tail(3, 4, 0.5) == pytest.approx(5 / 16, rel=1e-12)
    # the conditional growth test: O1 = 9, O0 = 1, E1 = E0: Bin(10, 0.5) >= 9 = 11/1024
    now = st.Standardised(np.array([9.0]), np.array([5.0]), np.array([4.0]), np.array([100.0]))
    before = st.Standardised(np.array([1.0]), np.array([5.0]), np.array([4.0]), np.array([100.0]))
    assert st.exact_growth_p(now, before, 0) == pytest.approx(11 / 1024, rel=1e-12)
    # a normal z of 3.27 at E = 1.3, O = 5 is not beyond the 99.8 % limit exactly
    assert st.poisson_upper_tail(5, 1.3) > 0.001


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
    # with over-dispersion tau^2 = 0.01 the limits widen once: sd at n = 400 is
    # sqrt(4/400 + 0.01) = sqrt(0.02)
    g = st.funnel_grid(cases, se, 0.01, 1.0, (3.09,), points=3)
    assert g["upper0"][1] == pytest.approx(1 + 3.09 * math.sqrt(0.02))
    # and the test's chance-only se is what a grid is drawn from
    t = st.funnel_test(np.array([1.0] * 3), se, 1.0, "none")
    np.testing.assert_array_equal(t.se_chance, se)


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.integers(0, 2**31 - 1), min_size=1, max_size=50))
def test_squares_are_exact(values):
    hi, lo = square_halves(np.array(values, np.int64))
    total = int(hi.sum()) * 2**31 + int(lo.sum())
    assert total == sum(v * v for v in values)
    assert squares(np.array([hi.sum()]), np.array([lo.sum()]))[0] == float(total)


def _naive(cases):
    """Per-case reference: for each case, the mean and population variance of x among the
    cases of *other* hospitals in its stratum (its peers); a case without peers is left
    out. Each hospital's O, E and V by looping over its cases."""
    out = {}
    for h, g, x in cases:
        peers = [y for hh, gg, y in cases if gg == g and hh != h]
        if not peers:
            continue
        mean = sum(peers) / len(peers)
        var = max(sum(y * y for y in peers) / len(peers) - mean ** 2, 0.0)
        o, e, v = out.get(h, (0.0, 0.0, 0.0))
        out[h] = (o + x, e + mean, v + var)
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
    s = st.standardise(hospital, stratum, stratum, n, total, sq, 5)
    naive = _naive(cases)
    for h in range(5):
        o, e, v = naive.get(h, (0.0, 0.0, 0.0))
        assert s.observed[h] == pytest.approx(o)
        assert s.expected[h] == pytest.approx(e, rel=1e-9, abs=1e-9)
        assert s.variance[h] == pytest.approx(v, rel=1e-6, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(hs.lists(hs.tuples(hs.integers(0, 3), hs.integers(0, 3), hs.booleans()),
                min_size=1, max_size=120))
def test_event_variance_is_binomial(cases):
    # for 0/1 events the population variance of the stratum is p (1 - p): with or without
    # squares the standardisation is the same (hospital 9 gives every stratum an event and a
    # non-event, so no hospital of 0-3 has peers without events)
    cases = cases + [(9, g, True) for g in range(4)] + [(9, g, False) for g in range(4)]
    keys = sorted({(h, g) for h, g, _ in cases})
    index = {k: i for i, k in enumerate(keys)}
    n, total = np.zeros(len(keys)), np.zeros(len(keys))
    for h, g, x in cases:
        n[index[(h, g)]] += 1
        total[index[(h, g)]] += x
    hospital, stratum = np.array([k[0] for k in keys]), np.array([k[1] for k in keys])
    a = st.standardise(hospital, stratum, stratum, n, total, None, 10)
    b = st.standardise(hospital, stratum, stratum, n, total, total.copy(), 10)
    np.testing.assert_allclose(a.variance[:4], b.variance[:4], atol=1e-9)


def test_far_hospitals_are_nobody_s_peers():
    # one stratum, one level: a hospital of 1000 cases at 20 % and four of 200 at 5 %.
    # Among everyone's peers the gamer makes the others look low (peers' rate for one of
    # them: (200 + 30) / 1600 = 0.14375, E = 28.75 for O = 10); left out of the peers it is
    # compared with the four (E = 1000 * 0.05 = 50, O/E 4) and they with each other (O/E 1)
    hospital = np.arange(5)
    stratum = np.zeros(5, np.int64)
    n = np.array([1000.0, 200, 200, 200, 200])
    events = np.array([200.0, 10, 10, 10, 10])
    plain = st.standardise(hospital, stratum, stratum, n, events, None, 5)
    assert plain.expected[1] == pytest.approx(28.75)
    far = np.array([True, False, False, False, False])
    robust = st.standardise(hospital, stratum, stratum, n, events, None, 5, far)
    assert robust.expected[0] == pytest.approx(50.0) and robust.ratio[0] == pytest.approx(4.0)
    np.testing.assert_allclose(robust.ratio[1:], 1.0)
    # two far hospitals alone at their level keep each other as peers rather than none
    both = st.standardise(np.arange(2), np.zeros(2, np.int64), np.zeros(2, np.int64),
                          np.array([100.0, 100]), np.array([30.0, 10]), None, 2,
                          np.array([True, True]))
    assert both.expected.tolist() == pytest.approx([10.0, 30.0])


def test_events_where_peers_have_none():
    # 12 events in 100 cases where the 400 peer cases had none: E = 0, the log ratio takes
    # half an event each side (log(12.5 / 0.5)) and the exact tail (P(X >= 12) = 0 under a
    # rate of 0) gives the largest z: such a count is judged, not dropped
    s = st.standardise(np.arange(2), np.zeros(2, np.int64), np.zeros(2, np.int64),
                       np.array([100.0, 400]), np.array([12.0, 0]), None, 2)
    assert s.expected[0] == 0 and np.isnan(s.ratio[0])
    t = st.level_test(s, "none", "log", event=True)
    assert t.y[0] == pytest.approx(math.log(25.0))
    assert np.isfinite(t.z[0]) and t.z[0] > 30


def _result(name, test, z, hit, effect=None):
    m = next(m for m in MEASURES if m.name == name)
    effect = z if effect is None else effect
    return (m, test, st.Test(y=z, null=0.0, se_chance=np.ones_like(z), se=np.ones_like(z), z=z,
                             tau2=0.0), effect, hit)


def test_procedure_upcoding_needs_cost_that_did_not_rise():
    # both hospitals' surgical share rose beyond the limit; at H2 cost per case rose too
    # (a real shift to surgery), so only H1 is flagged, and its evidence includes the cost row
    results = [_result("surgical_share", "growth", np.array([5.0, 5.0]), np.array([True, True])),
               _result("cost_per_case", "growth", np.array([0.4, 4.0]), np.array([False, True]))]
    flags, evidence = _flags(["H1", "H2"], results, 3.09)
    assert flags == {"H1": ["upcoding_procedure"], "H2": []}
    assert evidence == [(0, 0, "upcoding_procedure"), (0, 1, "upcoding_procedure")]


def test_points_must_rise_faster_than_cost():
    # points per case grew x1.3 at both; cost per case grew x1.1 at H1 (significantly) and
    # x1.3 at H2: only H1's points rose faster than its cost
    results = [_result("points_per_case", "growth", np.array([5.0, 5.0]), np.array([True, True]),
                       effect=np.array([1.3, 1.3])),
               _result("cost_per_case", "growth", np.array([4.0, 6.0]), np.array([True, True]),
                       effect=np.array([1.1, 1.3]))]
    flags, evidence = _flags(["H1", "H2"], results, 3.09)
    assert flags == {"H1": ["point_inflation"], "H2": []}
    assert evidence == [(0, 0, "point_inflation"), (0, 1, "point_inflation")]


def test_a_row_backing_two_flags_is_evidence_for_both():
    # cost per case growth backs both the surgical-share and the points-per-case flags
    results = [_result("surgical_share", "growth", np.array([5.0]), np.array([True])),
               _result("points_per_case", "growth", np.array([5.0]), np.array([True]),
                       effect=np.array([1.5])),
               _result("cost_per_case", "growth", np.array([1.0]), np.array([False]),
                       effect=np.array([1.02]))]
    flags, evidence = _flags(["H1"], results, 3.09)
    assert flags == {"H1": ["upcoding_procedure", "point_inflation"]}
    assert evidence == [(0, 0, "upcoding_procedure"), (0, 2, "upcoding_procedure"),
                        (0, 1, "point_inflation"), (0, 2, "point_inflation")]


def test_a_test_raises_only_the_flag_its_measure_names():
    # a level excess of points per case is reported but raises nothing (point inflation by
    # points is a growth signal); a level excess of the high-outlier share raises it
    results = [_result("points_per_case", "level", np.array([9.0]), np.array([True])),
               _result("high_outlier_share", "level", np.array([9.0]), np.array([True])),
               _result("cmi", "level", np.array([9.0]), np.array([True]))]
    flags, evidence = _flags(["H1"], results, 3.09)
    assert flags == {"H1": ["point_inflation"]}
    assert evidence == [(0, 1, "point_inflation")]


def _naive_readmissions(stays, days):
    """Each stay against the stay just before it among the same patient's stays of the same
    category (a row when that stay is at another hospital), and against the one just before
    it at the same hospital; stays ordered by (admission, discharge, case id hash): stays
    on the same days are ordered by a hash of their id, which depends on nothing but the id."""
    import pyarrow as pa
    from dipcore._kernels.strings import hash_strings
    rank = dict(zip([s["case_id"] for s in stays],
                    hash_strings(pa.array([s["case_id"] for s in stays], pa.string()))))
    order = lambda s: (s["admission"], s["discharge"], rank[s["case_id"]])   # noqa: E731
    out = set()

    def scan(key, keep):
        groups = {}
        for s in stays:
            if s["patient_id"] is not None:
                groups.setdefault(key(s), []).append(s)
        for members in groups.values():
            members.sort(key=order)
            for a, b in zip(members, members[1:]):
                same = a["hospital_id"] == b["hospital_id"]
                if keep(same) and 0 <= b["admission"] - a["discharge"] <= days:
                    out.add((b["case_id"], a["case_id"], b["admission"] - a["discharge"], same))
    scan(lambda s: (s["patient_id"], s["category"]), lambda same: not same)
    scan(lambda s: (s["patient_id"], s["category"], s["hospital_id"]), lambda same: True)
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


def test_points_per_case_only_backs_a_rising_high_cost_share():
    # points per case rose faster than cost at both; only H2's high-cost share rose too
    results = [_result("high_outlier_share", "growth", np.array([1.0, 5.0]),
                       np.array([False, True])),
               _result("points_per_case", "growth", np.array([5.0, 5.0]), np.array([True, True]),
                       effect=np.array([1.4, 1.4])),
               _result("cost_per_case", "growth", np.array([0.5, 0.5]), np.array([False, False]),
                       effect=np.array([1.0, 1.0]))]
    flags, evidence = _flags(["H1", "H2"], results, 3.09)
    assert flags == {"H1": [], "H2": ["point_inflation"]}
    assert evidence == [(1, 0, "point_inflation"), (1, 1, "point_inflation"),
                        (1, 2, "point_inflation")]
