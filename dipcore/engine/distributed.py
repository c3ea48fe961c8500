"""The Dask executor: the passes of a job, one partition per task, tree-reduced.

* Inputs given as paths are planned into parts (a Parquet file cut at row-group
  boundaries, a CSV or Arrow file whole, an in-memory table sliced and scattered), and each
  task reads its own part lazily.
* Every task runs the *same* code as the local executor
  (``dipcore.engine.local.run_source_pass`` / ``run_feature_pass``) on one partition and
  returns the pass's partial state; partials are merged with the pass's ``combine`` in a
  tree (``SPLIT_EVERY`` at a time), never shuffled.
* The pass (with its catalogue and policy) and the registry are scattered once to every
  worker. Features kept by a source pass stay on the worker that made them, compressed,
  until the job's later passes have read them.
* Repeated case ids across partitions: a pre-pass hashes the case-id column of every part;
  colliding hashes are resolved by comparing the ids themselves, and the rows that repeat
  an earlier id (in reading order: part, then row) are handed to each part's validator.
  This is exactly what the local engine's streaming string set decides.
* Settlement writes the per-case table partition by partition (``cases.parquet/part-N``)
  under temporary names, renamed when the whole run succeeded.

Exact integer partial states and finalizers that sort make the result bit-identical to the
local engine whatever the number of workers or the cut into parts.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
from distributed.diagnostics.plugin import WorkerPlugin

from dipcore._kernels import numba_config
from dipcore.engine import threads as batch_threads
from dipcore.engine.executor import Executor, ProgressFn, RowSink, replayable
from dipcore.engine.local import run_feature_pass, run_source_pass
from dipcore.engine.passes import FeaturePass, SourcePass
from dipcore.engine.store import FeatureStore
from dipcore.engine.writer import ParquetAppender
from dipcore.errors import DipcoreError
from dipcore.ingest.checking import Checking
from dipcore.ingest.reader import case_id_hashes, case_ids_at, part_pieces
from dipcore.ingest.sources import DEFAULT_BATCH_ROWS, Part, plan_parts
from dipcore.reports.files import normal_mode, output_directory

SPLIT_EVERY = 8


def configure_worker(threads: int) -> None:
    """Run on every worker: Arrow's and Numba's threads <= the worker's share of cores,
    and one thread per dipcore pass (the worker runs ``threads`` tasks at once)."""
    pa.set_cpu_count(max(1, threads))
    numba_config.set_threads(threads)
    batch_threads.set_threads(1)


class _Configure(WorkerPlugin):
    """Worker plugin: ``configure_worker`` on every worker, restarted ones included."""

    name = "dipcore-configure"

    def __init__(self, threads: int):
        self.threads = threads

    def setup(self, worker) -> None:
        configure_worker(self.threads)


def _dask_failures() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the cluster failed (not the input or the code)."""
    import asyncio
    import concurrent.futures

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError
    return (CommClosedError, KilledWorker, asyncio.TimeoutError,
            concurrent.futures.CancelledError, ConnectionError)


def _part_input(part: Part, data: Any, ctx: dict, raw_codes: bool) -> tuple[Any, Checking]:
    """The raw pieces of one part and how to check them: one thread (Dask runs a task per
    core), with the repeated case ids the pre-pass found."""
    dups = ctx["duplicates"]
    checking = Checking(ctx["hospitals"], n_threads=1, raw_codes=raw_codes,
                        duplicates={part.path: dups[part.path]} if part.path in dups else {})
    return part_pieces(part, data, ctx["hospitals"], ctx["encoding"], ctx["mapping"],
                       ctx["batch_rows"]), checking


@dataclass
class KeptPart:
    """A part's kept features and the state of the pass that kept them (on its worker)."""

    store: FeatureStore
    state: Any


# -- task functions (module level, so workers import them) -------------------------------------
def _task_scan(part, data, ctx, p: SourcePass, keep: bool, rows_dir: str | None):
    store = FeatureStore(compress=True) if keep else None
    with contextlib.ExitStack() as stack:
        write = None
        if rows_dir is not None:
            # written by the task itself: Dask already runs a task per core, a writer
            # thread per task would only contend with them
            write = stack.enter_context(ParquetAppender(
                Path(rows_dir) / f"part-{part.index:06d}.parquet")).write
        state = run_source_pass(p, *_part_input(part, data, ctx, p.raw_codes), store, write)
    return KeptPart(store, state) if keep else state


