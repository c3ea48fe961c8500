"""Finding and reading what a report is made of: a settlement's results directory and,
when present, the audit, the catalogue and a what-if sweep beside it.

Every file is read here, once; a missing or garbled file stops the report with one
:class:`~dipcore.errors.InputError` line naming it. Only the columns the report needs are
read from the per-case table, so a province's year stays cheap.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.ingest.tables import read_parquet_file
from dipcore.policy import Policy

#: Statement columns every report needs (the amount D is ``dip_amount`` or ``drg_amount``).
STATEMENT_COLUMNS = ("hospital_id", "pool", "cases", "points", "point_value", "total_cost",
                     "fund_paid", "patient_paid", "gain", "fund_base", "appraisal_coefficient",
                     "appraisal_adjustment", "deductions", "sharing", "surplus_clawback",
                     "fund_payable", "prepaid", "reserve_withheld", "advance", "balance")
POOL_COLUMNS = ("pool", "budget", "points", "total_cost", "fund_paid", "fund_ratio",
                "point_value", "base_point_value", "floating_point_value", "budget_point_value",
                "mode")
MONTHLY_COLUMNS = ("hospital_id", "pool", "month", "points", "gross", "reserve", "prepayment")
AUDIT_COLUMNS = {
    "hospitals": ("hospital_id", "flags"),
    "evidence": ("hospital_id", "flag", "indicator", "test", "cases", "observed", "expected",
                 "ratio", "z", "z_limit"),
    "funnel": ("indicator", "test", "hospital_id", "cases", "value", "null"),
    "funnel_limits": ("indicator", "test", "cases", "lower_95", "upper_95", "lower_limit",
                      "upper_limit"),
}
SWEEP_COLUMNS = {
    "variants": ("variant", "pool", "point_value", "points", "fund_payable", "recalibrated",
                 "changes"),
    "hospitals": ("variant", "hospital_id", "pool", "fund_payable", "baseline_fund_payable",
                  "difference"),
}


@dataclass
class AuditInputs:
    """An audit's saved tables (``Audit.save``) the report uses."""

    directory: Path
    hospitals: pa.Table
    evidence: pa.Table
    funnel: pa.Table | None
    funnel_limits: pa.Table | None
    summary: dict


@dataclass
class SweepInputs:
    """A what-if sweep's saved tables: one row per variant (and pool), and per variant,
    hospital and pool."""

    directory: Path
    variants: pa.Table
    hospitals: pa.Table


@dataclass
class ReportInputs:
    """Everything a report shows, read from disk.

    Attributes
    ----------
    settlement : Path
        The settlement results directory (with ``hospitals.parquet``).
    statements, pools, monthly : pyarrow.Table
        ``Settlement.save`` tables (``monthly`` None when absent).
    summary : dict
        ``summary.json`` (empty when absent).
    scheme : {"dip", "drg"}
    amount_column : str
        The statement column of D: ``dip_amount`` or ``drg_amount``.
    policy : Policy or None
        The settlement's policy (``summary.json``), else the catalogue's; None when neither.
    policy_source : {"settlement", "catalog", None}
    cases : pyarrow.Table or None
        Per case, only ``pool``, ``hospital_level``, ``kind``, ``outlier``, ``points`` and
        ``total_cost``.
    audit, catalog, sweep : optional
    """

    settlement: Path
    statements: pa.Table
    pools: pa.Table
    monthly: pa.Table | None
    summary: dict
    scheme: str
    amount_column: str
    policy: Policy | None
    policy_source: str | None
    cases: pa.Table | None = None
    audit: AuditInputs | None = None
    catalog: Catalog | None = None
    catalog_path: Path | None = None
    sweep: SweepInputs | None = None
    notes: list[str] = field(default_factory=list)


def read_parquet(path: Path, columns: tuple[str, ...] = (), *, only: bool = False) -> pa.Table:
    """A Parquet table that must have ``columns`` (``only``: read just those)."""
    if not path.is_file():
        raise InputError("no such file", source=str(path))
    try:
        schema = pq.read_schema(path)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise InputError(f"lacks column(s) {', '.join(missing)}", source=str(path))
        return read_parquet_file(path, columns=list(columns) if only else None)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a readable Parquet table ({first})", source=str(path)) from None


def read_json(path: Path) -> dict:
    """A JSON object file (``{}`` when the file is absent)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", source=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("not a JSON object", source=str(path))
    return data


def _path(value: Any, what: str) -> Path:
    """A path argument of the report; one line when it is something else (a loaded
    ``Catalog``, a number...)."""
    if not isinstance(value, (str, os.PathLike)):
        raise InputError(f"{what} of a report is given as a path, not {type(value).__name__}")
    return Path(value)


def _settlement_dir(results: Path) -> Path:
    """``results`` itself when it holds ``hospitals.parquet``, else its ``settlement/``."""
    if not results.exists():
        raise InputError("no such results directory", source=str(results))
    if not results.is_dir():
        raise InputError("not a directory (give the directory settle wrote)", source=str(results))
    for d in (results, results / "settlement"):
        if (d / "hospitals.parquet").is_file():
            return d
    raise InputError("not a settlement results directory (no hospitals.parquet, nor "
                     "settlement/hospitals.parquet)", source=str(results))


def _beside(settlement: Path, name: str) -> Path | None:
    """``name`` inside the settlement directory or beside it (the demo's layout)."""
    for candidate in (settlement / name, settlement.parent / name):
        if candidate.exists():
            return candidate
    return None


def _read_cases(path: Path) -> pa.Table:
    """The per-case columns the region's totals need (DIP's ``group_kind`` or DRG's
    ``kind`` read as ``kind``)."""
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable Parquet table ({str(exc).splitlines()[0]})",
                         source=str(path)) from None
    kind = "group_kind" if "group_kind" in names else "kind"
    need = ("pool", "hospital_level", kind, "outlier", "points", "total_cost")
    table = read_parquet(path, need, only=True)
    return table.rename_columns(["pool", "hospital_level", "kind", "outlier", "points",
                                 "total_cost"])


