"""What-if sweeps (``dc.sweep``, ``dipcore sweep``): every variant's settlement identical to
``dc.settle`` under that variant's policy, the work shared between variants as planned,
the same answer whatever the batches or the row order, and clear errors for bad variants.
"""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dipcore as dc
from dipcore.errors import InputError
from dipcore.payment import sums as payment_sums
from dipcore.payment.sweep import BASELINE, load_variants, plan
from dipcore.schema import fen


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    from data_gen import generate
    out = tmp_path_factory.mktemp("sweep")
    generate(out, 5000, (2023, 2024), hospitals=10, seed=11, drg_pack=True)
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    cases, _ = dc.read_cases(out / "cases", hospitals=hospitals)
    year = pc.year(cases["discharge_date"])
    current = cases.filter(pc.equal(year, 2024))
    pools = np.array(current["pool"].to_pylist(), dtype=object)
    paid = fen(current["fund_paid"])
    budget = {p: float(paid[pools == p].sum()) / 100.0 for p in sorted(set(pools))}
    return dict(out=out, hospitals=hospitals, history=cases.filter(pc.equal(year, 2023)),
                current=current, budget=budget)


@pytest.fixture(scope="module")
def catalog(province):
    return dc.calibrate(province["history"], policy=dc.Policy(core_min_cases=5))


#: Variants of every kind the sweep plans differently (module docstring of
#: ``dipcore.payment.sweep``): point rules, settlement only, both, recalibration.
VARIANTS = {
    "high 2.5": {"high_ratio": 2.5},
    "low rule": {"points": {"low_ratio": 0.4, "low_rule": "ratio_2020"}},
    "extreme normal": {"extreme_pay": "normal", "coefficients_on_outliers": False},
    "ungrouped 0.5": {"ungrouped_discount": 0.5, "bed_day_cap": 30},
    "reserve 5%": {"reserve": 0.05},
    "sharing": {"settlement": {"sharing_bands": [[0.1, 0.7], [0.2, 0.5]], "surplus_cap": 0.1}},
    "patient payments": {"fund_share_method": "patient_payments", "allocation": "round"},
    "high 2.5 + reserve": {"high_ratio": 2.5, "reserve": 0.2},
    "no trim": {"trim": "none"},
    "budget +5 %": {"budget": {"employee": 1.0}},       # the amount is set in the fixture
}


def _settled_alike(a: dc.Settlement, b: dc.Settlement) -> None:
    assert a.point_value == b.point_value
    assert a.pools.equals(b.pools)
    assert a.hospitals.equals(b.hospitals)
    assert a.monthly.equals(b.monthly)
    assert a.warnings == b.warnings


@pytest.fixture(scope="module")
def swept(province, catalog):
    special = province["current"]["case_id"].to_pylist()[:7]
    appraisal = pa.table({"hospital_id": ["H00001"], "coefficient": [0.97]})
    deductions = pa.table({"hospital_id": ["H00002"], "amount": [1234.56]})
    inputs = dict(hospitals=province["hospitals"], special_cases=special, appraisal=appraisal,
                  deductions=deductions)
    VARIANTS["budget +5 %"]["budget"]["employee"] = province["budget"]["employee"] * 1.05
    result = dc.sweep(province["current"], catalog, VARIANTS, province["budget"],
                      history=province["history"], **inputs)
    return result, inputs


def test_every_variant_is_what_settle_gives(province, catalog, swept):
    result, inputs = swept
    assert [v.name for v in result.variants] == [BASELINE] + list(VARIANTS)
    for v in result.variants:
        used = catalog
        if v.recalibrated:
            used = dc.calibrate(province["history"], policy=v.policy, years=catalog.years)
        alone = dc.settle(province["current"], used, v.budget_of(province["budget"]),
                          policy=v.policy, **inputs)
        _settled_alike(result.settlements[v.name], alone)
    # a budget variant changes that pool's point value, by the budget's ratio (floating)
    more = result.settlements["budget +5 %"].point_value
    # (B is a whole number of fen: the ratio holds to that rounding)
    assert more["employee"] == pytest.approx(base_pv(result)["employee"] * 1.05, rel=1e-9)
    assert more["resident"] == base_pv(result)["resident"]
    # the variants really differ from the baseline where they should
    base = result.baseline
    assert result.settlements["high 2.5"].point_value != base.point_value
    assert result.settlements["reserve 5%"].point_value == base.point_value
    assert not result.settlements["reserve 5%"].monthly.equals(base.monthly)


