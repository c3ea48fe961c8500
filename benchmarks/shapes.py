"""Throughput across province shapes: does dipcore hold its speed on a province unlike ours?

Usage, from the project root::

    python -m benchmarks.shapes [--cases-per-year 1000000] [--repeats 3]
                                [--shapes base,user,...] [--work /tmp/dipcore-shapes]
                                [--out results.json] [--profile SHAPE]

Generates, for each shape of :data:`SHAPES`, a province of ``--cases-per-year`` cases in
each of 2022-2024 under ``WORK/<shape>-c<cases>/`` (reused when its manifest and the
generator's source are what this run asks for, as ``benchmarks/supervision.py`` does).
The shapes vary one knob of ``data_gen.generate`` at a time from the base shape (300
hospitals, the generator's defaults), plus ``user``, a user's province that ran slowly:
1,500 hospitals, nearly one patient per case, 256K-row row groups, 2,000 diagnoses, 2,500
procedures, at most two procedures per case. Then, per shape, in a process of its own (as
a user runs one province: no shape inherits another's caches, memory or warm files), one
untimed run of every step (loading the compiled kernels, reading the files once), then
``--repeats`` timed runs (the median is reported):

* **floor**: ``pyarrow.parquet.read_table`` of the 2024 year's files, the columns dipcore's
  reader projects, as plain text (``benchmarks.floor``): what reading this shape costs
  Arrow before any of dipcore's work;
* **calibrate**: DIP calibration on the three years, from Parquet (validation included);
* **settle**: the 2024 year against that catalogue, no per-case output written;
* **validate**: read and validate 2024, streaming (``dipcore.scan_cases``);
* **sweep**: 2024 settled under the baseline and six variants of the outlier ratios
  (``dipcore.sweep``: the cases prepared once, scored per variant).

It prints rows per second per shape and step, the ratio of each shape's median time to the
base's, and per step the ratio of the slowest shape to the fastest (the aim: no shape more
than 1.5x slower than the best at the same size), then the same spread of each step's
time over its shape's floor (calibrate reads three years to the floor's one: its ratio to
the floor is larger, its spread is what compares), and writes everything as JSON
(``--out``, default ``WORK/results-c<cases>.json``). ``--profile SHAPE`` runs each step of
one shape once under cProfile and prints the functions of most own time instead.

Timings on a shared machine are noisy: compare medians, and shapes of one run.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):      # run as a script: the project root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.floor import floor_reader, projected_columns  # noqa: E402
from benchmarks.supervision import _generator_digest  # noqa: E402

YEARS = (2022, 2024)
SETTLED = 2024
SEED = 1
DEFAULT_WORK = Path("/tmp/dipcore-shapes")
BASE_HOSPITALS = 300
#: Rows generated at a time: at least a month of a 10M-case year, so that a month is one
#: file and a row group as large as the user's (256K rows) can form.
CHUNK_ROWS = 1_000_000
#: The user's province: the knobs that make it (with 1,500 hospitals).
USER = {"patients_per_case": 1.0, "row_group_rows": 1 << 18, "diagnoses": 2000,
        "procedures": 2500, "max_procedures": 2}
#: Shape name -> (hospitals, generator knobs).
SHAPES: dict[str, tuple[int, dict[str, Any]]] = {
    "base": (BASE_HOSPITALS, {}),
    "hospitals_60": (60, {}),
    "hospitals_1500": (1500, {}),
    "hospitals_5000": (5000, {}),
    "one_patient_per_case": (BASE_HOSPITALS, {"patients_per_case": 1.0}),
    "diagnoses_2000": (BASE_HOSPITALS, {"diagnoses": 2000}),
    "procedures_2500": (BASE_HOSPITALS, {"procedures": 2500}),
    "max_procedures_2": (BASE_HOSPITALS, {"max_procedures": 2}),
    "secondary_x2": (BASE_HOSPITALS, {"secondary_scale": 2.0, "max_secondary": 16}),
    "row_groups_16k": (BASE_HOSPITALS, {"row_group_rows": 1 << 14}),
    "row_groups_256k": (BASE_HOSPITALS, {"row_group_rows": 1 << 18}),
    "shuffled": (BASE_HOSPITALS, {"order": "shuffled"}),
    "user": (1500, USER),
}
STEPS = ("floor", "calibrate", "settle", "validate", "sweep")
#: The sweep step's variants: six scorings of the year beside the baseline.
SWEEP_VARIANTS = {**{f"high_ratio={r}": {"high_ratio": r} for r in (1.5, 2.0, 2.5, 3.0)},
                  **{f"low_ratio={r}": {"low_ratio": r} for r in (0.3, 0.4)}}


def province(work: Path, name: str, cases: int) -> tuple[Path, float]:
    """The shape's province directory, generated unless an identical one is there;
    ``(path, seconds spent generating)`` (0 when reused)."""
    hospitals, knobs = SHAPES[name]
    path = work / f"{name}-c{cases}"
    wanted = {"seed": SEED, "cases_per_year": cases, "years": list(YEARS),
              "hospitals": hospitals, "shape": knobs}
    digest = _generator_digest()
    stamp, manifest_path = path / "generator.sha256", path / "manifest.json"
    if manifest_path.exists() and stamp.exists() and stamp.read_text() == digest:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if {k: manifest.get(k, {}) for k in wanted} == wanted:
            return path, 0.0
    from data_gen import generate
    t0 = time.perf_counter()
    generate(path, cases, YEARS, hospitals=hospitals, seed=SEED, chunk_rows=CHUNK_ROWS,
             **knobs)
    stamp.write_text(digest)
    return path, time.perf_counter() - t0


def steps(path: Path) -> dict[str, Callable[[], int]]:
    """Each step of a province as a function returning the rows it processed."""
    import dipcore as dc
    from dipcore.ingest.sources import list_files
    hospitals = dc.read_hospitals(path / "hospitals.csv")
    year = path / "cases" / f"year={SETTLED}"
    files = list_files(year)
    read_floor = floor_reader(files, projected_columns(files), dictionary=False)
    catalog: list = []

    def calibrate() -> int:
        catalog[:] = [dc.calibrate(path / "cases", hospitals=hospitals)]
        return int(sum(catalog[0].groups.column("cases").to_pylist()))

    def settle() -> int:
        if not catalog:
            calibrate()
        return dc.settle(year, catalog[0], budget={"employee": 5e10, "resident": 5e10},
                         hospitals=hospitals).cases_count

    def validate() -> int:
        return sum(c.num_rows + q.num_rows for c, q in dc.scan_cases(year, hospitals=hospitals))

    def floor() -> int:
        return read_floor().num_rows

    def sweep() -> int:
        if not catalog:
            calibrate()
        done = dc.sweep(year, catalog[0], SWEEP_VARIANTS,
                        budget={"employee": 5e10, "resident": 5e10}, hospitals=hospitals)
        from dipcore.payment.sweep import BASELINE
        return done.settlements[BASELINE].cases_count
    return {"floor": floor, "calibrate": calibrate, "settle": settle, "validate": validate,
            "sweep": sweep}


def measure_apart(path: Path, repeats: int) -> dict[str, dict]:
    """:func:`measure` of one province in a fresh process (this script with ``--one``)."""
    import subprocess
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "benchmarks.shapes", "--one", str(path),
                           "--repeats", str(repeats)], cwd=root, capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"measuring {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(path: Path, repeats: int, warm: bool = False) -> dict[str, dict]:
    """Median seconds and rows per second of each step over ``repeats`` runs, after one
    untimed run of every step when ``warm``."""
    out = {}
    if warm:
        for fn in steps(path).values():
            fn()
    for step, fn in steps(path).items():
        seconds, rows = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = fn()
            seconds.append(time.perf_counter() - t0)
        median = statistics.median(seconds)
        out[step] = {"rows": rows, "seconds": [round(s, 3) for s in seconds],
                     "median_s": round(median, 3), "rows_per_s": round(rows / median)}
    return out


def profile(path: Path, top: int = 15) -> None:
    """Each step once under cProfile (after one run that loads the kernels): the functions
    of most own time."""
    for step, fn in steps(path).items():
        fn()
        prof = cProfile.Profile()
        prof.enable()
        fn()
        prof.disable()
        print(f"\n--- {step}: top {top} by own time")
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def report(results: dict[str, dict]) -> dict[str, dict]:
    """Print the table; return per step the slowest and fastest shapes and their ratio."""
    print(f"\n{'shape':<22}" + "".join(f"{s + ' rows/s':>20}{'x base':>8}" for s in STEPS))
    base = results.get("base")
    for name, r in results.items():
        cells = ""
        for s in STEPS:
            ratio = r["steps"][s]["median_s"] / base["steps"][s]["median_s"] if base else 0.0
            cells += f"{r['steps'][s]['rows_per_s']:>20,}{ratio:>8.2f}"
        print(f"{name:<22}{cells}")
    spread = {}
    for s in STEPS:
        times = {n: r["steps"][s]["median_s"] for n, r in results.items()}
        slow, fast = max(times, key=times.get), min(times, key=times.get)
        spread[s] = {"slowest": slow, "fastest": fast,
                     "ratio": round(times[slow] / times[fast], 2)}
        print(f"{s}: slowest {slow} / fastest {fast} = {spread[s]['ratio']:.2f}x"
              + ("" if spread[s]["ratio"] <= 1.5 or s == "floor" else "  (above 1.5x)"))
    # the same spread of each step over its shape's floor: what is left once the cost of
    # reading each shape's files, which Arrow pays, is taken out
    for s in STEPS[1:]:
        over = {n: r["steps"][s]["median_s"] / r["steps"]["floor"]["median_s"]
                for n, r in results.items()}
        slow, fast = max(over, key=over.get), min(over, key=over.get)
        spread[s]["over_floor"] = {"slowest": slow, "fastest": fast,
                                   "ratio": round(over[slow] / over[fast], 2)}
        print(f"{s} over the floor: {over[fast]:.2f}x ({fast}) to {over[slow]:.2f}x ({slow}):"
              f" {over[slow] / over[fast]:.2f}x")
    return spread


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases-per-year", type=int, default=1_000_000,
                    help="cases in each of the three years (default 1000000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per step (median; default 3)")
    ap.add_argument("--shapes", default=",".join(SHAPES),
                    help=f"comma-separated shapes (default all: {', '.join(SHAPES)})")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK,
                    help=f"where provinces are generated and reused (default {DEFAULT_WORK})")
    ap.add_argument("--out", type=Path, help="results JSON (default WORK/results-c<cases>.json)")
    ap.add_argument("--profile", metavar="SHAPE", choices=list(SHAPES),
                    help="profile this shape's steps instead of measuring the grid")
    ap.add_argument("--one", metavar="DIR", help=argparse.SUPPRESS)  # a child: one province
    args = ap.parse_args(argv)
    if args.profile:
        path, _ = province(args.work, args.profile, args.cases_per_year)
        profile(path)
        return 0
    names = [n.strip() for n in args.shapes.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SHAPES))
    if unknown:
        ap.error(f"unknown shapes {unknown}; known: {list(SHAPES)}")
    if args.one:
        print(json.dumps(measure(Path(args.one), args.repeats, warm=True)))
        return 0
    results = {}
    for name in names:
        path, t_gen = province(args.work, name, args.cases_per_year)
        hospitals, knobs = SHAPES[name]
        results[name] = {"hospitals": hospitals, "knobs": knobs, "path": str(path),
                         "generate_s": round(t_gen, 1),
                         "steps": measure_apart(path, args.repeats)}
        print(f"{name}: generated in {t_gen:.1f} s; " + ", ".join(
            f"{s} {v['median_s']:.2f} s ({v['rows_per_s']:,} rows/s)"
            for s, v in results[name]["steps"].items()), flush=True)
    spread = report(results)
    out = args.out or args.work / f"results-c{args.cases_per_year}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cases_per_year": args.cases_per_year, "years": list(YEARS),
                               "repeats": args.repeats, "seed": SEED, "spread": spread,
                               "shapes": results}, indent=2), encoding="utf-8")
    print(f"\nresults -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
