"""CHS-DRG payment by the point method (SPEC.md 10.2-10.4), rule by rule.

Every expected number is worked out by hand in the comment beside it from SPEC.md's
formulas; the kernels are also checked against the slow references of ``naive_drg``
(exact rational arithmetic) on random input.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import naive_drg as naive
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipcore._kernels import drg as K
from dipcore._kernels import points as P
from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.policy import Policy
from dipcore.schemes.drg.calibration import adjustment_factors, build_catalog, sd_cuts
from dipcore.schemes.drg.newtech import NOT_FILED, NewTechnology
from dipcore.schemes.drg.official import load_weights
from dipcore.schemes.drg.rules import STATUSES
from dipcore.schemes.drg.scoring import (
    NO_COEFFICIENT,
    NO_WEIGHT,
    high_bands,
    point_rules,
    score_batch,
)
from dipcore.schemes.drg.weights import WEIGHT_SCHEMA, weight_index

OUTLIER = {P.NONE: "", P.LOW: "low", P.NORMAL: "normal", P.HIGH: "high"}
KIND = {"drg": P.DIP, "ungrouped": P.UNGROUPED, "special": P.SPECIAL, "bed_day": P.BED_DAY,
        "unstable": P.UNSTABLE, "new_technology": P.NEW_TECH}


# -- helpers -------------------------------------------------------------------------------------
def drg_policy(**changes) -> Policy:
    return Policy(scheme="drg", **changes)


def empty_catalog(mean_cost: float = 10_000.0, **changes) -> Catalog:
    """A DRG catalogue with no DRGs: only M (yuan) matters to ``point_rules``."""
    return Catalog(groups=WEIGHT_SCHEMA.empty_table(), mean_cost=mean_cost,
                   level_coefficients={1: 1.0, 2: 1.0, 3: 1.0}, bed_day_rates={},
                   scheme="drg", **changes)


def score(policy: Policy, cases: list[tuple], catalog: Catalog | None = None):
    """Run ``drg_case_points`` on cases ``(kind, B, k, m yuan, cost yuan[, rate, LOS])``
    with the rules and bands made from ``policy``; returns (points as 4-decimal floats,
    outlier names, ratios)."""
    catalog = catalog or empty_catalog()
    full = [c + (0.0, 0)[len(c) - 5:] for c in cases]
    units, outlier, ratio = P.drg_case_points(
        np.array([KIND[c[0]] for c in full], np.int8), np.array([c[1] for c in full], float),
        np.array([c[2] for c in full], float), np.array([c[3] * 100.0 for c in full]),
        np.array([round(c[4] * 100) for c in full], float), np.array([c[5] for c in full], float),
        np.array([c[6] for c in full], np.int64), *high_bands(policy),
        point_rules(policy, catalog))
    return [int(u) for u in units], [OUTLIER[int(o)] for o in outlier], ratio


def units(points: str) -> int:
    """'144.0000' -> 1 440 000 units of 1e-4 point."""
    whole, _, frac = points.partition(".")
    return int(whole) * 10_000 + int((frac + "0000")[:4])


def hand_rules(codes: list[str]) -> SimpleNamespace:
    """A rule pack reduced to what calibration and scoring read: DRGs (ADRG = first three
    characters, MDC = first letter), ADRGs, MDCs (output code ``MDC`` + letter)."""
    drgs = [SimpleNamespace(drg=c, adrg=c[:3], name_zh=f"病组{c}") for c in codes]
    adrgs = [SimpleNamespace(adrg=a, mdc=a[0]) for a in sorted({c[:3] for c in codes})]
    mdcs = [SimpleNamespace(mdc=m, code="MDC" + m) for m in sorted({c[0] for c in codes})]
    return SimpleNamespace(drgs=drgs, adrgs=adrgs, mdcs=mdcs, name="hand",
                           fingerprint="hand-" + "-".join(codes))


def history(rows: list[tuple]) -> dict[str, np.ndarray]:
    """The calibration record (``history_record``) of rows ``(drg position, year, level,
    cost yuan, count)``; no bed-day cases."""
    drg, year, level, cost = [], [], [], []
    for d, y, lv, c, n in rows:
        drg += [d] * n
        year += [y] * n
        level += [lv] * n
        cost += [round(c * 100)] * n
    return {"drg": np.array(drg, np.int16), "year": np.array(year, np.int16),
            "level": np.array(level, np.int8), "cost": np.array(cost, np.int64),
            "bed_cat": np.zeros(0, np.int8), "bed_year": np.zeros(0, np.int16),
            "bed_cost": np.zeros(0, np.int64), "bed_days": np.zeros(0, np.int64)}


def calibrate(rows, codes, years, **changes) -> Catalog:
    return build_catalog(history(rows), hand_rules(codes), drg_policy(**changes), years,
                         "fp", [])


def by_drg(catalog: Catalog) -> dict[str, dict]:
    return {r["drg"]: r for r in catalog.groups.to_pylist()}


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# -- 1. SPEC 10.3 worked example -----------------------------------------------------------------
def test_spec_10_3_worked_example_through_the_kernel():
    # M = 10 000 yuan; GZ13: m = 8 000 -> RW 0.8, B = 80.0000; k = 1.05; t(80) = 3.0 (B <= 100)
    #   cost 30 000: r = 3.75 >= 3.0, high: 80 x 1.05 + 80 x (3.75 - 3.0) = 84 + 60 = 144.0000
    #   cost  2 400: r = 0.3 <= 0.4, low: 80 x 1.05 x 0.3 = 25.2000
    #   cost  9 000: r = 1.125, normal: 80 x 1.05 = 84.0000
    #   ungroupable, cost 5 000: 5 000 / 10 000 x 100 x 0.7 = 35.0000
    policy = drg_policy()
    got, outlier, ratio = score(policy, [("drg", 80.0, 1.05, 8000, 30000),
                                         ("drg", 80.0, 1.05, 8000, 2400),
                                         ("drg", 80.0, 1.05, 8000, 9000),
                                         ("ungrouped", 0.0, 1.05, 1, 5000)])
    assert got == [units("144.0000"), units("25.2000"), units("84.0000"), units("35.0000")]
    assert outlier == ["high", "low", "normal", ""]
    assert ratio[:3].tolist() == [3.75, 0.3, 1.125] and math.isnan(ratio[3])
    assert point_rules(policy, empty_catalog()).mean_all == 1_000_000.0   # M in fen


def test_spec_10_3_worked_example_from_a_calibrated_catalogue():
    # one year: GZ13 5 cases at 8 000, FR15 5 cases at 12 000 yuan, all at level 3:
    # M = (40 000 + 60 000) / 10 = 10 000; RW(GZ13) = 8 000 / 10 000 = 0.8, B = 80.0000;
    # k of level 3 given by the policy: 1.05. The cases are scored by score_batch.
    cat = calibrate([(0, 2023, 3, 8000, 5), (1, 2023, 3, 12000, 5)], ["GZ13", "FR15"], [2023],
                    level_coefficients={"3": 1.05})
    rows = by_drg(cat)
    assert cat.mean_cost == 10_000.0
    assert (rows["GZ13"]["rw"], rows["GZ13"]["base_points"]) == (0.8, 80.0)
    assert (rows["FR15"]["rw"], rows["FR15"]["base_points"]) == (1.2, 120.0)
    assert cat.level_coefficients[3] == 1.05
    rules = hand_rules(["GZ13", "FR15"])
    f = features(status=["ok", "ok", "ok", "ungroupable"], drg=[0, 0, 0, -1],
                 cost=[30000, 2400, 9000, 5000], level=[3, 3, 3, 3])
    s = score_batch(f, cat, drg_policy(), rules)
    assert s.units.tolist() == [units("144.0000"), units("25.2000"), units("84.0000"),
                                units("35.0000")]
    assert s.kind.tolist() == [P.DIP, P.DIP, P.DIP, P.UNGROUPED]


# -- 2. every formula by hand -------------------------------------------------------------------
def test_high_threshold_bands():
    # default bands: B <= 100 -> 3.0; 100 < B <= 300 -> 2.0; B > 300 -> 1.5
    upto, t, above = high_bands(drg_policy())
    got = [P.drg_high_threshold(b, upto, t, above)
           for b in (0.5, 100.0, 100.0001, 299.9999, 300.0, 300.0001, 300.5, 5000.0)]
    assert got == [3.0, 3.0, 2.0, 2.0, 2.0, 1.5, 1.5, 1.5]
    # no bands at all: every B takes drg_high_above
    upto, t, above = high_bands(drg_policy(drg_high_bands=[], drg_high_above=2.5))
    assert P.drg_high_threshold(80.0, upto, t, above) == 2.5


@pytest.mark.parametrize("case, expected, outlier", [
    # B exactly 100: t = 3.0; m 10 000, cost 30 000: r = 3.0 = t -> high: 100 + 100 x 0
    (("drg", 100.0, 1.0, 10000, 30000), "100.0000", "high"),
    # B 100, r = 29 990 / 10 000 = 2.999 < 3.0 -> normal (with t = 2.0 it would be high, 199.9)
    (("drg", 100.0, 1.0, 10000, 29990), "100.0000", "normal"),
    # B 100.0001: t = 2.0; r = 3.0 -> 100.0001 + 100.0001 x (3 - 2) = 200.0002
    (("drg", 100.0001, 1.0, 10000, 30000), "200.0002", "high"),
    # B 300: t = 2.0; r = 2.5 -> 300 + 300 x 0.5 = 450 (t = 1.5 would give 600)
    (("drg", 300.0, 1.0, 10000, 25000), "450.0000", "high"),
    # B 300.5: t = 1.5; r = 2.5 -> 300.5 + 300.5 x 1.0 = 601
    (("drg", 300.5, 1.0, 10000, 25000), "601.0000", "high"),
    # B 300.5, r exactly 1.5 = t -> high: 300.5 + 300.5 x 0 = 300.5
    (("drg", 300.5, 1.0, 10000, 15000), "300.5000", "high"),
    # B 300.5, r = 1.4 < 1.5 -> normal 300.5
    (("drg", 300.5, 1.0, 10000, 14000), "300.5000", "normal"),
    # B 80, k 1.05, m 8 000: r exactly 3.0 = t(80) -> high: 80 x 1.05 + 80 x 0 = 84
    (("drg", 80.0, 1.05, 8000, 24000), "84.0000", "high"),
    # B 200, k 1.1, m 10 000, cost 35 000: r 3.5, t 2.0 -> 200 x 1.1 + 200 x 1.5 = 220 + 300
    (("drg", 200.0, 1.1, 10000, 35000), "520.0000", "high"),
    # low-cost at r exactly 0.4 (inclusive): 3 200 / 8 000 = 0.4 -> 80 x 1.05 x 0.4 = 33.6
    (("drg", 80.0, 1.05, 8000, 3200), "33.6000", "low"),
    # r = 3 280 / 8 000 = 0.41 > 0.4 -> normal 80 x 1.05 = 84
    (("drg", 80.0, 1.05, 8000, 3280), "84.0000", "normal"),
    # r = 0.45 is normal under the default 0.4
    (("drg", 80.0, 1.05, 8000, 3600), "84.0000", "normal"),
    # unstable DRG, by cost (B and k play no part): 15 000 / 10 000 x 100 = 150
    (("unstable", 80.0, 1.05, 8000, 15000), "150.0000", ""),
    # new technology, by cost: 25 000 / 10 000 x 100 = 250
    (("new_technology", 80.0, 1.05, 8000, 25000), "250.0000", ""),
    # special review, by cost, no discount: 7 500 / 10 000 x 100 = 75
    (("special", 80.0, 1.05, 8000, 7500), "75.0000", ""),
    # ungroupable: 5 000 / 10 000 x 100 x 0.7 = 35
    (("ungrouped", 0.0, 1.05, 8000, 5000), "35.0000", ""),
    # bed-day, no cap or taper: 40 points/day x 75 days = 3 000
    (("bed_day", 0.0, 1.05, 1, 9000, 40.0, 75), "3000.0000", ""),
])
def test_points_by_hand_default_policy(case, expected, outlier):
    got, cls, _ = score(drg_policy(), [case])
    assert (got[0], cls[0]) == (units(expected), outlier)


def test_multiplicative_high_cost_rule():
    # B 80, k 1.05, m 8 000, cost 30 000: r 3.75, t 3.0 -> 80 x 1.05 x (1 + 0.75) = 84 x 1.75
    #   = 147.0000 (additive: 144); r exactly 3.0 -> 84 x 1 = 84.0000;
    # B 200, k 1.1, r 3.5, t 2.0 -> 220 x (1 + 1.5) = 550.0000 (additive: 520)
    got, cls, _ = score(drg_policy(drg_high_rule="multiplicative"),
                        [("drg", 80.0, 1.05, 8000, 30000), ("drg", 80.0, 1.05, 8000, 24000),
                         ("drg", 200.0, 1.1, 10000, 35000)])
    assert got == [units("147.0000"), units("84.0000"), units("550.0000")]
    assert cls == ["high", "high", "high"]


def test_regional_low_ratio_bands_and_scale():
    # drg_low_ratio 0.5: r = 3 600 / 8 000 = 0.45 -> low: 80 x 1.05 x 0.45 = 37.8; r = 0.5
    # (4 000) -> low 42.0; r 0.51 (4 080) -> normal 84
    got, cls, _ = score(drg_policy(drg_low_ratio=0.5),
                        [("drg", 80.0, 1.05, 8000, 3600), ("drg", 80.0, 1.05, 8000, 4000),
                         ("drg", 80.0, 1.05, 8000, 4080)])
    assert got == [units("37.8000"), units("42.0000"), units("84.0000")]
    assert cls == ["low", "low", "normal"]
    # bands [[50, 2.5]] above 1.8: B 50 -> t 2.5: r 2.5 -> 50 + 0 = 50 (high); B 50.5 -> t 1.8:
    # r 2.5 -> 50.5 + 50.5 x 0.7 = 50.5 + 35.35 = 85.85
    got, cls, _ = score(drg_policy(drg_high_bands=[[50.0, 2.5]], drg_high_above=1.8),
                        [("drg", 50.0, 1.0, 10000, 25000), ("drg", 50.5, 1.0, 10000, 25000)])
    assert got == [units("50.0000"), units("85.8500")] and cls == ["high", "high"]
    # drg_scale 1000: unstable 15 000 / 10 000 x 1000 = 1 500; ungroupable
    # 5 000 / 10 000 x 1000 x 0.7 = 350
    got, _, _ = score(drg_policy(drg_scale=1000.0), [("unstable", 0.0, 1.0, 1, 15000),
                                                     ("ungrouped", 0.0, 1.0, 1, 5000)])
    assert got == [units("1500.0000"), units("350.0000")]


def test_ungrouped_discount_regional():
    # 0.6: 5 000 / 10 000 x 100 x 0.6 = 30; special review is never discounted: 50
    got, _, _ = score(drg_policy(ungrouped_discount=0.6),
                      [("ungrouped", 0.0, 1.0, 1, 5000), ("special", 0.0, 1.0, 1, 5000)])
    assert got == [units("30.0000"), units("50.0000")]


@pytest.mark.parametrize("changes, los, expected", [
    # SPEC 5.6 example: 40 points/day, LOS 75, taper 0.9 after day 60 -> 60 x 40 + 15 x 40 x 0.9
    #   = 2 400 + 540 = 2 940
    ({"bed_day_taper_after": 60, "bed_day_taper_factor": 0.9}, 75, "2940.0000"),
    # cap 70 first: 60 x 40 + 10 x 40 x 0.9 = 2 400 + 360 = 2 760
    ({"bed_day_cap": 70, "bed_day_taper_after": 60, "bed_day_taper_factor": 0.9}, 75, "2760.0000"),
    # cap 50 below the taper day: 50 x 40 = 2 000
    ({"bed_day_cap": 50, "bed_day_taper_after": 60, "bed_day_taper_factor": 0.9}, 75, "2000.0000"),
    # LOS 60 = taper day: no tapered day, 60 x 40 = 2 400
    ({"bed_day_taper_after": 60, "bed_day_taper_factor": 0.9}, 60, "2400.0000"),
    # cap only: min(75, 30) x 40 = 1 200
    ({"bed_day_cap": 30}, 75, "1200.0000"),
])
def test_bed_day_points_as_dip(changes, los, expected):
    got, cls, ratio = score(drg_policy(**changes), [("bed_day", 0.0, 1.05, 1, 9000, 40.0, los)])
    assert got == [units(expected)] and cls == [""] and math.isnan(ratio[0])


@pytest.mark.parametrize("case, changes, expected", [
    # ungroupable 0.15 yuan (15 fen): 0.15 / 10 000 x 100 x 0.7 = 0.00105 -> half up 0.0011
    # (half to even would give 0.0010)
    (("ungrouped", 0.0, 1.0, 1, 0.15), {}, "0.0011"),
    # B 80.0015, k 1.1, normal: 88.00165 -> 88.0017 (half to even: 88.0016)
    (("drg", 80.0015, 1.1, 10000, 10000), {}, "88.0017"),
    # bed-day 37.457/day, LOS 61, taper 0.85 after 60: 60 x 37.457 + 1 x 37.457 x 0.85
    #   = 2 247.42 + 31.83845 = 2 279.25845 -> 2 279.2585 (half to even: 2 279.2584)
    (("bed_day", 0.0, 1.0, 1, 1, 37.457, 61),
     {"bed_day_taper_after": 60, "bed_day_taper_factor": 0.85}, "2279.2585"),
    # a large tie: ungroupable 80 990.25 yuan: 80 990.25 / 10 000 = 8.099025; x 100 = 809.9025;
    # x 0.7 = 566.93175 -> 566.9318 (in float the product is 566.93174999..., below the tie)
    (("ungrouped", 0.0, 1.0, 1, 80990.25), {}, "566.9318"),
    # special review 1 234 567.89 yuan: 1 234 567.89 / 10 000 x 100 = 12 345.6789 (exact)
    (("special", 0.0, 1.0, 1, 1234567.89), {}, "12345.6789"),
])
def test_rounding_half_up_at_four_decimals(case, changes, expected):
    got, _, _ = score(drg_policy(**changes), [case])
    assert got == [units(expected)]


# -- score_batch: the kind of each case ----------------------------------------------------------
def features(status, drg, cost, level, bed=None, new_tech=None, los=None, hospital=None,
             hospitals=("H1", "H2")):
    """A stand-in for DrgFeatures with the columns score_batch reads (costs in yuan)."""
    n = len(status)
    names = pa.array(list(hospitals))
    canon = SimpleNamespace(strings=lambda: names)
    codebook = SimpleNamespace(hospital=SimpleNamespace(canon=canon))
    return SimpleNamespace(
        n=n, status=np.array([STATUSES.index(s) for s in status], np.int8),
        drg=np.array(drg, np.int16), cost=np.array([round(c * 100) for c in cost], np.int64),
        level=np.array(level, np.int8), bed=np.array(bed or [-1] * n, np.int8),
        new_tech=np.array(new_tech or [False] * n), los=np.array(los or [10] * n, np.int32),
        hospital=np.array(hospital or [0] * n, np.int32), codebook=codebook)


@pytest.fixture
def weights_csv(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("drg,rw,stable\nGZ13,0.8,true\nFR15,1.25,true\nES15,0.5,false\n",
                    encoding="utf-8")
    return path


def test_score_batch_kinds_in_order(weights_csv):
    # pack DRGs: GZ13 (0), FR15 (1), ES15 (2, unstable in the table), GZ11 (3, no weight);
    # M 10 000; level 3 k = 1.05; psychiatric bed-day 40 points/day
    rules = hand_rules(["GZ13", "FR15", "ES15", "GZ11"])
    cat = load_weights(weights_csv, rules=rules, mean_cost=10_000.0,
                       level_coefficients={1: 1.0, 2: 1.0, 3: 1.05},
                       bed_day_rates={"psychiatric": 40.0})
    qy = len(rules.drgs) + 0                  # an ambiguous (QY) result of the first MDC
    f = features(
        status=["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ungroupable", "ambiguous_qy",
                "check_failed", "ungroupable"],
        drg=[0, 0, 0, 0, 0, 2, 3, -1, qy, -1, -1],
        cost=[9000, 9000, 9000, 9000, 20000, 6000, 7000, 5000, 5000, 10000, 5000],
        level=[3] * 11, bed=[-1, -1, 0, 0, -1, -1, -1, -1, -1, -1, -1],
        new_tech=[False, False, False, False, True, False, False, False, False, False, True])
    special = np.array([False, True, False, True] + [False] * 7)
    s = score_batch(f, cat, drg_policy(), rules, special)
    assert s.kind.tolist() == [P.DIP, P.SPECIAL, P.BED_DAY, P.SPECIAL, P.NEW_TECH, P.UNSTABLE,
                               P.UNSTABLE, P.UNGROUPED, P.UNGROUPED, P.UNGROUPED, P.NEW_TECH]
    # 0: GZ13 B 80, r 9 000 / 8 000 = 1.125: 80 x 1.05 = 84;  1, 3: special 9 000 / 10 000 x
    # 100 = 90;  2: 10 days x 40 = 400;  4: new technology 20 000 -> 200;  5: ES15 unstable
    # 6 000 -> 60;  6: GZ11 has no weight: by cost 7 000 -> 70;  7, 8: 5 000 x 0.7 / 100 = 35;
    # 9: check failed 10 000 -> 70;  10: new technology before grouping: 5 000 -> 50
    assert s.units.tolist() == [units(p) for p in (
        "84", "90", "400", "90", "200", "60", "70", "35", "35", "70", "50")]
    assert s.notes == {(NO_WEIGHT, "GZ11")}


def test_score_batch_hospital_and_drg_level_coefficients(tmp_path):
    rules = hand_rules(["GZ13"])
    path = tmp_path / "w.csv"
    # m = 0.8 x 10 000 = 8 000; level 3 mean = 1.05 x 8 000 = 8 400
    path.write_text("drg,rw,coefficient_level3\nGZ13,0.8,1.05\n", encoding="utf-8")
    cat = load_weights(path, rules=rules, mean_cost=10_000.0,
                       level_coefficients={1: 1.0, 2: 1.0, 3: 1.1})
    f = features(status=["ok"] * 3, drg=[0] * 3, cost=[9000] * 3, level=[3, 3, 2],
                 hospital=[0, 1, 1])
    # hospital table: H1 1.2 -> 80 x 1.2 = 96 (r 9 000 / 8 400 = 1.07, normal); H2 is not in
    # the table: level 3 coefficient 1.1 -> 88, level 2 -> 80 x 1.0 = 80 (m = 8 000: the level
    # has no mean of its own, r 1.125)
    s = score_batch(f, cat, drg_policy(drg_coefficient="hospital",
                                       hospital_coefficients={"H1": 1.2}), rules)
    assert s.k.tolist() == [1.2, 1.1, 1.0]
    assert s.units.tolist() == [units("96"), units("88"), units("80")]
    assert s.notes == {(NO_COEFFICIENT, "H2")}
    # per DRG and level: k = m_L / m = 8 400 / 8 000 = 1.05 at level 3 -> 84; level 2 has no
    # mean: k 1.0 -> 80
    s = score_batch(f, cat, drg_policy(drg_coefficient="drg_level"), rules)
    assert s.k.tolist() == [1.05, 1.05, 1.0]
    assert s.units.tolist() == [units("84"), units("84"), units("80")]


# -- 3. property tests against the naive references ---------------------------------------------
BANDS = [([[100.0, 3.0], [300.0, 2.0]], 1.5), ([[50.0, 2.5]], 1.8), ([], 2.0),
         ([[80.0, 3.0], [200.0, 2.5], [500.0, 2.0]], 1.5)]


@st.composite
def drg_case(draw):
    kind = draw(st.sampled_from(["drg", "drg", "drg", "unstable", "new_technology", "special",
                                 "ungrouped", "bed_day"]))
    b = draw(st.one_of(st.sampled_from([50.0, 50.5, 80.0, 100.0, 100.0001, 200.0, 300.0,
                                        300.5, 500.0]),
                       st.integers(1, 50_000_000).map(lambda v: v / 10_000)))
    k = draw(st.integers(5_000, 15_000)) / 10_000
    m = draw(st.integers(10_000, 1_000_000)) * 10                       # fen
    # a cost at an exact multiple of m (every threshold and low ratio drawn), a large cost
    # ending in 5 fen (its points by cost are often a tie at the fifth decimal), or any cost
    cost = draw(st.one_of(
        st.sampled_from([0.3, 0.4, 0.41, 0.5, 1.0, 1.5, 1.8, 2.0, 2.5, 3.0, 3.75]).map(
            lambda x: round(m * x)),
        st.integers(1_000_000, 10_000_000).map(lambda v: v * 10 + 5),
        st.integers(1, 100_000_000)))
    rate = draw(st.integers(1, 10_000_000)) / 10_000
    los = draw(st.integers(1, 150))
    return kind, b, k, float(m), float(cost), rate, los


@given(bands=st.sampled_from(BANDS), high=st.sampled_from(["additive", "multiplicative"]),
       low=st.sampled_from([0.4, 0.5, 0.3]), disc=st.sampled_from([0.7, 0.6, 0.65]),
       scale=st.sampled_from([100.0, 1000.0]), cap=st.sampled_from([None, 30, 70]),
       taper=st.sampled_from([None, 20, 60]), factor=st.sampled_from([1.0, 0.9, 0.85]),
       M=st.one_of(st.sampled_from([1_000_000.0, 880_000.0]),
                   st.integers(100_000, 5_000_000).map(float)),
       cases=st.lists(drg_case(), min_size=1, max_size=30))
def test_drg_case_points_match_reference(bands, high, low, disc, scale, cap, taper, factor, M,
                                         cases):
    policy = drg_policy(drg_high_bands=bands[0], drg_high_above=bands[1], drg_high_rule=high,
                        drg_low_ratio=low, ungrouped_discount=disc, drg_scale=scale,
                        bed_day_cap=cap, bed_day_taper_after=taper, bed_day_taper_factor=factor)
    col = lambda j: np.array([c[j] for c in cases], float)
    got, outlier, ratio = P.drg_case_points(
        np.array([KIND[c[0]] for c in cases], np.int8), col(1), col(2), col(3), col(4), col(5),
        np.array([c[6] for c in cases], np.int64), *high_bands(policy),
        point_rules(policy, empty_catalog(M / 100.0)))
    pol = {"M": M, "scale": scale, "bands": bands[0], "above": bands[1], "high_rule": high,
           "low_ratio": low, "ungrouped_discount": disc, "cap": cap, "taper_after": taper,
           "taper_factor": factor}
    for i, (kind, b, k, m, cost, rate, los) in enumerate(cases):
        exact, cls = naive.drg_points(kind, b, k, m, cost, pol, rate, los)
        assert (int(got[i]), OUTLIER[int(outlier[i])]) == (naive.half_up_units(exact), cls), \
            (cases[i], float(exact))
        if kind == "drg":
            assert ratio[i] == cost / m
        else:
            assert math.isnan(ratio[i])


def test_new_technology_window_edges():
    # filed on day 19 372 (2023-01-15), 365 days: discharged that day or up to 19 737 inclusive
    F, NF = 19_372, NOT_FILED
    cases = [[F], [F], [F], [F], [NF], [], [NF, F - 400, F], [F + 10]]
    discharge = [F, F + 365, F + 366, F - 1, F, F, F + 100, F + 9]
    off = np.array([0] + np.cumsum([len(c) for c in cases]).tolist(), np.int32)
    filed = np.array([f for c in cases for f in c], np.int32)
    got = K.new_technology_cases(off, filed, np.array(discharge, np.int32), 365)
    # the day of filing; the last day; a day after; a day before; not filed; no procedure;
    # one of several procedures in its window; filed after the discharge
    assert got.tolist() == [True, True, False, False, False, False, True, False]


@given(st.lists(st.tuples(st.integers(18_000, 21_000),
                          st.lists(st.one_of(st.none(), st.integers(-800, 800),
                                             st.sampled_from(["0", "-days", "-days-1", "+1"])),
                                   max_size=5)), max_size=40),
       st.sampled_from([365, 180, 30, 1]))
def test_new_technology_cases_match_reference(cases, days):
    edge = {"0": 0, "-days": -days, "-days-1": -days - 1, "+1": 1}
    filings = [[None if o is None else d + (edge[o] if isinstance(o, str) else o)
                for o in procs] for d, procs in cases]
    off = np.array([0] + np.cumsum([len(f) for f in filings]).tolist(), np.int32)
    filed = np.array([NOT_FILED if f is None else f for fs in filings for f in fs], np.int32)
    discharge = np.array([d for d, _ in cases], np.int32)
    got = K.new_technology_cases(off, filed, discharge, days)
    assert got.tolist() == [naive.new_technology(fs, d, days)
                            for fs, (d, _) in zip(filings, cases)]


def test_sd_cuts_by_hand():
    # 9 cases at 1 000 fen and one at 11 000: mean 2 000, population variance
    # (9 x 1 000^2 + 9 000^2) / 10 = 9 000 000, SD 3 000; k 3 -> [2 000 - 9 000, 2 000 + 9 000]
    c = np.array([1000] * 9 + [11000] + [5, 7], np.int64)
    lo, hi = sd_cuts(c, np.array([0, 10, 12]), np.array([True, False]), 3.0)
    assert (lo[0], hi[0]) == (-7000.0, 11000.0)
    assert (lo[1], hi[1]) == (-np.inf, np.inf)             # a group not trimmed


@given(st.lists(st.lists(st.integers(0, 10**9), min_size=1, max_size=40), min_size=1,
                max_size=8),
       st.lists(st.booleans(), min_size=8, max_size=8), st.sampled_from([3.0, 2.5, 2.0]))
def test_sd_cuts_match_reference(groups, trim, k):
    c = np.array([x for g in groups for x in sorted(g)], np.int64)
    bounds = np.array([0] + np.cumsum([len(g) for g in groups]).tolist())
    trimmed = np.array(trim[:len(groups)])
    lo, hi = sd_cuts(c, bounds, trimmed, k)
    for g, costs in enumerate(groups):
        if not trimmed[g]:
            assert (lo[g], hi[g]) == (-np.inf, np.inf)
            continue
        x = np.array(costs, np.float64)
        ref_np = (x.mean() - k * x.std(ddof=0), x.mean() + k * x.std(ddof=0))
        ref_py = naive.sd_limits(costs, k)
        tol = 1e-11 * max(costs) + 1e-9
        for ref in (ref_np, ref_py):
            assert lo[g] == pytest.approx(ref[0], abs=tol)
            assert hi[g] == pytest.approx(ref[1], abs=tol)


# -- 4. calibration by hand ----------------------------------------------------------------------
CODES = ["GZ13", "FR15", "ES15", "JS15", "GZ11"]
YEARS = [2021, 2022, 2023]
#: (DRG position, year, level, cost yuan, cases)
HISTORY = [
    (0, 2021, 2, 7000, 5), (0, 2022, 2, 8000, 8), (0, 2023, 3, 9000, 16), (0, 2023, 3, 60000, 1),
    (1, 2022, 2, 13000, 2), (1, 2023, 2, 6500, 4),
    (2, 2023, 3, 5000, 3),
    (3, 2023, 3, 1000, 5), (3, 2023, 3, 50000, 1),
    (0, 2020, 3, 1_000_000, 3),          # outside the calibration years: ignored
]


def test_calibration_by_hand():
    cat = build_catalog(history(HISTORY), hand_rules(CODES), drg_policy(), YEARS, "fp", [])
    rows = by_drg(cat)
    # year weights 1:2:7 -> 0.1, 0.2, 0.7 (over the years a mean has cases, renormalised)
    # M over every grouped case, untrimmed (the 60 000 outlier and unstable DRGs included):
    #   2021: GZ13 5 x 7 000 -> 7 000;  2022: (8 x 8 000 + 2 x 13 000) / 10 = 90 000 / 10 = 9 000
    #   2023: (16 x 9 000 + 60 000 + 4 x 6 500 + 3 x 5 000 + 5 x 1 000 + 50 000) / 30
    #       = (144 000 + 60 000 + 26 000 + 15 000 + 55 000) / 30 = 300 000 / 30 = 10 000
    #   M = 0.1 x 7 000 + 0.2 x 9 000 + 0.7 x 10 000 = 700 + 1 800 + 7 000 = 9 500
    assert cat.mean_cost == pytest.approx(9500.0, abs=1e-9)
    assert sorted(rows) == ["ES15", "FR15", "GZ13", "JS15"]          # GZ11: no history
    g = rows["GZ13"]
    # GZ13: 30 cases >= 25 -> trimmed at mean +- 3 SD of the pooled costs:
    #   mean = (35 000 + 64 000 + 144 000 + 60 000) / 30 = 303 000 / 30 = 10 100
    #   E[x^2] = (5 x 49e6 + 8 x 64e6 + 16 x 81e6 + 3 600e6) / 30 = 5 653e6 / 30 = 188.433e6
    #   var = 188.433e6 - 10 100^2 (102.01e6) = 86.423e6, SD = 9 296.4
    #   limits 10 100 -+ 27 889 = [-17 789, 37 989]: 60 000 dropped, the 29 others kept
    #   m = 0.1 x 7 000 + 0.2 x 8 000 + 0.7 x 9 000 = 700 + 1 600 + 6 300 = 8 600
    #   RW = 8 600 / 9 500 = 0.905263 -> 0.9053; B = 90.5263
    assert g["mean_cost"] == pytest.approx(8600.0, abs=1e-9)
    assert (g["rw_raw"], g["rw"], g["adjustment"], g["base_points"]) == \
        (0.9053, 0.9053, 1.0, 90.5263)
    # per level: level 2 holds 2021-2022: (0.1 x 7 000 + 0.2 x 8 000) / 0.3 = 2 300 / 0.3
    #   = 7 666.67; level 3 holds 2023 only, outlier dropped: 9 000 (12 000 with it)
    assert g["mean_cost_level1"] is None
    assert g["mean_cost_level2"] == pytest.approx(23000 / 3, abs=1e-6)
    assert g["mean_cost_level3"] == pytest.approx(9000.0, abs=1e-9)
    # cases counted untrimmed: 5, 8, 17; CV of the 29 kept: mean 243 000 / 29 = 8 379.31,
    #   var = (2 053e6 x 29 - 243 000^2) / 29^2 = 488e6 / 841 = 580 261.6, SD 761.75 -> 0.0909
    assert (g["cases"], g["cases_by_year"], g["stable"]) == (30, [5, 8, 17], True)
    assert g["cv"] == pytest.approx(0.0909, abs=1e-4)
    assert (g["mdc"], g["adrg"], g["name_zh"]) == ("MDCG", "GZ1", "病组GZ13")
    f = rows["FR15"]
    # FR15: 6 cases < 25, not trimmed; years 2022 and 2023 only:
    #   m = (0.2 x 13 000 + 0.7 x 6 500) / 0.9 = (2 600 + 4 550) / 0.9 = 7 944.44
    #   RW = 7 944.44 / 9 500 = 0.836257 -> 0.8363; B = 83.6257
    #   CV: mean 52 000 / 6 = 8 666.67, E[x^2] = (2 x 169e6 + 4 x 42.25e6) / 6 = 84.5e6,
    #   var = 84.5e6 - 75.111e6 = 9.389e6, SD 3 064.1 -> CV 0.3536: stable
    assert f["mean_cost"] == pytest.approx(71500 / 9, abs=1e-6)
    assert (f["rw"], f["base_points"], f["stable"]) == (0.8363, 83.6257, True)
    assert f["cv"] == pytest.approx(0.3536, abs=1e-4)
    assert f["mean_cost_level2"] == pytest.approx(71500 / 9, abs=1e-6)
    assert f["mean_cost_level3"] is None and f["cases_by_year"] == [0, 2, 4]
    # ES15: 3 cases < drg_min_cases 5 -> unstable; m 5 000, RW 0.526316 -> 0.5263, B 52.6316
    e = rows["ES15"]
    assert (e["rw"], e["base_points"], e["stable"], e["cases"]) == (0.5263, 52.6316, False, 3)
    # JS15: 6 cases (5 x 1 000, 50 000): mean 55 000 / 6 = 9 166.67; E[x^2] = 2 505e6 / 6
    #   = 417.5e6; var = 417.5e6 - 84.028e6 = 333.47e6; SD 18 261 -> CV 1.992 > 1: unstable
    #   RW = 9 166.67 / 9 500 = 0.964912 -> 0.9649; B 96.4912
    j = rows["JS15"]
    assert (j["rw"], j["base_points"], j["stable"]) == (0.9649, 96.4912, False)
    assert j["cv"] == pytest.approx(1.9921, abs=1e-4)
    # level coefficients M_L / M:
    #   level 2: 2021 7 000; 2022 9 000 (all 2022 cases are level 2); 2023 FR15 6 500
    #     M_2 = 700 + 1 800 + 0.7 x 6 500 = 7 050 -> 7 050 / 9 500 = 0.742105 -> 0.7421
    #   level 3: 2023 only: (204 000 + 15 000 + 55 000) / 26 = 10 538.46 -> / 9 500 = 1.109312
    #     -> 1.1093;  level 1: no history -> 1.0 and a warning
    assert cat.level_coefficients == {1: 1.0, 2: 0.7421, 3: 1.1093}
    assert any("level 1 has no history" in w for w in cat.warnings)
    assert any(w.startswith("2 of 4 DRGs are unstable") for w in cat.warnings)
    assert cat.scheme == "drg" and cat.years == YEARS


@pytest.mark.parametrize("changes, mean, rw, bp", [
    # one DRG, 2023: 1 000, 2 000, ..., 24 000 and 60 000 yuan (25 cases); M = (300 000 +
    # 60 000) / 25 = 14 400 (untrimmed)
    # sd: mean 14 400, E[x^2] = (4 900e6 + 3 600e6) / 25 = 340e6 (sum of i^2, i = 1..24, is
    #   4 900), var = 340e6 - 207.36e6 = 132.64e6, SD 11 516.9: limits 14 400 -+ 34 551 ->
    #   60 000 dropped; m = 300 000 / 24 = 12 500, RW 0.868056 -> 0.8681, B 86.8056
    ({}, 12500.0, 0.8681, 86.8056),
    # percentile 2.5 / 97.5 (linear): low h = 24 x 0.025 = 0.6 -> 1 000 + 0.6 x 1 000 = 1 600;
    #   high h = 24 x 0.975 = 23.4 -> 24 000 + 0.4 x 36 000 = 38 400: 1 000 and 60 000
    #   dropped; m = (2 000 + 24 000) / 2 = 13 000; RW 0.902778 -> 0.9028, B 90.2778
    ({"drg_trim": "percentile"}, 13000.0, 0.9028, 90.2778),
    # none: m = M = 14 400, RW 1.0
    ({"drg_trim": "none"}, 14400.0, 1.0, 100.0),
    # sd, but 25 < drg_trim_min_cases 26: not trimmed
    ({"drg_trim_min_cases": 26}, 14400.0, 1.0, 100.0),
])
def test_trimming_variants(changes, mean, rw, bp):
    rows = [(0, 2023, 3, 1000 * i, 1) for i in range(1, 25)] + [(0, 2023, 3, 60000, 1)]
    cat = calibrate(rows, ["GZ13"], [2023], **changes)
    g = by_drg(cat)["GZ13"]
    assert cat.mean_cost == pytest.approx(14400.0, abs=1e-9)
    assert g["mean_cost"] == pytest.approx(mean, abs=1e-9)
    assert (g["rw"], g["base_points"]) == (rw, bp)


def test_a_case_exactly_at_the_sd_limit_is_kept():
    # 9 cases at 10 yuan and one at 110: mean 20, SD 30 (see test_sd_cuts_by_hand, in fen);
    # 3 SD: limit 20 + 90 = 110 -> kept: m = M = 20, RW 1.0; CV 30 / 20 = 1.5 > 1: unstable
    rows = [(0, 2023, 3, 10, 9), (0, 2023, 3, 110, 1)]
    g = by_drg(calibrate(rows, ["GZ13"], [2023], drg_trim_min_cases=10))["GZ13"]
    assert (g["mean_cost"], g["rw"], g["stable"]) == (20.0, 1.0, False)
    # 2.9 SD: limit 20 + 87 = 107 < 110 -> dropped: m = 10, RW 10 / 20 = 0.5, CV 0: stable
    g = by_drg(calibrate(rows, ["GZ13"], [2023], drg_trim_min_cases=10, drg_trim_sd=2.9))["GZ13"]
    assert (g["mean_cost"], g["rw"], g["stable"]) == (10.0, 0.5, True)


def test_weight_adjustment_not_budget_neutral():
    cat = build_catalog(history(HISTORY), hand_rules(CODES),
                        drg_policy(drg_weight_adjustments=[{"match": ["GZ13"], "factor": 1.1},
                                                           {"match": ["F"], "factor": 0.95}]),
                        YEARS, "fp", [])
    rows = by_drg(cat)
    # GZ13 x 1.1: 8 600 x 1.1 / 9 500 = 9 460 / 9 500 = 0.995789 -> 0.9958, B 99.5789
    assert (rows["GZ13"]["rw_raw"], rows["GZ13"]["adjustment"], rows["GZ13"]["rw"],
            rows["GZ13"]["base_points"]) == (0.9053, 1.1, 0.9958, 99.5789)
    # FR15 (MDC letter F) x 0.95: 0.836257 x 0.95 = 0.794444 -> 0.7944, B 79.4444
    assert (rows["FR15"]["rw_raw"], rows["FR15"]["adjustment"], rows["FR15"]["rw"],
            rows["FR15"]["base_points"]) == (0.8363, 0.95, 0.7944, 79.4444)
    # ES15, JS15 unmatched: unchanged
    assert (rows["ES15"]["adjustment"], rows["ES15"]["rw"]) == (1.0, 0.5263)
    assert (rows["JS15"]["adjustment"], rows["JS15"]["rw"]) == (1.0, 0.9649)


def test_weight_adjustment_budget_neutral():
    cat = build_catalog(history(HISTORY), hand_rules(CODES),
                        drg_policy(drg_weight_adjustments=[{"match": ["GZ13"], "factor": 1.1}],
                                   drg_adjust_budget_neutral=True), YEARS, "fp", [])
    rows = by_drg(cat)
    # stable DRGs: GZ13 (n 30, RW 8 600 / 9 500), FR15 (n 6, RW 71 500 / 9 / 9 500)
    #   before = (30 x 8 600 + 6 x 71 500 / 9) / 9 500 = (258 000 + 47 666.67) / 9 500
    #   after  = (30 x 8 600 x 1.1 + 47 666.67) / 9 500 = (283 800 + 47 666.67) / 9 500
    #   s = 305 666.67 / 331 466.67 = 917 000 / 994 400 = 0.922164
    # GZ13: factor 1.1 x 0.922164 = 1.014381 -> 1.0144; RW 0.905263 x 1.014381 = 0.918281
    #   -> 0.9183, B 91.8281
    # FR15: factor 0.922164 -> 0.9222; RW 0.836257 x 0.922164 = 0.771166 -> 0.7712, B 77.1166
    # the unstable ones are scaled too: ES15 0.526316 x 0.922164 = 0.485350 -> 0.4853,
    #   B 48.5350; JS15 0.964912 x 0.922164 = 0.889807 -> 0.8898, B 88.9807
    expected = {"GZ13": (0.9053, 1.0144, 0.9183, 91.8281),
                "FR15": (0.8363, 0.9222, 0.7712, 77.1166),
                "ES15": (0.5263, 0.9222, 0.4853, 48.5350),
                "JS15": (0.9649, 0.9222, 0.8898, 88.9807)}
    for code, want in expected.items():
        r = rows[code]
        assert (r["rw_raw"], r["adjustment"], r["rw"], r["base_points"]) == want, code
    # the history's total weight over stable DRGs is unchanged: 30 x 0.918281 + 6 x 0.771166
    # = 27.5484 + 4.6270 = 32.1754 = 30 x 0.905263 + 6 x 0.836257 = 27.1579 + 5.0175; the
    # published weights are rounded to 4 decimals: at most 36 x 0.00005 = 0.0018 off (not
    # neutral, the total would be 30 x 0.995789 + 6 x 0.836257 = 34.8912)
    total = lambda col: 30 * rows["GZ13"][col] + 6 * rows["FR15"][col]
    assert total("rw") == pytest.approx(32.1754, abs=0.0018)
    assert total("rw_raw") == pytest.approx(32.1754, abs=0.0018)


def test_adjustment_factors_longest_match():
    policy = drg_policy(drg_weight_adjustments=[
        {"match": ["FR13"], "factor": 1.3},                 # a DRG, listed first
        {"match": ["f"], "factor": 0.95, "note": "MDC F"},  # an MDC letter, lower case
        {"match": ["FR1", "GB1"], "factor": 1.2},           # ADRGs
    ])
    got = adjustment_factors(["FR15", "FR13", "FM19", "GB13", "GZ13", "fr11"], policy)
    # FR15: FR1 (3) beats F (1) -> 1.2; FR13: the DRG itself (4) -> 1.3; FM19: only F -> 0.95;
    # GB13: GB1 -> 1.2; GZ13: nothing -> 1.0; fr11 (any case): FR1 -> 1.2
    assert got.tolist() == [1.2, 1.3, 0.95, 1.2, 1.0, 1.2]
    assert adjustment_factors(["GZ13"], drg_policy()).tolist() == [1.0]


# -- 5. policy validation -----------------------------------------------------------------------
@pytest.mark.parametrize("changes, words", [
    ({"drg_high_bands": [[300.0, 2.0], [100.0, 3.0]]}, "drg_high_bands"),      # decreasing
    ({"drg_high_bands": [[100.0, 3.0], [100.0, 2.0]]}, "drg_high_bands"),      # repeated limit
    ({"drg_high_bands": [[100.0, 0.0]]}, "drg_high_bands"),                    # multiple <= 0
    ({"drg_high_bands": [[100.0]]}, "drg_high_bands"),                         # not a pair
    ({"drg_weight_adjustments": [{"match": ["GZ1"]}]}, "entry 1"),             # no factor
    ({"drg_weight_adjustments": [{"match": ["GZ1"], "factor": 0}]}, "factor must be positive"),
    ({"drg_weight_adjustments": [{"match": ["GZ1"], "factor": 1.1},
                                 {"match": [" gz1"], "factor": 0.9}]}, "entry 2"),   # twice
    ({"drg_weight_adjustments": [{"match": "GZ1", "factor": 1.1}]}, "entry 1"),  # not a list
    ({"drg_coefficient": "hospital"}, "hospital_coefficients"),
    ({"drg_trim": "mad"}, "drg_trim"),
    ({"drg_high_rule": "shandong"}, "drg_high_rule"),
    ({"drg_low_ratio": 1.0}, "drg_low_ratio"),
    ({"hospital_coefficients": {"H1": -1.0}}, "hospital_coefficients"),
    ({"drg_scale": 0.0}, "policy 'drg_scale' must be positive, not 0.0"),
    ({"drg_trim_sd": -3.0}, "policy 'drg_trim_sd' must be positive, not -3.0"),
    ({"new_technology_days": 0}, "policy 'new_technology_days' must be positive, not 0"),
])
def test_policy_validation(changes, words):
    with pytest.raises(InputError) as exc:
        drg_policy(**changes)
    assert words in one_line(exc)


def test_policy_accepts_a_valid_drg_section():
    p = Policy.from_dict({"scheme": "drg", "drg_coefficient": "hospital",
                          "hospital_coefficients": {"H1": 1.2},
                          "drg_weight_adjustments": [{"match": ["FR1", "GZ13"], "factor": 1.1}],
                          "drg_high_bands": [[100, 3.0], [300, 2.0]]})
    assert p.hospital_coefficients == {"H1": 1.2} and p.drg_coefficient == "hospital"


# -- 6. official weight tables ------------------------------------------------------------------
def test_official_table_with_rw(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("drg,rw\nGZ13,0.8\nFR15,1.25\n", encoding="utf-8")
    cat = load_weights(path, rules=hand_rules(["GZ13", "FR15"]), mean_cost=10_000.0)
    rows = by_drg(cat)
    # B = RW x 100; mean = RW x M: 0.8 x 10 000 = 8 000, 1.25 x 10 000 = 12 500
    assert (rows["GZ13"]["base_points"], rows["GZ13"]["mean_cost"]) == (80.0, 8000.0)
    assert (rows["FR15"]["base_points"], rows["FR15"]["mean_cost"]) == (125.0, 12500.0)
    g = rows["GZ13"]
    assert (g["mdc"], g["adrg"], g["stable"]) == ("MDCG", "GZ1", True)
    assert cat.mean_cost == 10_000.0 and cat.scheme == "drg"
    assert cat.level_coefficients == {1: 1.0, 2: 1.0, 3: 1.0}


def test_official_table_with_base_points(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("drg,base_points\nGZ13,80\n", encoding="utf-8")
    # RW = 80 / 100 = 0.8; mean = 0.8 x 10 000 = 8 000
    g = by_drg(load_weights(path, mean_cost=10_000.0))["GZ13"]
    assert (g["rw"], g["base_points"], g["mean_cost"]) == (0.8, 80.0, 8000.0)
    # drg_scale 1000: base points 800 -> RW 0.8
    path.write_text("drg,base_points\nGZ13,800\n", encoding="utf-8")
    g = by_drg(load_weights(path, mean_cost=10_000.0,
                            policy=drg_policy(drg_scale=1000.0)))["GZ13"]
    assert (g["rw"], g["base_points"]) == (0.8, 800.0)


def test_official_table_rounds_base_points_half_up(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("drg,rw\nGZ13,33.5438275\n", encoding="utf-8")
    # B = 33.5438275 x 100 = 3 354.38275 -> half up 3 354.3828; RW at 4 decimals 33.5438
    g = by_drg(load_weights(path, mean_cost=10_000.0))["GZ13"]
    assert (g["rw"], g["base_points"]) == (33.5438, 3354.3828)


def test_official_table_level_coefficients(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("drg,rw,mean_cost,coefficient_level1,coefficient_level2,coefficient_level3\n"
                    "GZ13,0.8,8200,0.9,1.0,1.05\nFR15,1.25,,,,1.1\n", encoding="utf-8")
    rules = hand_rules(["GZ13", "FR15"])
    cat = load_weights(path, rules=rules, mean_cost=10_000.0)
    rows = by_drg(cat)
    # GZ13: per-level means = k x mean: 0.9 x 8 200 = 7 380, 1.0 x 8 200 = 8 200,
    #   1.05 x 8 200 = 8 610
    g = rows["GZ13"]
    assert g["mean_cost"] == 8200.0
    assert [g[f"mean_cost_level{L}"] for L in (1, 2, 3)] == pytest.approx([7380.0, 8200.0, 8610.0])
    # FR15: mean = 1.25 x 10 000 = 12 500; level 3 = 1.1 x 12 500 = 13 750; others none
    f = rows["FR15"]
    assert f["mean_cost"] == 12500.0
    assert (f["mean_cost_level1"], f["mean_cost_level2"]) == (None, None)
    assert f["mean_cost_level3"] == pytest.approx(13750.0)
    # the per-DRG-and-level coefficients m_L / m, 1.0 where a level has no mean
    idx = weight_index(cat, rules)
    assert idx.level_k[idx.row[0], 1:].tolist() == [0.9, 1.0, 1.05]
    assert idx.level_k[idx.row[1], 1:].tolist() == [1.0, 1.0, 1.1]


def test_official_table_through_catalog_load_with_a_rule_pack(tmp_path):
    from data_gen.drg_pack import write_pack
    from dipcore.schemes.drg.rules import DrgRules
    rules = DrgRules.load(write_pack(tmp_path / "pack", seed=3, hospitals=10))
    a, b = rules.drgs[0], rules.drgs[1]
    path = tmp_path / "weights.csv"
    path.write_text(f"drg,rw\n{a.drg},0.8\n{b.drg},1.5\n", encoding="utf-8")
    (tmp_path / "weights.json").write_text('{"mean_cost": 10000.0, "level_coefficients": '
                                           '{"3": 1.05}}', encoding="utf-8")
    cat = Catalog.load(path, rules=rules)
    rows = by_drg(cat)
    # M and level 3 coefficient from the sidecar; B = 80 and 150
    assert cat.mean_cost == 10_000.0 and cat.level_coefficients[3] == 1.05
    assert (rows[a.drg]["base_points"], rows[b.drg]["base_points"]) == (80.0, 150.0)
    assert rows[a.drg]["adrg"] == a.adrg and rows[a.drg]["name_zh"] == a.name_zh
    assert cat.rules == {"name": rules.name, "fingerprint": rules.fingerprint}
    # a DRG the pack lacks: file, row, column in one line
    path.write_text(f"drg,rw\n{a.drg},0.8\nXX99,1.5\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        Catalog.load(path, rules=rules)
    text = one_line(exc)
    assert str(path) in text and "row 2" in text and "column 'drg'" in text and "XX99" in text


@pytest.mark.parametrize("body, row, column, words", [
    ("drg,rw\nGZ13,0.8\nXX99,1.5\n", 2, "drg", "XX99"),               # not in the rule pack
    ("drg,rw\nGZ13,0\n", 1, "rw", "positive"),                         # zero weight
    ("drg,base_points\nGZ13,80\nFR15,-3\n", 2, "base_points", "positive"),
    ("drg,rw\nGZ13,0.8\nFR15,1.2\ngz13,0.9\n", 3, "drg", "listed twice"),
    ("drg,rw\nGZ13,0.8\n,1.2\n", 2, "drg", "empty"),
    ("drg,rw\nGZ13,abc\n", 1, "rw", "not a number"),
    # forms Python's float() would take but the table reader does not: named, not a crash
    ("drg,rw\nGZ13,0.8\nFR15,1_000\n", 2, "rw", "not a number: '1_000'"),
    ("drg,rw\nGZ13,\uff11\uff12\n", 1, "rw", "not a number"),
])
def test_official_table_errors(tmp_path, body, row, column, words):
    path = tmp_path / "weights.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_weights(path, rules=hand_rules(["GZ13", "FR15"]), mean_cost=10_000.0)
    text = one_line(exc)
    assert text.startswith(f"{path}, row {row}, column '{column}': ") and words in text


def test_official_table_needs_m(tmp_path):
    path = tmp_path / "weights.csv"
    path.write_text("drg,rw\nGZ13,0.8\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_weights(path)
    text = one_line(exc)
    assert str(path) in text and "mean_cost" in text and "weights.json" in text
    path.write_text("drg\nGZ13\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_weights(path, mean_cost=10_000.0)
    assert "rw or base_points" in one_line(exc)


# -- 7. new-technology table ----------------------------------------------------------------------
def test_new_technology_load_earliest_filing_and_window(tmp_path):
    path = tmp_path / "newtech.csv"
    path.write_text("procedure_code,filing_date\n00.0100,2023-06-01\n 00.0100 ,2023-01-15\n"
                    "99.9900x001,2024-02-29\n", encoding="utf-8")
    nt = NewTechnology.load(path)
    # 2023-01-01 is day 53 x 365 + 13 leap days (1972..2020) = 19 358; the 15th is 19 372;
    # the code is listed twice: the earlier filing holds. 2024-02-29: 2024-01-01 is
    # 19 358 + 365 = 19 723; + 31 + 28 = 19 782
    assert nt.filed == {"00.0100": 19_372, "99.9900X001": 19_782}
    assert len(nt) == 2 and nt.source == str(path)


@pytest.mark.parametrize("body, row, column", [
    ("procedure_code,filing_date\n00.0100,2023-01-15\n00.0200,2023-13-40\n", 2, "filing_date"),
    ("procedure_code,filing_date\n00.0100,2023-02-29\n", 1, "filing_date"),
    ("procedure_code,filing_date\n00.0100,soon\n", 1, "filing_date"),
    ("procedure_code,filing_date\n00.0100,2023-01-15\n,2023-01-15\n", 2, "procedure_code"),
    ("code,filing_date\n00.0100,\n", 1, "filing_date"),
])
def test_new_technology_load_bad_rows(tmp_path, body, row, column):
    path = tmp_path / "newtech.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        NewTechnology.load(path)
    assert one_line(exc).startswith(f"{path}, row {row}, column '{column}': ")


@pytest.mark.parametrize("header, column", [("procedure_code,date", "filing_date"),
                                            ("proc,filing_date", "procedure_code")])
def test_new_technology_load_missing_column(tmp_path, header, column):
    path = tmp_path / "newtech.csv"
    path.write_text(f"{header}\n00.0100,2023-01-15\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        NewTechnology.load(path)
    text = one_line(exc)
    assert str(path) in text and f"column '{column}'" in text and "procedure_code" in text


def test_new_technology_codes_must_be_text():
    """A mapping with a number for a procedure code names the row, not a traceback."""
    with pytest.raises(InputError) as exc:
        NewTechnology.load({1: "2023-06-01"})
    assert "row 1, column 'procedure_code': procedure code is not a text: 1" in one_line(exc)
