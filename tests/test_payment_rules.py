"""Each payment rule on its own, with numbers worked out by hand (SPEC.md sections 5-7).

The end-to-end worked examples are in ``test_spec_examples.py``; here every rule function
and kernel of ``dipcore.payment`` and ``dipcore._kernels.points`` is called directly.
"""
import re
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dipcore._kernels import points as P
from dipcore.errors import InputError
from dipcore.payment import statements as rules
from dipcore.payment.allocation import allocate, fen, round_fen, round_ratio
from dipcore.payment.point_value import elastic_value, fixed_value, floating_value, pool_point_value
from dipcore.payment.points import HIGH_RULES, LOW_RULES
from dipcore.payment.prepayment import monthly_prepayment, monthly_prepayments, pool_factor
from dipcore.policy import Policy


def rules_record(**changes):
    base = dict(mean_all=1_000_000.0, scale=1000.0, low_ratio=0.5, low_inclusive=False,
                low_rule=LOW_RULES["actual_cost"], high_ratio=2.0,
                high_rule=HIGH_RULES["national_2020"], extreme_ratio=5.0, extreme_as_high=True,
                coefficients_on_outliers=True, ungrouped_discount=0.7, bed_cap=0,
                taper_after=0, taper_factor=1.0)
    base.update(changes)
    return P.PointRules(**base)


# -- SPEC 5 ---------------------------------------------------------------------------------------
def test_low_cost_rules():
    # RW 1000, k 1.1, a 1.0, m_L 10 000 yuan, cost 4 000: r 0.4; actual cost pays
    # 1000 * 1.1 * 4000 / 11000 = 400; the 2020 form pays RW * r = 400 too (k plays no part)
    r = rules_record()
    assert P.low_cost_points(1000.0, 1.1, 1.0, 0.4, 4e5, 1e6, r) == pytest.approx(400.0)
    r2020 = rules_record(low_rule=LOW_RULES["ratio_2020"])
    assert P.low_cost_points(1000.0, 1.1, 1.0, 0.4, 4e5, 1e6, r2020) == pytest.approx(400.0)
    # a = 1.2: actual cost 1000 * 1.32 * min(1, 4000 / 13200) = 400 still; 2020 form 400
    assert P.low_cost_points(1000.0, 1.1, 1.2, 0.4, 4e5, 1e6, r) == pytest.approx(400.0)


@pytest.mark.parametrize("rule, expected", [
    ("national_2020", 1000 * 1.1 * ((2.5 - 2.0) + 1)),   # 1650
    ("shandong", 1000 * (2.5 - 2.0 + 1.1)),              # 1600
    ("hubei", 1000 * 1.1 * (2.5 - 1)),                   # 1650
])
def test_high_cost_rules(rule, expected):
    r = rules_record(high_rule=HIGH_RULES[rule])
    assert P.high_cost_points(1000.0, 1.1, 1.0, 2.5, r) == pytest.approx(expected)


def test_outlier_classes_and_extreme_payment():
    r = rules_record()
    assert [P.outlier_class(x, r) for x in (0.4, 0.5, 1.0, 2.0, 2.01, 5.0, 5.1)] == \
        [P.LOW, P.NORMAL, P.NORMAL, P.NORMAL, P.HIGH, P.HIGH, P.EXTREME]
    assert P.outlier_class(0.5, rules_record(low_inclusive=True)) == P.LOW
    # extreme paid as normal: still classed extreme, paid RW * k * a
    normal = rules_record(extreme_as_high=False)
    units, outlier, _ = P.case_points(np.array([P.DIP], np.int8), np.array([1000.0]),
                                      np.array([1.1]), np.array([1.0]), np.array([1e6]),
                                      np.array([6e6]), np.zeros(1), np.ones(1, np.int64), normal)
    assert outlier[0] == P.EXTREME and units[0] == 11_000_000          # 1100.0000 points


def test_cost_and_bed_day_rules():
    r = rules_record(bed_cap=0, taper_after=60, taper_factor=0.9)
    # ungrouped: 5 000 / 10 000 * 1000 * 0.7 = 350; special review: 500
    assert P.cost_points(5e5, 0.7, r) == pytest.approx(350.0)
    assert P.cost_points(5e5, 1.0, r) == pytest.approx(500.0)
    # 40 points/day, LOS 75, taper 0.9 after day 60: 60*40 + 15*40*0.9 = 2940
    assert P.bed_day_points(40.0, 75, r) == pytest.approx(2940.0)
    # a cap of 70 days: 60*40 + 10*40*0.9 = 2760
    assert P.bed_day_points(40.0, 75, rules_record(bed_cap=70, taper_after=60,
                                                   taper_factor=0.9)) == pytest.approx(2760.0)


