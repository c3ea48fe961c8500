"""The ``dipcore`` command line (DESIGN.md section 5): the parser and the entry point.

A bad input ends with one line on standard error naming the file, row or column, and exit
code 2; an unexpected failure prints one line too (exit 70) unless ``DIPCORE_DEBUG=1`` asks
for the traceback.
"""
from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys

from dipcore.cli.commands import (cmd_audit, cmd_calibrate, cmd_drg_group, cmd_generate, cmd_settle,
                                  cmd_sweep, cmd_validate)
from dipcore.cli.demo import cmd_demo
from dipcore.cli.precompile import cmd_compile
from dipcore.cli.report import cmd_report
from dipcore.cli.options import (
    add_drg_options,
    add_engine_options,
    add_input_options,
    add_settlement_inputs,
    add_threads_option,
    add_year_options,
    fraction,
    nonnegative,
    positive,
    share,
    years,
)

EXIT_INPUT = 2


EXIT_INTERNAL = 70
#: The reader of standard output went away (``dipcore settle ... | head``): 128 + SIGPIPE,
#: as a shell reports a command that a closed pipe stopped.
EXIT_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    from dipcore._version import __version__
    p = argparse.ArgumentParser(prog="dipcore", description="DIP and CHS-DRG payment engine: "
                                "grouping, points, point value and settlement under a regional "
                                "budget.")
    p.add_argument("--version", action="version", version=f"dipcore {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the whole job on a generated small province")
    d.add_argument("--out", default="dipcore-demo", help="output directory (default: dipcore-demo)")
    d.add_argument("--cases-per-year", type=positive, default=200_000)
    d.add_argument("--hospitals", type=positive, default=60)
    d.add_argument("--seed", type=int, default=2024)
    d.add_argument("--scheme", choices=("dip", "drg"), default="dip",
                   help="pay the province by DIP (default) or by CHS-DRG points with the "
                        "generated rule pack")
    d.set_defaults(func=cmd_demo)

    k = sub.add_parser("compile", help="compile the Numba kernels into their cache now "
                       "(pip install does it; again after upgrading Numba)")
    k.set_defaults(func=cmd_compile)

    g = sub.add_parser("generate", help="write a synthetic province (cases, registry, labels)")
    g.add_argument("out", help="output directory")
    g.add_argument("--cases-per-year", type=positive, required=True)
    g.add_argument("--years", type=years, default=(2021, 2024), help="e.g. 2021-2024")
    g.add_argument("--hospitals", type=positive, default=60)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--chunk-rows", type=positive, default=500_000,
                   help="rows generated at a time (memory; does not change the data)")
    g.add_argument("--bad-share", type=share, default=0.0,
                   help="share of cases given one bad value (exercises the quarantine)")
    g.add_argument("--drg-pack", action="store_true",
                   help="also write OUT/drg_pack/, an invented CHS-DRG rule pack over the "
                        "province's codes (for drg-group)")
    g.add_argument("--heterogeneity", type=nonnegative, default=0.0,
                   help="honest hospitals differ stably from each other (coding habits, price "
                        "level, LOS, ...: data_gen/heterogeneity.py); 1 is realistic, 0 none")
    shape = g.add_argument_group("shape", "how the cases and files look (data_gen.generate "
                                 "documents each; the defaults are the usual province)")
    shape.add_argument("--patients-per-case", type=fraction, default=None,
                       help="distinct patients per case in a year, in (0, 1] (1: nearly one "
                            "patient per case; default: repeat admissions, about 0.5)")
    shape.add_argument("--diagnoses", type=positive, default=3000,
                       help="diagnoses of the catalogue (distinct principal codes; default 3000)")
    shape.add_argument("--procedures", type=positive, default=None,
                       help="distinct procedure codes (default: all the model draws, ~7,900)")
    shape.add_argument("--max-secondary", type=int, default=8,
                       help="most secondary diagnoses a case records (default 8)")
    shape.add_argument("--secondary-scale", type=nonnegative, default=1.0,
                       help="multiplier of the mean number of secondary diagnoses (default 1)")
    shape.add_argument("--max-procedures", type=positive, default=5,
                       help="most procedures a case records (default 5)")
    shape.add_argument("--extra-procedure-share", type=fraction, default=0.5,
                       help="share of cases recording excluded simple procedures (default 0.5)")
    shape.add_argument("--row-group-rows", type=positive, default=1 << 17,
                       help="rows per Parquet row group (default 131072)")
    shape.add_argument("--order", choices=("sorted", "shuffled"), default="sorted",
                       help="rows within a file: by case index (default) or shuffled")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("calibrate", help="build a catalogue (DIP scores or DRG weights) "
                       "from history")
    c.add_argument("history", help="cases of the calibration years (Parquet, CSV, Arrow)")
    c.add_argument("--out", required=True, help="catalogue file to write (.parquet)")
    c.add_argument("--years", type=years, help="calibration years, e.g. 2021-2023")
    add_input_options(c)
    add_drg_options(c)
    add_engine_options(c)
    c.set_defaults(func=cmd_calibrate)

    t = sub.add_parser("settle", help="points, point value and statements for a year")
    add_year_options(t, "results directory", "settlement.xlsx")
    add_settlement_inputs(t)
    add_engine_options(t)
    t.set_defaults(func=cmd_settle)

    w = sub.add_parser("sweep", help="what-if: a year settled under many policy variants, "
                       "the cases prepared once")
    add_year_options(w, "sweep results directory", "sweep.xlsx")
    w.add_argument("--variants", required=True,
                   help="TOML file: one [name] table of policy fields per variant, and/or a "
                        "[grid] table of lists (every combination)")
    add_settlement_inputs(w)
    w.add_argument("--history", help="calibration history (Parquet, CSV, Arrow): needed by "
                   "variants that change grouping or calibration fields (recalibrated)")
    add_engine_options(w)
    w.set_defaults(func=cmd_sweep)

    a = sub.add_parser("audit", help="supervision signals and appraisal indicators")
    add_year_options(a, "audit directory", "audit.xlsx")
    a.add_argument("--previous", help="the previous year's cases, for year-on-year signals")
    add_engine_options(a)
    a.set_defaults(func=cmd_audit)

    r = sub.add_parser("drg-group", help="CHS-DRG grouping with a rule pack (one row per case)")
    r.add_argument("cases", help="cases: Parquet file or directory, CSV or Arrow file")
    r.add_argument("--rules", required=True,
                   help="rule pack directory (pack.json + CSV or .xlsx tables)")
    r.add_argument("--out", required=True, help="grouped cases to write (.parquet or .csv)")
    r.add_argument("--trace", action="store_true",
                   help="add the steps that decided each case (slow: for inspecting cases)")
    r.add_argument("--lang", choices=("zh", "en"), default="zh",
                   help="language of the trace in a CSV output (default zh)")
    r.add_argument("--map-codes", action="store_true",
                   help="translate codes through the pack's maps first (map mode)")
    r.add_argument("--encoding", default="utf-8", help="encoding of CSV input (utf-8, gbk)")
    add_threads_option(r)
    r.set_defaults(func=cmd_drg_group)

    rp = sub.add_parser("report", help="one self-contained HTML report of a settlement "
                        "(statements explained line by line, charts, supervision flags)")
    rp.add_argument("results", help="the directory settle wrote, or a folder holding it as "
                    "settlement/ (as the demo writes)")
    rp.add_argument("--out", required=True, help="file to write (.html, or .xlsx with "
                    "--format xlsx)")
    rp.add_argument("--format", choices=("html", "xlsx"), default="html",
                    help="html (default): the report; xlsx: its tables as one workbook "
                         "(statements with names, prepayments, flags, sweep)")
    rp.add_argument("--lang", choices=("zh", "en"), default="zh",
                    help="language of the report (default zh)")
    rp.add_argument("--audit", help="audit directory (default: audit/ inside or beside RESULTS)")
    rp.add_argument("--catalog", help="catalogue file (default: catalog.parquet inside or "
                    "beside RESULTS)")
    rp.add_argument("--sweep", help="what-if sweep directory (default: sweep/ inside or beside "
                    "RESULTS)")
    rp.set_defaults(func=cmd_report)

    v = sub.add_parser("validate", help="read and validate cases; write the quarantine")
    v.add_argument("cases", help="Parquet file or directory, CSV or Arrow file")
    v.add_argument("--hospitals", help="hospital registry (CSV or Parquet)")
    v.add_argument("--encoding", default="utf-8", help="encoding of CSV input (utf-8, gbk)")
    v.add_argument("--quarantine", help="write the quarantine here (.csv or .parquet)")
    v.add_argument("--code-list", help="directory with dx_codes.csv and/or proc_codes.csv "
                   "(e.g. a CHS-DRG rule pack): codes outside them are unknown_code")
    v.add_argument("--unknown-code", choices=("quarantine", "warn"),
                   help="with --code-list: quarantine such rows (default) or keep and count them")
    add_threads_option(v)
    v.set_defaults(func=cmd_validate)
    for command in sub.choices.values():
        command.add_argument("--quiet", "-q", action="store_true",
                             help="no progress lines on standard error (results and "
                                  "warnings still go to standard output)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line: parse ``argv``, run the command, return its exit code (the console
    script is :func:`console`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from dipcore.errors import DipcoreError
    except ImportError as exc:   # the compiled extensions are missing
        print(f"dipcore: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_INTERNAL
    from dipcore.cli.progress import set_quiet
    set_quiet(args.quiet)
    try:
        if getattr(args, "threads", None):
            from dipcore.engine.threads import set_threads
            set_threads(args.threads)
        return int(args.func(args) or 0)
    except DipcoreError as exc:
        print(f"dipcore: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("dipcore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # nobody reads what is left to print, and the exit's flush must not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into a line
        if os.environ.get("DIPCORE_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"dipcore: internal error: {type(exc).__name__}: {first} "
              "(set DIPCORE_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def console() -> None:
    """The console script (``dipcore``, ``python -m dipcore``): :func:`main`, then out of the
    process without tearing down the native libraries.

    Arrow's and the compilers' native thread pools can abort (``terminate called without
    an active exception``, exit -6) when the interpreter's finalization destroys them while
    one of their threads is still alive (apache/arrow#34314): rare, but it turns a run that
    has printed its result, or its one-line error, into a crash. By the time :func:`main`
    returns, the run has closed what it owns (results renamed into place, spill directories
    removed, Dask clusters shut down); the exit handlers still run here (temporary files,
    Dask's), the streams are flushed, and the process ends with :func:`main`'s code.
    """
    code = main()
    gc.collect()                  # readers' threads joined while Arrow is whole
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):        # a closed pipe: nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    console()
