"""The public entry points: ``calibrate``, ``settle``, ``audit`` and ``sweep`` (DESIGN.md
section 4).

Each is a thin wrapper: it chooses an executor (``dipcore.engine.local.LocalExecutor`` or
``dipcore.engine.distributed.DaskExecutor``) and runs the job written once in
``dipcore.engine.jobs``. No rule lives here.
"""
from __future__ import annotations

import operator
import os
from typing import Any

import pyarrow as pa

from dipcore.catalog import Catalog
from dipcore.engine import jobs
from dipcore.engine.executor import Executor, ProgressFn
from dipcore.engine.local import LocalExecutor
from dipcore.errors import InputError, positive_whole
from dipcore.ingest.reader import reading_options
from dipcore.ingest.sources import DEFAULT_BATCH_ROWS
from dipcore.payment.inputs import case_id_set
from dipcore.payment.settlement import Settlement
from dipcore.payment.sweep import Sweep
from dipcore.policy import Policy
from dipcore.reports.files import human_format
from dipcore.supervision.audit import Audit

ENGINES = ("local", "dask")


def executor(engine: str = "local", *, client: Any = None, workers: int | None = None,
             hospitals: pa.Table | None = None, encoding: str = "utf-8",
             mapping: dict | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
             progress: ProgressFn | None = None) -> Executor:
    """The executor of ``engine``: ``local`` (threads of this process) or ``dask`` (a
    ``client``, or a local cluster of ``workers`` processes)."""
    hospitals, encoding, mapping, batch_rows = reading_options(hospitals, encoding, mapping,
                                                               batch_rows)
    options = dict(hospitals=hospitals, encoding=encoding, mapping=mapping,
                   batch_rows=batch_rows, progress=progress)
    if engine not in ENGINES:
        raise InputError(f"engine must be 'local' or 'dask', not {engine!r}")
    if progress is not None and not callable(progress):
        # checked here, not at the first batch, where it would fail mid-run
        raise InputError(f"progress must be a function progress(stage, done, total), not "
                         f"{type(progress).__name__}")
    workers = positive_whole(workers, "workers")
    if engine == "local":
        if workers is not None or client is not None:
            # silently running on this process's threads would not be what was asked
            raise InputError("workers and client are for engine='dask' (the local engine "
                             "uses this process's threads: dipcore.set_threads)")
        return LocalExecutor(**options)
    from dask.distributed import Client
    if client is not None and not isinstance(client, Client):
        raise InputError(f"client must be a dask.distributed.Client, not {type(client).__name__}")
    from dipcore.engine.distributed import DaskExecutor  # imports Dask only when asked
    return DaskExecutor(client=client, workers=workers, **options)


def _catalog(catalog: Any) -> Catalog:
    """A :class:`Catalog`, or the one saved at a path."""
    if isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, (str, os.PathLike)):
        return Catalog.load(catalog)
    raise InputError(f"catalog must be a Catalog or the path of a saved one, not "
                     f"{type(catalog).__name__}")


def _years(years: Any) -> list[int] | None:
    """Calibration years as a list of ints (one year may be given alone)."""
    if years is None:
        return None
    def year(y: Any) -> int:
        # an integer of any kind (numpy's too), or its digits; never a float
        return int(y) if isinstance(y, str) and y.strip().isdigit() else operator.index(y)

    try:
        out = [year(y) for y in ([years] if isinstance(years, (int, str)) else years)]
    except TypeError:
        raise InputError(f"years must be a year or a list of years, not {years!r}") from None
    if not out:
        raise InputError("years is empty (leave it out for the latest years of the history)")
    return out


def calibrate(history: Any, policy: Policy | None = None, hospitals: pa.Table | None = None, *,
              years: list[int] | None = None, encoding: str = "utf-8", mapping: dict | None = None,
              engine: str = "local", client: Any = None, workers: int | None = None,
              batch_rows: int = DEFAULT_BATCH_ROWS, progress: ProgressFn | None = None,
              rules: Any = None, new_technology: Any = None) -> Catalog:
    """Build a catalogue from history (SPEC.md section 4; section 10.2 for DRG).

    Parameters
    ----------
    history : path, table or stream
        Cases of the calibration years; anything :func:`dipcore.read_cases` accepts.
    policy : Policy, mapping, name or path, optional
        Defaults to the national policy.
    hospitals : pyarrow.Table or path, optional
        Hospital registry (levels; unknown hospitals are quarantined).
    years : int or list of int, optional
        Calibration years; by default the most recent ``len(policy.year_weights)``
        discharge years present. A history hive-partitioned by year (``year=YYYY``
        directories, each holding the cases discharged in that year) is read only in the
        partitions of these years, and by default its years are taken from the directory
        names: the other partitions are never opened, so their rows are neither validated
        nor counted among the quarantined.
    engine : {"local", "dask"}
        ``dask`` runs the same passes on a Dask cluster: ``client`` (a
        ``dask.distributed.Client``) or ``workers`` (a local cluster of that many processes).
    batch_rows : int
        Rows per batch (local) or per partition (Dask): the unit of memory use.
    rules : DrgRules or path, optional
        The CHS-DRG rule pack; required when ``policy.scheme == "drg"``.
    new_technology : table, CSV path or dict, optional
        Filed new-technology procedures (``procedure_code``, ``filing_date``; SPEC 10.4):
        their cases within the window are left out of the DRG weights.

    Returns
    -------
    Catalog
    """
    policy = Policy.of(policy) or Policy()
    years = _years(years)
    with executor(engine, client=client, workers=workers, hospitals=hospitals, encoding=encoding,
                  mapping=mapping, batch_rows=batch_rows, progress=progress) as ex:
        return ex.run("calibration", jobs.calibrate, history, policy, years, rules,
                      new_technology)


