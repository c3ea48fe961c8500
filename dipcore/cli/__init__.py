"""The ``dipcore`` command line (DESIGN.md section 5).

A bad input ends with one line on standard error naming the file, row or column, and exit
code 2; an unexpected failure prints one line too (exit 70) unless ``DIPCORE_DEBUG=1`` asks
for the traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

EXIT_INPUT = 2
EXIT_INTERNAL = 70


class Progress:
    """Rows done, rate and ETA on standard error; redrawn in place on a terminal, every
    ~10 % as plain lines otherwise (logs stay short)."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.last_share = -1.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not total:   # size unknown in advance (CSV): rows and rate only, on a terminal
            if self.tty and now - self.last >= 0.2:
                self.last = now
                rate = done / max(now - self.t0, 1e-9)
                self.stream.write(f"\r{self.label}: {done:,} rows, {rate:,.0f} rows/s")
                self.stream.flush()
            return
        share = done / total
        if self.tty and now - self.last < 0.2 and done < total:
            return
        if not self.tty and share - self.last_share < 0.1 and done < total:
            return
        self.last, self.last_share = now, share
        elapsed = now - self.t0
        unit = "partitions" if self.label.endswith("(partitions)") else "rows"
        label = self.label.replace(" (partitions)", "")
        text = f"{label}: {done:,}/{total:,} {unit} ({share:.0%})"
        if elapsed >= 0.5:   # too early, the rate says nothing
            rate = done / elapsed
            text += f", {rate:,.0f} {unit}/s, ETA {(total - done) / rate:,.0f} s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class StagedProgress:
    """Adapts ``progress(stage, done, total)`` callbacks to one :class:`Progress` per stage."""

    def __init__(self):
        self.bars: dict[str, Progress] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = Progress(stage)
        bar(done, total)


def _years(text: str) -> tuple[int, int]:
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


def _positive(text: str) -> int:
    try:
        value = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not '{text}'")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not '{text}'") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in [0, 1), not '{text}'")
    return value


def cmd_generate(args) -> int:
    from data_gen import generate
    manifest = generate(args.out, args.cases_per_year, args.years, hospitals=args.hospitals,
                        seed=args.seed, chunk_rows=args.chunk_rows, bad_share=args.bad_share,
                        progress=Progress("generate"))
    print(f"wrote {manifest['cases']:,} cases of {manifest['hospitals']} hospitals "
          f"({args.years[0]}-{args.years[1]}) to {args.out} in {manifest['seconds']} s")
    for name, n in sorted(manifest["anomaly_cases"].items()):
        print(f"  injected {name}: {n:,} cases")
    return 0


def _read(source, hospitals, encoding, mapping=None, label="read"):
    import pyarrow as pa
    from dipcore.ingest.reader import scan_cases
    from dipcore.ingest.sources import count_rows
    cases, quarantine = [], []
    rows = 0
    total = count_rows(source)
    progress = Progress(label)
    for c, q in scan_cases(source, hospitals=hospitals, encoding=encoding, mapping=mapping):
        cases.append(c)
        if q.num_rows:
            quarantine.append(q)
        rows += c.num_rows + q.num_rows
        progress(rows, total)
    from dipcore.schema import CASE_SCHEMA, QUARANTINE_SCHEMA
    return (pa.concat_tables(cases) if cases else CASE_SCHEMA.empty_table(),
            pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table())


