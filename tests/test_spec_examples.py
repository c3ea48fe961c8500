"""Every formula and worked example of SPEC.md, with numbers worked out by hand.

Catalogues and cases are built by hand and go through the public API (``dc.calibrate``,
``dc.settle``), so each number checks the whole path, not one function.
"""
import datetime as dt
import re
from decimal import Decimal

import pyarrow as pa

import pytest

import dipcore as dc
from dipcore.schemes.dip.groups import GROUP_SCHEMA
from dipcore.payment.allocation import allocate


def cases_table(rows):
    """Canonical cases from short dicts (defaults fill the rest)."""
    base = dict(patient_id="P", hospital_id="H1", hospital_level=3, pool="employee",
                admission_date=dt.date(2024, 3, 1), discharge_date=dt.date(2024, 3, 8),
                age_years=50, sex=1, primary_dx="K35.900", secondary_dx=[], procedures=[],
                fund_paid=None, discharge_way=1, bed_day_category=None, icu_days=None)
    out = []
    for i, r in enumerate(rows):
        d = dict(base, case_id=f"C{i}", **r)
        if d["fund_paid"] is None:
            d["fund_paid"] = d["total_cost"] * 0.72
        d["total_cost"] = Decimal(str(round(d["total_cost"], 2)))
        d["fund_paid"] = Decimal(str(round(d["fund_paid"], 2)))
        if "los" in d:
            d["admission_date"] = d["discharge_date"] - dt.timedelta(days=d.pop("los"))
        out.append(d)
    cases, quarantine = dc.read_cases(pa.Table.from_pylist(out))
    assert quarantine.num_rows == 0, quarantine.to_pylist()
    return cases


def catalog(groups, mean_cost=8800.0, levels=None, bed=None, policy=None):
    rows = []
    for g in groups:
        r = dict(kind="core", basic=False, procedures="", treatment_class="conservative",
                 cases=100, cases_by_year=[100], mean_cost_level1=None, mean_cost_level2=None,
                 mean_cost_level3=None, cv=0.5, subtypes=[])
        r.update(g)
        rows.append(r)
    return dc.Catalog(groups=pa.Table.from_pylist(rows, schema=GROUP_SCHEMA),
                      mean_cost=mean_cost, level_coefficients=levels or {1: 1.0, 2: 1.0, 3: 1.1},
                      bed_day_rates=bed or {}, policy=policy or dc.Policy())


G1000 = dict(group_code="K35.9|conservative", dx_key="K35.9", mean_cost=10000.0,
             mean_cost_level3=10000.0, score=1000.0)


def points_of(result):
    return {r["case_id"]: float(r["points"]) for r in result.cases.to_pylist()}


def settle(cases, cat, policy=None, budget=None, **kw):
    return dc.settle(cases, cat, budget=budget or {"employee": 1e6}, policy=policy, **kw)


# ---- SPEC 4: calibration worked example --------------------------------------------------
def test_calibration_worked_example():
    # group means by year 10 000, 11 000, 12 500 -> m = (10 000 + 2*11 000 + 7*12 500)/10 = 11 950
    # all-case means 8 000, 8 500, 9 000 (the other group: 6 000, 6 000, 5 500)
    # -> M = (8 000 + 2*8 500 + 7*9 000)/10 = 8 800; RW = 11 950 / 8 800 * 1000 = 1357.9545
    rows = []
    for year, g, other in ((2021, 10000, 6000), (2022, 11000, 6000), (2023, 12500, 5500)):
        d = dt.date(year, 6, 10)
        rows.append(dict(primary_dx="K35.900", total_cost=g, discharge_date=d, admission_date=d))
        rows.append(dict(primary_dx="J18.900", total_cost=other, discharge_date=d, admission_date=d))
    policy = dc.Policy(core_min_cases=1, trim="none", aux_dimensions=[])
    cat = dc.calibrate(cases_table(rows), policy=policy)
    g = {r["group_code"]: r for r in cat.groups.to_pylist()}
    assert cat.mean_cost == pytest.approx(8800.0, abs=1e-9)
    assert g["K35.9|conservative"]["mean_cost"] == pytest.approx(11950.0, abs=1e-9)
    assert g["K35.9|conservative"]["score"] == 1357.9545
    assert g["K35.9|conservative"]["cases_by_year"] == [1, 1, 1]
    assert cat.years == [2021, 2022, 2023]
    # every case is at level 3: k3 = M3 / M = 1; levels without history get 1.0 and a warning
    assert cat.level_coefficients == {1: 1.0, 2: 1.0, 3: 1.0}
    assert any("level 1 has no history" in w for w in cat.warnings)


