"""Engine throughput: calibrate on generated years and settle the last, each in its own
process (local engine, from Parquet, validation included).

Usage::

    python -m benchmarks.engine --cases 10000000 --years 3 --work /tmp/dipcore-bench

Generates ``--years`` years of ``--cases`` cases each, ending 2024, unless ``WORK/prov``
holds them already; calibrates on all of them and settles 2024, reporting seconds, cases
per second and peak resident memory per phase.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks._phases import measure, phase_main


def _phase(name: str, work: Path, cases: int, years: int) -> dict:
    import dipcore as dc
    prov = _prov(work, years)
    source = prov / "cases"
    hospitals = dc.read_hospitals(prov / "hospitals.csv")

    def run():
        if name == "calibrate":
            catalog = dc.calibrate(source, hospitals=hospitals)
            catalog.save(work / "catalog.parquet")
            return int(sum(catalog.groups.column("cases").to_pylist())), {"groups": catalog.groups.num_rows}
        if name == "settle":
            catalog = dc.Catalog.load(work / "catalog.parquet")
            result = dc.settle(source / "year=2024", catalog,
                               budget={"employee": 5e10, "resident": 5e10},
                               hospitals=hospitals, out=work / "settlement")
            return result.cases_count, {"point_value": result.point_value}
        raise SystemExit(f"unknown phase {name}")
    return measure(run, name)


def _prov(work: Path, years: int) -> Path:
    return work / ("prov" if years == 1 else f"prov-{years}y")


def _ensure_years(work: Path, cases: int, years: int) -> None:
    prov = _prov(work, years)
    if not (prov / "manifest.json").exists():
        from data_gen import generate
        generate(prov, cases, (2025 - years, 2024), hospitals=300, seed=1, chunk_rows=1_000_000)


if __name__ == "__main__":
    phase_main("benchmarks.engine", _phase, "calibrate,settle", unit="cases", before=_ensure_years)
