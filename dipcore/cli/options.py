"""Argument types and the option groups shared by the commands."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys


def years(text: str) -> tuple[int, int]:
    try:
        if "-" in text:
            a, b = text.split("-", 1)
            first, last = int(a), int(b)
        else:
            first = last = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"years must look like 2021-2024, not '{text}'") from None
    if last < first or first < 1990 or last > 2100:
        raise argparse.ArgumentTypeError(f"bad year range '{text}'")
    return first, last


def positive(text: str) -> int:
    try:
        value = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not '{text}'")
    return value


def nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not '{text}'") from None
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not '{text}'")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (``share`` excludes 1)."""
    value = nonnegative(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not '{text}'")
    return value


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not '{text}'") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1), not '{text}'")
    return value


def budget(text: str) -> dict[str, float]:
    """``--budget employee=7.2e7,resident=5e7`` as ``{pool: yuan}`` (a pool named twice is
    an error, not the last amount)."""
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        pool, sep, amount = part.partition("=")
        pool = pool.strip()
        try:
            if not sep or not pool:
                raise ValueError
            value = float(amount)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"budget must look like employee=7.2e7,resident=5e7, not '{text}'") from None
        if pool in out:
            raise argparse.ArgumentTypeError(f"pool '{pool}' has two budgets in '{text}'")
        out[pool] = value
    if not out:
        raise argparse.ArgumentTypeError("empty budget")
    return out


class _Budgets(argparse.Action):
    """``--budget`` given more than once (``--budget employee=7.2e7 --budget resident=5e7``):
    the pools of every occurrence, each pool once."""

    def __call__(self, parser, namespace, values, option_string=None):
        merged = dict(getattr(namespace, self.dest) or {})
        for pool in values:
            if pool in merged:
                parser.error(f"argument {option_string}: pool '{pool}' has two budgets")
        merged.update(values)
        setattr(namespace, self.dest, merged)


def policy_arg(path):
    """``--policy``: a built-in name or a TOML file (``Policy.of``); None when not given."""
    from dipcore.policy import Policy
    return Policy.of(path)


@contextlib.contextmanager
def engine_of(args):
    """``(engine, client)`` for ``--workers N`` / ``--scheduler ADDRESS``, else local."""
    if not (getattr(args, "workers", None) or getattr(args, "scheduler", None)):
        yield "local", None
        return
    from dask.distributed import Client, LocalCluster
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            try:
                client = stack.enter_context(Client(args.scheduler, timeout="30s"))
            except (OSError, TimeoutError, ValueError) as exc:     # ValueError: no port...
                from dipcore.errors import InputError
                raise InputError(f"cannot reach the Dask scheduler at {args.scheduler} ({exc})") from None
        else:
            threads = max(1, (os.cpu_count() or 1) // args.workers)
            cluster = stack.enter_context(LocalCluster(
                n_workers=args.workers, threads_per_worker=threads, processes=True,
                dashboard_address=":0"))
            client = stack.enter_context(Client(cluster))
        n = len(client.scheduler_info().get("workers", {}))
        link = getattr(client, "dashboard_link", None)
        from dipcore.cli.progress import quiet
        if not quiet():
            print(f"Dask: {n} workers" + (f", dashboard {link}" if link else ""), file=sys.stderr)
        yield "dask", client


def add_input_options(p) -> None:
    """Options every command that reads cases takes."""
    p.add_argument("--policy", help="policy TOML file, or a built-in name (national, "
                   "national_drg, ...)")
    p.add_argument("--hospitals", help="hospital registry (CSV or Parquet)")
    p.add_argument("--encoding", default="utf-8", help="encoding of CSV input (utf-8, gbk)")
    add_threads_option(p)


def add_drg_options(p) -> None:
    """The CHS-DRG inputs of a DRG policy or catalogue (SPEC 10)."""
    p.add_argument("--rules", metavar="DIR",
                   help="CHS-DRG rule pack directory (pack.json + CSV or .xlsx tables): required by a "
                        "DRG policy or catalogue")
    p.add_argument("--new-technology", metavar="FILE",
                   help="CSV: procedure_code,filing_date of filed new technology (DRG): its "
                        "cases are paid by cost within the window")


def drg_inputs(args):
    """``(rules, new_technology)`` of ``--rules`` / ``--new-technology``: the rule pack
    loaded once (it is checked here), the new-technology file passed on as a path."""
    rules = None
    if getattr(args, "rules", None):
        from dipcore.schemes.drg import DrgRules
        rules = DrgRules.load(args.rules)
    return rules, getattr(args, "new_technology", None)


def add_settlement_inputs(p) -> None:
    """The inputs of a settlement besides the cases (settle, sweep)."""
    p.add_argument("--budget", type=budget, action=_Budgets, required=True,
                   help="fund budget per pool in yuan: employee=7.2e7,resident=5e7 (or "
                        "one --budget per pool)")
    p.add_argument("--special-cases", help="case ids approved by special review (CSV)")
    p.add_argument("--appraisal", help="CSV: hospital_id[,pool],coefficient")
    p.add_argument("--deductions", help="CSV: hospital_id[,pool],amount (yuan)")
    p.add_argument("--prepaid", help="CSV: hospital_id[,pool],amount[,advance] (yuan)")


def add_threads_option(p) -> None:
    p.add_argument("--threads", type=positive,
                   help="threads of the local engine (default: DIPCORE_THREADS, or the cores)")


def add_year_options(p, out_help: str, workbook: str) -> None:
    """A year's cases against a catalogue (settle, audit); ``workbook``: the file name of
    the results as one Excel workbook (``--format xlsx``)."""
    p.add_argument("cases", help="the year's cases (Parquet, CSV, Arrow)")
    p.add_argument("--catalog", required=True,
                   help="catalogue (.parquet, or an official table as .csv or .xlsx)")
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv",
                   help="human-readable copy of the result tables: a CSV file each (default) "
                        f"or one Excel workbook {workbook}; Parquet copies are always written")
    add_input_options(p)
    add_drg_options(p)


def add_engine_options(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=positive, help="run on a local Dask cluster of N processes")
    g.add_argument("--scheduler", help="run on a Dask cluster: scheduler address tcp://host:8786")
