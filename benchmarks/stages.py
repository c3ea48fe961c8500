"""Where a settlement's CPU goes: each stage of one year's settlement, with the floor under it.

Usage, from the project root::

    python -m benchmarks.stages [--shape user] [--cases-per-year 10000000]
                                [--work /tmp/dipcore-shapes10] [--catalog FILE]

On a province of ``benchmarks/shapes.py`` (generated under ``WORK`` unless there: three
10M-case years take a few minutes to generate, once), with a
catalogue calibrated on its 2022 year (kept beside it as ``catalog-2022.parquet``) or the
one given, the 2024 year is settled with its per-case rows written to Parquet, in two ways:

* **stage by stage**, on one thread: the same work as the engine's (the source's pieces,
  the duplicate check, validation, then ``SettlementSums.chunk`` and ``fold``, with the
  scheme's ``prepare``, ``score`` and ``case_table`` timed inside it), each stage's CPU
  time (``time.process_time``: Arrow's own threads included) summed over the batches;
* **as the product runs it**: ``dipcore.settle(..., out=DIR)`` on the configured threads,
  its wall time and CPU time, and ``dipcore.settle`` without ``out`` (the per-case rows
  kept in memory, not written).

It then prints the floor: ``pyarrow.parquet.read_table`` of the columns the reader
projects (``benchmarks.floor``), and the two bounds that follow on this machine: the whole CPU
time spread over every core, and Arrow's Parquet reading and writing alone spread over
every core. A target below the second bound needs less reading or writing, not faster
kernels. CPU times move less than wall times on a shared machine, but they move too: run
it twice.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):      # run as a script: the project root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.floor import floor_reader, projected_columns  # noqa: E402
from benchmarks.shapes import SETTLED, SHAPES, province  # noqa: E402

DEFAULT_WORK = Path("/tmp/dipcore-shapes10")
CALIBRATED = 2022
BUDGET = {"employee": 5e10, "resident": 5e10}


class _Timed:
    """A scheme whose ``prepare``, ``score`` and ``case_table`` add their CPU time to
    ``times`` (everything else is the scheme's own)."""

    TIMED = ("prepare", "score", "case_table")

    def __init__(self, scheme: Any, times: Counter):
        self._scheme, self._times = scheme, times

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._scheme, name)
        if name not in self.TIMED:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return value(*args, **kwargs)
            finally:
                self._times[name] += time.process_time() - t
        return timed


def serial_stages(year: Path, catalog: Any, hospitals: Any, out: Path) -> Counter:
    """CPU seconds per stage of the settlement of ``year`` on one thread, per-case rows
    appended to ``out``."""
    import pyarrow as pa

    from dipcore.engine.passes import SettlementSums
    from dipcore.engine.writer import ParquetAppender
    from dipcore.ingest import codebook
    from dipcore.ingest.reader import count_rows, pieces
    from dipcore.ingest.validate import Deduplicator, Validator, check_piece

    times: Counter = Counter()
    sums = SettlementSums(catalog, catalog.policy, pa.array([], pa.string()), rows_out=True)
    sums.scheme = _Timed(sums.scheme, times)
    book = codebook.borrow()
    validator = Validator(hospitals, codebook=book, raw_codes=sums.raw_codes)
    state = sums.empty()

    def run(stage: str, work: Callable[[], Any]) -> Any:
        t = time.process_time()
        try:
            return work()
        finally:
            times[stage] += time.process_time() - t

    source = pieces(year, hospitals)
    expected = count_rows(year)         # the files' footers: not the duplicate check's work
    dedupe = run("dedupe", lambda: Deduplicator(None, expected))
    with ParquetAppender(out) as appender:
        while (piece := run("read", lambda: next(source, None))) is not None:
            piece = run("dedupe", lambda: dedupe(piece))
            batch = run("validate", lambda: check_piece(validator, piece))
            inside = sum(times[s] for s in _Timed.TIMED)
            result = run("chunk", lambda: sums.chunk(batch))
            # the chunk's own share: special review, label counts, dense sums
            times["chunk"] -= sum(times[s] for s in _Timed.TIMED) - inside
            rows: list = []
            state = run("fold", lambda: sums.fold(state, batch, result, rows.append))
            for table in rows:
                run("write", lambda: appender.write(table))
        run("write", appender.close)
    run("done", lambda: sums.done(state))
    dedupe.close()
    codebook.give_back(book)
    return times


