"""Reading only what is asked for: a history hive-partitioned by year is read only in the
partitions of the calibration years, and the catalogue is the one made from those
partitions alone (bit for bit), on both executors."""
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import dipcore as dc
from dipcore.errors import InputError
from dipcore.ingest import sources
from dipcore.ingest.sources import (
    list_files,
    partition_year,
    partition_years,
    plan_parts,
    select_years,
)

STAGE = "calibrate: read and prepare"


def same_catalog(a, b):
    assert a.groups.equals(b.groups)
    assert (a.mean_cost, a.level_coefficients, a.bed_day_rates, a.budget_point_value,
            a.fingerprint, a.years, a.warnings) == (
        b.mean_cost, b.level_coefficients, b.bed_day_rates, b.budget_point_value,
        b.fingerprint, b.years, b.warnings)


def rows_of(paths) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in list_files(paths))


@pytest.fixture
def opened(monkeypatch):
    """The Parquet files opened (footer or schema) while the test runs."""
    seen: set[str] = set()
    real_file, real_schema = pq.ParquetFile, pq.read_schema

    def parquet_file(path, *args, **kwargs):
        seen.add(str(path))
        return real_file(path, *args, **kwargs)

    def read_schema(path, *args, **kwargs):
        seen.add(str(path))
        return real_schema(path, *args, **kwargs)
    monkeypatch.setattr(sources.pq, "ParquetFile", parquet_file)
    monkeypatch.setattr(sources.pq, "read_schema", read_schema)
    return seen


def test_partition_years_from_names(four_year_province, tmp_path):
    out, _ = four_year_province
    cases = out / "cases"
    assert partition_years(cases) == [2021, 2022, 2023, 2024]
    f = list_files(cases / "year=2022")[0]
    assert partition_year(f, str(cases)) == 2022
    assert partition_year(f, str(cases / "year=2022")) is None   # the source is the partition
    assert partition_years(cases / "year=2022") is None
    assert partition_years(f) is None
    kept = select_years(cases, [2022, 2023])
    assert kept == list_files([cases / "year=2022", cases / "year=2023"])
    assert select_years(cases, [2021, 2022, 2023, 2024]) == cases       # nothing left out
    # a file outside the year partitions is kept, and the years are not named by all files
    (tmp_path / "h" / "year=2024").mkdir(parents=True)
    (tmp_path / "h" / "year=2024" / "a.csv").write_text("x\n")
    (tmp_path / "h" / "extra.csv").write_text("x\n")
    assert partition_years(tmp_path / "h") is None
    assert select_years(tmp_path / "h", [2023]) == [str(tmp_path / "h" / "extra.csv")]
    with pytest.raises(InputError, match=r"no year=YYYY partition of the years \[2019\]"):
        select_years(cases, [2019])


def test_pruned_partitions_are_never_opened(four_year_province, opened):
    out, _ = four_year_province
    cases = out / "cases"
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    seen = []
    hive = dc.calibrate(cases, hospitals=hospitals, years=[2022, 2023],
                        progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert opened and not any("year=2021" in p or "year=2024" in p for p in opened)
    # every row of the two years was validated (kept or quarantined), none of the others
    wanted = rows_of([cases / "year=2022", cases / "year=2023"])
    read = [s for s in seen if s[0] == STAGE]
    assert read[-1][1] == read[-1][2] == wanted < rows_of(cases)
    two = dc.calibrate([cases / "year=2022", cases / "year=2023"], hospitals=hospitals,
                       years=[2022, 2023])
    same_catalog(hive, two)
    assert hive.years == [2022, 2023]


def test_default_years_come_from_the_partition_names(four_year_province, opened):
    out, _ = four_year_province
    cases = out / "cases"
    hive = dc.calibrate(cases)                  # three year weights: 2022-2024
    assert hive.years == [2022, 2023, 2024]
    assert not any("year=2021" in p for p in opened)
    dirs = dc.calibrate([cases / f"year={y}" for y in (2022, 2023, 2024)])
    same_catalog(hive, dirs)


def test_drg_calibration_prunes_too(four_year_province, opened):
    out, _ = four_year_province
    cases = out / "cases"
    policy = dc.Policy.builtin("national_drg")
    rules = out / "drg_pack"
    hive = dc.calibrate(cases, policy=policy, rules=rules, years=[2023])
    assert not any("year=2024" in p or "year=2022" in p for p in opened)
    same_catalog(hive, dc.calibrate(cases / "year=2023", policy=policy, rules=rules,
                                    years=[2023]))


def test_dask_plans_only_the_calibration_partitions(four_year_province):
    out, _ = four_year_province
    cases = out / "cases"
    parts, _ = plan_parts(select_years(cases, [2022, 2023]), 600)
    assert parts and all(("year=2022" in p.path) or ("year=2023" in p.path) for p in parts)
    assert {Path(p.path).parent.parent.name for p in parts} == {"year=2022", "year=2023"}


def test_dask_calibration_equals_the_two_year_directories(four_year_province):
    pytest.importorskip("distributed")
    out, _ = four_year_province
    cases = out / "cases"
    hive = dc.calibrate(cases, years=[2022, 2023], engine="dask", workers=1, batch_rows=2000)
    # the fingerprint counts every row kept and the warnings every row quarantined: equal
    # to the local run on the two directories, so the other years' rows were not read
    same_catalog(hive, dc.calibrate([cases / "year=2022", cases / "year=2023"],
                                    years=[2022, 2023]))
