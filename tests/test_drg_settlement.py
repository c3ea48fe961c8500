"""A DRG region's whole year on dipcore (SPEC.md section 10): the public CHS-DRG 1.1 cases
grouped by settlement exactly as by ``drg_group``, extended to a province (resampled over
four years with costs) that calibrates weights and settles a year showing every kind of
DRG case, with DIP's invariants: rows in = rows out + quarantined, the budget closed to the
fen, the same answer under row order, batch size, threads and Dask.

The pack and its cases are outside data, read from ``../shared`` at run time.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from naive_drg import pack_dir

PACK = pack_dir()
if not (PACK / "pack.json").exists():
    pytest.skip(f"CHS-DRG pack not found at {PACK.resolve()} (set DIPCORE_DRG_PACK)",
                allow_module_level=True)

import dipcore as dc  # noqa: E402
from dipcore.engine.threads import set_threads, threads  # noqa: E402
from dipcore.errors import InputError  # noqa: E402
from dipcore.schema import fen, label_counts  # noqa: E402

RULES = dc.DrgRules.load(PACK)
PUBLIC = pq.read_table(PACK / "cases-public.parquet")
POLICY = dc.Policy.builtin("national_drg")
GROUPER_COLUMNS = ["case_id", "status", "mdc", "adrg", "drg", "cc_kind"]
#: A frequent procedure of the public cases, filed as new technology in the tests.
NEW_PROC = "87.7101"


def resampled(year: int, n: int, seed: int) -> pa.Table:
    """``n`` public cases drawn with replacement, moved to ``year`` (dates shifted by whole
    years), costs grown 4 % a year with noise, new case and patient ids."""
    rng = np.random.default_rng(seed)
    t = PUBLIC.take(pa.array(rng.integers(0, PUBLIC.num_rows, n)))
    shift = pa.scalar(int(round(365.25 * (year - 2024))), pa.int32())

    def moved(col):
        days = pc.cast(t.column(col), pa.int32())
        return pc.cast(pc.add(days, shift), pa.date32())
    factor = (1.04 ** (year - 2024)) * rng.lognormal(0.0, 0.15, n)
    cost = np.round(fen(t.column("total_cost")) * factor)
    fund = np.minimum(np.round(fen(t.column("fund_paid")) * factor), cost)
    cols = {c: t.column(c) for c in t.column_names}
    cols.update(
        case_id=pa.array([f"Y{year}-{i:06d}" for i in range(n)]),
        patient_id=pa.array([f"P{year}-{i:06d}" for i in range(n)]),
        admission_date=moved("admission_date"), discharge_date=moved("discharge_date"),
        total_cost=pa.array(cost / 100.0).cast(pa.decimal128(14, 2)),
        fund_paid=pa.array(fund / 100.0).cast(pa.decimal128(14, 2)))
    return pa.table(cols)


@pytest.fixture(scope="module")
def province():
    """Three history years and the year to settle; 1 % of that year's long stays are
    psychiatric bed-day cases."""
    history = pa.concat_tables([resampled(y, 6000, y) for y in (2021, 2022, 2023)])
    current = resampled(2024, 6000, 2024)
    los = pc.subtract(pc.cast(current.column("discharge_date"), pa.int32()),
                      pc.cast(current.column("admission_date"), pa.int32())).to_numpy()
    bed = np.flatnonzero(los >= 25)[:60]
    cats = np.full(current.num_rows, None, object)
    cats[bed] = "psychiatric"
    current = current.set_column(current.column_names.index("bed_day_category"),
                                 "bed_day_category", pa.array(cats.tolist(), pa.string()))
    history_bed = history.set_column(
        history.column_names.index("bed_day_category"), "bed_day_category",
        pa.array(["psychiatric" if i % 97 == 0 else None for i in range(history.num_rows)],
                 pa.string()))
    return history_bed, current


@pytest.fixture(scope="module")
def catalog(province):
    history, _ = province
    return dc.calibrate(history, POLICY, years=[2021, 2022, 2023], rules=RULES)


def budget_of(cases: pa.Table) -> dict[str, float]:
    pools = cases.column("pool").to_pylist()
    paid = fen(cases.column("fund_paid"))
    return {p: float(paid[np.array(pools, dtype=object) == p].sum()) / 100.0
            for p in sorted(set(pools))}


# -- issue 10, deliverable 5: the engine groups as drg_group does ------------------------------
def test_settlement_groups_every_kept_case_as_drg_group():
    """Settling the public cases groups every case validation keeps exactly as the pure
    grouper does (codes as recorded, the dagger/asterisk part kept); the rest are
    quarantined with a reason, none lost."""
    policy = POLICY.replace(year_weights=[1.0])
    cat = dc.calibrate(PUBLIC, policy, rules=RULES)
    result = dc.settle(PUBLIC, cat, budget=budget_of(PUBLIC), rules=RULES)
    assert result.cases.num_rows + result.quarantine.num_rows == PUBLIC.num_rows
    got = result.cases.select(GROUPER_COLUMNS).sort_by("case_id")
    grouped = dc.drg_group(PUBLIC, RULES)
    kept = pc.is_in(grouped.column("case_id"), value_set=got.column("case_id"))
    want = grouped.filter(kept).select(GROUPER_COLUMNS).sort_by("case_id")
    assert got.num_rows == want.num_rows > 2900
    assert got.to_pylist() == want.to_pylist()
    # the grouper's statuses beyond ok reach the settlement too
    assert {"ok", "ungroupable", "check_failed"} <= set(got.column("status").to_pylist())


# -- calibration -------------------------------------------------------------------------------
def test_catalogue_is_a_drg_weight_table(catalog):
    g = catalog.groups
    assert catalog.scheme == "drg"
    assert catalog.rules == {"name": RULES.name, "fingerprint": RULES.fingerprint}
    assert g.num_rows > 200
    drgs = {d.drg: d for d in RULES.drgs}
    for row in g.to_pylist():
        assert drgs[row["drg"]].adrg == row["adrg"]
        assert row["mdc"] == "MDC" + {a.adrg: a.mdc for a in RULES.adrgs}[row["adrg"]]
        # B = RW x 100 to 4 decimals; RW = m / M (published rounded)
        assert row["base_points"] == pytest.approx(row["rw"] * 100, abs=6e-3)
        assert row["rw_raw"] == pytest.approx(row["mean_cost"] / catalog.mean_cost, abs=6e-5)
        assert row["stable"] == (row["cases"] >= 5 and row["cv"] is not None and row["cv"] <= 1.0)
        assert sum(row["cases_by_year"]) == row["cases"]
    assert not all(g.column("stable").to_pylist())            # some unstable DRGs
    assert set(catalog.level_coefficients) == {1, 2, 3}
    assert catalog.budget_point_value


def test_catalogue_round_trips_and_is_reproducible(catalog, province, tmp_path):
    catalog.save(tmp_path / "a.parquet")
    again = dc.calibrate(province[0], POLICY, years=[2021, 2022, 2023], rules=RULES)
    again.save(tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    loaded = dc.Catalog.load(tmp_path / "a.parquet")
    assert loaded.scheme == "drg" and loaded.rules == catalog.rules
    assert loaded.groups.equals(catalog.groups)


def test_new_technology_cases_are_left_out_of_the_weights(province):
    """A history case with a filed procedure, discharged inside the window, does not count
    in its DRG's weight; one discharged after the window does (SPEC 10.4)."""
    history, _ = province
    filed = dt.date(2022, 6, 1)
    table = pa.table({"procedure_code": [NEW_PROC], "filing_date": [filed.isoformat()]})
    with_nt = dc.calibrate(history, POLICY, years=[2021, 2022, 2023], rules=RULES,
                           new_technology=table)
    plain = dc.calibrate(history, POLICY, years=[2021, 2022, 2023], rules=RULES)
    # counted independently, over the rows validation keeps: not bed-day, with the
    # procedure, discharged in [filed, filed + 365 days]; grouped by the pure grouper on
    # the codes as recorded
    kept, _ = dc.read_cases(history)
    status = dict(zip(*(dc.drg_group(history, RULES).column(c).to_pylist()
                        for c in ("case_id", "status"))))
    inside, inside_weighted = 0, 0
    for cid, p, d, b in zip(*(kept.column(c).to_pylist() for c in (
            "case_id", "procedures", "discharge_date", "bed_day_category"))):
        if b is None and NEW_PROC in (p or []) and filed <= d <= filed + dt.timedelta(365):
            inside += 1
            inside_weighted += status[cid] == "ok" and 2021 <= d.year <= 2023
    assert inside_weighted > 20
    note = [w for w in with_nt.warnings if "new-technology" in w]
    assert note and note[0].startswith(f"{inside} ")
    assert sum(with_nt.groups.column("cases").to_pylist()) == \
        sum(plain.groups.column("cases").to_pylist()) - inside_weighted