def test_level_coefficient_and_trimming():
    # level 1 cases cost 5 000, level 3 cases 15 000, one year: M = 10 000, k1 = 0.5, k3 = 1.5
    rows = [dict(hospital_level=1, hospital_id="A", total_cost=5000) for _ in range(10)]
    rows += [dict(hospital_level=3, hospital_id="B", total_cost=15000) for _ in range(10)]
    cat = dc.calibrate(cases_table(rows), policy=dc.Policy(aux_dimensions=[]))
    assert cat.level_coefficients[1] == 0.5 and cat.level_coefficients[3] == 1.5
    g = cat.groups.to_pylist()[0]
    assert g["mean_cost_level1"] == 5000 and g["mean_cost_level3"] == 15000
    # 40 cases: 1 000 .. 40 000. P2.5 = 1 000 + 0.975 * 1 000 = 1 975, P97.5 = 39 025:
    # cases 1 000 and 40 000 drop; the trimmed mean is (2 000 + ... + 39 000) / 38 = 20 500
    rows = [dict(total_cost=1000 * (i + 1)) for i in range(40)]
    cat = dc.calibrate(cases_table(rows), policy=dc.Policy(aux_dimensions=[]))
    g = cat.groups.to_pylist()[0]
    assert g["mean_cost"] == 20500.0 and g["cases"] == 40
    # M is not trimmed: 20 500 over all 40 cases
    assert cat.mean_cost == 20500.0


def test_related_procedure_uplift_rule():
    # main alone: 20 cases at 10 000. +88.38 costs 10 290 (2.9 % more): merges.
    # +00.2400 costs 15 700 (57 % more): stays a group of its own.
    rows = [dict(procedures=["36.0600"], total_cost=10000) for _ in range(20)]
    rows += [dict(procedures=["36.0600", "37.2200"], total_cost=10290) for _ in range(20)]
    rows += [dict(procedures=["36.0600", "00.2400"], total_cost=15700) for _ in range(20)]
    cat = dc.calibrate(cases_table(rows), policy=dc.Policy(trim="none", aux_dimensions=[]))
    codes = set(cat.groups.column("group_code").to_pylist())
    assert "K35.9|36.0600+00.2400" in codes
    assert "K35.9|36.0600+37.2200" not in codes
    g = {r["group_code"]: r for r in cat.groups.to_pylist()}
    assert g["K35.9|36.0600"]["cases"] == 40                 # main alone + merged combination
    assert g["K35.9|36.0600"]["mean_cost"] == 10145.0         # (10 000 + 10 290) / 2


# ---- SPEC 5: points -------------------------------------------------------------------------
def test_points_worked_example():
    # RW 1000, k 1.1, a 1.0, m_L 10 000. 25 000 -> r 2.5 -> 1000*1.1*1.5 = 1650.
    # 4 000 -> r 0.4 -> r_adj 4000/11000 -> 400. 12 000 -> normal -> 1100.
    cases = cases_table([dict(total_cost=25000), dict(total_cost=4000), dict(total_cost=12000)])
    r = settle(cases, catalog([G1000]))
    assert points_of(r) == {"C0": 1650.0, "C1": 400.0, "C2": 1100.0}
    assert r.cases.column("outlier").to_pylist() == ["high", "low", "normal"]
    assert r.cases.column("ratio").to_pylist() == [2.5, 0.4, 1.2]