def _combine(p, states: list):
    return p.combine(states)


def _task_state(kept: KeptPart):
    return kept.state


def _task_over(kept: KeptPart, p: FeaturePass):
    return run_feature_pass(p, kept.store)


class DaskExecutor(Executor):
    """Runs passes on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client, optional
        An existing client (its cluster is left running).
    workers : int, optional
        Without a client: start a local cluster of this many worker processes (closed at
        the end), each with ``cores // workers`` threads.
    dashboard : bool
        Serve the Dask dashboard of a local cluster (on a free port).
    """

    def __init__(self, client: Any = None, workers: int | None = None, dashboard: bool = False, *,
                 hospitals: pa.Table | None = None, encoding: str = "utf-8",
                 mapping: dict | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                 progress: ProgressFn | None = None):
        self.hospitals, self.encoding, self.mapping = hospitals, encoding, mapping
        self.rows_per_part, self.progress = batch_rows, progress
        from dask.distributed import Client, LocalCluster
        self._own = client is None
        if client is None:
            n = workers or 2
            threads = max(1, (os.cpu_count() or 1) // n)
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=threads, processes=True,
                                        dashboard_address=":0" if dashboard else None)
            client = Client(self.cluster)
        else:
            self.cluster = None
        self.client = client
        info = client.scheduler_info()
        cores = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()) or 1
        n_workers = max(1, len(info.get("workers", {})))
        try:
            client.register_plugin(_Configure(max(1, cores // n_workers)))
        except _dask_failures():
            # a worker died while the plugin was broadcast; the scheduler keeps the plugin
            # for the workers that (re)join, and thread limits are not needed for correctness
            pass

    def close(self) -> None:
        if self._own:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    # -- plumbing --------------------------------------------------------------------------------
    def _gather(self, futures, what: str):
        from dask.distributed import wait
        try:
            wait(futures)
            return self.client.gather(futures)
        except DipcoreError:
            raise
        except Exception as exc:  # a worker lost for good, a task failing repeatedly
            raise DipcoreError(f"the Dask run failed during {what}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None

    def _tree(self, futures: list, pass_f, what: str):
        """Merge partial states in a tree, ``SPLIT_EVERY`` at a time, on the workers, with
        the ``combine`` of the (scattered) pass ``pass_f``."""
        while len(futures) > 1:
            futures = [self.client.submit(_combine, pass_f, futures[i:i + SPLIT_EVERY], pure=False)
                       for i in range(0, len(futures), SPLIT_EVERY)]
        return self._gather(futures, what)[0]

    def _map(self, fn, parts, data, *args, progress=None, stage=""):
        # no retries: a task error is deterministic (bad input); a lost worker's tasks are
        # recomputed by the scheduler on its own
        futs = [self.client.submit(fn, part, d, *args, pure=False) for part, d in zip(parts, data)]
        if progress is not None:
            self._watch(futs, stage, progress)
        return futs

    def _watch(self, futs, stage, progress):
        """Progress in partitions done (the unit of work here), as they complete."""
        from dask.distributed import as_completed
        done = 0
        for _ in as_completed(list(futs)):
            done += 1
            progress(f"{stage} (partitions)", done, len(futs))

    def _plan(self, source: Any, hospitals, encoding, mapping, rows_per_part) -> tuple[list, list, dict]:
        source = replayable(source)
        parts, tables = plan_parts(source, rows_per_part)
        if tables:
            data = self.client.scatter(tables, hash=False)
            n = len(self.client.scheduler_info().get("workers", {}))
            if n > 1:
                self.client.replicate(data, n=min(2, n))   # survive the loss of a worker
        else:
            data = [None] * len(parts)
        duplicates = self._duplicates(parts, data, encoding, mapping)
        ctx = dict(hospitals=hospitals, encoding=encoding, mapping=mapping,
                   duplicates=duplicates, batch_rows=min(rows_per_part, DEFAULT_BATCH_ROWS))
        return parts, data, ctx

    def _duplicates(self, parts, data, encoding, mapping) -> dict[str, np.ndarray]:
        """Rows repeating an earlier case id, per source file (the distributed pre-pass)."""
        futs = [self.client.submit(case_id_hashes, p, d, encoding, mapping, pure=False)
                for p, d in zip(parts, data)]
        results = self._gather(futs, "the duplicate case-id pre-pass")
        del futs
        if not results:
            return {}
        h = np.concatenate([r[0] for r in results])
        rows = np.concatenate([r[1].astype(np.int32) for r in results])   # rows of a file < 2**31
        part_of = np.repeat(np.arange(len(results), dtype=np.int32), [len(r[0]) for r in results])
        del results
        order = np.argsort(h, kind="stable")          # stable: reading order among equal hashes
        hs = h[order]
        del h
        same = np.flatnonzero(hs[1:] == hs[:-1])
        del hs
        if same.size == 0:
            return {}
        cand = np.unique(np.concatenate([same, same + 1]))
        cand_pos = order[cand]                          # positions in reading order
        # the ids themselves, fetched from their parts, settle every hash collision
        ids: dict[int, str] = {}
        for pi in np.unique(part_of[cand_pos]):
            pos = cand_pos[part_of[cand_pos] == pi]
            got = self._gather([self.client.submit(case_ids_at, parts[pi], rows[pos], data[pi],
                                                   encoding, mapping, pure=False)],
                               "the duplicate case-id pre-pass")[0]
            ids.update(zip(pos.tolist(), got))
        seen: set[str] = set()
        dup: dict[str, list[int]] = {}
        for p in np.sort(cand_pos):                     # reading order
            value = ids[int(p)]
            if value in seen:
                dup.setdefault(parts[part_of[p]].path, []).append(int(rows[p]))
            else:
                seen.add(value)
        return {path: np.array(sorted(r), np.int64) for path, r in dup.items()}

    def _guard(self, what: str, fn, *args, **kwargs):
        """Run ``fn``; a cluster failure becomes one clear :class:`DipcoreError`."""
        try:
            return fn(*args, **kwargs)
        except _dask_failures() as exc:
            raise DipcoreError(f"the Dask run failed during {what}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None

    # -- the executor --------------------------------------------------------------------------
    def run(self, what: str, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._guard(what, job, self, *args, **kwargs)

    def scan(self, source: Any, p: SourcePass, *, keep: bool = False, rows: RowSink | None = None):
        parts, data, ctx = self._plan(source, self.hospitals, self.encoding, self.mapping,
                                      self.rows_per_part)
        ctx_f = self.client.scatter(ctx, broadcast=True, hash=False)
        pass_f = self.client.scatter(p, broadcast=True, hash=False)
        rows_dir = str(rows.directory) if rows is not None else None
        futs = self._map(_task_scan, parts, data, ctx_f, pass_f, keep, rows_dir,
                         progress=self.progress, stage=p.stage)
        if not keep:
            return self._tree(futs, pass_f, p.what)
        # kept features stay on the workers that made them (Dask spills them under memory
        # pressure); only the pass's state is merged
        state = self._tree([self.client.submit(_task_state, f, pure=False) for f in futs],
                           pass_f, p.what)
        return state, futs

    def over(self, kept: list, p: FeaturePass):
        pass_f = self.client.scatter(p, broadcast=True, hash=False)
        futs = [self.client.submit(_task_over, k, pass_f, pure=False) for k in kept]
        if self.progress is not None and p.stage:
            self._watch(futs, p.stage, self.progress)
        return self._tree(futs, pass_f, p.what)

    @contextlib.contextmanager
    def rows_sink(self, out):
        """Per-case rows as ``cases.parquet/part-N.parquet``, written by the tasks into a
        staging directory that replaces ``out/cases.parquet`` when the run succeeded."""
        if out is None:
            yield None
            return
        output_directory(out)
        staging = Path(tempfile.mkdtemp(prefix=".cases.parquet.", dir=out))
        target = Path(out) / "cases.parquet"
        try:
            yield RowSink(path=target, directory=staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        normal_mode(staging)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(staging, target)
