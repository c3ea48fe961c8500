"""The ``dipcore`` command line (DESIGN.md section 5).

A bad input ends with one line on standard error naming the file, row or column, and exit
code 2; an unexpected failure prints one line too (exit 70) unless ``DIPCORE_DEBUG=1`` asks
for the traceback.
"""
from __future__ import annotations

import argparse
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
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        text = (f"{self.label}: {done:,}/{total:,} rows ({share:.0%}), "
                f"{rate:,.0f} rows/s, ETA {eta:,.0f} s")
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


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
    from .io import scan_cases
    from .sources import count_rows
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
    from .schema import CASE_SCHEMA, QUARANTINE_SCHEMA
    return (pa.concat_tables(cases) if cases else CASE_SCHEMA.empty_table(),
            pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table())


def _summary_lines(cases, quarantine) -> list[str]:
    import numpy as np
    import pyarrow.compute as pc
    from .schema import fen
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
    from .io import read_hospitals, save_quarantine
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    cases, quarantine = _read(args.cases, hospitals, args.encoding)
    for line in _summary_lines(cases, quarantine):
        print(line)
    if args.quarantine:
        save_quarantine(quarantine, args.quarantine)
        print(f"quarantine written to {args.quarantine}")
    return 0


def cmd_demo(args) -> int:
    from data_gen import generate
    from .io import read_hospitals, save_quarantine
    out = Path(args.out)
    data = out / "province"
    print(f"dipcore demo: generating a small province in {data} ...")
    manifest = generate(data, args.cases_per_year, (2021, 2024), hospitals=args.hospitals,
                        seed=args.seed, bad_share=0.0005, progress=Progress("generate"))
    print(f"  {manifest['cases']:,} cases of {manifest['hospitals']} hospitals, 2021-2024, "
          f"in {manifest['seconds']} s")
    t0 = time.perf_counter()
    hospitals = read_hospitals(data / "hospitals.csv")
    cases, quarantine = _read(data / "cases", hospitals, "utf-8", label="validate")
    seconds = time.perf_counter() - t0
    print(f"read and validated in {seconds:.2f} s "
          f"({(cases.num_rows + quarantine.num_rows) / seconds:,.0f} rows/s)")
    for line in _summary_lines(cases, quarantine):
        print(line)
    save_quarantine(quarantine, out / "quarantine.csv")
    print(f"quarantine written to {out / 'quarantine.csv'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__
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

    v = sub.add_parser("validate", help="read and validate cases; write the quarantine")
    v.add_argument("cases", help="Parquet file or directory, CSV or Arrow file")
    v.add_argument("--hospitals", help="hospital registry (CSV or Parquet)")
    v.add_argument("--encoding", default="utf-8", help="encoding of CSV input (utf-8, gbk)")
    v.add_argument("--quarantine", help="write the quarantine here (.csv or .parquet)")
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dipcore`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from .errors import DipcoreError
    except ImportError as exc:   # the compiled extensions are missing
        print(f"dipcore: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_INTERNAL
    try:
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