@pytest.mark.parametrize("rule, high_ratio, expected", [
    ("national_2020", 2.0, 2200.0),   # 1000 * 1.1 * ((3 - 2) + 1)
    ("national_2020", 2.5, 1650.0),   # 1000 * 1.1 * ((3 - 2.5) + 1)
    ("shandong", 2.0, 2100.0),        # 1000 * (3 - 2 + 1.1)
    ("hubei", 2.0, 2200.0),           # 1000 * 1.1 * (3 - 1)
    ("hubei", 2.5, 2200.0),           # the Hubei form does not use the threshold
])
def test_high_cost_rules(rule, high_ratio, expected):
    cases = cases_table([dict(total_cost=30000)])
    r = settle(cases, catalog([G1000]), policy=dc.Policy(high_rule=rule, high_ratio=high_ratio))
    assert points_of(r)["C0"] == expected


def test_low_cost_rules_and_inclusive_threshold():
    # level 1 coefficient 0.4, m_L 10 000, cost 4 500: r 0.45.
    # actual cost: r_adj = 4500/(10000*0.4) = 1.125, capped at 1 -> 1000 * 0.4 = 400
    # 2020 form: RW * r = 450
    g = dict(G1000, mean_cost_level1=10000.0)
    cat = catalog([g], levels={1: 0.4, 2: 1.0, 3: 1.1})
    cases = cases_table([dict(hospital_level=1, total_cost=4500)])
    assert points_of(settle(cases, cat))["C0"] == 400.0
    assert points_of(settle(cases, cat, policy=dc.Policy(low_rule="ratio_2020")))["C0"] == 450.0
    # r exactly 0.5: normal under "<" (1100), low under "<=": 1000*1.1*5000/11000 = 500
    cases = cases_table([dict(total_cost=5000)])
    assert points_of(settle(cases, catalog([G1000])))["C0"] == 1100.0
    assert points_of(settle(cases, catalog([G1000]), policy=dc.Policy(low_inclusive=True)))["C0"] == 500.0


def test_extreme_cases():
    # r = 6: flagged extreme; paid as high by default 1000*1.1*((6-2)+1) = 5500, else 1100
    cases = cases_table([dict(total_cost=60000)])
    r = settle(cases, catalog([G1000]))
    assert points_of(r)["C0"] == 5500.0 and r.cases.column("outlier").to_pylist() == ["extreme"]
    r = settle(cases, catalog([G1000]), policy=dc.Policy(extreme_pay="normal"))
    assert points_of(r)["C0"] == 1100.0 and r.cases.column("outlier").to_pylist() == ["extreme"]


def test_ungrouped_and_special_review():
    # M 8 800: cost 17 600 -> 2000 points at actual cost; ungrouped x 0.7 -> 1400
    cases = cases_table([dict(primary_dx="Z99.900", total_cost=17600), dict(total_cost=17600)])
    r = settle(cases, catalog([G1000]), special_cases=["C1"])
    pts = points_of(r)
    assert pts == {"C0": 1400.0, "C1": 2000.0}
    kinds = dict(zip(r.cases.column("case_id").to_pylist(), r.cases.column("group_kind").to_pylist()))
    assert kinds == {"C0": "ungrouped", "C1": "special"}
    assert r.cases.column("ungrouped_reason").to_pylist()[0] == "unknown_diagnosis_category"
    # quota 5 per mille of 2 DIP cases is 0.01 case: 1 approved case exceeds it
    assert any("quota" in w for w in r.warnings)


def test_bed_day_example():
    # 40 points/day, LOS 75, taper 0.9 after day 60 -> 60*40 + 15*40*0.9 = 2940
    cases = cases_table([dict(bed_day_category="psychiatric", los=75, total_cost=30000),
                         dict(bed_day_category="psychiatric", los=20, total_cost=8000)])
    cat = catalog([G1000], bed={"psychiatric": 40.0})
    r = settle(cases, cat, policy=dc.Policy(bed_day_taper_after=60, bed_day_taper_factor=0.9))
    assert points_of(r) == {"C0": 2940.0, "C1": 800.0}
    # a cap of 70 days: 60*40 + 10*40*0.9 = 2760
    r = settle(cases, cat, policy=dc.Policy(bed_day_cap=70, bed_day_taper_after=60,
                                            bed_day_taper_factor=0.9))
    assert points_of(r)["C0"] == 2760.0


