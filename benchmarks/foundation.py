"""Foundation throughput: generator, and read_cases from Parquet and from CSV.

Usage::

    python -m benchmarks.foundation --cases 10000000 --work /tmp/dipcore-bench

Each phase runs in its own process so that its peak resident memory is its own; the report
gives seconds, rows per second and peak RSS per phase.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks._phases import measure, phase_main


def _phase(name: str, work: Path, cases: int, years: int = 1) -> dict:
    def run():
        if name == "generate":
            from data_gen import generate
            generate(work / "prov", cases, (2024, 2024), hospitals=300, seed=1)
            return cases, {}
        if name == "to_csv":
            return _to_csv(work), {}
        import dipcore as dc
        hospitals = dc.read_hospitals(work / "prov" / "hospitals.csv")
        source = work / "cases.csv" if name == "read_csv" else work / "prov" / "cases"
        if name == "scan_parquet":
            return sum(c.num_rows + q.num_rows for c, q in dc.scan_cases(source, hospitals=hospitals)), {}
        if name in ("read_parquet", "read_csv"):
            c, q = dc.read_cases(source, hospitals=hospitals)
            return c.num_rows + q.num_rows, {}
        raise SystemExit(f"unknown phase {name}")
    return measure(run, name)


def _to_csv(work: Path) -> int:
    """The generated year as one CSV, list fields joined by '|' (as Chinese exports do)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds
    dataset = ds.dataset(work / "prov" / "cases", format="parquet")
    lists = ("secondary_dx", "procedures")
    fields = [f for f in dataset.schema if f.name not in lists]
    schema = pa.schema(fields + [pa.field(n, pa.string()) for n in lists])
    rows = 0
    with pacsv.CSVWriter(work / "cases.csv", schema) as w:
        for batch in dataset.to_batches(batch_size=1 << 18):
            t = pa.Table.from_batches([batch])
            joined = {n: pc.binary_join(t[n], "|") for n in lists}
            t = t.drop_columns(list(lists))
            for n in lists:
                t = t.append_column(n, joined[n])
            w.write_table(t)
            rows += t.num_rows
    return rows


if __name__ == "__main__":
    phase_main("benchmarks.foundation", _phase, "generate,to_csv,read_parquet,scan_parquet,read_csv")
