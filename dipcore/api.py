"""The public entry points: ``calibrate`` and ``settle`` (DESIGN.md section 4).

Each pass is a function from *some batches of cases* to a mergeable partial state
(``prepare_part``, ``calibration_groups``, ``calibration_points``, ``settlement_sums``)
plus a merge. The local engine feeds a pass one stream of bounded batches; the Dask engine
(``dipcore.dask_engine``) feeds it one partition per task and tree-reduces the partials
with the same merges. Nothing here implements a rule: the rules live in ``prepare``,
``scoring``, ``calibrate`` and ``settle``.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore.schemes.dip import calibration as C
from dipcore.payment import settlement as S
from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.ingest.reader import pieces
from dipcore.reports.files import atomic_path
from dipcore.engine.local import Checking, run_threads
from dipcore.policy import Policy
from dipcore.schemes.dip.features import Features, features
from dipcore.schema import QUARANTINE_SCHEMA
from dipcore.payment.points import bed_rates_missing, score_batch
from dipcore.ingest.sources import DEFAULT_BATCH_ROWS, Piece, count_rows

#: ``progress(stage, rows_done, rows_total)``; ``rows_total`` is 0 when unknown.
ProgressFn = Callable[[str, int, int], None]
Pieces = Iterable[Piece]
#: Prepared calibration features kept in memory before the rest spill to disk (local engine).
FEATURE_MEMORY = 1 << 30


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


def _rows_done(progress: ProgressFn | None, stage: str, total: int) -> Callable[[int], None] | None:
    """A counter that reports ``progress(stage, done, total)`` as rows are done."""
    if progress is None:
        return None
    done = [0]

    def add(rows: int) -> None:
        done[0] += rows
        progress(stage, done[0], total)
    return add


# ---------------------------------------------------------------------------------------------
# calibration passes: partial states and merges
# ---------------------------------------------------------------------------------------------
@dataclass
class KeysPartial:
    counts: list[pa.Table] = field(default_factory=list)
    fingerprints: list[np.ndarray] = field(default_factory=list)
    years: set[int] = field(default_factory=set)
    quarantined: int = 0


class FeatureStore:
    """Prepared features of a calibration input, made once in pass 1, read by passes 2-3.

    Kept in memory up to ``memory`` bytes, the rest spilled to an Arrow IPC file in
    ``directory`` and read back memory-mapped, so the local engine's memory does not grow
    with the history and no pass parses or validates the input twice. ``compress`` keeps
    every batch as zstd-compressed Arrow IPC in memory instead (a Dask worker's partition,
    which Dask itself may spill). The codebooks the ids refer to stay in memory.
    """

    def __init__(self, directory: str | os.PathLike | None = None, compress: bool = False,
                 memory: int = FEATURE_MEMORY):
        self._directory = directory
        self._compress = compress
        self._memory = memory if directory is not None else None
        self._items: list = []            # ("mem", Features) | ("zip", ctx, buf) | ("file", ctx, i)
        self._held = 0
        self._path = None
        self._sink = self._writer = self._schema = None
        self._spilled = 0

    @staticmethod
    def _ctx(f: Features) -> tuple:
        return (f.codebook, f.grouping, f.key_len)

    def append(self, f: Features) -> None:
        if self._compress:
            # zstd-compressed Arrow IPC: a partition's features take a fraction of their
            # in-memory size while they wait on a worker between passes
            sink = pa.BufferOutputStream()
            batch = f.to_batch()
            with pa.ipc.new_stream(sink, batch.schema,
                                   options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
                w.write_batch(batch)
            self._items.append(("zip", self._ctx(f), sink.getvalue()))
            return
        size = sum(getattr(f, name).nbytes for name in Features._NUMERIC) + f.slots.nbytes
        if self._memory is None or self._held + size <= self._memory:
            self._items.append(("mem", f))
            self._held += size
            return
        batch = f.to_batch()
        if self._writer is None:
            self._path = Path(tempfile.mkstemp(prefix="features-", suffix=".arrow",
                                               dir=self._directory)[1])
            self._schema = batch.schema
            self._sink = pa.OSFile(str(self._path), "wb")
            self._writer = pa.ipc.new_file(self._sink, self._schema)
        self._writer.write_batch(batch)
        self._items.append(("file", self._ctx(f), self._spilled))
        self._spilled += 1

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None

    def __iter__(self) -> Iterator[Features]:
        reader = None
        source = None
        try:
            for item in self._items:
                if item[0] == "mem":
                    yield item[1]
                elif item[0] == "zip":
                    for batch in pa.ipc.open_stream(item[2]):
                        yield Features.from_batch(batch, *item[1])
                else:
                    if reader is None:
                        source = pa.memory_map(str(self._path))
                        reader = pa.ipc.open_file(source)
                    yield Features.from_batch(reader.get_batch(item[2]), *item[1])
        finally:
            if source is not None:
                source.close()


@dataclass
class PreparedPart:
    """Pass 1 over some batches: their features (for passes 2-3) and their key counts."""

    store: FeatureStore
    keys: KeysPartial


def prepare_part(source: Pieces, checking: Checking, policy: Policy,
                 store: FeatureStore | None = None,
                 progress: Callable[[int], None] | None = None) -> PreparedPart:
    """Pass 1: validate and prepare once; count keys (``dipcore.calibration.KeyCounts``)."""
    store = store if store is not None else FeatureStore()
    keys = KeysPartial()
    counts = C.KeyCounts()

    def work(b):            # on the pool: everything that depends on one batch only
        if b.n == 0:
            return b, None, None, None, None
        f = features(b, policy)
        return b, f, C.fingerprint(b.id_hash, f), C.KeyCounts.count(f), C.present_years(f.year)

    for b, f, fp, counted, years in checking.run(source, work):
        keys.quarantined += b.quarantine.num_rows
        if f is not None:
            keys.fingerprints.append(fp)
            keys.years |= set(years)
            counts.add(f, counted)
            store.append(f)
        if progress:
            progress(b.n + b.quarantine.num_rows)
    store.finish()
    keys.counts = [counts.table()]
    return PreparedPart(store, keys)


def part_keys(prepared: PreparedPart) -> KeysPartial:
    return prepared.keys


def merge_keys(parts: list[KeysPartial]) -> KeysPartial:
    out = KeysPartial()
    for p in parts:
        out.counts += p.counts
        out.fingerprints += p.fingerprints
        out.years |= p.years
        out.quarantined += p.quarantined
    if out.counts:
        out.counts = [C.merge_key_counts(out.counts)]
    return out


def calibration_groups(prepared: PreparedPart, draft: Catalog, years: list[int]) -> dict | None:
    """Pass 2 over prepared features (``dipcore.calibration.assignments``)."""
    parts = run_threads(lambda f: C.assignments(f, draft, years),
                        (f for f in prepared.store if f.n))
    return C.merge_assignments(parts) if parts else None


def merge_groups(parts: list[dict | None]) -> dict | None:
    parts = [p for p in parts if p is not None]
    return C.merge_assignments(parts) if parts else None


def calibration_points(prepared: PreparedPart, catalog: Catalog, years: list[int]) -> dict:
    """Pass 3 over prepared features (``dipcore.calibration.history_points``)."""
    return C.merge_history_points(run_threads(lambda f: C.history_points(f, catalog, years),
                                              (f for f in prepared.store if f.n)))


def draft_catalog(keys: KeysPartial, policy: Policy, years: list[int] | None
                  ) -> tuple[C.CoreDefinition, Catalog, list[int], list[str]]:
    """Between passes 1 and 2: calibration years, warnings, provisional groups."""
    if not keys.years:
        raise InputError("the history has no usable cases")
    all_years = sorted(keys.years)
    cal_years = sorted(years) if years else all_years[-len(policy.year_weights):]
    if len(cal_years) > len(policy.year_weights):
        raise InputError(f"{len(cal_years)} calibration years but {len(policy.year_weights)} year weights")
    warnings = []
    if keys.quarantined:
        warnings.append(f"{keys.quarantined} history rows were quarantined and not used")
    skipped = [y for y in all_years if y not in cal_years]
    if skipped:
        warnings.append(f"cases discharged in {skipped} are outside the calibration years {cal_years}")
    draft = C.choose_groups(keys.counts[0], policy, cal_years)
    catalog = Catalog(groups=draft.groups, mean_cost=1.0, level_coefficients={},
                      bed_day_rates={}, policy=policy)
    return draft, catalog, cal_years, warnings


def calibrate(history: Any, policy: Policy | None = None, hospitals: pa.Table | None = None, *,
              years: list[int] | None = None, encoding: str = "utf-8", mapping: dict | None = None,
              engine: str = "local", client: Any = None, workers: int | None = None,
              batch_rows: int = DEFAULT_BATCH_ROWS, progress: ProgressFn | None = None) -> Catalog:
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
    engine : {"local", "dask"}
        ``dask`` runs the same passes on a Dask cluster: ``client`` (a
        ``dask.distributed.Client``) or ``workers`` (a local cluster of that many processes).
    batch_rows : int
        Rows per batch (local) or per partition (Dask): the unit of memory use.

    Returns
    -------
    Catalog
    """
    policy = policy or Policy()
    if engine == "dask":
        from dipcore.engine.distributed import DaskEngine
        with DaskEngine(client=client, workers=workers) as de:
            return de.calibrate(history, policy, hospitals, years=years, encoding=encoding,
                                mapping=mapping, rows_per_part=batch_rows, progress=progress)
    _check_engine(engine)
    source = _replayable(history)
    total = count_rows(source) or 0
    checking = Checking(hospitals, expected_rows=total or None)
    with tempfile.TemporaryDirectory(prefix="dipcore-") as spill:
        prepared = prepare_part(pieces(source, hospitals, encoding, mapping, batch_rows), checking,
                                policy, FeatureStore(spill),
                                _rows_done(progress, "calibrate: read and prepare", total))
        draft, draft_cat, cal_years, warnings = draft_catalog(prepared.keys, policy, years)
        state = calibration_groups(prepared, draft_cat, cal_years)
        catalog = C.build_catalog(draft, state, policy,
                                  C.fingerprint_text(prepared.keys.fingerprints, cal_years), warnings)
        if policy.budget_point_value:
            catalog.budget_point_value = dict(policy.budget_point_value)
        else:
            sums = calibration_points(prepared, catalog, cal_years)
            catalog.budget_point_value = C.budget_point_values(sums, policy, cal_years)
    return catalog