def settle(cases: Any, catalog: Catalog, budget: dict[str, Any], policy: Policy | None = None,
           hospitals: pa.Table | None = None, special_cases: Any = None, appraisal: Any = None,
           deductions: Any = None, prepaid: Any = None, *, encoding: str = "utf-8",
           mapping: dict | None = None, engine: str = "local", client: Any = None,
           workers: int | None = None, out: str | os.PathLike | None = None,
           batch_rows: int = DEFAULT_BATCH_ROWS, progress: ProgressFn | None = None,
           rules: Any = None, new_technology: Any = None,
           out_format: str = "csv") -> Settlement:
    """Settle a year (SPEC.md sections 3, 5, 6, 7; section 10 for DRG).

    Parameters
    ----------
    cases : path, table or stream
        The year's cases; anything :func:`dipcore.read_cases` accepts.
    catalog : Catalog or path
        From :func:`calibrate` or :meth:`Catalog.load`.
    budget : dict
        DIP fund budget per pool, yuan (``{"employee": 72_000_000.00, ...}``).
    policy : Policy, mapping, name or path, optional
        Defaults to the catalogue's policy.
    hospitals : pyarrow.Table or path, optional
        Hospital registry.
    special_cases : ids, table or file, optional
        Case ids approved by special review (paid at actual cost).
    appraisal, deductions, prepaid : table or CSV path, optional
        ``hospital_id`` [``pool``] with ``coefficient`` / ``amount`` / ``amount`` [``advance``]
        (yuan). Without ``prepaid``, the monthly prepayments computed here are used.
    engine : {"local", "dask"}
        ``dask``: ``client`` or ``workers`` as for :func:`calibrate`.
    out : path, optional
        Results directory. Per-case results are then written batch by batch (partition by
        partition with Dask), so memory does not grow with the year, and every output is
        saved (``Settlement.save``).
    out_format : {"csv", "xlsx"}
        With ``out``, the human-readable copy of the result tables: CSV files, or one
        workbook ``settlement.xlsx`` (``Settlement.save``).
    rules : DrgRules or path, optional
        The CHS-DRG rule pack a DRG catalogue was made with (an error when another).
    new_technology : table, CSV path or dict, optional
        Filed new-technology procedures (SPEC 10.4): their cases are paid by cost.

    Returns
    -------
    Settlement
    """
    catalog = _catalog(catalog)
    policy = Policy.of(policy, catalog.policy)
    special = case_id_set(special_cases, "special review")
    with executor(engine, client=client, workers=workers, hospitals=hospitals, encoding=encoding,
                  mapping=mapping, batch_rows=batch_rows, progress=progress) as ex:
        return ex.run("settlement", jobs.settle, cases, catalog, budget, policy, special,
                      appraisal, deductions, prepaid, out, rules, new_technology,
                      human_format(out_format))


