"""What-if sweeps: one year settled under many policy variants (DESIGN.md section 4).

A variant is a set of policy overrides (``{"high_ratio": 2.5}``). What a variant changes
decides how much is done again for it (:func:`plan`):

=====================================  ==================================================
the variant changes                    done for it
=====================================  ==================================================
``settlement`` fields only             the baseline's sums, finalised under its policy
                                       (point value, statements, prepayments); but the
                                       budget point value's own fields (calibration
                                       reads them, ``CALIBRATION_READS``) recalibrate
``points`` fields (SPEC 5, 10.3)       the prepared cases scored again, then finalised
a field the scheme's ``prepare`` reads the cases read and prepared again (DRG's
(``Scheme.prepare_fields``)            ``new_technology_days``)
``grouping`` / ``calibration`` fields  a new catalogue calibrated from ``history`` under
                                       the variant (``recalibrated``), then as above
``budget`` (not a policy field:        the baseline's sums, finalised with its budget
``{pool: yuan}``)                      (the pools it names; the others keep theirs)
``supervision`` fields, ``scheme``     an error: they do not change a settlement
=====================================  ==================================================

Variants that share a catalogue, a preparation or a scoring share that work, so a sweep of
many variants reads and prepares the cases once. Each variant's settlement is made by the
same functions as :func:`dipcore.settle` (``dipcore.payment.settlement.finish``) from the
same sums, so it is identical to settling with that variant's policy (tested).
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dipcore.errors import InputError
from dipcore.payment.settlement import Settlement
from dipcore.payment.sums import SEP
from dipcore.policy import SECTIONS, Policy, flatten_sections, read_toml
from dipcore.reports.files import atomic_path, output_directory
from dipcore.reports.results import save_tables

#: The name of the variant every sweep settles first: the policy as given.
BASELINE = "baseline"
#: Settlement fields that only calibration reads (the budget point value a catalogue
#: carries, SPEC 6): a variant of them is recalibrated like a calibration variant.
CALIBRATION_READS = ("budget_point_value", "budget_pv_trim")


def catalogue_fields(scheme: str) -> tuple[str, ...]:
    """The policy fields a sweep recalibrates for: the catalogue's sections and
    :data:`CALIBRATION_READS`."""
    return Policy.catalogue_fields(scheme) + CALIBRATION_READS
#: Outlier counts a sweep totals per variant and pool (``HOSPITAL_SUMS`` columns).
OUTLIER_COUNTS = ("low", "normal", "high", "extreme")


@dataclass
class Variant:
    """One variant of a sweep.

    Attributes
    ----------
    name : str
    overrides : dict
        The policy fields it sets, as given.
    policy : Policy
        The baseline policy with the overrides.
    changed : list of str
        The fields whose values differ from the baseline's.
    recalibrated : bool
        It changes a field the catalogue depends on: its catalogue is calibrated anew from
        the history.
    budget : dict
        The fund budget of the pools it changes (yuan; the sweep's budget for the others).
    """

    name: str
    overrides: dict[str, Any]
    policy: Policy
    changed: list[str]
    recalibrated: bool
    budget: dict[str, float] = field(default_factory=dict)

    def changes(self) -> str:
        """``field=value; ...`` of the changed fields and budgets (empty for the baseline)."""
        values = self.policy.to_dict()
        return "; ".join([f"{k}={json.dumps(values[k], ensure_ascii=False)}" for k in self.changed]
                         + [f"budget.{p}={v}" for p, v in self.budget.items()])

    def budget_of(self, budget: dict[str, Any]) -> dict[str, Any]:
        """The sweep's ``budget`` with this variant's pools changed."""
        return {**budget, **self.budget}

    def keys(self, scheme) -> tuple[str, str, str, str]:
        """What the variant shares with others: ``(catalogue, preparation, terms,
        scoring)`` keys, each a fingerprint of the policy fields that step reads (and of
        the steps before it that it depends on)."""
        fp = self.policy.fingerprint
        catalogue = fp(catalogue_fields(self.policy.scheme))
        prepare = fp(tuple(scheme.prepare_fields))     # prepared cases: no catalogue
        terms = catalogue + prepare + fp(tuple(scheme.terms_fields))
        scoring = catalogue + prepare + fp(tuple(
            n for s, names in SECTIONS.items() if s not in ("settlement", "supervision")
            for n in names))
        return catalogue, prepare, terms, scoring


def plan(policy: Policy, variants: dict[str, dict[str, Any]]) -> list[Variant]:
    """The baseline and each variant, checked: a variant's overrides make a valid policy
    (section tables allowed, as in a policy file), change no supervision field and not
    the scheme. Raises :class:`InputError` naming the variant."""
    if not isinstance(variants, dict) or not variants:
        raise InputError("a sweep needs variants: {name: {policy field: value, ...}}")
    if BASELINE in variants:
        raise InputError(f"a variant may not be named {BASELINE!r}: the sweep settles the "
                         "policy as given under that name")
    base = policy.to_dict()
    recalibrating = set(catalogue_fields(policy.scheme))
    out = [Variant(BASELINE, {}, policy, [], False)]
    for name, overrides in variants.items():
        where = f"variant {name!r}"
        if not isinstance(overrides, dict):
            raise InputError(f"{where}: expected a table of policy fields, not {overrides!r}")
        overrides = dict(overrides)
        budget = _budget(overrides.pop("budget", {}), where)
        try:
            flat = flatten_sections(overrides, where)
            varied = Policy.from_dict({**base, **flat}, source=where)
        except InputError as exc:
            text = str(exc)
            raise InputError(text if text.startswith(where) else f"{where}: {text}") from None
        mine = varied.to_dict()
        changed = [k for k in base if mine[k] != base[k]]
        if "scheme" in changed:
            raise InputError(f"{where}: a sweep settles under one scheme; 'scheme' cannot vary")
        supervision = [k for k in changed if k in SECTIONS["supervision"]]
        if supervision:
            raise InputError(f"{where}: {', '.join(supervision)} belong to supervision and do "
                             "not change a settlement")
        out.append(Variant(str(name), dict(flat), varied, changed,
                           any(k in recalibrating for k in changed), budget))
    return out


def _budget(value: Any, where: str) -> dict[str, float]:
    """A variant's ``budget``: ``{pool: yuan}`` for the pools whose budget it changes."""
    if not isinstance(value, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for v in value.values()):
        raise InputError(f"{where}: budget must be a table of pools and amounts in yuan "
                         f"(budget = {{employee = 7.5e7}}), not {value!r}")
    return {str(p): float(v) for p, v in value.items()}


def grid(**values: list[Any]) -> dict[str, dict[str, Any]]:
    """Variants for every combination of the values given per field, named
    ``field=value,field=value``: ``grid(high_ratio=[2.0, 2.5], low_ratio=[0.4, 0.5])``
    gives four variants."""
    if not values:
        raise InputError("a grid needs at least one field with a list of values")
    names = list(values)
    for k, v in values.items():
        if not isinstance(v, (list, tuple)) or not v:
            raise InputError(f"grid field {k!r} needs a non-empty list of values")
    out = {}
    for combo in itertools.product(*(values[k] for k in names)):
        label = ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in zip(names, combo))
        out[label] = dict(zip(names, combo))
    return out