def _check_engine(engine: str) -> None:
    if engine not in ("local", "dask"):
        raise InputError(f"engine must be 'local' or 'dask', not {engine!r}")


# ---------------------------------------------------------------------------------------------
# settlement
# ---------------------------------------------------------------------------------------------
@dataclass
class SettlePartial:
    hospital_sums: list[pa.Table] = field(default_factory=list)
    monthly_sums: list[pa.Table] = field(default_factory=list)
    quarantine: list[pa.Table] = field(default_factory=list)
    cases: list[pa.Table] = field(default_factory=list)
    special_found: set[str] = field(default_factory=set)
    missing_rates: set[str] = field(default_factory=set)
    dip_cases: int = 0
    n_cases: int = 0


def settlement_sums(source: Pieces, checking: Checking, catalog: Catalog, policy: Policy,
                    special: pa.Array, write: Callable[[pa.Table], None] | None = None,
                    progress: Callable[[int], None] | None = None) -> SettlePartial:
    """Settlement over some pieces: case tables (kept, or handed to ``write``) and sums."""
    out = SettlePartial()

    def work(b):            # on the pool: everything that depends on one batch only
        if b.n == 0:
            return b, None
        f = features(b, policy)
        is_special = pc.is_in(b.case_id, value_set=special) \
            .to_numpy(zero_copy_only=False) if len(special) else None
        found = set(b.case_id.filter(pa.array(is_special)).to_pylist()) \
            if is_special is not None and is_special.any() else set()
        s = score_batch(f, catalog, policy, is_special)
        return b, (found, set(bed_rates_missing(catalog, f)), int((f.bed < 0).sum()),
                   S.case_table(b, f, s, catalog), S.partial_sums(b, f, s))

    for b, done in checking.run(source, work):
        if b.quarantine.num_rows:
            out.quarantine.append(b.quarantine)
        if done is not None:
            found, missing, dip, table, (h, m) = done
            out.special_found |= found
            out.missing_rates |= missing
            out.dip_cases += dip
            out.n_cases += table.num_rows
            if write is None:
                out.cases.append(table)
            else:
                write(table)
            out.hospital_sums.append(h)
            out.monthly_sums.append(m)
        if progress:
            progress(b.n + b.quarantine.num_rows)
    return _compact(out)