# -- settlement --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def settled(province, catalog):
    _, current = province
    special = current.column("case_id").to_pylist()[:3]
    new_tech = {NEW_PROC: "2024-01-01"}
    result = dc.settle(current, catalog, budget=budget_of(current), rules=RULES,
                       special_cases=special, new_technology=new_tech)
    return result, special


def test_every_kind_of_drg_case_is_paid(settled, catalog):
    result, special = settled
    cases = result.cases
    kinds = set(cases.column("kind").to_pylist())
    assert kinds == {"drg", "unstable", "ungrouped", "new_technology", "special", "bed_day"}
    by_id = {r["case_id"]: r for r in cases.to_pylist()}
    assert all(by_id[i]["kind"] == "special" for i in special if i in by_id)
    M = catalog.mean_cost
    for r in cases.to_pylist()[:2000]:
        cost = float(r["total_cost"])
        if r["kind"] in ("unstable", "new_technology", "special"):
            assert float(r["points"]) == pytest.approx(cost / M * 100, abs=6e-5)
        elif r["kind"] == "ungrouped":
            assert float(r["points"]) == pytest.approx(cost / M * 100 * 0.7, abs=6e-5)
            assert r["status"] != "ok" or r["drg"] is None
        elif r["kind"] == "drg":
            assert r["outlier"] in ("low", "normal", "high")
            assert r["base_points"] > 0 and r["coefficient"] > 0