def load_variants(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Variants from a TOML file: one table per variant (``[t2_5]`` ``high_ratio = 2.5``),
    and/or a ``[grid]`` table of lists expanded by :func:`grid`."""
    data = read_toml(path, "variants")
    variants: dict[str, dict[str, Any]] = {}
    for name, table in data.items():
        if name == "grid" and isinstance(table, dict):
            variants.update(grid(**table))
        elif isinstance(table, dict):
            variants[name] = table
        else:
            raise InputError(f"'{name}' is not a table: each variant is a [name] table of "
                             "policy fields", source=str(path))
    if not variants:
        raise InputError("no variants in the file", source=str(path))
    return variants


@dataclass
class Sweep:
    """Result of :func:`dipcore.sweep`.

    Attributes
    ----------
    variants : list of Variant
        The baseline first, then the variants in the order given.
    settlements : dict
        Variant name -> its :class:`~dipcore.Settlement` (statements, pools, monthly
        prepayments; no per-case table).
    totals : pyarrow.Table
        Per variant and pool: point values, points, totals, outlier counts and the fund's
        payment against the baseline.
    hospitals : pyarrow.Table
        Per variant, hospital and pool: points, amounts, the fund's payment, the baseline's
        and the difference.
    warnings : list of str
        The baseline's warnings, then each variant's own (prefixed by its name).
    seconds : dict
        Time spent calibrating (variants that recalibrate), preparing the cases, scoring
        them under the variants, and settling each variant from its sums.
    counts : dict
        How many catalogues, preparations of the cases and scorings the variants needed.
    """

    variants: list[Variant]
    settlements: dict[str, Settlement]
    totals: pa.Table = None
    hospitals: pa.Table = None
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.totals is None:
            self.totals, self.hospitals = _tables(self.variants, self.settlements)
        if not self.warnings:
            base = self.settlements[BASELINE].warnings
            self.warnings = list(base) + [
                f"variant {v.name!r}: {w}" for v in self.variants[1:]
                for w in self.settlements[v.name].warnings if w not in base]

    @property
    def baseline(self) -> Settlement:
        return self.settlements[BASELINE]

    def statements(self) -> pa.Table:
        """Every variant's statements, one table, with a ``variant`` column first."""
        parts = []
        for v in self.variants:
            t = self.settlements[v.name].hospitals
            parts.append(t.add_column(0, "variant", pa.array([v.name] * t.num_rows, pa.string())))
        return pa.concat_tables(parts)

    def save(self, directory: str | os.PathLike, format: str = "csv") -> None:
        """Write ``variants`` (per variant and pool), ``hospitals`` (per variant and
        hospital) and ``statements`` (every variant's statement lines) as Parquet, and as
        CSV files or one workbook ``sweep.xlsx`` (``format``); and ``summary.json`` (each
        variant's overrides, changes and warnings); each atomically."""
        d = output_directory(directory)
        save_tables(d, {"variants": self.totals, "hospitals": self.hospitals,
                        "statements": self.statements()}, format, "sweep.xlsx")
        summary = {"variants": [
            {"name": v.name, "overrides": v.overrides, "budget": v.budget,
             "changes": v.changes(), "recalibrated": v.recalibrated, "point_value": self.settlements[v.name].point_value,
             "warnings": self.settlements[v.name].warnings} for v in self.variants],
            "warnings": self.warnings}
        with atomic_path(d / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                 encoding="utf-8")


def _tables(variants: list[Variant], settlements: dict[str, Settlement]) -> tuple[pa.Table, pa.Table]:
    """The per-variant totals and the per-variant hospital table, money in exact decimals
    (differences are exact: decimal subtraction of amounts to the fen)."""
    base = settlements[BASELINE].hospitals
    amount = "dip_amount" if "dip_amount" in base.column_names else "drg_amount"
    base_key = None                   # the baseline's keys, made when a variant needs them
    base_pay = base.column("fund_payable")
    base_total = {p["pool"]: p for p in _pool_totals(base, amount)}
    rows, parts = [], []
    for v in variants:
        s = settlements[v.name]
        t = s.hospitals
        changes = v.changes()
        for pool, totals in zip(s.pools.to_pylist(), _pool_totals(t, amount)):
            before = base_total.get(pool["pool"])
            rows.append({
                "variant": v.name, "changes": changes, "recalibrated": v.recalibrated,
                "pool": pool["pool"], "budget": pool["budget"], "points": pool["points"],
                "point_value": pool["point_value"], "base_point_value": pool["base_point_value"],
                "floating_point_value": pool["floating_point_value"], "mode": pool["mode"],
                "total_cost": pool["total_cost"], amount: totals[amount],
                "fund_payable": totals["fund_payable"], "balance": totals["balance"],
                "baseline_fund_payable": before["fund_payable"] if before else None,
                **{f"{c}_cases": totals[c] for c in OUTLIER_COUNTS}})
        if t.column("hospital_id").equals(base.column("hospital_id")) \
                and t.column("pool").equals(base.column("pool")):
            before = base_pay             # the same statements in the same order (most sweeps)
        else:
            if base_key is None:
                base_key = _keys(base)
            before = base_pay.take(pc.index_in(_keys(t), value_set=base_key))
        pay = t.column("fund_payable")
        parts.append(pa.table({
            "variant": pa.array([v.name] * t.num_rows, pa.string()),
            "hospital_id": t.column("hospital_id"), "hospital_name": t.column("hospital_name"),
            "pool": t.column("pool"), "points": t.column("points"),
            amount: t.column(amount), "fund_payable": pay, "balance": t.column("balance"),
            "baseline_fund_payable": before,
            "difference": pc.subtract(pay, before),
        }))
    totals = pa.Table.from_pylist(rows)
    totals = totals.append_column("difference", pc.subtract(totals.column("fund_payable"),
                                                            totals.column("baseline_fund_payable")))
    return totals, pa.concat_tables(parts)


def _keys(statements: pa.Table) -> pa.ChunkedArray:
    """``hospital_id`` + SEP + ``pool`` of each statement."""
    return pc.binary_join_element_wise(statements.column("hospital_id"),
                                       statements.column("pool"), SEP)


def _pool_totals(statements: pa.Table, amount: str) -> list[dict]:
    """Per pool (sorted), the sums of a statement table's amounts and outlier counts."""
    money = (amount, "fund_payable", "balance")
    t = statements.group_by("pool").aggregate(
        [(c, "sum") for c in money + tuple(f"{c}_cases" for c in OUTLIER_COUNTS)
         if c in statements.column_names]).sort_by("pool")
    return [{k.removesuffix("_sum").removesuffix("_cases"): v for k, v in r.items()}
            for r in t.to_pylist()]