def test_auxiliary_subtype_and_basic_group():
    # subtypes cci:3-4 (1.3) and age:>=65 (1.2): a case in both takes 1.3 -> 1000*1.1*1.3 = 1430
    g = dict(G1000, subtypes=[{"code": "cci:3-4", "cases": 9, "coefficient": 1.3},
                              {"code": "age:>=65", "cases": 9, "coefficient": 1.2}])
    # CCI: I21 (1) + E11.2 (2; E11.9 dropped) + C78 (6; C34 dropped) = 9 -> tier >=5: no 1.3
    cases = cases_table([
        dict(total_cost=11000, age_years=70, secondary_dx=["I21.000", "I50.000", "N18.500"]),
        dict(total_cost=11000, age_years=70),
        dict(total_cost=11000, age_years=40, secondary_dx=["I21.000", "E11.200", "E11.900",
                                                            "C78.000", "C34.900"]),
    ])
    r = settle(cases, catalog([g]))
    assert points_of(r) == {"C0": 1430.0, "C1": 1320.0, "C2": 1100.0}
    assert r.cases.column("cci").to_pylist() == [4, 0, 9]
    assert r.cases.column("aux_code").to_pylist() == ["cci:3-4", "age:>=65", ""]
    # a basic group is paid the same at every level: k = 1.0
    r = settle(cases_table([dict(total_cost=11000)]), catalog([dict(G1000, basic=True)]))
    assert points_of(r)["C0"] == 1000.0 and r.cases.column("group_kind").to_pylist() == ["basic"]


def test_grouping_priorities_and_partial_match():
    groups = [
        dict(G1000),
        dict(G1000, group_code="K35.9|47.0100", procedures="47.0100", treatment_class="surgery", score=3000.0),
        dict(G1000, group_code="K35.9|47.0100+54.5100", procedures="47.0100+54.5100",
             treatment_class="surgery", score=4000.0),
        dict(G1000, group_code="K35.9|45.2300", procedures="45.2300", treatment_class="diagnostic", score=1500.0),
        dict(G1000, group_code="K35|surgery", kind="comprehensive", dx_key="K35", procedures=None,
             treatment_class="surgery", score=2500.0),
    ]
    cases = cases_table([
        dict(procedures=["45.2300", "47.0100"], total_cost=30000),           # core surgery wins
        dict(procedures=["47.0100", "00.2400", "54.5100"], total_cost=40000),  # most procedures
        dict(procedures=["51.2200"], total_cost=25000),                       # no core surgery
        dict(procedures=["99.2900"], total_cost=10000),                       # excluded -> conservative
    ])
    codes = lambda r: r.cases.column("group_code").to_pylist()  # noqa: E731
    r = settle(cases, catalog(groups))
    assert codes(r) == ["K35.9|47.0100", "K35.9|47.0100+54.5100", "K35.9|conservative",
                        "K35.9|conservative"]
    assert r.cases.column("combination").to_pylist()[1] == "47.0100+00.2400+54.5100"
    r = settle(cases, catalog(groups), policy=dc.Policy(group_priority="operative_comprehensive_first"))
    assert codes(r)[2] == "K35|surgery"


# ---- SPEC 6, 7: point value and settlement ---------------------------------------------------
def _pv_cases(points_by_hospital, cost_each=10000.0):
    """One case per hospital in a group whose score is its points (ratio 1, level 2, k 1)."""
    groups, rows = [], []
    for i, (h, pts) in enumerate(points_by_hospital.items()):
        groups.append(dict(group_code=f"K3{i}.9|conservative", dx_key=f"K3{i}.9", score=float(pts),
                           mean_cost=cost_each, mean_cost_level2=cost_each))
        rows.append(dict(hospital_id=h, hospital_level=2, primary_dx=f"K3{i}.900",
                         total_cost=cost_each, fund_paid=cost_each * 0.72))
    return cases_table(rows), catalog(groups, levels={1: 1.0, 2: 1.0, 3: 1.0})