def test_new_technology_cases_are_exactly_those_in_the_window(settled, province):
    result, special = settled
    _, current = province
    want = set()
    for cid, p, d, b in zip(*(current.column(c).to_pylist() for c in (
            "case_id", "procedures", "discharge_date", "bed_day_category"))):
        if b is None and cid not in special and NEW_PROC in (p or []) \
                and dt.date(2024, 1, 1) <= d <= dt.date(2024, 12, 31):
            want.add(cid)
    cases = result.cases
    got = set(cases.filter(pc.equal(cases.column("kind"), "new_technology"))
              .column("case_id").to_pylist())
    kept = set(cases.column("case_id").to_pylist())
    assert got == want & kept and len(got) > 20


def test_statements_count_drg_kinds_and_close_the_budget(settled, province):
    result, _ = settled
    _, current = province
    h = result.hospitals
    for name in ("drg_cases", "drg_amount", "unstable_cases", "new_technology_cases",
                 "new_technology_points", "cmi"):
        assert name in h.column_names
    cases = result.cases
    kind = np.array(cases.column("kind").to_pylist(), dtype=object)
    assert sum(h.column("new_technology_cases").to_pylist()) == int((kind == "new_technology").sum())
    assert sum(h.column("unstable_cases").to_pylist()) == int((kind == "unstable").sum())
    assert sum(h.column("drg_cases").to_pylist()) == int((kind == "drg").sum())
    nt_points = pc.sum(cases.filter(pc.equal(cases.column("kind"), "new_technology"))
                       .column("points")).as_py()
    assert pc.sum(h.column("new_technology_points")).as_py() == nt_points
    # rows in = rows out + quarantined
    assert cases.num_rows + result.quarantine.num_rows == current.num_rows
    # SPEC 7, allocation exact: the pools' fund bases add up to their budgets to the fen
    budget = budget_of(current)
    for pool, amount in budget.items():
        mine = h.filter(pc.equal(h.column("pool"), pool))
        assert pc.sum(mine.column("fund_base")).as_py() == \
            pa.scalar(amount).cast(pa.decimal128(18, 2)).as_py()


