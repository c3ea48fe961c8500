"""The Dask engine: the local engine's passes, one partition per task, tree-reduced.

* Inputs given as paths are planned into parts (a Parquet file cut at row-group
  boundaries, a CSV or Arrow file whole, an in-memory table sliced and scattered), and each
  task reads its own part lazily.
* Every task runs the *same* pass functions as the local engine (``dipcore.api``:
  ``prepare_part``, ``calibration_groups``, ``calibration_points``, ``settlement_sums``)
  and returns the same partial state; partials are merged pairwise-and-up in a tree
  (``split_every`` at a time), never shuffled.
* The catalogue, policy and registry are scattered once to every worker.
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
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
from distributed.diagnostics.plugin import WorkerPlugin

from dipcore import api as A
from dipcore.schemes.dip import calibration as C
from dipcore.catalog import Catalog
from dipcore.errors import DipcoreError
from dipcore.ingest.reader import case_id_hashes, case_ids_at, part_pieces
from dipcore.engine.local import Checking
from dipcore.policy import Policy
from dipcore.ingest.sources import DEFAULT_BATCH_ROWS, Part, plan_parts

SPLIT_EVERY = 8


def configure_worker(threads: int) -> None:
    """Run on every worker: Arrow's and Numba's threads <= the worker's share of cores,
    and one thread per dipcore pass (the worker runs ``threads`` tasks at once)."""
    import pyarrow
    from dipcore.engine import local as pipeline
    from dipcore._kernels.numba_config import set_threads
    pyarrow.set_cpu_count(max(1, threads))
    set_threads(threads)
    pipeline.set_threads(1)


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


def _part_input(part: Part, data: Any, ctx: dict) -> tuple[A.Pieces, Checking]:
    """The raw pieces of one part and how to check them: one thread (Dask runs a task per
    core), with the repeated case ids the pre-pass found."""
    dups = ctx["duplicates"]
    checking = Checking(ctx["hospitals"], n_threads=1,
                        duplicates={part.path: dups[part.path]} if part.path in dups else {})
    return part_pieces(part, data, ctx["hospitals"], ctx["encoding"], ctx["mapping"],
                       ctx["batch_rows"]), checking


# -- task functions (module level, so workers import them) -------------------------------------
def _task_prepare(part, data, ctx):
    return A.prepare_part(*_part_input(part, data, ctx), ctx["policy"], A.FeatureStore(compress=True))


def _task_groups(prepared, draft, years):
    return A.calibration_groups(prepared, draft, years)


def _task_points(prepared, catalog, years):
    return A.calibration_points(prepared, catalog, years)


def _task_settle(part, data, ctx, catalog, special, out_dir):
    write = None
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            path = Path(out_dir) / f"part-{part.index:06d}.parquet"
            write = A._writer(stack, str(path))
        partial = A.settlement_sums(*_part_input(part, data, ctx), catalog, ctx["policy"],
                                    special, write)
    return partial


class DaskEngine:
    """Runs calibration and settlement on a Dask cluster.

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

    def __init__(self, client: Any = None, workers: int | None = None, dashboard: bool = False):
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

    def __enter__(self) -> "DaskEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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

    def _tree(self, futures: list, merge: Callable, what: str):
        """Merge partial states in a tree, ``SPLIT_EVERY`` at a time, on the workers."""
        while len(futures) > 1:
            futures = [self.client.submit(merge, futures[i:i + SPLIT_EVERY], pure=False)
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
        source = A._replayable(source)
        parts, tables = plan_parts(source, rows_per_part)
        if tables:
            data = self.client.scatter(tables, hash=False)
            n = len(self.client.scheduler_info().get("workers", {}))
            if n > 1:
                self.client.replicate(data, n=min(2, n))   # survive the loss of a worker
        else:
            data = [None] * len(parts)
        duplicates = self._duplicates(parts, data, encoding, mapping)
        ctx = dict(policy=None, hospitals=hospitals, encoding=encoding, mapping=mapping,
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

    # -- calibration -------------------------------------------------------------------------------
    def calibrate(self, *args, **kwargs) -> Catalog:
        """Calibration on the cluster (arguments of :func:`dipcore.calibrate`)."""
        return self._guard("calibration", self._calibrate, *args, **kwargs)

    def settle(self, *args, **kwargs):
        """Settlement on the cluster (arguments of :func:`dipcore.settle`)."""
        return self._guard("settlement", self._settle, *args, **kwargs)

    def _calibrate(self, history, policy: Policy, hospitals=None, *, years=None, encoding="utf-8",
                   mapping=None, rows_per_part=DEFAULT_BATCH_ROWS, progress=None) -> Catalog:
        parts, data, ctx = self._plan(history, hospitals, encoding, mapping, rows_per_part)
        ctx["policy"] = policy
        ctx_f = self.client.scatter(ctx, broadcast=True, hash=False)
        # pass 1 reads, validates and prepares each part once; its features stay on the
        # worker that made them (Dask spills them to disk under memory pressure)
        prepared = self._map(_task_prepare, parts, data, ctx_f, progress=progress,
                             stage="calibrate: read and prepare")
        keys = self._tree([self.client.submit(A.part_keys, p, pure=False) for p in prepared],
                          A.merge_keys, "calibration pass 1")
        draft, draft_cat, cal_years, warnings = A.draft_catalog(keys, policy, years)
        draft_f = self.client.scatter(draft_cat, broadcast=True, hash=False)
        state = self._tree([self.client.submit(_task_groups, p, draft_f, cal_years, pure=False)
                            for p in prepared], A.merge_groups, "calibration pass 2")
        catalog = C.build_catalog(draft, state, policy,
                                  C.fingerprint_text(keys.fingerprints, cal_years), warnings)
        if policy.budget_point_value:
            catalog.budget_point_value = dict(policy.budget_point_value)
        else:
            cat_f = self.client.scatter(catalog, broadcast=True, hash=False)
            sums = self._tree([self.client.submit(_task_points, p, cat_f, cal_years, pure=False)
                               for p in prepared], C.merge_history_points, "calibration pass 3")
            catalog.budget_point_value = C.budget_point_values(sums, policy, cal_years)
        del prepared
        return catalog

    # -- settlement --------------------------------------------------------------------------------
    def _settle(self, cases, catalog: Catalog, budget, policy: Policy, hospitals, special: set[str],
               appraisal, deductions, prepaid, *, encoding="utf-8", mapping=None, out=None,
               rows_per_part=DEFAULT_BATCH_ROWS, progress=None):
        parts, data, ctx = self._plan(cases, hospitals, encoding, mapping, rows_per_part)
        ctx["policy"] = policy
        ctx_f = self.client.scatter(ctx, broadcast=True, hash=False)
        cat_f = self.client.scatter(catalog, broadcast=True, hash=False)
        special_arr = pa.array(sorted(special), pa.string())
        staging = None
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".cases.parquet.", dir=out))
        try:
            futs = self._map(_task_settle, parts, data, ctx_f, cat_f, special_arr,
                             str(staging) if staging else None, progress=progress, stage="settle")
            partial = self._tree(futs, A.merge_settlement, "settlement")
            result = A.finish_settlement(partial, catalog, policy, budget, special, appraisal,
                                         deductions, prepaid)
        except BaseException:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise
        if out is not None:
            target = Path(out) / "cases.parquet"
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(staging, target)
            result.cases_path = target
            result.save(out)
        return result