def base_pv(result):
    return result.baseline.point_value


def test_work_is_shared_as_planned(swept):
    result, _ = swept
    by = {v.name: v for v in result.variants}
    assert [n for n, v in by.items() if v.recalibrated] == ["no trim"]
    # one catalogue anew; the cases prepared once (no variant changes what DIP's prepare
    # reads); scorings: the baseline's (shared by the four settlement-only variants),
    # four point-rule variants, "high 2.5 + reserve" sharing "high 2.5"'s, and "no trim"
    assert result.counts == {"catalogues": 2, "preparations": 1, "scorings": 6}
    assert by["high 2.5 + reserve"].changes() == "high_ratio=2.5; reserve=0.2"
    assert by["low rule"].changed == ["low_ratio", "low_rule"]
    assert by["budget +5 %"].changes().startswith("budget.employee=")


def test_tables_add_up(swept):
    result, _ = swept
    h, totals = result.hospitals, result.totals
    for v in result.variants:
        mine = h.filter(pc.equal(h["variant"], v.name))
        statements = result.settlements[v.name].hospitals
        assert mine["fund_payable"].to_pylist() == statements["fund_payable"].to_pylist()
        base = result.baseline.hospitals["fund_payable"].to_pylist()
        pay = statements["fund_payable"].to_pylist()
        assert mine["difference"].to_pylist() == [a - b for a, b in zip(pay, base)]
        rows = totals.filter(pc.equal(totals["variant"], v.name)).to_pylist()
        assert [r["pool"] for r in rows] == sorted(province_pools(statements))
        for r in rows:
            pool = statements.filter(pc.equal(statements["pool"], r["pool"]))
            assert r["fund_payable"] == sum(pool["fund_payable"].to_pylist())
            assert r["difference"] == r["fund_payable"] - r["baseline_fund_payable"]
            assert r["high_cases"] == sum(pool["high_cases"].to_pylist())
            assert r["point_value"] == result.settlements[v.name].point_value[r["pool"]]
    # floating point value, shares of the budget by exact allocation: each pool's fund
    # payments are its budget, plus the appraisal adjustments, less the deductions (a
    # deduction without a pool applies to each pool of the hospital)
    deducted = pools_of(result, "H00002")
    for r in totals.filter(pc.equal(totals["variant"], "high 2.5")).to_pylist():
        ded = Decimal("1234.56") if r["pool"] in deducted else 0
        assert r["fund_payable"] + ded - appraisal_of(result, "high 2.5", r["pool"]) == r["budget"]


def province_pools(statements: pa.Table) -> set[str]:
    return set(statements["pool"].to_pylist())


def pools_of(result, hospital: str) -> set[str]:
    t = result.baseline.hospitals
    return set(t.filter(pc.equal(t["hospital_id"], hospital))["pool"].to_pylist())


def appraisal_of(result, variant: str, pool: str):
    t = result.settlements[variant].hospitals
    t = t.filter(pc.equal(t["pool"], pool))
    return sum(t["appraisal_adjustment"].to_pylist())


def test_same_answer_whatever_the_batches_and_order(province, catalog, swept):
    result, inputs = swept
    rng = np.random.default_rng(3)
    shuffled = province["current"].take(pa.array(rng.permutation(province["current"].num_rows)))
    few = {k: VARIANTS[k] for k in ("high 2.5", "sharing", "extreme normal")}
    again = dc.sweep(shuffled, catalog, few, province["budget"], batch_rows=777, **inputs)
    for name in [BASELINE] + list(few):
        _settled_alike(again.settlements[name], result.settlements[name])
    # on one thread (batches scored and variants settled one after the other)
    from dipcore.engine.threads import set_threads, threads
    saved = threads()
    try:
        set_threads(1)
        alone = dc.sweep(shuffled, catalog, few, province["budget"], batch_rows=777, **inputs)
    finally:
        set_threads(saved)
    for name in [BASELINE] + list(few):
        _settled_alike(alone.settlements[name], result.settlements[name])