# -- SPEC 6 ---------------------------------------------------------------------------------------
def test_floating_point_value():
    # B = 72 000 000 yuan, f = 0.72, P = 10 000 000 points -> PV = 10
    v = pool_point_value(Policy(), "employee", 7_200_000_000, Fraction(72, 100),
                         10_000_000 * P.UNITS)
    assert v.value == v.base == v.floating == 10


def test_fixed_and_elastic_point_values():
    policy = Policy(pv_mode="elastic", fixed_point_value={"employee": 10.0},
                    elastic_base_share=0.8)
    dip_total = Fraction(1_000_000)                    # B / f = 10 000 yuan, in fen
    # 80 % of it buys 800 points at 10; 1 250 points: 450 float over the other 2 000 yuan
    v = elastic_value(dip_total, Fraction(1250), policy, "employee")
    assert v.base == 10 and v.floating == Fraction(2000, 450)
    assert v.value == Fraction(8000 + 2000, 1250)      # 8 yuan per point on average
    # within the base volume every point is worth the fixed value
    assert elastic_value(dip_total, Fraction(500), policy, "employee").value == 10
    capped = policy.replace(elastic_ceiling=0.4)        # floating value at most 4
    v = elastic_value(dip_total, Fraction(1250), capped, "employee")
    assert v.floating == 4 and v.value == Fraction(8000 + 450 * 4, 1250)
    assert fixed_value(dip_total, Fraction(3), policy, "employee").value == 10
    with pytest.raises(InputError, match="no fixed point value for pool 'resident'"):
        fixed_value(dip_total, Fraction(3), policy, "resident")
    assert floating_value(dip_total, Fraction(0), policy, "employee").value == 0


# -- SPEC 7 ---------------------------------------------------------------------------------------
def test_statement_lines():
    f = Fraction(8, 10)
    # ratio: the allocated base; patient payments: D - patients' payments
    assert rules.fund_base(Policy(), 720_000, 1_000_000, 300_000) == 720_000
    assert rules.fund_base(Policy(fund_share_method="patient_payments"), 720_000, 1_000_000,
                           300_000) == 700_000
    # c = 0.98 on a base of 72 000.00 yuan: -1 440.00; on 0.25 yuan: -0.005 -> -0.01 (half
    # away from zero); c = 1: nothing
    adjusted = rules.appraisal_adjustments(np.array([7_200_000, 25, 4_000_000]),
                                           np.array([0, 0, 1]), [Fraction(98, 100), Fraction(1)])
    assert adjusted.tolist() == [-144_000, -1, 0]
    # surplus 2 000 of D 10 000 with a 10 % cap: 1 000 over the cap, x f 0.8 -> 800 yuan
    capped = Policy(surplus_cap=0.1)
    assert rules.surplus_clawback(capped, 1_000_000, 800_000, f) == 80_000
    assert rules.surplus_clawback(capped, 1_000_000, 950_000, f) == 0
    assert rules.surplus_clawback(Policy(), 1_000_000, 800_000, f) == 0
    # overspend 1 500 on D 10 000, bands: up to 10 % shared 50 %, 10-20 % shared 30 %:
    # 1 000 * 0.5 + 500 * 0.3 = 650, x f 0.8 -> 520 yuan
    bands = Policy(sharing_bands=[[0.1, 0.5], [0.2, 0.3]])
    assert rules.overspend_sharing(bands, 1_000_000, 1_150_000, f) == 52_000
    assert rules.overspend_sharing(bands, 1_000_000, 900_000, f) == 0
    assert rules.overspend_sharing(Policy(), 1_000_000, 1_150_000, f) == 0
    # SPEC 7 example: F = 7 200 000 * 0.98 - 50 000 = 7 006 000; balance 106 000
    payable = rules.fund_payable(720_000_000, -14_400_000, 5_000_000, 0, 0)
    assert payable == 700_600_000
    assert rules.balance(payable, 630_000_000, 60_000_000) == 10_600_000


