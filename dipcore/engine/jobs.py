"""The jobs: each written once, as passes run by whichever executor it is given.

* :func:`calibrate`: the scheme's calibration (``Scheme.calibrate``: DIP's three passes).
* :func:`settle`: one :class:`~dipcore.engine.passes.SettlementSums` pass, then
  ``dipcore.payment.settlement.finish`` (point values, statements, prepayments).
* :func:`audit`: one :class:`~dipcore.engine.passes.AuditSums` pass per year, then
  ``dipcore.supervision.audit.finish`` (signals, indicators, flags).
"""
from __future__ import annotations

import os
from typing import Any

import pyarrow as pa

from dipcore.catalog import Catalog
from dipcore.engine.executor import Executor
from dipcore.engine.passes import AuditSums, SettlementSums
from dipcore.errors import InputError
from dipcore.payment import settlement
from dipcore.policy import Policy
from dipcore.schemes.base import Scheme, get_scheme, scheme_for
from dipcore.supervision import audit as supervision


def calibrate(ex: Executor, history: Any, policy: Policy, years: list[int] | None,
              rules: Any = None, new_technology: Any = None) -> Catalog:
    """A catalogue from history, by the policy's scheme (SPEC 4; SPEC 10.2 for DRG)."""
    scheme = get_scheme(policy.scheme).bind(rules=rules, new_technology=new_technology)
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
    scheme = bound_scheme(catalog, policy, rules, new_technology)
    p = SettlementSums(catalog, policy, pa.array(sorted(special), pa.string()), scheme)
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
