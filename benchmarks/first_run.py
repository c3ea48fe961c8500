"""The first run after install: a fresh virtual environment, ``pip install``, then the CLI.

Usage, from the project root (needs the package index that ``pip`` is configured with)::

    python -m benchmarks.first_run [--venv DIR] [--extras test] [--cases 2000] [--runs 3]

Makes a virtual environment (``--venv``, default a temporary directory; one that already
has dipcore installed is reused as it is), installs this checkout into it (with
``--extras`` if given: ``test`` brings pandas and SciPy, which pyarrow and Numba then
import too) and, in fresh processes of that environment, times:

* ``python -c "import dipcore"``;
* ``dipcore generate`` of a small province (``--cases`` a year, 2023-2024);
* ``dipcore calibrate`` of 2023 and ``dipcore settle`` of 2024 with ``--out``, each
  ``--runs`` times; the first of them is the first run after install.

The install compiles the Numba kernels into their cache (``setup.py``), so no run compiles
anything: what a first run costs beyond the later ones is loading that cache (each process
loads it anew; ``dipcore generate`` runs before them, so the files are in the page cache, as
they are right after an install). The times
are wall times of whole processes, imports included; the packages the environment holds
are printed with them (pandas and SciPy change the imports).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = "employee=5e6,resident=5e6"


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of ``cmd`` in a fresh process; its output is discarded, its failure
    stops the benchmark with the command's last lines."""
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{tail}")
    return seconds


def install(venv: Path, extras: str) -> float | None:
    """Installs this checkout into ``venv`` (made if missing); seconds taken, or None when
    dipcore was already there."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # from the environment's own directory: in the project root, the checkout would be found
    has = subprocess.run([str(python), "-c", "import dipcore"], capture_output=True, cwd=venv)
    if has.returncode == 0:
        return None
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    return timed([str(python), "-m", "pip", "install", "-q", target], cwd=venv)


def packages(venv: Path) -> str:
    """The versions of the packages that weigh on a process's start."""
    probe = ("import importlib.metadata as m\n"
             "for n in ('numpy', 'numba', 'pyarrow', 'pandas', 'scipy'):\n"
             "    try: print(n, m.version(n))\n"
             "    except m.PackageNotFoundError: print(n, 'absent')\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True,
                         text=True, check=True, cwd=venv).stdout
    return ", ".join(out.strip().splitlines())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", type=Path, help="virtual environment (default: a new one in a "
                    "temporary directory, removed at the end)")
    ap.add_argument("--extras", default="", help="extras to install with dipcore, e.g. test")
    ap.add_argument("--cases", type=int, default=2000, help="cases a year (default 2000)")
    ap.add_argument("--runs", type=int, default=3, help="runs of calibrate and settle (at "
                    "least 1)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        venv = args.venv or work / "venv"
        took = install(venv, args.extras)
        print(f"install: {'already installed' if took is None else f'{took:.1f} s'}; "
              f"{packages(venv)}")
        bin_ = venv / "bin"
        print(f"import dipcore: {timed([str(bin_ / 'python'), '-c', 'import dipcore'], work):.2f} s")
        prov = work / "prov"
        seconds = timed([str(bin_ / "dipcore"), "generate", str(prov), "--cases-per-year",
                         str(args.cases), "--years", "2023-2024", "--hospitals", "60",
                         "--quiet"], work)
        print(f"generate {args.cases:,} cases a year: {seconds:.2f} s")
        hospitals = str(prov / "hospitals.csv")
        calibrate = [str(bin_ / "dipcore"), "calibrate", str(prov / "cases" / "year=2023"),
                     "--hospitals", hospitals, "--out", str(work / "catalog.parquet"), "--quiet"]
        settle = [str(bin_ / "dipcore"), "settle", str(prov / "cases" / "year=2024"),
                  "--catalog", str(work / "catalog.parquet"), "--hospitals", hospitals,
                  "--budget", BUDGET, "--out", str(work / "settled"), "--quiet"]
        for name, cmd in (("calibrate", calibrate), ("settle", settle)):
            times = [timed(cmd, work) for _ in range(args.runs)]
            later = ", ".join(f"{t:.2f}" for t in times[1:])
            print(f"dipcore {name}: first run {times[0]:.2f} s"
                  + (f", then {later} s" if later else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