def test_streams_and_variants_that_recalibrate_or_prepare_again(province, catalog):
    """A stream source is read once and kept for every preparation and recalibration; a
    grouping variant recalibrates and prepares the cases again (DIP's preparation reads the
    grouping section); a budget point value and fewer year weights recalibrate too."""
    variants = {"core 8": {"core_min_cases": 8},
                "budget PV": {"budget_point_value": {"employee": 12.0, "resident": 12.5}},
                "weights": {"year_weights": [3.0, 7.0]}}
    reader = lambda t: pa.RecordBatchReader.from_batches(t.schema, t.to_batches(1000))  # noqa: E731
    result = dc.sweep(reader(province["current"]), catalog, variants, province["budget"],
                      history=reader(province["history"]))
    assert result.counts == {"catalogues": 4, "preparations": 2, "scorings": 4}
    assert all(v.recalibrated for v in result.variants[1:])
    for v in result.variants:
        used = catalog if not v.recalibrated else dc.calibrate(
            province["history"], policy=v.policy, years=catalog.years)
        _settled_alike(result.settlements[v.name],
                       dc.settle(province["current"], used, province["budget"],
                                 policy=v.policy))
    # the budget point value prices the monthly prepayments, not the settlement
    budget_pv = result.settlements["budget PV"]
    assert budget_pv.point_value == result.baseline.point_value
    assert budget_pv.pools["budget_point_value"].to_pylist() == [12.0, 12.5]
    assert not budget_pv.monthly.equals(result.baseline.monthly)


def test_a_recalibration_that_fails_names_its_variant(province, catalog):
    with pytest.raises(InputError, match="variant 'm'.*"):
        dc.sweep(province["current"], catalog, {"m": {"core_min_cases": 8}},
                 province["budget"], history=province["history"].slice(0, 0))


def test_drg_variants_are_what_settle_gives(province):
    rules = dc.DrgRules.load(province["out"] / "drg_pack")
    policy = dc.Policy.builtin("national_drg").replace(drg_min_cases=3)
    catalog = dc.calibrate(province["history"], policy=policy, rules=rules)
    variants = {
        "bands": {"drg_high_bands": [[50.0, 2.5], [200.0, 1.8]], "drg_high_above": 1.3},
        "low 0.3": {"drg_low_ratio": 0.3, "drg_high_rule": "multiplicative"},
        "k by DRG level": {"drg_coefficient": "drg_level"},
        "new technology window": {"new_technology_days": 30},
        "elastic": {"pv_mode": "elastic", "fixed_point_value": {"employee": 100.0,
                                                                "resident": 100.0},
                    "elastic_base_share": 0.7},
    }
    code = province["current"]["procedures"].combine_chunks().values[0].as_py()
    filings = {code: "2024-03-01"}
    result = dc.sweep(province["current"], catalog, variants, province["budget"],
                      policy=policy, rules=rules, new_technology=filings)
    # the new-technology window is read when the cases are prepared: a second preparation;
    # k is a term of the points: "k by DRG level" scores on terms of its own
    assert result.counts["preparations"] == 2
    assert result.counts["scorings"] == 5
    for v in result.variants:
        alone = dc.settle(province["current"], catalog, province["budget"], policy=v.policy,
                          rules=rules, new_technology=filings)
        _settled_alike(result.settlements[v.name], alone)
    assert result.settlements["bands"].point_value != result.baseline.point_value


def test_bad_variants_are_named(province, catalog):
    run = lambda variants, **kw: dc.sweep(province["current"], catalog, variants,  # noqa: E731
                                          province["budget"], **kw)
    with pytest.raises(InputError, match="variant 'x'.*unknown policy key.*high_rate"):
        run({"x": {"high_rate": 2.5}})
    with pytest.raises(InputError, match="variant 'y'.*low_ratio < high_ratio"):
        run({"y": {"high_ratio": 0.3}})
    with pytest.raises(InputError, match="variant 'z'.*readmit_days.*supervision"):
        run({"z": {"readmit_days": 30}})
    with pytest.raises(InputError, match="variant 's'.*scheme"):
        run({"s": {"scheme": "drg"}})
    with pytest.raises(InputError, match="variant 't'.*trim_high.*history"):
        run({"t": {"trim_high": 95.0}})
    with pytest.raises(InputError, match="may not be named 'baseline'"):
        run({"baseline": {"reserve": 0.0}})
    with pytest.raises(InputError, match="needs variants"):
        run({})
    with pytest.raises(InputError, match="variant 'w'.*belongs to section"):
        run({"w": {"points": {"reserve": 0.1}}})
    with pytest.raises(InputError, match="variant 'b'.*budget must be a table"):
        run({"b": {"budget": {"employee": "lots"}}})