def test_monthly_prepayment():
    # 123.4567 points x PV_budget 10 x f 0.72 = 888.88824 yuan -> 888.89 gross;
    # reserve 10 % of 888.89 = 88.889 -> 88.89; paid 800.00
    factor = pool_factor(10.0, Fraction(72, 100))
    m = monthly_prepayment(1_234_567, factor, Fraction(1, 10))
    assert (m.gross, m.reserve, m.prepayment) == (88_889, 8_889, 80_000)


@given(st.lists(st.tuples(st.integers(-10**9, 10**12), st.integers(0, 2)), min_size=1,
                max_size=40),
       st.lists(st.tuples(st.decimals("0.01", "99.99", places=2), st.integers(1, 10**9),
                          st.integers(1, 10**9)), min_size=3, max_size=3),
       st.sampled_from(["0", "0.05", "0.1", "0.125", "0.2"]))
def test_monthly_prepayments_against_decimal_arithmetic(rows, pools, reserve):
    """Each row: P_month x PV_budget x 100 x f / UNITS rounded half away from zero to the
    fen, the reserve withheld likewise -- worked in Decimal with enough digits."""
    import decimal
    from decimal import ROUND_HALF_UP, Decimal
    factors = [pool_factor(float(pv), Fraction(min(a, b), max(a, b))) for pv, a, b in pools]
    units, at = [u for u, _ in rows], [p for _, p in rows]
    gross, withheld, net = monthly_prepayments(units, at, factors, Fraction(reserve))
    with decimal.localcontext() as ctx:
        ctx.prec = 200
        for i, (u, p) in enumerate(rows):
            pv, a, b = pools[p]
            # one division, last: a tie is then exact, and nothing else is near one
            g = (Decimal(u) * pv * 100 * min(a, b) / (Decimal(max(a, b)) * P.UNITS)) \
                .quantize(Decimal(1), ROUND_HALF_UP)
            w = (g * Decimal(reserve)).quantize(Decimal(1), ROUND_HALF_UP)
            assert (gross[i], withheld[i], net[i]) == (int(g), int(w), int(g - w))


def test_rounding_and_allocation():
    assert [round_ratio(5, 2), round_ratio(-5, 2), round_ratio(7, 3)] == [3, -3, 2]
    assert round_fen(Fraction(1, 2)) == 1 and round_fen(-0.5) == -1
    assert fen("12.345") == 1235 and fen(-0.005) == -1
    # 100 fen over weights 1:1:1 -> 34, 33, 33; the leftover fen to the smallest key
    assert allocate(100, [1, 1, 1], ["b", "a", "c"]) == [33, 34, 33]
    assert sum(allocate(10_000_001, [3, 5, 7, 11], list("wxyz"))) == 10_000_001


@given(st.lists(st.tuples(st.one_of(st.integers(-10**15, 10**15),
                                    st.integers(-2**63, 2**63 - 1)), st.integers(0, 2)),
                min_size=1, max_size=60),
       st.lists(st.one_of(st.fractions(-10, 10, max_denominator=16),
                          st.builds(Fraction, st.integers(1, 10**30), st.integers(1, 10**30))),
                min_size=3, max_size=3))
def test_round_products_equals_exact_integers(rows, factors):
    """``round_products`` (a float estimate, exact where it could be wrong) against
    ``round_ratio`` row by row: ties (odd values times halves), negative values and
    factors, huge numerators and values beyond a float's integers included (and beyond
    the int64 arithmetic of small factors' ties)."""
    from dipcore.payment.allocation import round_products
    exact = [(f.numerator, f.denominator) for f in factors]
    values = np.array([v for v, _ in rows], np.int64)
    at = np.array([p for _, p in rows], np.intp)
    want = [round_ratio(v * exact[p][0], exact[p][1]) for v, p in rows]
    assume(all(abs(w) < 2**62 for w in want))     # amounts in fen fit an int64
    assert round_products(values, at, exact).tolist() == want


def test_round_products_ties_go_away_from_zero():
    from dipcore.payment.allocation import round_products
    half = [(1, 2), (-3, 2)]
    got = round_products(np.array([1, 3, -1, -3, 1, 2**53 + 1]), np.array([0, 0, 0, 0, 1, 0]),
                         half)
    assert got.tolist() == [1, 2, -1, -2, -2, 2**52 + 1]