def _summary_lines(cases, quarantine) -> list[str]:
    import numpy as np
    import pyarrow.compute as pc
    from dipcore.schema import fen
    lines = [f"cases kept: {cases.num_rows:,}   quarantined: {quarantine.num_rows:,}"]
    if quarantine.num_rows:
        counts = quarantine.group_by("reason").aggregate([("reason", "count")])
        for r in sorted(counts.to_pylist(), key=lambda r: -r["reason_count"]):
            lines.append(f"  quarantine {r['reason']}: {r['reason_count']:,}")
    if cases.num_rows:
        years = pc.year(cases.column("discharge_date"))
        by_year = pa_group_count(years)
        lines.append("cases by discharge year: " + ", ".join(f"{y}: {n:,}" for y, n in by_year))
        total = fen(cases.column("total_cost"))
        fund = fen(cases.column("fund_paid"))
        lines.append(f"total cost: {total.sum() / 100:,.2f} yuan, fund paid {fund.sum() / 100:,.2f} "
                     f"yuan (fund share {fund.sum() / max(total.sum(), 1):.3f})")
        lines.append(f"hospitals: {pc.count_distinct(cases.column('hospital_id')).as_py()}, "
                     f"patients: {pc.count_distinct(cases.column('patient_id')).as_py():,}, "
                     f"principal diagnoses: {pc.count_distinct(cases.column('primary_dx')).as_py():,}")
        bed = cases.column("bed_day_category").is_valid().to_numpy(zero_copy_only=False)
        lines.append(f"bed-day cases: {bed.sum():,} ({bed.mean():.1%}); median cost "
                     f"{np.median(total) / 100:,.2f} yuan")
    return lines


def pa_group_count(values) -> list[tuple[int, int]]:
    import pyarrow.compute as pc
    vc = pc.value_counts(values).to_pylist()
    return sorted((r["values"], r["counts"]) for r in vc)


def cmd_validate(args) -> int:
    from dipcore.ingest.reader import read_hospitals, save_quarantine
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    cases, quarantine = _read(args.cases, hospitals, args.encoding)
    for line in _summary_lines(cases, quarantine):
        print(line)
    if args.quarantine:
        save_quarantine(quarantine, args.quarantine)
        print(f"quarantine written to {args.quarantine}")
    return 0



def _budget(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        if not part.strip():
            continue
        pool, sep, amount = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[pool.strip()] = float(amount)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"budget must look like employee=7.2e7,resident=5e7, not '{text}'") from None
    if not out:
        raise argparse.ArgumentTypeError("empty budget")
    return out


def _policy(path):
    from dipcore.policy import Policy
    if path is None:
        return None
    if not os.path.exists(path) and "/" not in path and not path.endswith(".toml"):
        return Policy.builtin(path)
    return Policy.load(path)


@contextlib.contextmanager
def _engine(args):
    """``(engine, client)`` for ``--workers N`` / ``--scheduler ADDRESS``, else local."""
    if not (getattr(args, "workers", None) or getattr(args, "scheduler", None)):
        yield "local", None
        return
    from dask.distributed import Client, LocalCluster
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            try:
                client = stack.enter_context(Client(args.scheduler, timeout="30s"))
            except (OSError, TimeoutError) as exc:
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
        print(f"Dask: {n} workers" + (f", dashboard {link}" if link else ""), file=sys.stderr)
        yield "dask", client


def _add_input_options(p) -> None:
    """Options every command that reads cases takes."""
    p.add_argument("--policy", help="policy TOML file, or a built-in name (national, ...)")
    p.add_argument("--hospitals", help="hospital registry (CSV or Parquet)")
    p.add_argument("--encoding", default="utf-8", help="encoding of CSV input (utf-8, gbk)")
    _add_threads_option(p)


def _add_threads_option(p) -> None:
    p.add_argument("--threads", type=_positive,
                   help="threads of the local engine (default: DIPCORE_THREADS, or the cores)")


def _add_year_options(p, out_help: str) -> None:
    """A year's cases against a catalogue (settle, audit)."""
    p.add_argument("cases", help="the year's cases (Parquet, CSV, Arrow)")
    p.add_argument("--catalog", required=True, help="catalogue (.parquet, or official .csv)")
    p.add_argument("--out", required=True, help=out_help)
    _add_input_options(p)


def _add_engine_options(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=_positive, help="run on a local Dask cluster of N processes")
    g.add_argument("--scheduler", help="run on a Dask cluster: scheduler address tcp://host:8786")