def test_grid_and_variant_files(tmp_path):
    g = dc.grid(high_ratio=[2.0, 2.5], low_rule=["actual_cost", "ratio_2020"])
    assert list(g) == ['high_ratio=2.0,low_rule="actual_cost"', 'high_ratio=2.0,low_rule="ratio_2020"',
                       'high_ratio=2.5,low_rule="actual_cost"', 'high_ratio=2.5,low_rule="ratio_2020"']
    assert g['high_ratio=2.5,low_rule="ratio_2020"'] == {"high_ratio": 2.5, "low_rule": "ratio_2020"}
    f = tmp_path / "variants.toml"
    f.write_text('[t25]\nhigh_ratio = 2.5\n\n[grid]\nreserve = [0.0, 0.05, 0.1]\n'
                 '\n[banded.settlement]\nsharing_bands = [[0.1, 0.7]]\n', encoding="utf-8")
    v = load_variants(f)
    assert list(v) == ["t25", "reserve=0.0", "reserve=0.05", "reserve=0.1", "banded"]
    planned = plan(dc.Policy(), v)
    assert [p.name for p in planned][0] == BASELINE and len(planned) == 6
    assert planned[-1].policy.sharing_bands == [[0.1, 0.7]]
    bad = tmp_path / "bad.toml"
    bad.write_text("high_ratio = 2.5\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.toml.*'high_ratio' is not a table"):
        load_variants(bad)
    bad.write_text("[t\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid TOML"):
        load_variants(bad)
    with pytest.raises(InputError, match="non-empty list"):
        dc.grid(high_ratio=2.5)


def test_save_writes_every_table(swept, tmp_path):
    result, _ = swept
    result.save(tmp_path / "s")
    back = pq.read_table(tmp_path / "s" / "hospitals.parquet")
    assert back.equals(result.hospitals)
    assert pq.read_table(tmp_path / "s" / "variants.parquet").equals(result.totals)
    statements = pq.read_table(tmp_path / "s" / "statements.parquet")
    assert statements.num_rows == sum(s.hospitals.num_rows for s in result.settlements.values())
    assert (tmp_path / "s" / "summary.json").exists()


def test_cli_sweep(province, catalog, tmp_path):
    catalog.save(tmp_path / "catalog.parquet")
    pq.write_table(province["current"], tmp_path / "cases.parquet")
    (tmp_path / "v.toml").write_text("[grid]\nhigh_ratio = [2.0, 3.0]\n\n[more.budget]\n"
                                     "employee = 1e9\n", encoding="utf-8")
    budget = ",".join(f"{k}={v}" for k, v in province["budget"].items())
    out = subprocess.run(
        [sys.executable, "-m", "dipcore", "sweep", str(tmp_path / "cases.parquet"),
         "--catalog", str(tmp_path / "catalog.parquet"), "--variants", str(tmp_path / "v.toml"),
         "--budget", budget, "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "high_ratio=3.0" in out.stdout and out.stderr == ""
    t = pq.read_table(tmp_path / "out" / "variants.parquet")
    assert set(t["variant"].to_pylist()) == {BASELINE, "high_ratio=2.0", "high_ratio=3.0",
                                              "more"}
    more = t.filter(pc.equal(t["variant"], "more")).to_pylist()
    assert {r["pool"]: float(r["budget"]) for r in more}["employee"] == 1e9
    (tmp_path / "bad.toml").write_text("[x]\nhigh_rate = 1\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "dipcore", "sweep", str(tmp_path / "cases.parquet"),
         "--catalog", str(tmp_path / "catalog.parquet"), "--variants", str(tmp_path / "bad.toml"),
         "--budget", budget, "--out", str(tmp_path / "out2")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "variant 'x'" in out.stderr


# -- the sums of the batches, by code ---------------------------------------------------------
class _Cases:
    """The features the sums read."""

    def __init__(self, hospital, pool, month, rng):
        n = len(hospital)
        self.n = n
        self.hospital = np.asarray(hospital, np.int32)
        self.pool = np.asarray(pool, np.int8)
        self.month = np.asarray(month, np.int8)
        self.cost = rng.integers(100, 10**7, n).astype(np.int64)
        self.fund = self.cost // 2
        self.los = rng.integers(1, 30, n).astype(np.int32)
        self.way = rng.integers(1, 6, n).astype(np.int8)
        self.treatment_class = rng.integers(0, 4, n).astype(np.int8)


class _Codebook:
    def __init__(self, names):
        self.hospital = type("H", (), {"canon": pa.array(names)})()


def _scored(units, outlier=None):
    from dipcore.payment.points import Scored
    n = len(units)
    return Scored(row=np.zeros(n, np.int32), reason=np.zeros(n, np.int8),
                  kind=(np.arange(n, dtype=np.int8) * 7 + n) % 6, rw=np.ones(n), k=np.ones(n),
                  a=np.ones(n), aux_slot=np.full(n, -1, np.int8), base=np.ones(n),
                  bed_rate=np.zeros(n), units=np.asarray(units, np.int64),
                  outlier=np.arange(n, dtype=np.int8) % 5 if outlier is None else outlier,
                  ratio=np.ones(n))


@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 1), st.integers(1, 12),
                          st.integers(0, 10**8)), min_size=1, max_size=80),
       st.integers(1, 9), st.permutations(range(12)))
