"""Settlement and clearing (SPEC.md sections 6 and 7): from the merged sums to statements.

The settlement pass (``dipcore.engine.passes.SettlementSums``) leaves exact int64 sums per
(hospital, pool) and per (hospital, pool, month). :func:`finalize` turns them into

1. a point value per pool (``dipcore.payment.point_value``, SPEC 6);
2. the pool's DIP amount and fund base allocated over its hospitals in proportion to their
   points (``dipcore.payment.allocation``): by largest remainder with ``allocation =
   "exact"``, so the fund bases add up to the budget to the fen in floating mode;
3. each hospital's statement, line by line (``dipcore.payment.statements``, SPEC 7);
4. the monthly prepayment table (``dipcore.payment.prepayment``, SPEC 7);
5. the appraisal indicators beside each statement (``dipcore.supervision.indicators``).

Money is integer fen throughout; each rule states its rounding.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.ingest.tables import read_parquet_file
from dipcore.payment import statements as rules
from dipcore.payment.allocation import allocate, fen, round_fen, round_products
from dipcore.payment.inputs import by_hospital, lookup, small_table
from dipcore.payment.point_value import PoolValue, pool_point_value
from dipcore.payment.points import OUTLIER_NAMES, UNITS
from dipcore.payment.prepayment import monthly_prepayments, pool_factor
from dipcore.payment.sums import HOSPITAL_SUMS, merge_sums, split_keys
from dipcore.policy import Policy
from dipcore.reports.files import (atomic_path, cases_parquet_options, human_format,
                                    output_directory)
from dipcore.reports.results import save_tables
from dipcore.schema import QUARANTINE_SCHEMA, money_array, points_array
from dipcore.schemes.base import Scheme, scheme_for
from dipcore.supervision.indicators import hospital_indicators


@dataclass
class Settlement:
    """Result of :func:`dipcore.settle`.

    Attributes
    ----------
    point_value : dict
        Settlement point value per pool (yuan of total cost per point).
    pools : pyarrow.Table
        Per pool: budget, points, fund ratio, point values, totals.
    hospitals : pyarrow.Table
        Per (hospital, pool) statement, line by line (SPEC 7).
    monthly : pyarrow.Table
        Monthly prepayment per (hospital, pool, month).
    cases : pyarrow.Table
        Per case: everything that explains its points.
    case_labels : dict
        Rows of ``cases`` by label of its ``outlier`` column and its kind column
        (``group_kind`` for DIP, ``kind`` for DRG), counted as the cases were settled.
    warnings : list of str
    """

    point_value: dict[str, float]
    pools: pa.Table
    hospitals: pa.Table
    monthly: pa.Table
    cases_table: pa.Table | None = None
    warnings: list[str] = field(default_factory=list)
    quarantine: pa.Table | None = None
    #: Where the per-case table was streamed to (``settle(out=...)``), if it was.
    cases_path: Path | None = None
    cases_count: int = 0
    #: ``{"outlier": {"high": 1203, ...}, "group_kind": {...}}`` (None counts nulls): a
    #: summary need not read the columns back from ``cases_path``.
    case_labels: dict[str, dict[str | None, int]] = field(default_factory=dict)
    #: The policy it was settled under and the catalogue's scheme (recorded in
    #: ``summary.json`` so a report can state the rules behind each statement line).
    policy: Policy | None = None
    scheme: str = "dip"

    @property
    def cases(self) -> pa.Table:
        """Per-case results; read (memory-mapped) from ``cases_path`` when streamed there."""
        if self.cases_table is None and self.cases_path is not None:
            self.cases_table = read_parquet_file(self.cases_path, memory_map=True)
        return self.cases_table

    def save(self, directory: str | os.PathLike, format: str = "csv") -> None:
        """Write the results to ``directory``, each file atomically.

        ``cases.parquet``; ``hospitals``, ``monthly``, ``pools`` and ``quarantine`` each as
        Parquet (the machine copy reports read, always written); ``summary.json``; and the
        human-readable copy of those tables in ``format``.

        Parameters
        ----------
        directory : str or os.PathLike
            Created if missing.
        format : {"csv", "xlsx"}
            ``csv``: ``hospitals.csv``, ``monthly.csv``, ``pools.csv``, ``quarantine.csv``.
            ``xlsx``: one workbook ``settlement.xlsx`` with the sheets ``statements``,
            ``monthly prepayments`` (with each hospital's name from the statements),
            ``pools`` and, when it has rows, ``quarantine`` (``dipcore.reports.excel``).

        ``summary.json`` has the point values, pools, warnings, the scheme and the
        settlement's policy.
        """
        d = output_directory(directory)
        human_format(format)           # an unknown format stops before anything is written
        target = d / "cases.parquet"
        if self.cases_path is None or target.resolve() != Path(self.cases_path).resolve():
            with atomic_path(target) as tmp:
                pq.write_table(self.cases, tmp, **cases_parquet_options(self.cases.schema))
        tables = {"hospitals": self.hospitals, "monthly": self.monthly, "pools": self.pools}
        if self.quarantine is not None:
            tables["quarantine"] = self.quarantine
        save_tables(d, tables, format, "settlement.xlsx", names=self.hospitals,
                    sheets={"hospitals": "statements", "monthly": "monthly prepayments"},
                    sheet_if_rows=("quarantine",))
        summary = {"point_value": self.point_value, "warnings": self.warnings,
                   "pools": self.pools.to_pylist(), "scheme": self.scheme}
        if self.policy is not None:
            summary["policy"] = self.policy.to_dict()
        with atomic_path(d / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                 encoding="utf-8")


#: The largest pool budget settled, in yuan. Statement amounts are int64 fen (at most
#: 9.2e14 yuan), and a hospital's D_h is its share of the budget over the fund ratio:
#: a trillion yuan (a third of the whole country's medical insurance spending in a year)
#: leaves that room for fund ratios down to 0.2 %.
MAX_BUDGET_YUAN = 10 ** 12


def _budgets(budget: dict[str, Any], pools: list[str]) -> dict[str, int]:
    """Each pool's budget in fen (:func:`budget_fen`); every pool with cases needs one
    (SPEC 6)."""
    out = budget_fen(budget)
    for p in pools:
        if p not in out:
            raise InputError(f"pool '{p}' has cases but no budget (give --budget {p}=...)")
    return out


def budget_fen(budget: dict[str, Any]) -> dict[str, int]:
    """Each pool's budget in fen, checked: a number, not negative, none beyond
    :data:`MAX_BUDGET_YUAN` (a run checks them before reading any case)."""
    if not isinstance(budget, Mapping):
        raise InputError(f"the budget is a mapping of pool to yuan, e.g. "
                         f"{{'employee': 7.2e7, 'resident': 5e7}}, not {type(budget).__name__}")
    out = {}
    for p, amount in budget.items():
        try:
            out[p] = fen(amount)
        except Exception:
            raise InputError(f"budget of pool '{p}' is not a number: {amount!r}") from None
        if out[p] < 0:
            raise InputError(f"budget of pool '{p}' is negative")
        if out[p] > MAX_BUDGET_YUAN * 100:
            raise InputError(f"budget of pool '{p}' is {out[p] / 100:,.2f} yuan, more than a "
                             f"pool may have ({MAX_BUDGET_YUAN:,} yuan)")
    return out


def _budget_point_value(catalog: Catalog, policy: Policy, pool: str) -> float:
    """The catalogue's budget point value of a pool (M / scale when it has none)."""
    return catalog.budget_point_value.get(pool, catalog.mean_cost
                                          / scheme_for(catalog).scale(policy))


def _pool_codes(pool: pa.Array) -> tuple[list[str], np.ndarray]:
    """The pools present, sorted, and each row's index among them."""
    enc = pool.dictionary_encode()
    names = enc.dictionary.to_pylist()
    pools = sorted(names)
    to_sorted = np.array([pools.index(p) for p in names], np.intp)
    return pools, to_sorted[enc.indices.to_numpy()]


def _allocated(policy: Policy, value: PoolValue, units: int, fund_ratio: Fraction,
               budget_fen: int, weights: np.ndarray, names: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A pool's DIP amount D and fund base D x f per hospital (SPEC 7, ``allocation``), as
    int64 arrays: ``exact`` splits the pool totals by largest remainder (the fund bases
    add up to the budget in floating mode; ties to the smaller hospital id, ``names``);
    ``round`` rounds each hospital's amounts on their own (D = PV x points, half away
    from zero to the fen, then D x f)."""
    if policy.allocation == "exact":
        total_dip = round_fen(value.value * Fraction(units, UNITS) * 100)
        total_base = budget_fen if policy.pv_mode == "floating" else round_fen(total_dip * fund_ratio)
        # ranks of the ids (a pool's ids are distinct; Arrow orders strings by UTF-8
        # bytes, which is the order of their code points, Python's)
        w, rank = weights.tolist(), pc.rank(names, "ascending").to_numpy()
        return (np.array(allocate(total_dip, w, rank), np.int64),
                np.array(allocate(total_base, w, rank), np.int64))
    per_unit = value.value * 100 / UNITS
    at = np.zeros(len(weights), np.intp)
    d_parts = round_products(weights, at, [(per_unit.numerator, per_unit.denominator)])
    return d_parts, round_products(d_parts, at, [(fund_ratio.numerator, fund_ratio.denominator)])


def finalize(hospital_sums: pa.Table, monthly_sums: pa.Table, cases: pa.Table | None,
             catalog: Catalog, policy: Policy, budget: dict[str, Any],
             appraisal: pa.Table | None = None, deductions: pa.Table | None = None,
             prepaid: pa.Table | None = None, warnings: list[str] | None = None) -> Settlement:
    """Point values, statements and the monthly prepayment table (SPEC 6, 7).

    Column by column: a province has thousands of hospitals and hundreds of thousands of
    monthly rows. The statement lines are the rules of ``dipcore.payment.statements`` on
    int64 arrays of fen, rounded exactly (``round_products``, ``allocate``); Python loops
    over the statements only to look up the input tables given, and for sharing bands and
    a surplus cap."""
    warnings = list(warnings or [])
    hosp_col, pool_col = (c.combine_chunks() for c in split_keys(hospital_sums.column("key")))
    sums = {c: hospital_sums.column(c).to_numpy().astype(np.int64, copy=False)
            for c in HOSPITAL_SUMS}
    pools, pool_at = _pool_codes(pool_col)
    budget_fen = _budgets(budget, pools)
    for p in sorted(set(budget_fen) - set(pools)):      # a misspelt pool, or an idle one
        warnings.append(f"pool '{p}' has a budget but no cases in this settlement (not used)")
    given_tables = appraisal is not None or deductions is not None or prepaid is not None
    # the ids as Python strings only to look up the input tables given
    hosp, pool = (hosp_col.to_pylist(), pool_col.to_pylist()) if given_tables else ([], [])
    statements = set(zip(hosp, pool))
    coef = by_hospital(appraisal, "coefficient", "appraisal", warnings, statements,
                       maximum=("appraisal_max", policy.appraisal_max))
    ded = by_hospital(deductions, "amount", "deductions", warnings, statements)
    pre = by_hospital(prepaid, "amount", "prepaid", warnings, statements)
    adv = by_hospital(prepaid, "advance", "prepaid", warnings, statements) \
        if prepaid is not None and "advance" in prepaid.column_names else {}

    # SPEC 6: a point value per pool; then D and D x f allocated over its hospitals
    n = len(hosp_col)
    points, cost, fund = sums["points"], sums["cost"], sums["fund"]
    dip_amount, allocated_base = np.zeros(n, np.int64), np.zeros(n, np.int64)
    pool_rows, pv, ratio = [], {}, {}
    for k, p in enumerate(pools):
        idx = np.flatnonzero(pool_at == k)
        weights = points[idx]
        # Python integers: exact at any size
        units, p_cost, p_fund = (sum(a[idx].tolist()) for a in (points, cost, fund))
        f = Fraction(p_fund, p_cost) if p_cost else Fraction(0)
        value = pool_point_value(policy, p, budget_fen[p], f, units)
        pv[p], ratio[p] = float(value.value), f
        pool_rows.append({
            "pool": p, "budget": budget_fen[p], "points_units": units, "cost": p_cost,
            "fund": p_fund, "fund_ratio": float(f), "point_value": float(value.value),
            "base_point_value": float(value.base), "floating_point_value": float(value.floating),
            "mode": policy.pv_mode, "budget_point_value": float(_budget_point_value(catalog, policy, p)),
        })
        dip_amount[idx], allocated_base[idx] = _allocated(
            policy, value, units, f, budget_fen[p], weights, hosp_col.take(idx))

    # SPEC 7: each statement, line by line (the rules of ``statements`` on int64 arrays)
    def each(table: dict, default) -> np.ndarray:
        """A by-hospital input in fen for every statement (``default`` without the table)."""
        if not table:
            return np.full(n, fen(default), np.int64)
        return np.array([fen(lookup(table, h, p, default)) for h, p in zip(hosp, pool)], np.int64)
    given = [lookup(coef, h, p, 1.0) for h, p in zip(hosp, pool)] if coef else [1.0]
    at_given = {g: i for i, g in enumerate(dict.fromkeys(given))}
    exact = [Fraction(str(g)) for g in at_given]        # each distinct coefficient, exactly
    c_at = np.array([at_given[g] for g in given], np.intp) if coef else np.zeros(n, np.intp)
    base = rules.fund_base(policy, allocated_base, dip_amount, cost - fund)
    adjustment = rules.appraisal_adjustments(base, c_at, exact)
    deducted = each(ded, 0)
    ratios = [ratio[p] for p in pools]
    sharing = rules.sharing_each(policy, dip_amount, cost, ratios, pool_at)
    clawback = rules.clawback_each(policy, dip_amount, cost, ratios, pool_at)
    payable = rules.fund_payable(base, adjustment, deducted, sharing, clawback)
    advance = each(adv, 0)

    # SPEC 7: monthly prepayments at the budget point value, the reserve withheld
    reserve = Fraction(str(policy.reserve))
    factor = [pool_factor(_budget_point_value(catalog, policy, p), ratio[p]) for p in pools]
    # each monthly row's statement (every monthly key is a statement's, both being the same
    # cases' sums), hence its hospital, pool and factor
    row = pc.index_in(monthly_sums.column("key"),
                      value_set=hospital_sums.column("key")).to_numpy()
    m_units = monthly_sums.column("points").to_numpy().astype(np.int64, copy=False)
    gross, withheld, net = monthly_prepayments(m_units, pool_at[row], factor, reserve)
    # per (hospital, pool): the year's net prepayments and reserve withheld (exact int64 sums)
    year_net, held = np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.add.at(year_net, row, net)
    np.add.at(held, row, withheld)
    prepaid_fen = each(pre, 0) if pre else year_net
    lines = {"dip_amount": dip_amount, "fund_base": base,
             "appraisal_coefficient": np.array([float(c) for c in exact])[c_at],
             "appraisal_adjustment": adjustment, "deductions": deducted, "sharing": sharing,
             "surplus_clawback": clawback, "fund_payable": payable, "prepaid": prepaid_fen,
             "reserve_withheld": held, "advance": advance,
             "balance": rules.balance(payable, prepaid_fen, advance)}
    monthly = pa.table({
        "hospital_id": hosp_col.take(row), "pool": pool_col.take(row),
        "month": monthly_sums.column("month").cast(pa.int8()),
        "points": points_array(m_units),
        "gross": _money(gross), "reserve": _money(withheld), "prepayment": _money(net),
    })
    return Settlement(point_value=pv, pools=_pool_table(pool_rows),
                      hospitals=_statement_table(hosp_col, pool_col, pool_at, lines, sums, pv,
                                                 scheme_for(catalog), policy),
                      monthly=monthly, cases_table=cases, warnings=warnings)


def _money(values: list[int]) -> pa.Array:
    return money_array(np.array(values, np.int64), 18)


def _pool_table(pool_rows: list[dict]) -> pa.Table:
    return pa.table({
        "pool": [r["pool"] for r in pool_rows],
        "budget": _money([r["budget"] for r in pool_rows]),
        "points": points_array(np.array([r["points_units"] for r in pool_rows], np.int64)),
        "total_cost": _money([r["cost"] for r in pool_rows]),
        "fund_paid": _money([r["fund"] for r in pool_rows]),
        **{name: [r[name] for r in pool_rows] for name in (
            "fund_ratio", "point_value", "base_point_value", "floating_point_value",
            "budget_point_value", "mode")},
    })


def _statement_table(hosp: pa.Array, pool: pa.Array, pool_at: np.ndarray,
                     lines: dict[str, np.ndarray], sums: dict[str, np.ndarray], pv: dict,
                     scheme: Scheme, policy: Policy) -> pa.Table:
    """Per (hospital, pool) statement: the lines of SPEC 7 (``lines``: one entry per row of
    ``sums``, amounts in fen) with the appraisal indicators of SPEC 8 (and the scheme's own
    counts: DRG statements add unstable and new-technology cases, SPEC 10)."""
    def money(name):
        return _money(lines[name])
    ind = hospital_indicators(sums, scheme.scale(policy))

    def nullable(name):
        return pa.array(ind[name], mask=np.isnan(ind[name]))
    table = pa.table({
        "hospital_id": hosp.cast(pa.string()),
        "pool": pool.cast(pa.string()),
        "cases": pa.array(sums["cases"], pa.int64()),
        "dip_cases": pa.array(sums["dip_cases"], pa.int64()),
        "points": points_array(sums["points"]),
        "cmi": nullable("cmi"),
        "point_value": np.array([pv[p] for p in sorted(pv)], np.float64)[pool_at],
        "total_cost": _money(sums["cost"]),
        "fund_paid": _money(sums["fund"]),
        "patient_paid": _money(sums["cost"] - sums["fund"]),
        "dip_amount": money("dip_amount"),
        "gain": _money(np.array(lines["dip_amount"], np.int64) - sums["cost"]),
        "fund_base": money("fund_base"),
        "appraisal_coefficient": pa.array(lines["appraisal_coefficient"], pa.float64()),
        "appraisal_adjustment": money("appraisal_adjustment"),
        "deductions": money("deductions"),
        "sharing": money("sharing"),
        "surplus_clawback": money("surplus_clawback"),
        "fund_payable": money("fund_payable"),
        "prepaid": money("prepaid"),
        "reserve_withheld": money("reserve_withheld"),
        "advance": money("advance"),
        "balance": money("balance"),
        "mean_cost": pa.array(ind["mean_cost"]),
        "mean_los": pa.array(ind["mean_los"]),
        "outlier_share": nullable("outlier_share"),
        **{f"{c}_cases": pa.array(sums[c], pa.int64()) for c in OUTLIER_NAMES[1:]},
        "ungrouped_cases": pa.array(sums["ungrouped"], pa.int64()),
        "special_cases": pa.array(sums["special"], pa.int64()),
        "bed_day_cases": pa.array(sums["bed_day"], pa.int64()),
        "death_rate": pa.array(ind["death_rate"]),
        "operation_rate": nullable("operation_rate"),
        "patient_paid_share": pa.array(ind["patient_paid_share"]),
        **{f"{c}_cases": pa.array(sums[c], pa.int64()) for c in scheme.statement_counts},
        **{c: points_array(sums[c]) for c in scheme.statement_points},
    })
    if scheme.statement_renames:
        table = table.rename_columns([scheme.statement_renames.get(c, c)
                                      for c in table.column_names])
    return table.sort_by([("pool", "ascending"), ("hospital_id", "ascending")])


def named(statements: pa.Table, registry: pa.Table | None) -> pa.Table:
    """The statements with each hospital's ``hospital_name`` and ``hospital_level`` from the
    registry, beside ``hospital_id`` (null for a hospital the registry lacks, and without a
    registry), so a statement can be handed out as it is."""
    ids = statements.column("hospital_id")
    if registry is not None and registry.num_rows:
        at = pc.index_in(ids, value_set=registry.column("hospital_id").cast(pa.string()))
        name = registry.column("name").cast(pa.string()).take(at) \
            if "name" in registry.column_names else pa.nulls(len(ids), pa.string())
        level = registry.column("level").cast(pa.int8()).take(at)
    else:
        name, level = pa.nulls(len(ids), pa.string()), pa.nulls(len(ids), pa.int8())
    return statements.add_column(1, "hospital_name", name).add_column(2, "hospital_level", level)


def policy_warnings(catalog: Catalog, policy: Policy) -> list[str]:
    """A warning when the settling policy differs from the catalogue's in a section the
    catalogue depends on (its scores would not be this policy's)."""
    diff = catalog.policy.differences(policy, Policy.catalogue_fields(catalog.scheme))
    if diff:
        return [f"the catalogue was built under a different policy ({', '.join(diff)}); "
                "scores may not match this policy"]
    return []


def note_warnings(notes: set[tuple[str, str]], shown: int = 10) -> list[str]:
    """One warning per kind of note a scheme's scoring left (``Scored.notes``), naming the
    first items in order."""
    out = []
    for what in sorted({w for w, _ in notes}):
        items = sorted(i for w, i in notes if w == what)
        more = f" and {len(items) - shown} more" if len(items) > shown else ""
        out.append(f"{len(items)} {what}: {', '.join(items[:shown])}{more}")
    return out


def finish(state, catalog: Catalog, policy: Policy, budget: dict, special: set[str],
           appraisal: Any, deductions: Any, prepaid: Any,
           registry: pa.Table | None = None) -> Settlement:
    """The settlement of a merged settlement state: warnings, then :func:`finalize`."""
    if not state.hospital_sums:
        raise InputError("no usable cases to settle")
    warnings = policy_warnings(catalog, policy)
    if state.missing_rates:
        warnings.append(f"no bed-day rate in the catalogue for {sorted(state.missing_rates)}: "
                        "those cases carry 0 points")
    unknown_special = special - state.special_found
    if unknown_special:
        warnings.append(f"{len(unknown_special)} special-review case ids are not among the "
                        f"cases: {sorted(unknown_special)[:5]}")
    # SPEC 5.5: the special-review quota is a share of the cases not paid per bed-day
    quota_base = state.non_bed_day_cases
    if quota_base and len(state.special_found) > policy.special_quota * quota_base:
        warnings.append(f"special review: {len(state.special_found)} cases exceed the quota of "
                        f"{policy.special_quota:.3%} of {quota_base} DIP cases "
                        f"({int(policy.special_quota * quota_base)})")
    warnings += note_warnings(state.notes)
    quar = pa.concat_tables(state.quarantine) if state.quarantine else QUARANTINE_SCHEMA.empty_table()
    if quar.num_rows:
        warnings.append(f"{quar.num_rows} input rows were quarantined and not settled")
    # merging sorts by key: the same tables whatever the batches or partitions were
    result = finalize(merge_sums(state.hospital_sums, ["key"]),
                      merge_sums(state.monthly_sums, ["key", "month"]),
                      pa.concat_tables(state.cases) if state.cases else None, catalog, policy,
                      budget, appraisal=small_table(appraisal, "appraisal"),
                      deductions=small_table(deductions, "deductions"),
                      prepaid=small_table(prepaid, "prepaid"), warnings=warnings)
    result.hospitals = named(result.hospitals, registry)
    result.quarantine = quar
    result.policy, result.scheme = policy, catalog.scheme
    result.cases_count = state.n_cases
    for (column, label), n in sorted(state.case_labels.items(), key=lambda kv: kv[0][0]):
        result.case_labels.setdefault(column, {})[label] = n
    return result
