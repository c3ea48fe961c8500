"""The public entry points: ``calibrate`` and ``settle`` (DESIGN.md section 4).

Both stream their input in bounded batches through the partition kernels of
``dipcore.calibrate`` and ``dipcore.settle`` and merge the partial states; nothing here
implements a rule.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import calibrate as C
from . import settle as S
from .catalog import Catalog
from .errors import InputError
from .io import scan_cases
from .outputs import atomic_path
from .policy import Policy
from .prepare import Preparer
from .schema import CASE_SCHEMA, QUARANTINE_SCHEMA
from .scoring import bed_rates_missing, score_batch
from .sources import DEFAULT_BATCH_ROWS, count_rows

#: ``progress(stage, rows_done, rows_total)``; ``rows_total`` is 0 when unknown.
ProgressFn = Callable[[str, int, int], None]


def _check_engine(engine: str) -> None:
    if engine != "local":
        raise InputError(f"engine {engine!r} is not available in this version of dipcore; "
                         "use engine='local'")


def _replayable(source: Any) -> Any:
    """Sources read more than once: paths and tables as they are; streams materialised."""
    if isinstance(source, (str, os.PathLike, pa.Table, list, tuple)):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, pa.RecordBatchReader):
        return source.read_all()
    if hasattr(source, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(source).read_all()
    return source


def iter_validated(source: Any, hospitals: pa.Table | None = None, encoding: str = "utf-8",
                   mapping: dict | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
                   ) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Batches of canonical cases with their quarantine.

    A table already in the canonical schema (as ``read_cases`` returns it) is trusted and
    only cut into batches; anything else goes through validation.
    """
    if isinstance(source, pa.Table) and source.schema.equals(CASE_SCHEMA, check_metadata=False):
        empty = QUARANTINE_SCHEMA.empty_table()
        for start in range(0, max(source.num_rows, 1), batch_rows):
            part = source.slice(start, batch_rows)
            if part.num_rows or source.num_rows == 0:
                yield part, empty
        return
    yield from scan_cases(source, hospitals=hospitals, encoding=encoding, mapping=mapping,
                          batch_rows=batch_rows)


def _ids(source: Any, what: str) -> set[str]:
    """Case ids from a list, a table with ``case_id``, or a CSV / text file."""
    if source is None:
        return set()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InputError("no such file", source=str(path))
        text = path.read_text(encoding="utf-8-sig").splitlines()
        first = text[0].strip().lower() if text else ""
        rows = text[1:] if first in ("case_id", "setl_id") else text
        return {r.split(",")[0].strip() for r in rows if r.strip()}
    if isinstance(source, pa.Table):
        if "case_id" not in source.column_names:
            raise InputError(f"the {what} table needs a case_id column")
        return {str(v) for v in source.column("case_id").to_pylist() if v is not None}
    return {str(v) for v in source}


def _table(source: Any, what: str) -> pa.Table | None:
    """A small input table (appraisal, deductions, prepaid) from a path, table or dict."""
    if source is None:
        return None
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, dict):
        return pa.table({"hospital_id": list(source), "value": list(source.values())})
    path = Path(source)
    if not path.exists():
        raise InputError("no such file", source=str(path))
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"hospital_id": pa.string(), "pool": pa.string()}))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the {what} table ({str(exc).splitlines()[0]})",
                         source=str(path)) from None


def calibrate(history: Any, policy: Policy | None = None, hospitals: pa.Table | None = None, *,
              years: list[int] | None = None, encoding: str = "utf-8", mapping: dict | None = None,
              engine: str = "local", batch_rows: int = DEFAULT_BATCH_ROWS,
              progress: ProgressFn | None = None) -> Catalog:
    """Build a catalogue from history (SPEC.md section 4).

    Parameters
    ----------
    history : path, table or stream
        Cases of the calibration years; anything :func:`dipcore.read_cases` accepts.
    policy : Policy, optional
        Defaults to the national policy.
    hospitals : pyarrow.Table, optional
        Hospital registry (levels; unknown hospitals are quarantined).
    years : list of int, optional
        Calibration years; by default the most recent ``len(policy.year_weights)``
        discharge years present.
    engine : {"local"}
        Execution engine.

    Returns
    -------
    Catalog
    """
    _check_engine(engine)
    policy = policy or Policy()
    prep = Preparer(policy)
    source = _replayable(history)
    total = count_rows(source) or 0

    def batches(stage: str):
        done = 0
        for cases, q in iter_validated(source, hospitals, encoding, mapping, batch_rows):
            done += cases.num_rows + q.num_rows
            yield cases, q
            if progress:
                progress(stage, done, total)
    parts, fps, seen_years = [], [], set()
    quarantined = 0
    for cases, q in batches("calibrate 1/3 keys"):
        quarantined += q.num_rows
        if cases.num_rows:
            part, info = C.key_counts(cases, prep, None)
            parts.append(part)
            fps.append(info["fingerprint"])
            seen_years |= info["years"]
    if not parts:
        raise InputError("the history has no usable cases")
    all_years = sorted(seen_years)
    cal_years = sorted(years) if years else all_years[-len(policy.year_weights):]
    if len(cal_years) > len(policy.year_weights):
        raise InputError(f"{len(cal_years)} calibration years but {len(policy.year_weights)} year weights")
    warnings = []
    if quarantined:
        warnings.append(f"{quarantined} history rows were quarantined and not used")
    skipped = [y for y in all_years if y not in cal_years]
    if skipped:
        warnings.append(f"cases discharged in {skipped} are outside the calibration years {cal_years}")
    draft = C.choose_groups(C.merge_key_counts(parts), policy, cal_years, prep)
    draft_catalog = Catalog(groups=draft.groups, mean_cost=1.0, level_coefficients={},
                            bed_day_rates={}, policy=policy)
    state = C.merge_assignments(C.assignments(cases, prep, draft_catalog, cal_years)
                                for cases, _ in batches("calibrate 2/3 groups") if cases.num_rows)
    catalog = C.build_catalog(draft, state, policy, C.fingerprint_text(fps, cal_years), warnings)
    if policy.budget_point_value:
        catalog.budget_point_value = dict(policy.budget_point_value)
    else:
        sums = C.merge_history_points(C.history_points(cases, prep, catalog, cal_years)
                                      for cases, _ in batches("calibrate 3/3 points") if cases.num_rows)
        catalog.budget_point_value = C.budget_point_values(sums, policy, cal_years)
    return catalog


