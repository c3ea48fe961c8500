import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import HealthCheck, settings  # noqa: E402

# CI runs the property tests with more examples than a developer's quick run.
settings.register_profile("ci", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def small_province(tmp_path_factory):
    """A generated province: 2 years x 6000 cases, 12 hospitals, some bad input."""
    from data_gen import generate
    out = tmp_path_factory.mktemp("province")
    manifest = generate(out, 6000, (2023, 2024), hospitals=12, seed=7, chunk_rows=1000,
                        bad_share=0.002)
    return out, manifest


@pytest.fixture(scope="session")
def four_year_province(tmp_path_factory):
    """A generated province hive-partitioned by year: 2021-2024 x 2500 cases, 8 hospitals,
    1% bad rows (``cases/year=YYYY/month=MM/*.parquet``), with its CHS-DRG rule pack."""
    from data_gen import generate
    out = tmp_path_factory.mktemp("province4")
    manifest = generate(out, 2500, (2021, 2024), hospitals=8, seed=11, chunk_rows=700,
                        bad_share=0.01, drg_pack=True)
    return out, manifest


@pytest.fixture(scope="module")
def small_years(small_province):
    """``small_province`` read and validated: its registry, cases, quarantine, and the
    cases of 2023 (history) and 2024 (current)."""
    import pyarrow.compute as pc

    import dipcore as dc
    out, manifest = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    cases, quarantine = dc.read_cases(out / "cases", hospitals=hospitals)
    year = pc.year(cases["discharge_date"])
    return dict(out=out, hospitals=hospitals, cases=cases, quarantine=quarantine,
                history=cases.filter(pc.equal(year, 2023)),
                current=cases.filter(pc.equal(year, 2024)))