def cmd_calibrate(args) -> int:
    from dipcore.api import calibrate
    from dipcore.ingest.reader import read_hospitals
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    years = list(range(args.years[0], args.years[1] + 1)) if args.years else None
    t0 = time.perf_counter()
    with _engine(args) as (engine, client):
        catalog = calibrate(args.history, policy=_policy(args.policy), hospitals=hospitals,
                            years=years, encoding=args.encoding, engine=engine, client=client,
                            progress=StagedProgress())
    catalog.save(args.out)
    g = catalog.groups
    kinds = {r["values"]: r["counts"] for r in __import__("pyarrow.compute", fromlist=["x"])
             .value_counts(g.column("kind")).to_pylist()}
    print(f"calibrated {sum(g.column('cases').to_pylist()):,} cases of {catalog.years} in "
          f"{time.perf_counter() - t0:.1f} s: {g.num_rows:,} groups "
          f"({kinds.get('core', 0):,} core, {kinds.get('comprehensive', 0):,} comprehensive, "
          f"{sum(g.column('basic').to_pylist()):,} basic)")
    print(f"M = {catalog.mean_cost:,.2f} yuan; level coefficients "
          + ", ".join(f"{k}: {v}" for k, v in sorted(catalog.level_coefficients.items())))
    for w in catalog.warnings:
        print(f"warning: {w}")
    print(f"catalogue written to {args.out}")
    return 0


def _settle_summary(result, top: int = 5) -> list[str]:
    import pyarrow.compute as pc
    lines = []
    for row in result.pools.to_pylist():
        lines.append(f"pool {row['pool']}: point value {row['point_value']:.4f} yuan/point "
                     f"({row['mode']}), {float(row['points']):,.0f} points, budget "
                     f"{float(row['budget']):,.2f} yuan, fund ratio {row['fund_ratio']:.3f}")
    if result.cases_path is not None:   # streamed to disk: read only the two columns needed
        import pyarrow.parquet as pq
        cases = pq.read_table(result.cases_path, columns=["outlier", "group_kind"])
    else:
        cases = result.cases
    oc = {r["values"]: r["counts"] for r in pc.value_counts(cases.column("outlier")).to_pylist()}
    dip = sum(v for k, v in oc.items() if k)
    if dip:
        lines.append("outliers among DIP cases: " + ", ".join(
            f"{k} {oc.get(k, 0) / dip:.1%}" for k in ("low", "normal", "high", "extreme")))
    kinds = {r["values"]: r["counts"] for r in pc.value_counts(cases.column("group_kind")).to_pylist()}
    lines.append("cases by kind: " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())))
    h = result.hospitals.to_pylist()
    h.sort(key=lambda r: float(r["gain"]))
    def fmt(r):
        share = float(r["gain"]) / max(float(r["total_cost"]), 1.0)
        return (f"  {r['hospital_id']} {r['pool']:<9} gain {float(r['gain']):>15,.2f} yuan "
                f"({share:+.1%} of cost), CMI {'-' if r['cmi'] is None else format(r['cmi'], '.3f')}, "
                f"balance {float(r['balance']):>15,.2f}")
    lines.append("largest gains (DIP amount minus actual cost):")
    lines += [fmt(r) for r in reversed(h[-top:])]
    lines.append("largest losses:")
    lines += [fmt(r) for r in h[:top]]
    return lines


def cmd_settle(args) -> int:
    from dipcore.api import settle
    from dipcore.catalog import Catalog
    from dipcore.ingest.reader import read_hospitals
    catalog = Catalog.load(args.catalog)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    t0 = time.perf_counter()
    with _engine(args) as (engine, client):
        result = settle(args.cases, catalog, budget=args.budget, policy=_policy(args.policy),
                        hospitals=hospitals, special_cases=args.special_cases,
                        appraisal=args.appraisal, deductions=args.deductions,
                        prepaid=args.prepaid, encoding=args.encoding, out=args.out,
                        engine=engine, client=client, progress=StagedProgress())
    print(f"settled {result.cases_count:,} cases in {time.perf_counter() - t0:.1f} s")
    for line in _settle_summary(result):
        print(line)
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"results written to {args.out}")
    return 0

