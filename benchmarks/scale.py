"""Province scale: calibrate several years of generated cases, then settle a year, on the
local engine and on Dask.

Usage::

    python -m benchmarks.scale --cases-per-year 20000000 --years 2021-2023 --workers 0,1,2

Generates the years (streamed, bounded memory) unless ``WORK/prov`` already holds them,
then for each worker count calibrates all years and settles the last one (with its
per-case output), and reports wall time, throughput and the peak resident memory summed
over this process and all its children (scheduler, nannies, workers), sampled every 0.2 s.
Worker count 0 is the local engine (threads in this process, no Dask): the 60M-case
calibration target of ``dipcore calibrate`` (3 x 20M, 60 s, 6 GB) is measured there.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import psutil


class PeakMemory:
    """Peak of the summed RSS of this process and its descendants."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me] + me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases-per-year", type=int, default=20_000_000)
    ap.add_argument("--years", default="2021-2023")
    ap.add_argument("--workers", default="0,1,2",
                    help="Dask workers per run, comma-separated; 0: the local engine")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dipcore-scale"))
    ap.add_argument("--rows-per-part", type=int, default=1 << 20)
    args = ap.parse_args()
    first, last = (int(y) for y in args.years.split("-"))
    prov = args.work / "prov"
    manifest = prov / "manifest.json"
    if not manifest.exists() or json.loads(manifest.read_text())["cases_per_year"] != args.cases_per_year:
        from data_gen import generate
        t0 = time.perf_counter()
        with PeakMemory() as mem:
            generate(prov, args.cases_per_year, (first, last), hospitals=500, seed=3,
                     chunk_rows=1_000_000)
        print(f"generate: {args.cases_per_year * (last - first + 1):,} cases in "
              f"{time.perf_counter() - t0:.1f} s, peak RSS {mem.peak / 2**30:.2f} GiB", flush=True)

    import dipcore as dc
    from dask.distributed import Client, LocalCluster
    hospitals = dc.read_hospitals(prov / "hospitals.csv")
    total = args.cases_per_year * (last - first + 1)
    print(f"{'workers':>7} {'calibrate s':>12} {'cases/s':>12} {'settle s':>9} {'cases/s':>12} "
          f"{'peak RSS GiB':>13}", flush=True)
    for n in (int(w) for w in args.workers.split(",")):
        if n == 0:
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                catalog = dc.calibrate(prov / "cases", hospitals=hospitals,
                                       years=list(range(first, last + 1)))
                t_cal = time.perf_counter() - t0
                t0 = time.perf_counter()
                result = dc.settle(prov / "cases" / f"year={last}", catalog,
                                   budget={"employee": 1e11, "resident": 1e11},
                                   hospitals=hospitals, out=args.work / "settle-local")
                t_set = time.perf_counter() - t0
            print(f"{'local':>7} {t_cal:>12.1f} {total / t_cal:>12,.0f} {t_set:>9.1f} "
                  f"{result.cases_count / t_set:>12,.0f} {mem.peak / 2**30:>13.2f}", flush=True)
            continue
        with PeakMemory() as mem:
            with LocalCluster(n_workers=n, threads_per_worker=max(1, psutil.cpu_count() // n),
                              processes=True, dashboard_address=None) as cluster, Client(cluster) as c:
                t0 = time.perf_counter()
                catalog = dc.calibrate(prov / "cases", hospitals=hospitals, engine="dask", client=c,
                                       batch_rows=args.rows_per_part)
                t_cal = time.perf_counter() - t0
                t0 = time.perf_counter()
                result = dc.settle(prov / "cases" / f"year={last}", catalog,
                                   budget={"employee": 1e11, "resident": 1e11},
                                   hospitals=hospitals, engine="dask", client=c,
                                   batch_rows=args.rows_per_part, out=args.work / f"settle-{n}")
                t_set = time.perf_counter() - t0
        print(f"{n:>7} {t_cal:>12.1f} {total / t_cal:>12,.0f} {t_set:>9.1f} "
              f"{result.cases_count / t_set:>12,.0f} {mem.peak / 2**30:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