def _compact(p: SettlePartial) -> SettlePartial:
    if len(p.hospital_sums) > 1:
        p.hospital_sums = [S.merge_sums(p.hospital_sums, ["key"])]
        p.monthly_sums = [S.merge_sums(p.monthly_sums, ["key", "month"])]
    return p


def merge_settlement(parts: list[SettlePartial]) -> SettlePartial:
    out = SettlePartial()
    for p in parts:
        out.hospital_sums += p.hospital_sums
        out.monthly_sums += p.monthly_sums
        out.quarantine += p.quarantine
        out.cases += p.cases
        out.special_found |= p.special_found
        out.missing_rates |= p.missing_rates
        out.dip_cases += p.dip_cases
        out.n_cases += p.n_cases
    return _compact(out)


def finish_settlement(p: SettlePartial, catalog: Catalog, policy: Policy, budget: dict,
                      special: set[str], appraisal: Any, deductions: Any, prepaid: Any
                      ) -> S.Settlement:
    """Warnings, then :func:`dipcore.settlement.finalize`."""
    if not p.hospital_sums:
        raise InputError("no usable cases to settle")
    warnings = S.policy_warnings(catalog, policy)
    if p.missing_rates:
        warnings.append(f"no bed-day rate in the catalogue for {sorted(p.missing_rates)}: "
                        "those cases carry 0 points")
    unknown_special = special - p.special_found
    if unknown_special:
        warnings.append(f"{len(unknown_special)} special-review case ids are not among the "
                        f"cases: {sorted(unknown_special)[:5]}")
    if p.dip_cases and len(p.special_found) > policy.special_quota * p.dip_cases:
        warnings.append(f"special review: {len(p.special_found)} cases exceed the quota of "
                        f"{policy.special_quota:.3%} of {p.dip_cases} DIP cases "
                        f"({int(policy.special_quota * p.dip_cases)})")
    quar = pa.concat_tables(p.quarantine) if p.quarantine else QUARANTINE_SCHEMA.empty_table()
    if quar.num_rows:
        warnings.append(f"{quar.num_rows} input rows were quarantined and not settled")
    # merging sorts by key: the same tables whatever the batches or partitions were
    result = S.finalize(S.merge_sums(p.hospital_sums, ["key"]),
                        S.merge_sums(p.monthly_sums, ["key", "month"]),
                        pa.concat_tables(p.cases) if p.cases else None, catalog, policy, budget,
                        appraisal=_table(appraisal, "appraisal"),
                        deductions=_table(deductions, "deductions"),
                        prepaid=_table(prepaid, "prepaid"), warnings=warnings)
    result.quarantine = quar
    result.cases_count = p.n_cases
    return result


