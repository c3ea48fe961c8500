"""Engine throughput: calibrate and settle a generated year, each in its own process.

Usage::

    python -m benchmarks.engine --cases 10000000 --work /tmp/dipcore-bench

Generates the year if ``WORK/prov`` does not hold it yet (as ``benchmarks.foundation``
does), then reports seconds, cases per second and peak resident memory per phase.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks._phases import measure, phase_main


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


def _ensure_year(work: Path, cases: int) -> None:
    if not (work / "prov" / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "benchmarks.foundation", "--phases", "generate",
                        "--cases", str(cases), "--work", str(work)], check=True)


if __name__ == "__main__":
    phase_main("benchmarks.engine", _phase, "calibrate,settle", unit="cases", before=_ensure_year)