def test_running_sums_against_a_naive_sum(rows, cut, order):
    """The batches' sums by code (two threads' codebooks that number the hospitals
    differently, batches of any size), made into tables: per key the cases and points of a
    plain sum over the rows, per (key, month) likewise; one codebook's tables come sorted,
    and a copy pickled to another process gives the same tables. A third part takes its
    batches' arrays as its accounts and is merged in given up (the local executor's own
    parts, ``combine_owned``)."""
    import pickle
    names = [f"H{i}" for i in range(12)]                 # "H10" sorts before "H2"
    books = [_Codebook(names), _Codebook([names[i] for i in order])]
    code_in = [list(range(12)), [order.index(i) for i in range(12)]]
    running, other, owned = (payment_sums.RunningSums() for _ in range(3))
    for j, start in enumerate(range(0, len(rows), cut)):
        batch = rows[start:start + cut]
        which = j % 2
        h, p, m, units = (np.array(c) for c in zip(*batch))
        f = _Cases([code_in[which][x] for x in h], p, m, np.random.default_rng(start))
        sums = payment_sums.dense_sums(f, _scored(units))
        if j % 3 == 2:
            owned.add(books[which], *sums, adopt=True)
        else:
            (running if j % 3 else other).add(books[which], *sums)
    running.merge(owned, adopt=True)
    running.merge(pickle.loads(pickle.dumps(other)))     # as from a Dask worker
    got_h, got_m = running.tables()
    assert all(payment_sums.merge_sums([t], ["key"]) is t for t in got_h)
    assert all(payment_sums.merge_sums([t], ["key", "month"]) is t for t in got_m)
    hosp = payment_sums.merge_sums(got_h, ["key"])
    monthly = payment_sums.merge_sums(got_m, ["key", "month"])
    again = pickle.loads(pickle.dumps(running)).tables()
    assert payment_sums.merge_sums(again[0], ["key"]).equals(hosp)
    assert payment_sums.merge_sums(again[1], ["key", "month"]).equals(monthly)
    pools = dc.schema.POOLS
    want: dict = {}
    want_month: dict = {}
    for hh, pp, mm, u in rows:
        key = f"H{hh}{payment_sums.SEP}{pools[pp]}"
        a, b = want.get(key, (0, 0))
        want[key] = (a + int(u), b + 1)
        a, b = want_month.get((key, mm), (0, 0))
        want_month[(key, mm)] = (a + int(u), b + 1)
    assert hosp.column("key").to_pylist() == sorted(want)
    assert {r["key"]: (r["points"], r["cases"]) for r in hosp.to_pylist()} == want
    assert [(r["key"], r["month"]) for r in monthly.to_pylist()] == sorted(want_month)
    assert {(r["key"], r["month"]): (r["points"], r["cases"])
            for r in monthly.to_pylist()} == want_month


@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 1), st.integers(1, 12),
                          st.integers(0, 10**6)), min_size=2, max_size=60),
       st.integers(1, 9))
def test_a_layout_serves_sums_of_the_same_cases(rows, cut):
    """The keys made for one variant's sums (``RunningSums.layout``) give another variant's
    sums of the same cases (other points) the tables they have on their own; sums of other
    cases (a row fewer) do not fit it, and make their own."""
    names = [f"H{i}" for i in range(12)]
    books = [_Codebook(names), _Codebook(names[::-1])]

    def running(batches, scale):
        out = payment_sums.RunningSums()
        for j, batch in enumerate(batches):
            h, p, m, units = (np.array(c) for c in zip(*batch))
            code = h if j % 2 == 0 else 11 - h
            f = _Cases(code, p, m, np.random.default_rng(j))
            out.add(books[j % 2], *payment_sums.dense_sums(f, _scored((units + 1) * scale)))
        return out
    batches = [rows[i:i + cut] for i in range(0, len(rows), cut)]
    first, second = running(batches, 1), running(batches, 3)
    layout = first.layout()
    assert layout.fits(second)
    alone, shared = second.tables(), second.tables(layout)
    assert all(a.equals(b) for a, b in zip(alone[0] + alone[1], shared[0] + shared[1]))
    assert not alone[0][0].equals(first.tables()[0][0])       # other points
    fewer = running([b for b in [batches[0][1:], *batches[1:]] if b], 3)
    assert not layout.fits(fewer)
    alone, shared = fewer.tables(), fewer.tables(layout)
    assert all(a.equals(b) for a, b in zip(alone[0] + alone[1], shared[0] + shared[1]))


