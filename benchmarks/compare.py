"""dipcore against DuckDB and Polars doing the same work, in the same run.

Usage (needs the ``bench`` extra: ``python -m pip install -e ".[test,bench]"``)::

    python -m benchmarks.compare --cases 2000000 --runs 3

The dataset is a generated province of ``--cases`` cases over 2021-2024 (a quarter a year).
Each engine calibrates on 2021-2023 and settles 2024 with the national default rules
(``compare_duckdb.py``, ``compare_polars.py``; dipcore runs with ``aux_dimensions = []``,
since the SQL and Polars versions leave auxiliary subtypes out), in two modes: reading the
Parquet files, and from the same Arrow tables already in memory. dipcore does its full job
(validation and quarantine included); the others trust their input.

The run checks that the three agree: points per hospital to 1e-6 relative, the CCI total per
hospital exactly, point values to 1e-9 relative; any difference is listed. It prints the
median of ``--runs`` runs per engine and mode (after one untimed warm-up each) and the
ratios (other engine's time / dipcore's; above 1 means dipcore is faster).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BUDGET = {"employee": 3e9, "resident": 3e9}


def _dataset(work: Path, cases: int) -> Path:
    prov = work / f"prov-{cases}"
    if not (prov / "manifest.json").exists():
        from data_gen import generate
        generate(prov, max(12, cases // 4), (2021, 2024), hospitals=200, seed=11)
    return prov


def _files(prov: Path, years) -> list[str]:
    return sorted(str(p) for y in years for p in (prov / "cases" / f"year={y}").rglob("*.parquet"))


def run_dipcore(history, current):
    import dipcore as dc
    policy = dc.Policy(aux_dimensions=[])
    catalog = dc.calibrate(history, policy=policy)
    result = dc.settle(current, catalog, budget=BUDGET)
    hospitals = {(h["hospital_id"], h["pool"]): {"points": float(h["points"])}
                 for h in result.hospitals.select(["hospital_id", "pool", "points"]).to_pylist()}
    cci = {r["hospital_id"]: r["cci_sum"] for r in
           result.cases.group_by("hospital_id").aggregate([("cci", "sum")]).to_pylist()}
    return {"point_value": result.point_value, "hospitals": hospitals, "cci": cci}


def run_duckdb(history, current):
    import duckdb
    from benchmarks import compare_duckdb as duckdb_rules
    con = duckdb.connect()
    if isinstance(history, pa.Table):
        con.register("hist_arrow", history)
        con.register("cur_arrow", current)
        return duckdb_rules.run("hist_arrow", "cur_arrow", BUDGET, con)
    as_list = lambda files: "[" + ", ".join(f"'{f}'" for f in files) + "]"  # noqa: E731
    return duckdb_rules.run(f"read_parquet({as_list(history)})", f"read_parquet({as_list(current)})", BUDGET, con)


def run_polars(history, current):
    import polars as pl
    from benchmarks import compare_polars as polars_rules
    if isinstance(history, pa.Table):
        return polars_rules.run(pl.from_arrow(history).lazy(), pl.from_arrow(current).lazy(), BUDGET)
    return polars_rules.run(pl.scan_parquet(history, hive_partitioning=False),
                 pl.scan_parquet(current, hive_partitioning=False), BUDGET)


ENGINES = {"dipcore": run_dipcore, "duckdb": run_duckdb, "polars": run_polars}


def differences(ref: dict, other: dict, name: str) -> list[str]:
    out = []
    for pool, v in ref["point_value"].items():
        w = other["point_value"].get(pool)
        if w is None or abs(v - w) > 1e-9 * abs(v):
            out.append(f"{name}: point value of {pool}: dipcore {v!r}, {name} {w!r}")
    for key, v in ref["hospitals"].items():
        w = other["hospitals"].get(key, {}).get("points")
        if w is None or abs(v["points"] - w) > 1e-6 * max(1.0, abs(v["points"])):
            out.append(f"{name}: points of {key}: dipcore {v['points']!r}, {name} {w!r}")
    for key in set(other["hospitals"]) - set(ref["hospitals"]):
        out.append(f"{name}: hospital {key} not in dipcore's statements")
    for h, v in ref["cci"].items():
        if other["cci"].get(h, 0) != v:
            out.append(f"{name}: CCI total of {h}: dipcore {v}, {name} {other['cci'].get(h, 0)}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dipcore-compare"))
    ap.add_argument("--engines", default="dipcore,duckdb,polars")
    args = ap.parse_args()
    prov = _dataset(args.work, args.cases)
    hist_files, cur_files = _files(prov, (2021, 2022, 2023)), _files(prov, (2024,))
    memory = (pq.read_table(hist_files), pq.read_table(cur_files))
    modes = {"parquet": (hist_files, cur_files), "memory": memory}
    engines = args.engines.split(",")
    times: dict[tuple[str, str], list[float]] = {}
    results = {}
    print(f"dataset: {memory[0].num_rows + memory[1].num_rows:,} cases "
          f"({memory[0].num_rows:,} history, {memory[1].num_rows:,} settled) in {prov}", flush=True)
    for mode, (history, current) in modes.items():
        for name in engines:
            fn = ENGINES[name]
            t0 = time.perf_counter()
            results[(name, mode)] = fn(history, current)                   # warm-up
            first = time.perf_counter() - t0
            runs = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                fn(history, current)
                runs.append(time.perf_counter() - t0)
            times[(name, mode)] = runs
            print(f"  {mode:>8} {name:>8}: median {statistics.median(runs):7.2f} s "
                  f"(runs {', '.join(f'{r:.2f}' for r in runs)}; first {first:.2f} s)", flush=True)
    problems = []
    for mode in modes:
        ref = results[("dipcore", mode)] if "dipcore" in engines else None
        for name in engines:
            if ref is not None and name != "dipcore":
                problems += differences(ref, results[(name, mode)], f"{name} ({mode})")
    print("agreement: " + ("all engines agree (points per hospital to 1e-6, CCI exactly, "
                           "point values to 1e-9)" if not problems else f"{len(problems)} differences"))
    for p in problems[:50]:
        print("  " + p)
    if "dipcore" in engines:
        print("ratios (other / dipcore; > 1: dipcore faster):")
        for mode in modes:
            d = statistics.median(times[("dipcore", mode)])
            others = {n: statistics.median(times[(n, mode)]) for n in engines if n != "dipcore"}
            if others:
                best = min(others, key=others.get)
                print(f"  {mode:>8}: " + ", ".join(f"{n} {t / d:.2f}x" for n, t in others.items())
                      + f"; against the faster ({best}): {others[best] / d:.2f}x")


if __name__ == "__main__":
    main()
