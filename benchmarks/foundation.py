"""Foundation throughput: generator, and read_cases from Parquet and from CSV.

Usage::

    python -m benchmarks.foundation --cases 10000000 --work /tmp/dipcore-bench

Each phase runs in its own process so that its peak resident memory is its own; the report
gives seconds, rows per second and peak RSS per phase.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _phase(name: str, work: Path, cases: int) -> dict:
    t0 = time.perf_counter()
    if name == "generate":
        from data_gen import generate
        generate(work / "prov", cases, (2024, 2024), hospitals=300, seed=1)
        rows = cases
    elif name == "to_csv":
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
        import pyarrow.dataset as ds
        dataset = ds.dataset(work / "prov" / "cases", format="parquet")
        rows = 0
        with pacsv.CSVWriter(work / "cases.csv", dataset.schema.remove(dataset.schema.get_field_index("secondary_dx"))
                             .remove(dataset.schema.get_field_index("procedures") - 1)
                             .append(pa.field("secondary_dx", pa.string())).append(pa.field("procedures", pa.string()))) as w:
            for batch in dataset.to_batches(batch_size=1 << 18):
                t = pa.Table.from_batches([batch])
                sec = pc.binary_join(t["secondary_dx"], "|")
                pro = pc.binary_join(t["procedures"], "|")
                t = t.drop_columns(["secondary_dx", "procedures"]).append_column("secondary_dx", sec).append_column("procedures", pro)
                w.write_table(t)
                rows += t.num_rows
    elif name in ("read_parquet", "read_csv", "scan_parquet"):
        import dipcore as dc
        hospitals = dc.read_hospitals(work / "prov" / "hospitals.csv")
        source = work / "cases.csv" if name == "read_csv" else work / "prov" / "cases"
        if name == "scan_parquet":
            rows = sum(c.num_rows + q.num_rows for c, q in dc.scan_cases(source, hospitals=hospitals))
        else:
            c, q = dc.read_cases(source, hospitals=hospitals)
            rows = c.num_rows + q.num_rows
    else:
        raise SystemExit(f"unknown phase {name}")
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": name, "rows": rows, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds), "peak_rss_mb": round(peak_mb)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/dipcore-bench"))
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--phases", default="generate,to_csv,read_parquet,scan_parquet,read_csv")
    args = ap.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, args.work, args.cases)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    for phase in args.phases.split(","):
        out = subprocess.run([sys.executable, "-m", "benchmarks.foundation", "--phase", phase,
                              "--cases", str(args.cases), "--work", str(args.work)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"phase {phase} failed")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['phase']:>13}: {r['rows']:>11,} rows {r['seconds']:>8.2f} s "
              f"{r['rows_per_s']:>11,} rows/s  peak RSS {r['peak_rss_mb']:>6,} MB", flush=True)


if __name__ == "__main__":
    main()