def audit(cases: Any, catalog: Catalog, policy: Policy | None = None,
          hospitals: pa.Table | None = None, previous: Any = None, *, encoding: str = "utf-8",
          mapping: dict | None = None, engine: str = "local", client: Any = None,
          workers: int | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
          progress: ProgressFn | None = None, rules: Any = None,
          new_technology: Any = None) -> Audit:
    """Supervision of a year (SPEC.md sections 8 and 11): appraisal indicators, case-mix
    adjusted indicators with funnel limits, flags with their evidence, and case lists.

    Parameters
    ----------
    cases : path, table or stream
        The year's cases (anything :func:`dipcore.read_cases` accepts).
    catalog : Catalog or path
        Scores the cases (CMI, outliers, groups).
    policy : Policy, mapping, name or path, optional
        Its supervision section (``readmit_days``, ``low_standard_max_los``,
        ``audit_control_limit``, ``audit_min_ratio``, ``audit_min_cases``,
        ``audit_min_events``, ``audit_overdispersion``, ``audit_peer_level``); defaults to
        the catalogue's policy.
    hospitals : pyarrow.Table or path, optional
        Hospital registry.
    previous : path, table or stream, optional
        The previous year's cases, for the growth tests (scored with the same catalogue,
        so both years' groups mean the same).
    engine : {"local", "dask"}
        ``dask``: ``client`` or ``workers`` as for :func:`calibrate`.
    rules, new_technology : as for :func:`settle` (DRG catalogues).

    Returns
    -------
    Audit
        ``hospitals`` (indicators, O/E, z, ``flags``), ``evidence`` (one row per test
        behind a flag), ``indicators`` (every test), ``funnel`` and ``funnel_limits``
        (funnel-plot data), and the case lists ``readmissions``, ``low_standard`` and
        ``upcoded_cases``.

    Raises
    ------
    InputError
        When the year has no usable case.
    """
    catalog = _catalog(catalog)
    policy = Policy.of(policy, catalog.policy)
    with executor(engine, client=client, workers=workers, hospitals=hospitals, encoding=encoding,
                  mapping=mapping, batch_rows=batch_rows, progress=progress) as ex:
        return ex.run("the audit", jobs.audit, cases, catalog, policy, previous, rules,
                      new_technology)


def sweep(cases: Any, catalog: Catalog, variants: dict[str, dict[str, Any]],
          budget: dict[str, Any], policy: Policy | None = None,
          hospitals: pa.Table | None = None, special_cases: Any = None, appraisal: Any = None,
          deductions: Any = None, prepaid: Any = None, *, history: Any = None,
          encoding: str = "utf-8", mapping: dict | None = None, engine: str = "local",
          client: Any = None, workers: int | None = None,
          batch_rows: int = DEFAULT_BATCH_ROWS, progress: ProgressFn | None = None,
          rules: Any = None, new_technology: Any = None) -> Sweep:
    """Settle one year under many policy variants (what-if), preparing the cases once.

    Each variant's settlement is what :func:`settle` gives with that variant's policy
    (the same functions on the same sums), but the cases are read, checked and prepared
    once, scored once per distinct scoring, and a variant that changes only the
    settlement section (point-value mode, sharing, reserve, ...) reuses the scoring of
    the others. See ``dipcore.payment.sweep`` for what each kind of change costs.

    Parameters
    ----------
    cases : path, table or stream
        The year's cases; anything :func:`dipcore.read_cases` accepts.
    catalog : Catalog or path
        The catalogue the baseline settles with.
    variants : dict
        ``{name: {policy field: value, ...}}`` (section tables allowed, as in a policy
        file); :func:`dipcore.payment.sweep.grid` builds every combination of lists of
        values. A variant may also set ``"budget": {pool: yuan}`` for the pools whose
        budget it changes. The policy as given is settled too, as variant ``"baseline"``.
    budget : dict
        Fund budget per pool, yuan (every variant's, but for the pools it changes).
    policy : Policy, mapping, name or path, optional
        The baseline policy; defaults to the catalogue's.
    hospitals, special_cases, appraisal, deductions, prepaid :
        As for :func:`settle`, the same for every variant.
    history : path, table or stream, optional
        The calibration history: needed when a variant changes a grouping or calibration
        field, whose catalogue is then calibrated anew under the variant (``recalibrated``)
        over the years of ``catalog``.
    engine : {"local", "dask"}
        ``dask``: ``client`` or ``workers`` as for :func:`calibrate`.
    progress : callable, optional
        ``progress(stage, done, total)``; the variants settled report as stage
        ``"sweep: settle (variants)"``.
    rules, new_technology : as for :func:`settle` (DRG catalogues).

    Returns
    -------
    Sweep
        ``settlements`` (variant -> Settlement), ``totals`` (per variant and pool: point
        values, totals, outlier counts, the fund's payment against the baseline) and
        ``hospitals`` (per variant and hospital: payment, baseline, difference).

    Raises
    ------
    InputError
        A variant that is not a valid policy, changes supervision fields or the scheme,
        or needs recalibration without ``history``; no usable case.
    """
    catalog = _catalog(catalog)
    policy = Policy.of(policy, catalog.policy)
    special = case_id_set(special_cases, "special review")
    with executor(engine, client=client, workers=workers, hospitals=hospitals, encoding=encoding,
                  mapping=mapping, batch_rows=batch_rows, progress=progress) as ex:
        return ex.run("the sweep", jobs.sweep, cases, catalog, budget, policy, variants,
                      special, appraisal, deductions, prepaid, history, rules, new_technology,
                      progress)