def _read_audit(directory: Path) -> AuditInputs:
    if not directory.is_dir():
        raise InputError("no such audit directory", source=str(directory))
    tables = {}
    for name, columns in AUDIT_COLUMNS.items():
        path = directory / f"{name}.parquet"
        optional = name in ("funnel", "funnel_limits")
        tables[name] = None if optional and not path.exists() else read_parquet(path, columns)
    if tables["hospitals"].column("flags").type != pa.list_(pa.string()):
        raise InputError("column 'flags' is not a list of flags",
                         source=str(directory / "hospitals.parquet"))
    return AuditInputs(directory, tables["hospitals"], tables["evidence"], tables["funnel"],
                       tables["funnel_limits"], read_json(directory / "summary.json"))


def sweep_matches(sweep: SweepInputs, pools: pa.Table) -> bool:
    """Whether the sweep's baseline is this settlement: the same point value per pool."""
    rows = sweep.variants.filter(pc.equal(sweep.variants.column("variant"), "baseline"))
    mine = dict(zip(rows.column("pool").to_pylist(), rows.column("point_value").to_pylist()))
    theirs = dict(zip(pools.column("pool").to_pylist(), pools.column("point_value").to_pylist()))
    return mine == theirs


def _read_sweep(directory: Path) -> SweepInputs:
    if not directory.is_dir():
        raise InputError("no such sweep directory", source=str(directory))
    return SweepInputs(directory, *(read_parquet(directory / f"{name}.parquet", columns)
                                    for name, columns in SWEEP_COLUMNS.items()))


def _policies(summary: dict, catalog: Catalog | None, source: Path
              ) -> tuple[Policy | None, str | None]:
    if "policy" in summary:
        return Policy.from_dict(summary["policy"], source=str(source),
                                retired="ignore"), "settlement"
    if catalog is not None:
        return catalog.policy, "catalog"
    return None, None


def load_inputs(results: str | os.PathLike, *, audit: str | os.PathLike | None = None,
                catalog: str | os.PathLike | None = None,
                sweep: str | os.PathLike | None = None) -> ReportInputs:
    """Read a report's inputs.

    Parameters
    ----------
    results : path
        A settlement results directory (``hospitals.parquet`` ...) or a folder holding one
        as ``settlement/`` (the demo's output).
    audit, catalog, sweep : path, optional
        The audit directory, catalogue file and sweep directory; by default ``audit/``,
        ``catalog.parquet`` and ``sweep/`` inside the results directory or beside it, when
        present.

    Returns
    -------
    ReportInputs

    Raises
    ------
    InputError
        A file is missing or cannot be read (one line naming it).
    """
    d = _settlement_dir(_path(results, "the results"))
    statements = read_parquet(d / "hospitals.parquet", STATEMENT_COLUMNS)
    names = statements.column_names
    amount = "drg_amount" if "drg_amount" in names else "dip_amount"
    if amount not in names:
        raise InputError("lacks column dip_amount (or drg_amount)", source=str(d / "hospitals.parquet"))
    for column, kind in (("hospital_name", pa.string()), ("hospital_level", pa.int8())):
        if column not in names:   # results of an earlier version: no registry names
            statements = statements.append_column(column, pa.nulls(statements.num_rows, kind))
    pools = read_parquet(d / "pools.parquet", POOL_COLUMNS)
    monthly = read_parquet(d / "monthly.parquet", MONTHLY_COLUMNS) \
        if (d / "monthly.parquet").exists() else None
    summary = read_json(d / "summary.json")
    scheme = summary.get("scheme") or ("drg" if amount == "drg_amount" else "dip")

    catalog_path = _path(catalog, "catalog") if catalog is not None \
        else _beside(d, "catalog.parquet")
    found_catalog = Catalog.load(catalog_path) if catalog_path is not None else None
    if found_catalog is not None and found_catalog.scheme != scheme:
        raise InputError(f"a {found_catalog.scheme.upper()} catalogue cannot explain "
                         f"{scheme.upper()} results", source=str(catalog_path))
    audit_dir = _path(audit, "audit") if audit is not None else _beside(d, "audit")
    sweep_dir = _path(sweep, "sweep") if sweep is not None else _beside(d, "sweep")
    policy, policy_source = _policies(summary, found_catalog, d / "summary.json")
    cases_path = d / "cases.parquet"
    return ReportInputs(
        settlement=d, statements=statements, pools=pools, monthly=monthly, summary=summary,
        scheme=scheme, amount_column=amount, policy=policy, policy_source=policy_source,
        cases=_read_cases(cases_path) if cases_path.exists() else None,
        audit=_read_audit(audit_dir) if audit_dir is not None else None,
        catalog=found_catalog, catalog_path=catalog_path,
        sweep=_read_sweep(sweep_dir) if sweep_dir is not None else None)


def fen(value: Any) -> int:
    """A money value (decimal yuan as the results store it, or a number) as integer fen,
    exactly for decimals; None counts as 0."""
    if value is None:
        return 0
    return int((Decimal(str(value)) * 100).to_integral_value(ROUND_HALF_UP))


def as_records(table: pa.Table | None) -> list[dict[str, Any]]:
    """Rows as dicts (empty for no table)."""
    return [] if table is None else table.to_pylist()
