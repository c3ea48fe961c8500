"""The floor under the comparison: reading the Parquet files, and nothing else.

Usage (needs the ``bench`` extra)::

    python -m benchmarks.floor --cases 2000000 --runs 3
    python -m benchmarks.floor --cases 2000000 --runs 3 --seed 5 --hospitals 600

On the generated province of ``benchmarks/compare.py`` (``--seed`` and ``--hospitals`` give
another shape), each round times, one after the other:

* ``floor``: ``pyarrow.parquet.read_table`` of the monthly files with exactly the
  columns dipcore's reader projects (``resolve_columns`` over each file's schema: every case
  column the file has, since validation looks at all of them), plain text columns;
* ``floor-dict``: the same read with the code columns dictionary-encoded, as dipcore asks
  Parquet for them (``dipcore.ingest.sources.parquet_file``), for reference;
* ``codes`` (in memory): the code columns of the in-memory tables (diagnoses, procedures,
  hospital and pool) hashed once by ``pyarrow.compute.dictionary_encode``: what any engine
  spends to see the codes as keys before it groups anything, for reference;
* dipcore, DuckDB and Polars doing the whole job (calibrate 2021-2023, settle 2024), from
  the Parquet files and from the same Arrow tables in memory.

Rounds interleave the engines so that load from other users of the machine falls on all of
them alike; the first round is an untimed warm-up. Prints medians, the whole job from
Parquet as a multiple of the floor, and the other engines' times over dipcore's (median of
the per-round ratios, with the ratio of medians beside it), and what DuckDB's medians make of
the targets of 8x DuckDB from Parquet and 10x in memory, in seconds, beside the floors.
Results are checked as in ``compare.py`` (points per hospital, CCI totals, point values).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.compare import ENGINES, _files, differences


def dataset(work: Path, cases: int, hospitals: int, seed: int) -> Path:
    """The province of ``compare.py`` (200 hospitals, seed 11) or another shape of it."""
    name = f"prov-{cases}" if (hospitals, seed) == (200, 11) else f"prov-{cases}-h{hospitals}-s{seed}"
    prov = work / name
    if not (prov / "manifest.json").exists():
        from data_gen import generate
        generate(prov, max(12, cases // 4), (2021, 2024), hospitals=hospitals, seed=seed)
    return prov


def projected_columns(files: list[str]) -> list[str]:
    """The source columns dipcore reads from these files (the same for every file here)."""
    from dipcore.ingest.reader import resolve_columns
    from dipcore.ingest.sources import source_columns
    seen = {tuple(resolve_columns(source_columns(f), None, source=f, need_level=True).values())
            for f in files}
    if len(seen) != 1:
        raise SystemExit(f"files project different columns: {seen}")
    return list(seen.pop())


def floor_reader(files: list[str], columns: list[str], dictionary: bool):
    if not dictionary:
        return lambda: pq.read_table(files, columns=columns)
    from dipcore.ingest.sources import DICTIONARY_COLUMNS
    leaves = [c.path for c in pq.ParquetFile(files[0]).schema
              if c.physical_type == "BYTE_ARRAY" and c.path.split(".")[0] in DICTIONARY_COLUMNS]
    return lambda: pq.read_table(files, columns=columns, read_dictionary=leaves)


#: The code columns every engine groups by: hashed once they are the in-memory floor.
CODE_COLUMNS = ("primary_dx", "secondary_dx", "procedures", "hospital_id", "pool")


def codes_hasher(tables):
    """Each code column of ``tables`` dictionary-encoded once (lists flattened first)."""
    def run():
        for t in tables:
            for name in CODE_COLUMNS:
                column = t.column(name)
                if pa.types.is_list(column.type):
                    column = pc.list_flatten(column)
                column.dictionary_encode()
    return run


#: The issue's targets: dipcore this many times faster than DuckDB, per mode.
DUCKDB_TARGETS = {"parquet": 8, "memory": 10}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    ap.add_argument("--cases", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=3, help="timed rounds, after one warm-up round")
    ap.add_argument("--hospitals", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dipcore-compare"))
    ap.add_argument("--engines", default="dipcore,duckdb,polars")
    args = ap.parse_args()
    prov = dataset(args.work, args.cases, args.hospitals, args.seed)
    hist, cur = _files(prov, (2021, 2022, 2023)), _files(prov, (2024,))
    files = hist + cur
    columns = projected_columns(files)
    memory = (pq.read_table(hist), pq.read_table(cur))
    print(f"dataset: {memory[0].num_rows + memory[1].num_rows:,} cases in {len(files)} files, "
          f"{args.hospitals} hospitals, seed {args.seed} ({prov})")
    print(f"floor columns ({len(columns)}): {', '.join(columns)}", flush=True)
    tasks = {("floor", "parquet"): floor_reader(files, columns, False),
             ("floor-dict", "parquet"): floor_reader(files, columns, True),
             ("codes", "memory"): codes_hasher(memory)}
    engines = args.engines.split(",")
    for mode, (h, c) in {"parquet": (hist, cur), "memory": memory}.items():
        for name in engines:
            tasks[(name, mode)] = (lambda fn, h, c: lambda: fn(h, c))(ENGINES[name], h, c)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in tasks}
    results = {}
    for rnd in range(args.runs + 1):
        for key, fn in tasks.items():
            t0 = time.perf_counter()
            out = fn()
            t = time.perf_counter() - t0
            if rnd == 0:
                results[key] = out
            else:
                times[key].append(t)
            print(f"  round {rnd}{' (warm-up)' if rnd == 0 else ''} {key[1]:>8} {key[0]:>10}: {t:7.2f} s",
                  flush=True)
    problems = []
    if "dipcore" in engines:
        for mode in ("parquet", "memory"):
            for name in engines:
                if name != "dipcore":
                    problems += differences(results[("dipcore", mode)], results[(name, mode)], f"{name} ({mode})")
    print("agreement: " + ("all engines agree" if not problems else f"{len(problems)} differences"))
    for p in problems[:20]:
        print("  " + p)
    print(f"medians of {args.runs} rounds:")
    for key, ts in times.items():
        print(f"  {key[1]:>8} {key[0]:>10}: {statistics.median(ts):7.2f} s  (runs {', '.join(f'{t:.2f}' for t in ts)})")

    def ratio(a, b):
        per_round = statistics.median(x / y for x, y in zip(times[a], times[b]))
        return f"{per_round:.2f}x (ratio of medians {statistics.median(times[a]) / statistics.median(times[b]):.2f}x)"
    if "dipcore" in engines:
        print("whole job from Parquet over the floor:")
        print(f"  dipcore / floor:      {ratio(('dipcore', 'parquet'), ('floor', 'parquet'))}")
        print(f"  dipcore / floor-dict: {ratio(('dipcore', 'parquet'), ('floor-dict', 'parquet'))}")
        print("other engine over dipcore (> 1: dipcore faster):")
        for mode in ("memory", "parquet"):
            for name in engines:
                if name != "dipcore":
                    print(f"  {mode:>8} {name:>8}: {ratio((name, mode), ('dipcore', mode))}")
    if "duckdb" in engines:
        med = {k: statistics.median(ts) for k, ts in times.items()}
        print("the DuckDB targets in seconds (DuckDB's median over the target):")
        for mode, floor in (("parquet", "floor"), ("memory", "codes")):
            need = med[("duckdb", mode)] / DUCKDB_TARGETS[mode]
            now = f"dipcore {med[('dipcore', mode)]:.2f} s, " if "dipcore" in engines else ""
            print(f"  {mode:>8}: {DUCKDB_TARGETS[mode]}x DuckDB is {need:.2f} s; {now}{floor} "
                  f"{med[(floor, mode)]:.2f} s" + (" (the target is below it)"
                                                  if need < med[(floor, mode)] else ""))


if __name__ == "__main__":
    main()
