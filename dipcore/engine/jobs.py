"""The jobs: each written once, as passes run by whichever executor it is given.

* :func:`calibrate`: the scheme's calibration (``Scheme.calibrate``: DIP's three passes).
* :func:`settle`: one :class:`~dipcore.engine.passes.SettlementSums` pass, then
  ``dipcore.payment.settlement.finish`` (point values, statements, prepayments).
* :func:`audit`: one :class:`~dipcore.engine.passes.AuditSums` pass per year, then
  ``dipcore.supervision.audit.finish`` (signals, indicators, flags).
* :func:`sweep`: one :class:`~dipcore.engine.passes.PreparedCases` pass keeping the
  prepared cases, one :class:`~dipcore.engine.passes.VariantSums` pass over them per
  distinct scoring, then ``settlement.finish`` per variant (``dipcore.payment.sweep``).
"""
from __future__ import annotations

import os
import time
from typing import Any

import pyarrow as pa

from dipcore.catalog import Catalog
from dipcore.engine.executor import Executor, ProgressFn, replayable
from dipcore.engine.passes import (AuditSums, PreparedCases, SettlementState, SettlementSums,
                                   VariantSums)
from dipcore.engine.threads import ordered_map, threads
from dipcore.errors import InputError
from dipcore.ingest.sources import partition_years, select_years
from dipcore.payment import settlement
from dipcore.payment import sweep as sweeps
from dipcore.payment.inputs import small_table
from dipcore.payment.points import bed_rates_missing
from dipcore.policy import Policy
from dipcore.schemes.base import Scheme, get_scheme, scheme_for
from dipcore.schemes.statistics import latest_years
from dipcore.supervision import audit as supervision


def calibrate(ex: Executor, history: Any, policy: Policy, years: list[int] | None,
              rules: Any = None, new_technology: Any = None) -> Catalog:
    """A catalogue from history, by the policy's scheme (SPEC 4; SPEC 10.2 for DRG).

    A history hive-partitioned by year (``year=YYYY`` directories) is read only in the
    partitions of the calibration years: without ``years``, these are the latest years
    named by the partitions (so no row is read to choose them), and the others are never
    opened, on either executor (``dipcore.ingest.sources.select_years``).
    """
    scheme = get_scheme(policy.scheme).bind(rules=rules, new_technology=new_technology)
    if years is None:
        named = partition_years(history)
        if named:
            years = latest_years(named, policy)
    if years:
        history = select_years(history, years)
    return scheme.calibrate(ex, history, policy, years)


def bound_scheme(catalog: Catalog, policy: Policy, rules: Any = None,
                 new_technology: Any = None) -> Scheme:
    """The catalogue's scheme with what it needs; a catalogue of one scheme under a policy
    of the other is an error."""
    if policy.scheme != catalog.scheme:
        raise InputError(f"a {catalog.scheme.upper()} catalogue cannot be used under a "
                         f"{policy.scheme.upper()} policy (policy scheme = "
                         f"\"{policy.scheme}\")")
    return scheme_for(catalog).bind(rules=rules, new_technology=new_technology, catalog=catalog)


def settle(ex: Executor, cases: Any, catalog: Catalog, budget: dict, policy: Policy,
           special: set[str], appraisal: Any, deductions: Any, prepaid: Any,
           out: str | os.PathLike | None, rules: Any = None,
           new_technology: Any = None, out_format: str = "csv") -> settlement.Settlement:
    """A year settled; with ``out``, per-case rows streamed there and every output saved
    (human-readable copies in ``out_format``: ``Settlement.save``)."""
    settlement.budget_fen(budget)
    scheme = bound_scheme(catalog, policy, rules, new_technology)
    p = SettlementSums(catalog, policy, pa.array(sorted(special), pa.string()), scheme,
                       rows_out=out is not None)
    with ex.rows_sink(out) as sink:
        state = ex.scan(cases, p, rows=sink)
        result = settlement.finish(state, catalog, policy, budget, special, appraisal,
                                   deductions, prepaid, registry=ex.hospitals)
    if out is not None:
        result.cases_path = sink.path
        result.save(out, format=out_format)
    return result


def audit(ex: Executor, cases: Any, catalog: Catalog, policy: Policy,
          previous: Any = None, rules: Any = None,
          new_technology: Any = None) -> supervision.Audit:
    """Supervision of a year, with growth against the previous year when given."""
    scheme = bound_scheme(catalog, policy, rules, new_technology)
    current = ex.scan(cases, AuditSums(catalog, policy, scheme=scheme))
    if not current.sums:                     # before reading the previous year at all
        raise InputError("no usable cases to audit")
    before = None
    if previous is not None:
        before = ex.scan(previous, AuditSums(catalog, policy, stage="audit: previous year",
                                             scheme=scheme, candidates=False))
    return supervision.finish(current, before, policy, scheme.scale(policy), scheme.name)