def test_variant_states_merge_in_any_form():
    """A sweep's state keeps the first policy's sums whole and the others' rule sums only;
    merged as they are, with a state pickled from another process (sums whole), or into a
    fresh state, each policy's sums are the plain sums of its scorings of both batches."""
    import pickle
    from dipcore.engine.passes import VariantSumsState
    book = _Codebook([f"H{i}" for i in range(6)])
    rng = np.random.default_rng(3)
    batches = [_Cases(rng.integers(0, k, 40), rng.integers(0, 2, 40), rng.integers(1, 13, 40),
                      rng) for k in (6, 4)]          # the second batch has fewer codes
    policies = [lambda u: u, lambda u: 2 * u + 1, lambda u: u[::-1]]

    def scored(j, i):
        units = policies[i](np.arange(40, dtype=np.int64) * (j + 1))
        return _scored(units, outlier=(np.arange(40) * (i + 1) % 5).astype(np.int8))

    def states():
        out = []
        for j, f in enumerate(batches):
            partials, state = payment_sums.RulePartials(f), VariantSumsState(len(policies))
            state.first.add(book, *partials(scored(j, 0)))
            for i in range(1, len(policies)):
                state.rules[i - 1].add(book, *partials.rules(scored(j, i)), None)
            out.append(state)
        return out
    expected = []
    for i in range(len(policies)):
        plain = payment_sums.RunningSums()
        for j, f in enumerate(batches):
            plain.add(book, *payment_sums.dense_sums(f, scored(j, i)))
        expected.append(plain.tables())
    assert not expected[0][0][0].equals(expected[1][0][0])

    def pickled(state):
        return pickle.loads(pickle.dumps(state))
    ways = {"as they are": lambda a, b: (a, [b]),
            "with a pickled state": lambda a, b: (pickled(a), [b]),
            "into a fresh state": lambda a, b: (VariantSumsState(len(policies)),
                                                [a, pickled(b)])}
    for way, make in ways.items():
        into, parts = make(*states())
        for part in parts:
            into.merge(part, adopt=False)
        for i in range(len(policies)):
            hosp, monthly = into.sums(i).tables()      # a pickled state's come as tables
            assert payment_sums.merge_sums(hosp, ["key"]).equals(expected[i][0][0]), (way, i)
            assert payment_sums.merge_sums(monthly, ["key", "month"]).equals(
                expected[i][1][0]), (way, i)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1), st.integers(1, 12),
                          st.integers(0, 10**8)), min_size=1, max_size=60))
def test_rule_partials_are_the_dense_sums(rows):
    """A sweep's sums of one batch under several point rules sharing the terms (only the
    points, outlier counts and new-technology points summed again) are the batch's sums
    under each."""
    rng = np.random.default_rng(len(rows))
    h, p, m, units = (np.array(c) for c in zip(*rows))
    f = _Cases(h, p, m, rng)
    n = len(rows)
    s = _scored(units, outlier=np.full(n, 2, np.int8))
    other = _scored(units[::-1], outlier=np.arange(n, dtype=np.int8) % 5)
    partials = payment_sums.RulePartials(f)
    for scored in (other, s, other):
        want = payment_sums.dense_sums(f, scored)
        got = partials(scored)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_budgets_are_checked_before_any_case_is_read(catalog, tmp_path):
    """A budget beyond what a pool may have stops settle and sweep with one line, before
    the cases are opened (here they do not exist)."""
    missing = tmp_path / "no-such-cases"
    with pytest.raises(InputError, match="budget of pool 'employee' is 20,000,000,000,000.00"):
        dc.settle(missing, catalog, budget={"employee": 2e13, "resident": 1.0})
    with pytest.raises(InputError, match="variant 'huge': budget of pool 'resident'"):
        dc.sweep(missing, catalog, {"huge": {"budget": {"resident": 5e12}}},
                 budget={"employee": 1.0, "resident": 1.0})