def floor_read(year: Path, dictionary: bool) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of ``pyarrow.parquet.read_table`` of the columns dipcore's
    reader projects from ``year`` (``benchmarks.floor``: plain text, or the code columns
    dictionary-encoded as dipcore reads them)."""
    from dipcore.ingest.sources import list_files
    files = list_files(year)
    read = floor_reader(files, projected_columns(files), dictionary)
    w, c = time.perf_counter(), time.process_time()
    read()
    return time.perf_counter() - w, time.process_time() - c


def product_run(year: Path, catalog: Any, hospitals: Any,
                out: Path | None) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of ``dipcore.settle`` of ``year`` (per-case rows to ``out``,
    or kept in memory when None)."""
    import dipcore as dc
    w, c = time.perf_counter(), time.process_time()
    dc.settle(year, catalog, BUDGET, hospitals=hospitals, out=out)
    return time.perf_counter() - w, time.process_time() - c


def catalogue(path: Path, given: Path | None) -> Any:
    """The catalogue given, or the one calibrated on the province's ``CALIBRATED`` year
    (made once, then kept beside the province)."""
    import dipcore as dc
    if given is not None:
        return dc.Catalog.load(given)
    kept = path / f"catalog-{CALIBRATED}.parquet"
    if not kept.exists():
        hospitals = dc.read_hospitals(path / "hospitals.csv")
        dc.calibrate(path / "cases" / f"year={CALIBRATED}", hospitals=hospitals).save(kept)
    return dc.Catalog.load(kept)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="user", choices=list(SHAPES))
    ap.add_argument("--cases-per-year", type=int, default=10_000_000)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--catalog", type=Path, help="catalogue to settle with (default: "
                    f"calibrated on the province's {CALIBRATED} year and kept beside it)")
    args = ap.parse_args(argv)

    import dipcore as dc
    path, _ = province(args.work, args.shape, args.cases_per_year)
    catalog = catalogue(path, args.catalog)
    hospitals = dc.read_hospitals(path / "hospitals.csv")
    year = path / "cases" / f"year={SETTLED}"
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        product_run(year, catalog, hospitals, Path(tmp) / "warm")   # kernels loaded, files read
        times = serial_stages(year, catalog, hospitals, Path(tmp) / "cases.parquet")
        floors = {d: floor_read(year, d) for d in (False, True)}
        wall, cpu = product_run(year, catalog, hospitals, Path(tmp) / "settled")
        bare_wall, bare_cpu = product_run(year, catalog, hospitals, None)

    total = sum(times.values())
    print(f"{args.shape}, {args.cases_per_year:,} cases a year, {SETTLED} settled with "
          f"per-case output; CPU seconds stage by stage on one thread:")
    for stage, seconds in times.most_common():
        print(f"  {stage:12s} {seconds:7.2f} s  {seconds / total:6.1%}")
    print(f"  {'total':12s} {total:7.2f} s")
    arrow = times["read"] + times["write"]
    for dictionary, (floor_wall, floor_cpu) in floors.items():
        print(f"floor: read_table of the projected columns"
              f"{', code columns as dictionaries' if dictionary else ''}: {floor_cpu:.2f} s CPU"
              f" ({floor_wall:.2f} s wall); dipcore's read stage {times['read'] / floor_cpu:.2f}x"
              " its CPU")
    print(f"dc.settle with out=: {wall:.2f} s wall, {cpu:.2f} s CPU ({cpu / wall:.2f} cores "
          f"busy of {cores}); without out= (per-case rows kept in memory): {bare_wall:.2f} s "
          f"wall, {bare_cpu:.2f} s CPU")
    print(f"bounds on {cores} cores: all stages {total / cores:.2f} s; Parquet reading and "
          f"writing alone {arrow / cores:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