@given(st.one_of(st.integers(-10**12, 10**12), st.integers(-2**52 + 1, 2**52 - 1)),
       st.one_of(st.lists(st.integers(0, 10**13), min_size=1, max_size=30),
                 st.lists(st.integers(0, 2**55), min_size=1, max_size=30),
                 st.lists(st.sampled_from([1, 3, 7, 2**40 + 1]), min_size=1, max_size=30)),
       st.data())
def test_allocate_against_exact_largest_remainder(total, weights, data):
    """``allocate`` against the rule worked in fractions: each part the floor of its exact
    share, the fen left over one each to the largest remainders, ties to the smaller key;
    the parts add up to the total. Totals up to the int64 path's bound (where the float
    estimate of a share is off by a unit) and sums of weights near it, repeated weights
    (tied remainders)."""
    keys = data.draw(st.lists(st.text("abcxyz", min_size=1, max_size=4), unique=True,
                              min_size=len(weights), max_size=len(weights)))
    got = allocate(total, weights, keys)
    # the keys' ranks order the parts as the keys do (the settlement passes ranks)
    assert allocate(total, weights, np.unique(keys, return_inverse=True)[1]) == got
    W = sum(weights)
    if W == 0:
        assert got == [0] * len(weights)
        return
    share = [Fraction(total * w, W) for w in weights]
    want = [s.numerator // s.denominator for s in share]
    rest = total - sum(want)
    by = sorted(range(len(weights)), key=lambda i: (-(share[i] - want[i]), keys[i]))
    for i in by[:rest]:
        want[i] += 1
    assert got == want and sum(got) == total


def test_allocate_beyond_int64_weights():
    """Weights whose sum passes int64 take the Python ranking: 5 fen over three equal
    weights of 2^62 -> 1 each, the 2 fen left to the two smaller keys."""
    assert allocate(5, [2**62] * 3, ["c", "a", "b"]) == [1, 2, 2]


@given(st.lists(st.tuples(st.sampled_from(["h1", "h2", "h10"]), st.integers(1, 3),
                          st.integers(0, 5)), max_size=12), st.integers(1, 3))
def test_merge_sums_is_the_sorted_sum_whatever_the_parts(rows, cut):
    """Partial sums merged: one row per key, sorted, the values added; merging the merged
    table again (one part already sorted: returned as it is) gives the same table."""
    from dipcore.payment.sums import merge_sums
    table = pa.table({"key": pa.array([k for k, _, _ in rows], pa.string()),
                      "month": pa.array([m for _, m, _ in rows], pa.int8()),
                      "points": pa.array([v for _, _, v in rows], pa.int64())})
    parts = [table.slice(i, cut) for i in range(0, max(table.num_rows, 1), cut)]
    out = merge_sums(parts, ["key", "month"])
    want: dict = {}
    for k, m, v in rows:
        want[(k, m)] = want.get((k, m), 0) + v
    got = list(zip(out.column("key").to_pylist(), out.column("month").to_pylist(),
                   out.column("points").to_pylist()))
    assert got == sorted((k, m, v) for (k, m), v in want.items())
    assert merge_sums([out], ["key", "month"]).equals(out)


def test_budgets_in_fen_and_their_bounds():
    """Budgets become fen; a pool with cases needs one; negative, unreadable and
    beyond-bound budgets stop the run with one line naming the pool."""
    from dipcore.payment.settlement import MAX_BUDGET_YUAN, _budgets
    assert _budgets({"employee": 7.2e7, "resident": "5000000.005"}, ["employee"]) == {
        "employee": 7_200_000_000, "resident": 500_000_001}
    assert _budgets({"employee": MAX_BUDGET_YUAN}, ["employee"]) == {"employee": 10 ** 14}
    for budget, message in (({}, "pool 'employee' has cases but no budget"),
                            ({"employee": -1}, "budget of pool 'employee' is negative"),
                            ({"employee": "lots"}, "not a number: 'lots'"),
                            (7.2e7, "the budget is a mapping of pool to yuan"),
                            ({"employee": 1e13}, "is 10,000,000,000,000.00 yuan, more than "
                                                 "a pool may have (1,000,000,000,000 yuan)")):
        with pytest.raises(InputError, match=re.escape(message)):
            _budgets(budget, ["employee"])