def settle(cases: Any, catalog: Catalog, budget: dict[str, Any], policy: Policy | None = None,
           hospitals: pa.Table | None = None, special_cases: Any = None, appraisal: Any = None,
           deductions: Any = None, prepaid: Any = None, *, encoding: str = "utf-8",
           mapping: dict | None = None, engine: str = "local", client: Any = None,
           workers: int | None = None, out: str | os.PathLike | None = None,
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

    Returns
    -------
    Settlement
    """
    policy = policy or catalog.policy
    special = _ids(special_cases, "special review")
    if engine == "dask":
        from dipcore.engine.distributed import DaskEngine
        with DaskEngine(client=client, workers=workers) as de:
            return de.settle(cases, catalog, budget, policy, hospitals, special, appraisal,
                             deductions, prepaid, encoding=encoding, mapping=mapping, out=out,
                             rows_per_part=batch_rows, progress=progress)
    _check_engine(engine)
    special_arr = pa.array(sorted(special), pa.string())
    source = _replayable(cases)
    total = count_rows(source) or 0
    checking = Checking(hospitals, expected_rows=total or None)
    with contextlib.ExitStack() as stack:
        write = None
        if out is not None:
            tmp = stack.enter_context(atomic_path(Path(out) / "cases.parquet"))
            write = _writer(stack, tmp)
        partial = settlement_sums(pieces(source, hospitals, encoding, mapping, batch_rows),
                                  checking, catalog, policy, special_arr, write,
                                  _rows_done(progress, "settle", total))
        result = finish_settlement(partial, catalog, policy, budget, special, appraisal,
                                   deductions, prepaid)
    if out is not None:
        result.cases_path = Path(out) / "cases.parquet"
        result.save(out)
    return result


def _writer(stack: contextlib.ExitStack, path: str) -> Callable[[pa.Table], None]:
    """A function that appends case tables to one Parquet file (opened on first use)."""
    state: dict[str, pq.ParquetWriter] = {}

    def write(table: pa.Table) -> None:
        if "w" not in state:
            state["w"] = stack.enter_context(pq.ParquetWriter(path, table.schema, compression="zstd"))
        state["w"].write_table(table.cast(state["w"].schema))
    return write


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
    """A small input table (appraisal, deductions, prepaid) from a path or a table."""
    if source is None:
        return None
    if isinstance(source, pa.Table):
        return source
    path = Path(source)
    if not path.exists():
        raise InputError("no such file", source=str(path))
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"hospital_id": pa.string(), "pool": pa.string()}))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read the {what} table ({str(exc).splitlines()[0]})",
                         source=str(path)) from None