def settle(cases: Any, catalog: Catalog, budget: dict[str, Any], policy: Policy | None = None,
           hospitals: pa.Table | None = None, special_cases: Any = None, appraisal: Any = None,
           deductions: Any = None, prepaid: Any = None, *, encoding: str = "utf-8",
           mapping: dict | None = None, engine: str = "local", out: str | os.PathLike | None = None,
           batch_rows: int = DEFAULT_BATCH_ROWS, progress: ProgressFn | None = None) -> S.Settlement:
    """Settle a year (SPEC.md sections 3, 5, 6, 7).

    Parameters
    ----------
    cases : path, table or stream
        The year's cases; anything :func:`dipcore.read_cases` accepts.
    catalog : Catalog
        From :func:`calibrate` or :meth:`Catalog.load`.
    budget : dict
        DIP fund budget per pool, yuan (``{"employee": 72_000_000.00, ...}``).
    policy : Policy, optional
        Defaults to the catalogue's policy.
    hospitals : pyarrow.Table, optional
        Hospital registry.
    out : path, optional
        Results directory. Per-case results are then streamed there batch by batch (memory
        does not grow with the year) and all outputs are written (``Settlement.save``).
    special_cases : ids, table or file, optional
        Case ids approved by special review (paid at actual cost).
    appraisal, deductions, prepaid : table or CSV path, optional
        ``hospital_id`` [``pool``] with ``coefficient`` / ``amount`` / ``amount`` [``advance``]
        (yuan). Without ``prepaid``, the monthly prepayments computed here are used.

    Returns
    -------
    Settlement
    """
    _check_engine(engine)
    policy = policy or catalog.policy
    warnings = S.policy_warnings(catalog, policy) + list(catalog.warnings[:0])
    prep = Preparer(policy)
    special = _ids(special_cases, "special review")
    special_arr = pa.array(sorted(special), pa.string())
    found = set()
    case_parts, hosp_parts, month_parts, quarantine = [], [], [], []
    missing_rates: set[str] = set()
    rows = 0
    dip_cases = 0
    n_cases = 0
    source = _replayable(cases)
    total = count_rows(source) or 0
    with contextlib.ExitStack() as stack:
        writer = None
        if out is not None:
            out = Path(out)
            tmp = stack.enter_context(atomic_path(out / "cases.parquet"))
        for batch, q in iter_validated(source, hospitals, encoding, mapping, batch_rows):
            if q.num_rows:
                quarantine.append(q)
            rows += batch.num_rows + q.num_rows
            if batch.num_rows == 0:
                continue
            f = prep(batch)
            is_special = pc.is_in(batch.column("case_id"), value_set=special_arr) \
                .to_numpy(zero_copy_only=False) if special else None
            if is_special is not None and is_special.any():
                found |= set(batch.column("case_id").filter(pa.array(is_special)).to_pylist())
            s = score_batch(f, catalog, policy, is_special)
            missing_rates |= set(bed_rates_missing(catalog, f))
            dip_cases += int((f.bed < 0).sum())
            table = S.case_table(batch, f, s, catalog)
            n_cases += table.num_rows
            if out is None:
                case_parts.append(table)
            else:
                if writer is None:
                    writer = stack.enter_context(pq.ParquetWriter(tmp, table.schema, compression="zstd"))
                writer.write_table(table.cast(writer.schema))
            h, m = S.partial_sums(batch, f, s)
            hosp_parts.append(h)
            month_parts.append(m)
            if progress:
                progress("settle", rows, total)
        if not hosp_parts:
            raise InputError("no usable cases to settle")
    if not hosp_parts:
        raise InputError("no usable cases to settle")
    if missing_rates:
        warnings.append(f"no bed-day rate in the catalogue for {sorted(missing_rates)}: "
                        "those cases carry 0 points")
    unknown_special = special - found
    if unknown_special:
        warnings.append(f"{len(unknown_special)} special-review case ids are not among the "
                        f"cases: {sorted(unknown_special)[:5]}")
    if dip_cases and len(found) > policy.special_quota * dip_cases:
        warnings.append(f"special review: {len(found)} cases exceed the quota of "
                        f"{policy.special_quota:.3%} of {dip_cases} DIP cases "
                        f"({int(policy.special_quota * dip_cases)})")
    quar = pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table()
    if quar.num_rows:
        warnings.append(f"{quar.num_rows} input rows were quarantined and not settled")
    result = S.finalize(S.merge_sums(hosp_parts, ["key"]), S.merge_sums(month_parts, ["key", "month"]),
                        pa.concat_tables(case_parts) if case_parts else None, catalog, policy, budget,
                        appraisal=_table(appraisal, "appraisal"),
                        deductions=_table(deductions, "deductions"),
                        prepaid=_table(prepaid, "prepaid"), warnings=warnings)
    result.quarantine = quar
    result.cases_count = n_cases
    if out is not None:
        result.cases_path = out / "cases.parquet"
        result.save(out)
    return result
