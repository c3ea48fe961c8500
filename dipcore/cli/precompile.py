"""``dipcore compile``: compile every Numba kernel into its on-disk cache now.

The kernels are compiled with ``cache=True`` (``_kernels/numba_config.py``): a process that
finds a kernel in the cache loads its machine code instead of compiling it. ``pip install``
runs this workload once (``setup.py``'s ``build_ext``), so the first run after installing
loads compiled kernels instead of spending tens of seconds in LLVM. Run it again by hand
after upgrading Numba or moving to another CPU (the cache is keyed by both, and by the
kernels' source).

A kernel is compiled once per combination of argument types, so the workload drives the
commands a user runs, on a generated province small enough to take no time by itself:
Parquet input read in batches (``validate``, ``calibrate``, ``settle``, ``audit``,
``sweep``, ``drg-group``, by DIP and by CHS-DRG), and the demo's in-memory Arrow tables.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
import time
from pathlib import Path

#: The generated province: big enough that every code path (outliers of each class,
#: bed-day cases, quarantined rows, DRG groups of each kind) has cases, small enough that
#: the workload costs nothing beside compiling.
CASES_PER_YEAR = 3000
HOSPITALS = 12


def workload(work: Path) -> list[list[str]]:
    """The command lines compiled for, in order (each is ``dipcore ARGS``)."""
    prov, cases = work / "province", work / "province" / "cases"
    current, previous = cases / "year=2024", cases / "year=2023"
    hosp, pack = prov / "hospitals.csv", prov / "drg_pack"
    budget = ["--budget", "employee=5e7,resident=5e7"]
    variants = work / "variants.toml"
    variants.write_text('[high]\nhigh_ratio = 2.5\n\n[reserve]\nreserve = 0.05\n',
                        encoding="utf-8")
    drg = ["--policy", "national_drg", "--rules", str(pack)]
    return [
        ["generate", str(prov), "--cases-per-year", str(CASES_PER_YEAR), "--years", "2021-2024",
         "--hospitals", str(HOSPITALS), "--seed", "7", "--bad-share", "0.002", "--drg-pack"],
        ["validate", str(cases), "--hospitals", str(hosp), "--quarantine",
         str(work / "quarantine.csv")],
        ["calibrate", str(cases), "--years", "2021-2023", "--hospitals", str(hosp),
         "--out", str(work / "dip.parquet")],
        ["settle", str(current), "--catalog", str(work / "dip.parquet"), "--hospitals",
         str(hosp), "--out", str(work / "dip-settle"), *budget],
        ["audit", str(current), "--catalog", str(work / "dip.parquet"), "--hospitals",
         str(hosp), "--previous", str(previous), "--out", str(work / "dip-audit")],
        ["sweep", str(current), "--catalog", str(work / "dip.parquet"), "--hospitals",
         str(hosp), "--variants", str(variants), "--out", str(work / "dip-sweep"), *budget],
        ["calibrate", str(cases), "--years", "2021-2023", "--hospitals", str(hosp), *drg,
         "--out", str(work / "drg.parquet")],
        ["settle", str(current), "--catalog", str(work / "drg.parquet"), "--hospitals",
         str(hosp), *drg, "--out", str(work / "drg-settle"), *budget],
        ["audit", str(current), "--catalog", str(work / "drg.parquet"), "--hospitals",
         str(hosp), *drg, "--previous", str(previous), "--out", str(work / "drg-audit")],
        ["drg-group", str(current), "--rules", str(pack), "--out", str(work / "grouped.parquet")],
        ["demo", "--out", str(work / "demo-dip"), "--cases-per-year", str(CASES_PER_YEAR),
         "--hospitals", str(HOSPITALS)],
        ["demo", "--out", str(work / "demo-drg"), "--cases-per-year", str(CASES_PER_YEAR),
         "--hospitals", str(HOSPITALS), "--scheme", "drg"],
    ]


def compile_kernels(verbose: bool = True) -> float:
    """Run the workload in a temporary directory; return the seconds it took.

    Raises
    ------
    RuntimeError
        A command of the workload failed (its output is in the message).
    """
    from dipcore.cli.main import main
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dipcore-compile-") as tmp:
        for argv in workload(Path(tmp)):
            out = io.StringIO()
            t = time.perf_counter()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = main([*argv, "--quiet"])
            if code != 0:
                raise RuntimeError(f"dipcore {argv[0]} failed while compiling the kernels:\n"
                                   + out.getvalue())
            if verbose:
                print(f"  dipcore {argv[0]}: {time.perf_counter() - t:.1f} s", flush=True)
    return time.perf_counter() - t0


def cmd_compile(args) -> int:
    print("dipcore compile: compiling the Numba kernels into their cache")
    seconds = compile_kernels(verbose=not args.quiet)
    import numba
    print(f"compiled in {seconds:.1f} s (Numba {numba.__version__}); later runs load them")
    return 0


if __name__ == "__main__":      # what setup.py runs; a failure raises (exit status 1)
    compile_kernels()
