"""Running benchmark phases in their own processes, so each reports its own peak memory."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable


def measure(fn: Callable[[], tuple[int, dict]], name: str) -> dict:
    """Run ``fn`` (returning ``(rows, extra)``) and report time, rate and peak RSS."""
    t0 = time.perf_counter()
    rows, extra = fn()
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": name, "rows": rows, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds), "peak_rss_mb": round(peak_mb), **extra}


def run_phases(module: str, phases: list[str], cases: int, work: Path, unit: str = "rows",
               years: int = 1) -> None:
    """Run ``python -m module --phase P`` for each phase and print one line per phase."""
    for phase in phases:
        out = subprocess.run([sys.executable, "-m", module, "--phase", phase,
                              "--cases", str(cases), "--work", str(work), "--years", str(years)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"phase {phase} failed")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['phase']:>13}: {r['rows']:>11,} {unit} {r['seconds']:>8.2f} s "
              f"{r['rows_per_s']:>11,} {unit}/s  peak RSS {r['peak_rss_mb']:>6,} MB", flush=True)


def phase_main(module: str, phase_fn: Callable[..., dict], default_phases: str,
               unit: str = "rows", before: Callable[..., None] | None = None) -> None:
    """The command line shared by the phase benchmarks (``--cases`` per year, ``--years``,
    ``--work``, ``--phases``); ``phase_fn(name, work, cases, years)``."""
    import argparse
    ap = argparse.ArgumentParser(prog=f"python -m {module}")
    ap.add_argument("--cases", type=int, default=10_000_000, help="cases per year")
    ap.add_argument("--years", type=int, default=1, help="years (ending 2024)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dipcore-bench"))
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--phases", default=default_phases)
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(phase_fn(args.phase, args.work, args.cases, args.years)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    if before is not None:
        before(args.work, args.cases, args.years)
    run_phases(module, args.phases.split(","), args.cases, args.work, unit=unit, years=args.years)