def test_point_value_and_statement_example():
    # B = 72 000 000, f = 0.72, P = 10 000 000 -> PV = 10.00
    # H1: P = 1 000 000, c 0.98, deductions 50 000: F = 1e6*10*0.72*0.98 - 50 000 = 7 006 000;
    # minus prepayments 6 300 000 and advance 600 000 leaves 106 000.
    cases, cat = _pv_cases({"H1": 1_000_000, "H2": 4_000_000, "H3": 5_000_000})
    appraisal = pa.table({"hospital_id": ["H1"], "coefficient": [0.98]})
    deductions = pa.table({"hospital_id": ["H1"], "amount": [50000.0]})
    prepaid = pa.table({"hospital_id": ["H1", "H2", "H3"], "amount": [6_300_000.0, 0.0, 0.0],
                        "advance": [600_000.0, 0.0, 0.0]})
    r = dc.settle(cases, cat, budget={"employee": 72_000_000}, appraisal=appraisal,
                  deductions=deductions, prepaid=prepaid)
    assert r.point_value == {"employee": 10.0}
    h = {x["hospital_id"]: x for x in r.hospitals.to_pylist()}
    assert h["H1"]["dip_amount"] == Decimal("10000000.00")
    assert h["H1"]["fund_base"] == Decimal("7200000.00")
    assert h["H1"]["appraisal_adjustment"] == Decimal("-144000.00")
    assert h["H1"]["fund_payable"] == Decimal("7006000.00")
    assert h["H1"]["balance"] == Decimal("106000.00")
    assert sum(x["fund_base"] for x in h.values()) == Decimal("72000000.00")


def test_by_hospital_tables_are_read_exactly_or_stop_the_run(tmp_path):
    """Appraisal, deductions and prepaid values are exact decimals, finite and not
    negative; a hospital given twice for the same pool stops the run naming both rows; a
    row for a pool where the hospital has no cases is a warning, and is not used."""
    cases, cat = _pv_cases({"H1": 1_000_000, "H2": 4_000_000, "H3": 5_000_000})
    budget = {"employee": 72_000_000}

    def settle(**tables):
        return dc.settle(cases, cat, budget=budget, **tables)

    for what, column, text, message in (
            ("appraisal", "coefficient", "H1,0.98\nH2,abc", "appraisal.csv, row 2, column "
             "'coefficient': coefficient is not a number: 'abc'"),
            ("appraisal", "coefficient", "H1,true", "coefficient is not a number: true"),
            ("appraisal", "coefficient", "H1,0.98\nH2,98", "appraisal.csv, row 2, column "
             "'coefficient': coefficient 98.0 is above the policy's appraisal_max = 1.5"),
            ("deductions", "amount", "H1,1e400", "amount is not a finite number"),
            ("deductions", "amount", "H1,-5", "amount is negative: -5"),
            ("deductions", "amount", "H1,5\nH2,\nH3,1", "row 2, column 'amount': empty amount"),
            ("deductions", "amount", "H1,5\nH1,7", "hospital H1 is given twice for all its "
                                                    "pools (rows 1 and 2)")):
        path = tmp_path / f"{what}.csv"
        path.write_text(f"hospital_id,{column}\n{text}\n")
        with pytest.raises(dc.InputError, match=re.escape(message)):
            settle(**{what: path})
    with pytest.raises(dc.InputError, match="two columns coefficient"):
        path.write_text("hospital_id,coefficient,coefficient\nH1,1,1\n")
        settle(appraisal=path)
    with pytest.raises(dc.InputError, match="appraisal table is a CSV file or a pyarrow.Table"):
        settle(appraisal=0.98)

    # a region's bonus above the default bound, once the policy allows it: H1 has 1/10 of
    # the 72,000,000 budget, D = 10,000,000 yuan, F = D x 0.72 x 1.6 = 11,520,000
    raised = dc.settle(cases, cat, budget=budget, policy=dc.Policy(appraisal_max=2.0),
                       appraisal=pa.table({"hospital_id": ["H1"], "coefficient": ["1.6"]}))
    h1 = [x for x in raised.hospitals.to_pylist() if x["hospital_id"] == "H1"][0]
    assert h1["fund_payable"] == Decimal("11520000.00")
    with pytest.raises(dc.InputError, match="policy 'appraisal_max' must be positive"):
        dc.Policy(appraisal_max=0)

    # H1's deduction per pool: 50,000 yuan in its pool; the misspelt pool's row is not used
    want = settle(deductions=pa.table({"hospital_id": ["H1"], "amount": [50000.0]}))
    got = settle(deductions=pa.table({"hospital_id": ["H1", "H1"], "pool": ["employee", "Employee"],
                                      "amount": ["50000", "999"]}))
    assert got.hospitals.equals(want.hospitals)
    assert any("deductions: row 2: hospital H1 has no cases in pool Employee" in w
               for w in got.warnings)
    h1 = [x for x in got.hospitals.to_pylist() if x["hospital_id"] == "H1"][0]
    assert h1["deductions"] == Decimal("50000.00")


