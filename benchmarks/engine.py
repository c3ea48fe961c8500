"""Engine throughput: calibrate and settle a generated year, each in its own process.

Usage::

    python -m benchmarks.engine --cases 10000000 --work /tmp/dipcore-bench

Generates the year if ``WORK/prov`` does not hold it yet (as ``benchmarks.foundation``
does), then reports seconds, cases per second and peak resident memory per phase.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _phase(name: str, work: Path, cases: int) -> dict:
    import dipcore as dc
    source = work / "prov" / "cases"
    hospitals = dc.read_hospitals(work / "prov" / "hospitals.csv")
    t0 = time.perf_counter()
    if name == "calibrate":
        catalog = dc.calibrate(source, hospitals=hospitals)
        catalog.save(work / "catalog.parquet")
        rows = int(sum(catalog.groups.column("cases").to_pylist()))
        extra = {"groups": catalog.groups.num_rows}
    elif name == "settle":
        catalog = dc.Catalog.load(work / "catalog.parquet")
        budget = {"employee": 5e10, "resident": 5e10}
        result = dc.settle(source, catalog, budget=budget, hospitals=hospitals,
                           out=work / "settlement")
        rows = result.cases_count
        extra = {"point_value": result.point_value}
    else:
        raise SystemExit(f"unknown phase {name}")
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": name, "rows": rows, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds), "peak_rss_mb": round(peak_mb), **extra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dipcore-bench"))
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--phases", default="calibrate,settle")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.work, args.cases)))
        return
    if not (args.work / "prov" / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "benchmarks.foundation", "--phases", "generate",
                        "--cases", str(args.cases), "--work", str(args.work)], check=True)
    for phase in args.phases.split(","):
        out = subprocess.run([sys.executable, "-m", "benchmarks.engine", "--phase", phase,
                              "--cases", str(args.cases), "--work", str(args.work)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"phase {phase} failed")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['phase']:>10}: {r['rows']:>11,} cases {r['seconds']:>8.2f} s "
              f"{r['rows_per_s']:>11,} cases/s  peak RSS {r['peak_rss_mb']:>6,} MB", flush=True)


if __name__ == "__main__":
    main()