def test_same_answer_under_row_order_batches_and_threads(settled, province, catalog):
    result, special = settled
    _, current = province
    rng = np.random.default_rng(5)
    shuffled = current.take(pa.array(rng.permutation(current.num_rows)))
    saved = threads()
    try:
        set_threads(1)
        other = dc.settle(shuffled, catalog, budget=budget_of(current), rules=RULES,
                          special_cases=special, new_technology={NEW_PROC: "2024-01-01"},
                          batch_rows=777)
    finally:
        set_threads(saved)
    assert other.hospitals.equals(result.hospitals)
    assert other.pools.equals(result.pools)
    assert other.monthly.equals(result.monthly)
    assert other.cases.sort_by("case_id").equals(result.cases.sort_by("case_id"))
    # the labels counted as the cases were settled: those of the per-case table
    for column in ("outlier", "kind"):
        assert result.case_labels[column] == label_counts(result.cases.column(column))
    assert other.case_labels == result.case_labels


def test_dask_gives_the_local_answer(settled, province, catalog, tmp_path):
    pytest.importorskip("distributed")
    history, current = province
    pq.write_table(history, tmp_path / "history.parquet", row_group_size=4000)
    pq.write_table(current, tmp_path / "current.parquet", row_group_size=1500)
    cat = dc.calibrate(tmp_path / "history.parquet", POLICY, years=[2021, 2022, 2023],
                       rules=RULES, engine="dask", workers=2, batch_rows=3000)
    assert cat.groups.equals(catalog.groups)
    assert (cat.mean_cost, cat.level_coefficients, cat.budget_point_value, cat.fingerprint) == \
        (catalog.mean_cost, catalog.level_coefficients, catalog.budget_point_value,
         catalog.fingerprint)
    result, special = settled
    other = dc.settle(tmp_path / "current.parquet", catalog, budget=budget_of(current),
                      rules=RULES, special_cases=special,
                      new_technology={NEW_PROC: "2024-01-01"}, engine="dask", workers=2,
                      batch_rows=1500)
    assert other.hospitals.equals(result.hospitals)
    assert other.cases.sort_by("case_id").equals(result.cases.sort_by("case_id"))
    assert other.case_labels == result.case_labels


# -- bad input -----------------------------------------------------------------------------------
def test_a_drg_policy_needs_its_rule_pack(province):
    with pytest.raises(InputError, match="rule pack"):
        dc.calibrate(province[0], POLICY, years=[2021, 2022, 2023])


def test_catalogue_and_policy_of_different_schemes_are_refused(province, catalog):
    _, current = province
    with pytest.raises(InputError, match="DRG catalogue cannot be used under a DIP policy"):
        dc.settle(current, catalog, budget=budget_of(current), policy=dc.Policy(), rules=RULES)
    from dipcore.schemes.dip.groups import GROUP_SCHEMA
    dip = dc.Catalog(groups=GROUP_SCHEMA.empty_table(), mean_cost=1.0, level_coefficients={},
                     bed_day_rates={})
    with pytest.raises(InputError, match="DIP catalogue cannot be used under a DRG policy"):
        dc.settle(current, dip, budget=budget_of(current), policy=POLICY, rules=RULES)


def test_a_catalogue_of_another_rule_pack_is_refused_naming_both(province, catalog, tmp_path):
    from data_gen.drg_pack import write_pack
    other = dc.DrgRules.load(write_pack(tmp_path / "pack"))
    _, current = province
    with pytest.raises(InputError) as err:
        dc.settle(current, catalog, budget=budget_of(current), rules=other)
    assert RULES.name in str(err.value) and other.name in str(err.value)


def test_a_drg_without_weight_is_paid_as_unstable_and_named(province, catalog):
    _, current = province
    g = catalog.groups
    stable = g.filter(g.column("stable"))
    dropped = stable.sort_by([("cases", "descending")]).column("drg")[0].as_py()
    fewer = dataclasses.replace(catalog, groups=g.filter(pc.not_equal(g.column("drg"), dropped)))
    result = dc.settle(current, fewer, budget=budget_of(current), rules=RULES)
    mine = result.cases.filter(pc.equal(result.cases.column("drg"), dropped))
    assert mine.num_rows > 0
    assert set(mine.column("kind").to_pylist()) <= {"unstable", "bed_day"}
    assert any(dropped in w and "without a weight" in w for w in result.warnings)