def test_budget_closes_to_the_fen():
    # three hospitals with equal points share 100.00 yuan: 33.34 + 33.33 + 33.33
    assert allocate(10000, [1, 1, 1], ["b", "a", "c"]) == [3333, 3334, 3333]
    cases, cat = _pv_cases({"A": 1, "B": 1, "C": 1})
    r = dc.settle(cases, cat, budget={"employee": 100})
    base = {x["hospital_id"]: x["fund_base"] for x in r.hospitals.to_pylist()}
    assert base == {"A": Decimal("33.34"), "B": Decimal("33.33"), "C": Decimal("33.33")}
    # 100.01 yuan: 3333 fen each and 2 left over, to the two smallest ids as text
    # ("H1" < "H10" < "H2"), whatever order the cases come in
    cases, cat = _pv_cases({"H2": 1, "H10": 1, "H1": 1})
    r = dc.settle(cases, cat, budget={"employee": 100.01})
    base = {x["hospital_id"]: x["fund_base"] for x in r.hospitals.to_pylist()}
    assert base == {"H1": Decimal("33.34"), "H10": Decimal("33.34"), "H2": Decimal("33.33")}


def test_fixed_and_elastic_point_values():
    # B/f = 1e8 yuan. Fixed: PV as given.
    cases, cat = _pv_cases({"H1": 4_000_000, "H2": 5_000_000})
    fixed = dc.Policy(pv_mode="fixed", fixed_point_value={"employee": 9.5})
    assert dc.settle(cases, cat, budget={"employee": 72e6}, policy=fixed).point_value == {"employee": 9.5}
    # Elastic: 80 % of 1e8 buys 8e6 points at 10; P = 9e6 -> 1e6 extra points share 2e7:
    # 20/point, capped at 1.2 * 10 = 12 -> PV = (8e6*10 + 1e6*12) / 9e6 = 10.2222...
    elastic = dc.Policy(pv_mode="elastic", fixed_point_value={"employee": 10.0},
                        elastic_base_share=0.8, elastic_ceiling=1.2)
    r = dc.settle(cases, cat, budget={"employee": 72e6}, policy=elastic)
    assert r.point_value["employee"] == pytest.approx(92e6 / 9e6, rel=1e-15)
    row = r.pools.to_pylist()[0]
    assert row["base_point_value"] == 10.0 and row["floating_point_value"] == 12.0
    # P = 1.25e7: extra 4.5e6 points share 2e7 (4.44/point, under the cap): PV = 1e8/1.25e7 = 8
    cases, cat = _pv_cases({"H1": 5_000_000, "H2": 7_500_000})
    assert dc.settle(cases, cat, budget={"employee": 72e6}, policy=elastic).point_value["employee"] \
        == pytest.approx(8.0, rel=1e-15)