def sweep(ex: Executor, cases: Any, catalog: Catalog, budget: dict, policy: Policy,
          variants: dict[str, dict], special: set[str], appraisal: Any, deductions: Any,
          prepaid: Any, history: Any = None, rules: Any = None, new_technology: Any = None,
          progress: ProgressFn | None = None) -> sweeps.Sweep:
    """A year settled under the baseline policy and each variant: the cases read and
    prepared once per distinct preparation, scored once per distinct scoring, each
    variant finalised on its own (``dipcore.payment.sweep``)."""
    settlement.budget_fen(budget)
    planned = sweeps.plan(policy, variants)
    for v in planned:
        try:
            settlement.budget_fen(v.budget_of(budget))
        except InputError as exc:
            raise InputError(f"variant {v.name!r}: {exc}") from None
    # read once per preparation and per recalibration: a stream is materialised first
    cases = replayable(cases)
    history = replayable(history) if history is not None else None
    scheme = bound_scheme(catalog, policy, rules, new_technology)
    keys = [v.keys(scheme) for v in planned]
    t0 = time.perf_counter()
    # catalogues: the one given, and one calibrated anew per distinct catalogue policy
    catalogs = {keys[0][0]: catalog}
    for v, (ck, *_) in zip(planned, keys):
        if ck in catalogs:
            continue
        if history is None:
            changed = [k for k in v.changed if k in sweeps.catalogue_fields(policy.scheme)]
            raise InputError(f"variant {v.name!r} changes {', '.join(changed)}, which the "
                             "catalogue depends on: give the calibration history to "
                             "recalibrate it (history=..., --history)")
        # the catalogue's years, the latest of them when the variant weighs fewer
        years = list(catalog.years)[-len(v.policy.year_weights):] if catalog.years else None
        try:
            catalogs[ck] = calibrate(ex, history, v.policy, years, rules, new_technology)
        except InputError as exc:
            raise InputError(f"variant {v.name!r}: {exc}") from None
    schemes = {ck: bound_scheme(c, policy, rules, new_technology) for ck, c in catalogs.items()}
    t1 = time.perf_counter()
    special_ids = pa.array(sorted(special), pa.string())
    prepared: dict[str, tuple] = {}
    for v, (ck, pk, _, _) in zip(planned, keys):
        if pk not in prepared:
            prepared[pk] = ex.scan(cases, PreparedCases(catalogs[ck], v.policy, special_ids,
                                                        schemes[ck]), keep=True)
    if not all(state.n_cases for state, _ in prepared.values()):
        raise InputError("no usable cases to settle")
    t2 = time.perf_counter()
    # one pass over the prepared cases per distinct terms, scoring each distinct policy
    scorings: dict[str, dict[str, Policy]] = {}
    for v, (_, _, tk, sk) in zip(planned, keys):
        scorings.setdefault(tk, {}).setdefault(sk, v.policy)
    sums: dict[str, tuple[Any, int]] = {}     # scoring key -> (its pass's state, its index)
    for v, (ck, pk, tk, _) in zip(planned, keys):
        if tk in scorings:
            policies = scorings.pop(tk)
            state = ex.over(prepared[pk][1], VariantSums(catalogs[ck], list(policies.values()),
                                                         schemes[ck]))
            sums.update((sk, (state, i)) for i, sk in enumerate(policies))
    t3 = time.perf_counter()
    tables = {name: small_table(source, name) for name, source in
              (("appraisal", appraisal), ("deductions", deductions), ("prepaid", prepaid))}
    layouts: dict[str, Any] = {}      # the variants of one preparation share the sums' keys
    for _, pk, _, sk in keys:
        if pk not in layouts:                   # the first policy's sums are whole already
            layouts[pk] = sums[sk][0].sums(0).layout()

    def settle_variant(item) -> settlement.Settlement:
        v, (ck, pk, _, sk) = item
        state = prepared[pk][0]
        scored, at = sums[sk]
        hospital_sums, monthly_sums = scored.sums(at).tables(layouts[pk])
        merged_state = SettlementState(
            hospital_sums=hospital_sums, monthly_sums=monthly_sums,
            quarantine=state.quarantine, special_found=state.special_found,
            missing_rates=bed_rates_missing(catalogs[ck], state.bed_categories),
            notes=scored.notes[at], non_bed_day_cases=state.non_bed_day_cases,
            n_cases=state.n_cases)
        return settlement.finish(merged_state, catalogs[ck], v.policy, v.budget_of(budget),
                                 special, tables["appraisal"], tables["deductions"],
                                 tables["prepaid"], registry=ex.hospitals)
    # the variants are settled apart from each other: on the threads, in order (a province
    # of thousands of hospitals spends a few hundredths of a second on each)
    results = {}
    done = ordered_map(settle_variant, zip(planned, keys), threads())
    for i, (v, result) in enumerate(zip(planned, done)):
        results[v.name] = result
        if progress is not None:
            progress("sweep: settle (variants)", i + 1, len(planned))
    t4 = time.perf_counter()
    return sweeps.Sweep(planned, results, seconds={
        "calibration": t1 - t0, "preparation": t2 - t1, "scoring": t3 - t2,
        "settling": t4 - t3},
        counts={"catalogues": len(catalogs), "preparations": len(prepared),
                "scorings": len(sums)})
