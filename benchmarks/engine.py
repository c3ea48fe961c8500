"""Engine throughput: calibrate and settle a generated year, each in its own process.

Usage::

    python -m benchmarks.engine --cases 10000000 --work /tmp/dipcore-bench

Generates the year if ``WORK/prov`` does not hold it yet (as ``benchmarks.foundation``
does), then reports seconds, cases per second and peak resident memory per phase.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks._phases import measure, run_phases


def _phase(name: str, work: Path, cases: int) -> dict:
    import dipcore as dc
    source = work / "prov" / "cases"
    hospitals = dc.read_hospitals(work / "prov" / "hospitals.csv")

    def run():
        if name == "calibrate":
            catalog = dc.calibrate(source, hospitals=hospitals)
            catalog.save(work / "catalog.parquet")
            return int(sum(catalog.groups.column("cases").to_pylist())), {"groups": catalog.groups.num_rows}
        if name == "settle":
            catalog = dc.Catalog.load(work / "catalog.parquet")
            result = dc.settle(source, catalog, budget={"employee": 5e10, "resident": 5e10},
                               hospitals=hospitals, out=work / "settlement")
            return result.cases_count, {"point_value": result.point_value}
        raise SystemExit(f"unknown phase {name}")
    return measure(run, name)


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
    run_phases("benchmarks.engine", args.phases.split(","), args.cases, args.work, unit="cases")


if __name__ == "__main__":
    main()