def test_surplus_cap_and_overspend_sharing():
    # PV 10 (B = 72e6, P = 1e7). H1 has 100 000 points: D = 1 000 000.
    # H1 cost 1 150 000 (overspend 150 000): 50 % of the first 100 000 + 30 % of the next
    # 50 000 = 65 000, at f = 0.72 -> 46 800 shared.
    # H2 (P 9.9e6, D 99 000 000) cost 80 000 000: surplus 19e6, cap 15 % of D = 14.85e6:
    # clawback (19e6 - 14.85e6) * 0.72 = 2 988 000.
    groups = [dict(group_code="K30.9|conservative", dx_key="K30.9", score=100_000.0,
                   mean_cost=1_150_000.0, mean_cost_level2=1_150_000.0),
              dict(group_code="K31.9|conservative", dx_key="K31.9", score=9_900_000.0,
                   mean_cost=80_000_000.0, mean_cost_level2=80_000_000.0)]
    cases = cases_table([
        dict(hospital_id="H1", hospital_level=2, primary_dx="K30.900", total_cost=1_150_000,
             fund_paid=828_000),
        dict(hospital_id="H2", hospital_level=2, primary_dx="K31.900", total_cost=80_000_000,
             fund_paid=57_600_000),
    ])
    cat = catalog(groups, levels={1: 1.0, 2: 1.0, 3: 1.0})
    policy = dc.Policy(sharing_bands=[[0.10, 0.5], [0.20, 0.3]], surplus_cap=0.15)
    r = dc.settle(cases, cat, budget={"employee": 72e6}, policy=policy)
    assert r.point_value["employee"] == pytest.approx(10.0, rel=1e-15)
    h = {x["hospital_id"]: x for x in r.hospitals.to_pylist()}
    assert h["H1"]["sharing"] == Decimal("46800.00")
    assert h["H2"]["surplus_clawback"] == Decimal("2988000.00")
    assert h["H2"]["fund_payable"] == Decimal("71280000.00") - Decimal("2988000.00")


def test_monthly_prepayment():
    # 1 000 000 points in March at a budget point value of 9.5, f 0.72, reserve 10 %:
    # gross 6 840 000, reserve 684 000, prepayment 6 156 000
    cases, cat = _pv_cases({"H1": 1_000_000})
    cat.budget_point_value = {"employee": 9.5}
    r = dc.settle(cases, cat, budget={"employee": 7.2e6})
    m = r.monthly.to_pylist()[0]
    assert (m["month"], m["gross"], m["reserve"], m["prepayment"]) == (
        3, Decimal("6840000.00"), Decimal("684000.00"), Decimal("6156000.00"))
    h = r.hospitals.to_pylist()[0]
    # without a prepaid table the computed prepayments are deducted at year end
    assert h["prepaid"] == Decimal("6156000.00")
    assert h["balance"] == h["fund_payable"] - h["prepaid"]


def test_budget_point_value_from_history():
    # one year, one group: cases of 10 000, 10 000 and 40 000 yuan. M = 20 000, RW = 1000
    # (no trimming below 25 cases), base 20 000: ratios 0.5, 0.5, 2.0 -> all normal, 1000
    # points each: PV_budget = 60 000 / 3 000 = 20.
    rows = [dict(total_cost=c) for c in (10000, 10000, 40000)]
    cat = dc.calibrate(cases_table(rows), policy=dc.Policy(aux_dimensions=[]))
    assert cat.budget_point_value == {"employee": 20.0}
    # with a fourth case of 100 000 (now M = 40 000, base 40 000): ratios 0.25, 0.25, 1, 2.5;
    # points 250, 250, 1000, 1000*(0.5+1) = 1500 -> 160 000 / 3 000 = 53.33...;
    # trimming outliers keeps the one normal case: 40 000 / 1 000 = 40
    rows.append(dict(total_cost=100000))
    policy = dc.Policy(aux_dimensions=[])
    assert dc.calibrate(cases_table(rows), policy=policy).budget_point_value["employee"] \
        == pytest.approx(160000 / 3000)
    trimmed = dc.Policy(aux_dimensions=[], budget_pv_trim="outliers")
    assert dc.calibrate(cases_table(rows), policy=trimmed).budget_point_value == {"employee": 40.0}
