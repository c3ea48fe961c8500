"""``benchmarks.stages`` times the engine's own work stage by stage: the per-case rows of
its one-thread run are the settlement's, row for row."""
import shutil

import pyarrow.parquet as pq

import dipcore as dc
from benchmarks.stages import BUDGET, _Timed, serial_stages
from dipcore.ingest.sources import list_files


def test_the_stage_by_stage_run_writes_the_settlements_rows(small_province, tmp_path):
    out, _ = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    catalog = dc.calibrate(out / "cases" / "year=2023", hospitals=hospitals)
    # the year's files and a last one repeating 50 of its cases: the duplicate check counts
    year = tmp_path / "year"
    year.mkdir()
    files = list_files(out / "cases" / "year=2024")
    for i, f in enumerate(files):
        shutil.copy(f, year / f"part-{i:03d}.parquet")
    pq.write_table(pq.read_table(files[0]).slice(0, 50), year / "part-999.parquet")

    times = serial_stages(year, catalog, hospitals, tmp_path / "stages.parquet")
    settled = dc.settle(year, catalog, BUDGET, hospitals=hospitals, out=tmp_path / "settled")
    staged = pq.read_table(tmp_path / "stages.parquet")
    assert settled.quarantine["reason"].to_pylist().count("duplicate_case_id") >= 50
    assert staged.num_rows == settled.cases_count > 0
    assert staged.equals(pq.read_table(tmp_path / "settled" / "cases.parquet"))
    assert set(times) == {"read", "dedupe", "validate", *_Timed.TIMED, "chunk", "fold",
                          "write", "done"}
