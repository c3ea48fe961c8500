"""DRG against DIP throughput on the same province: calibrate on the generated years and
settle the last, each phase in its own process (local engine, from Parquet, validation
included), so the two schemes are measured in the same run on the same data.

Usage::

    python -m benchmarks.engine_drg --cases 10000000 --years 3 --work /tmp/dipcore-bench

Uses (or generates) the province of ``benchmarks.engine`` and writes the synthetic CHS-DRG
rule pack of its seed beside it (``data_gen.drg_pack``). Phases: ``dip-calibrate``,
``dip-settle``, ``drg-calibrate`` (national_drg policy), ``drg-settle``; each reports
seconds, cases per second and peak resident memory.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks._phases import measure, phase_main
from benchmarks.engine import _ensure_years, _prov

SEED, HOSPITALS = 1, 300           # benchmarks.engine's province


def _phase(name: str, work: Path, cases: int, years: int) -> dict:
    import dipcore as dc
    prov = _prov(work, years)
    source = prov / "cases"
    hospitals = dc.read_hospitals(prov / "hospitals.csv")
    scheme, step = name.split("-")
    rules = dc.DrgRules.load(prov / "drg_pack") if scheme == "drg" else None
    policy = dc.Policy.builtin("national_drg" if scheme == "drg" else "national")
    catalog_path = work / f"catalog-{scheme}.parquet"

    def run():
        if step == "calibrate":
            catalog = dc.calibrate(source, policy, hospitals=hospitals, rules=rules)
            catalog.save(catalog_path)
            return (int(sum(catalog.groups.column("cases").to_pylist())),
                    {"groups": catalog.groups.num_rows})
        catalog = dc.Catalog.load(catalog_path)
        result = dc.settle(source / "year=2024", catalog,
                           budget={"employee": 5e10, "resident": 5e10}, hospitals=hospitals,
                           out=work / f"settlement-{scheme}", rules=rules)
        return result.cases_count, {"point_value": result.point_value}
    return measure(run, name)


def _ensure(work: Path, cases: int, years: int) -> None:
    _ensure_years(work, cases, years)
    pack = _prov(work, years) / "drg_pack"
    if not (pack / "pack.json").exists():
        from data_gen.drg_pack import write_pack
        write_pack(pack, seed=SEED, hospitals=HOSPITALS)


if __name__ == "__main__":
    phase_main("benchmarks.engine_drg", _phase, "dip-calibrate,dip-settle,drg-calibrate,drg-settle",
               unit="cases", before=_ensure)