def cmd_audit(args) -> int:
    from dipcore.supervision.audit import audit
    from dipcore.catalog import Catalog
    from dipcore.ingest.reader import read_hospitals
    catalog = Catalog.load(args.catalog)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    t0 = time.perf_counter()
    result = audit(args.cases, catalog, policy=_policy(args.policy), hospitals=hospitals,
                   previous=args.previous, encoding=args.encoding)
    result.save(args.out)
    print(f"audited {int(sum(result.hospitals.column('cases').to_pylist())):,} cases of "
          f"{result.hospitals.num_rows} hospitals in {time.perf_counter() - t0:.1f} s")
    print(f"suspected split admissions (readmissions): {result.readmissions.num_rows:,}; "
          f"low-standard admissions: {result.low_standard.num_rows:,}")
    for r in result.hospitals.to_pylist():
        if r["flags"]:
            print(f"  {r['hospital_id']}: {', '.join(r['flags'])}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"audit written to {args.out}")
    return 0


def cmd_demo(args) -> int:
    import numpy as np
    import pyarrow.compute as pc
    from data_gen import generate
    from dipcore.api import calibrate, settle
    from dipcore.ingest.reader import read_hospitals, save_quarantine
    from dipcore.schema import fen
    t_start = time.perf_counter()
    out = Path(args.out)
    data = out / "province"
    print(f"dipcore demo: a generated province of {args.cases_per_year:,} cases a year, "
          f"2021-2024, {args.hospitals} hospitals (seed {args.seed})")
    manifest = generate(data, args.cases_per_year, (2021, 2024), hospitals=args.hospitals,
                        seed=args.seed, bad_share=0.0005, progress=Progress("generate"))
    print(f"  generated {manifest['cases']:,} cases in {manifest['seconds']} s -> {data}")
    hospitals = read_hospitals(data / "hospitals.csv")
    t0 = time.perf_counter()
    cases, quarantine = _read(data / "cases", hospitals, "utf-8", label="read")
    print(f"  read and validated in {time.perf_counter() - t0:.1f} s: {cases.num_rows:,} kept, "
          f"{quarantine.num_rows:,} quarantined -> {out / 'quarantine.csv'}")
    save_quarantine(quarantine, out / "quarantine.csv")
    year = pc.year(cases.column("discharge_date"))
    history = cases.filter(pc.less(year, 2024))
    current = cases.filter(pc.equal(year, 2024))
    t0 = time.perf_counter()
    catalog = calibrate(history, years=[2021, 2022, 2023], progress=StagedProgress())
    catalog.save(out / "catalog.parquet")
    g = catalog.groups
    print(f"calibrated 2021-2023 ({history.num_rows:,} cases) in {time.perf_counter() - t0:.1f} s: "
          f"{g.num_rows:,} groups, {sum(1 for k in g.column('kind').to_pylist() if k == 'core'):,} core; "
          f"M = {catalog.mean_cost:,.2f} yuan; level coefficients "
          + ", ".join(f"{k}: {v}" for k, v in sorted(catalog.level_coefficients.items())))
    # the demo budget: what the fund paid in 2024, per pool
    pools = current.column("pool").to_pylist()
    paid = fen(current.column("fund_paid"))
    budget = {}
    for p in sorted(set(pools)):
        budget[p] = float(paid[np.array(pools, dtype=object) == p].sum()) / 100.0
    t0 = time.perf_counter()
    result = settle(current, catalog, budget=budget, progress=StagedProgress())
    result.save(out / "settlement")
    print(f"settled 2024 ({current.num_rows:,} cases) in {time.perf_counter() - t0:.1f} s "
          f"with budgets equal to the fund's 2024 spending:")
    for line in _settle_summary(result):
        print("  " + line)
    for w in result.warnings:
        print(f"  warning: {w}")
    from dipcore.supervision.audit import audit
    t0 = time.perf_counter()
    found = audit(current, catalog, previous=cases.filter(pc.equal(year, 2023)))
    found.save(out / "audit")
    print(f"audited 2024 against 2023 in {time.perf_counter() - t0:.1f} s: "
          f"{found.readmissions.num_rows:,} suspected split admissions, "
          f"{found.low_standard.num_rows:,} low-standard admissions")
    flagged = {r["hospital_id"]: r["flags"] for r in found.hospitals.to_pylist() if r["flags"]}
    for kind, ids in manifest["gaming_hospitals"].items():
        hits = [f"{h} flagged {', '.join(flagged.get(h, [])) or 'nothing'}" for h in ids]
        print(f"  the generator made {kind.replace('_', ' ')} at: {'; '.join(hits)}")
    print(f"  {len(flagged)} hospitals flagged in all (audit/hospitals.csv)")
    print(f"outputs in {out}: catalog.parquet, settlement/ (cases.parquet, hospitals.csv, "
          f"monthly.csv, pools.csv, summary.json), audit/, quarantine.csv")
    print(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from dipcore._version import __version__
    p = argparse.ArgumentParser(prog="dipcore", description="DIP payment engine: grouping, "
                                "points, point value and settlement under a regional budget.")
    p.add_argument("--version", action="version", version=f"dipcore {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="the whole job on a generated small province")
    d.add_argument("--out", default="dipcore-demo", help="output directory (default: dipcore-demo)")
    d.add_argument("--cases-per-year", type=_positive, default=200_000)
    d.add_argument("--hospitals", type=_positive, default=60)
    d.add_argument("--seed", type=int, default=2024)
    d.set_defaults(func=cmd_demo)

    g = sub.add_parser("generate", help="write a synthetic province (cases, registry, labels)")
    g.add_argument("out", help="output directory")
    g.add_argument("--cases-per-year", type=_positive, required=True)
    g.add_argument("--years", type=_years, default=(2021, 2024), help="e.g. 2021-2024")
    g.add_argument("--hospitals", type=_positive, default=60)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--chunk-rows", type=_positive, default=500_000,
                   help="rows generated at a time (memory; does not change the data)")
    g.add_argument("--bad-share", type=_share, default=0.0,
                   help="share of cases given one bad value (exercises the quarantine)")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("calibrate", help="build a catalogue (scores) from history")
    c.add_argument("history", help="cases of the calibration years (Parquet, CSV, Arrow)")
    c.add_argument("--out", required=True, help="catalogue file to write (.parquet)")
    c.add_argument("--years", type=_years, help="calibration years, e.g. 2021-2023")
    _add_input_options(c)
    _add_engine_options(c)
    c.set_defaults(func=cmd_calibrate)

    t = sub.add_parser("settle", help="points, point value and statements for a year")
    _add_year_options(t, "results directory")
    t.add_argument("--budget", type=_budget, required=True,
                   help="fund budget per pool in yuan: employee=7.2e7,resident=5e7")
    t.add_argument("--special-cases", help="case ids approved by special review (CSV)")
    t.add_argument("--appraisal", help="CSV: hospital_id[,pool],coefficient")
    t.add_argument("--deductions", help="CSV: hospital_id[,pool],amount (yuan)")
    t.add_argument("--prepaid", help="CSV: hospital_id[,pool],amount[,advance] (yuan)")
    _add_engine_options(t)
    t.set_defaults(func=cmd_settle)

    a = sub.add_parser("audit", help="supervision signals and appraisal indicators")
    _add_year_options(a, "audit directory")
    a.add_argument("--previous", help="the previous year's cases, for year-on-year signals")
    a.set_defaults(func=cmd_audit)

    v = sub.add_parser("validate", help="read and validate cases; write the quarantine")
    v.add_argument("cases", help="Parquet file or directory, CSV or Arrow file")
    v.add_argument("--hospitals", help="hospital registry (CSV or Parquet)")
    v.add_argument("--encoding", default="utf-8", help="encoding of CSV input (utf-8, gbk)")
    v.add_argument("--quarantine", help="write the quarantine here (.csv or .parquet)")
    _add_threads_option(v)
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dipcore`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from dipcore.errors import DipcoreError
    except ImportError as exc:   # the compiled extensions are missing
        print(f"dipcore: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_INTERNAL
    try:
        if getattr(args, "threads", None):
            from dipcore.engine.local import set_threads
            set_threads(args.threads)
        return int(args.func(args) or 0)
    except DipcoreError as exc:
        print(f"dipcore: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("dipcore: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns failures into a line
        if os.environ.get("DIPCORE_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"dipcore: internal error: {type(exc).__name__}: {first} "
              "(set DIPCORE_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
