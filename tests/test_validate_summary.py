"""``dipcore validate`` in bounded memory: the summary accumulated batch by batch
(``dipcore.cli.summary.CaseSummary``) equals the summary of the whole table of kept cases
(the reference below: how validate computed it before it streamed)."""
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from dipcore.cli.main import main
from dipcore.cli.summary import CaseSummary, SummaryPart
from dipcore.ingest.reader import scan_cases, scan_checked
from dipcore.schema import fen


def reference_lines(cases: pa.Table, quarantine: pa.Table) -> list[str]:
    """The whole-table summary (the previous ``_summary_lines``)."""
    lines = [f"cases kept: {cases.num_rows:,}   quarantined: {quarantine.num_rows:,}"]
    if quarantine.num_rows:
        counts = quarantine.group_by("reason", use_threads=False).aggregate([("reason", "count")])
        for r in sorted(counts.to_pylist(), key=lambda r: -r["reason_count"]):
            lines.append(f"  quarantine {r['reason']}: {r['reason_count']:,}")
    if cases.num_rows:
        vc = pc.value_counts(pc.year(cases.column("discharge_date"))).to_pylist()
        by_year = sorted((r["values"], r["counts"]) for r in vc)
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


@pytest.fixture(scope="module")
def province(four_year_province):
    out, _ = four_year_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    cases, quarantine = dc.read_cases(out / "cases", hospitals=hospitals)
    assert quarantine.num_rows > 50 and len(set(quarantine.column("reason").to_pylist())) > 2
    return out, hospitals, cases, quarantine


def test_streaming_summary_equals_the_whole_table_summary(province):
    out, hospitals, cases, quarantine = province
    s = CaseSummary()
    batches = 0
    for c, q in scan_cases(out / "cases", hospitals=hospitals, batch_rows=700):
        s.add(c, q)
        batches += 1
    assert batches > 10
    expected = reference_lines(cases, quarantine)
    assert s.lines() == expected
    assert s.lines() == expected                  # lines() may be asked for twice
    assert CaseSummary().add(cases, quarantine).lines() == expected


def test_a_checked_batch_gives_the_part_of_its_table(province):
    """``validate`` sums up each checked batch from its codes (``SummaryPart.of_batch``),
    without its table: every figure equals the part of the batch's table, quarantined rows,
    several threads' codebooks and patients repeated across batches included."""
    out, hospitals, cases, quarantine = province
    pairs = list(scan_checked(out / "cases", lambda b: (SummaryPart.of_batch(b),
                                                        SummaryPart.of_table(b.table(), b.quarantine)),
                              hospitals=hospitals, batch_rows=900))
    assert len(pairs) > 10 and sum(p.quarantined for p, _ in pairs) == quarantine.num_rows
    for got, want in pairs:
        for name in ("quarantined", "reasons", "kept", "years", "total", "fund", "bed_day",
                     "hospitals", "diagnoses"):
            assert getattr(got, name) == getattr(want, name), name
        assert got.patients.tolist() == want.patients.tolist()
        assert got.costs.tolist() == want.costs.tolist()
    s = CaseSummary()
    for got, _ in pairs:
        s.add_part(got)
    assert s.lines() == reference_lines(cases, quarantine)


def test_patient_runs_stay_few_and_count_exactly():
    rng = np.random.default_rng(3)
    s, seen = CaseSummary(), []
    for size in rng.integers(0, 400, 300):
        hashes = rng.integers(1, 5000, size).astype(np.uint64)   # many repeats across parts
        seen.append(hashes)
        s.add_part(SummaryPart(0, [], int(size) or 1, years={2024: 1}, costs=np.ones(1, np.int64),
                               hospitals=set(), diagnoses=set(), patients=np.unique(hashes)))
        runs = [len(r) for r in s._patients]
        assert all(a > 2 * b for a, b in zip(runs, runs[1:])), runs   # sizes fall geometrically
    assert s._distinct_patients() == len(np.unique(np.concatenate(seen)))


def test_patients_are_counted_exactly_across_batches():
    ids = pa.array(["P1", "P2", None, "P1", "", "P3", "P2"])
    rows = len(ids)
    table = pa.table({
        "patient_id": ids,
        "hospital_id": pa.array(["H1"] * rows),
        "primary_dx": pa.array(["K35.900"] * rows),
        "discharge_date": pa.array([date(2023, 5, 1)] * rows, pa.date32()),
        "total_cost": pa.array([Decimal(v) for v in (100, 300, 200, 400, 500, 600, 700)],
                               pa.decimal128(14, 2)),
        "fund_paid": pa.array([Decimal(1)] * rows, pa.decimal128(14, 2)),
        "bed_day_category": pa.array([None, "hospice", None, None, None, None, None], pa.string()),
    })
    empty_q = pa.table({"reason": pa.array([], pa.string())})
    s = CaseSummary()
    for start in range(0, rows, 2):
        s.add(table.slice(start, 2), empty_q)
    # P1, P2, "" and P3: the null is not a patient, the empty id is a value (as Arrow counts)
    assert "patients: 4," in s.lines()[3]
    assert s.lines()[1:] == reference_lines(table, empty_q)[1:]
    assert "median cost 400.00 yuan" in s.lines()[-1]
    assert "bed-day cases: 1 (14.3%)" in s.lines()[-1]


def test_validate_prints_the_whole_table_summary(province, tmp_path, capsys):
    out, hospitals, cases, quarantine = province
    q_path = tmp_path / "q.parquet"
    assert main(["validate", str(out / "cases"), "--hospitals", str(out / "hospitals.csv"),
                 "--quarantine", str(q_path), "-q"]) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = reference_lines(cases, quarantine)
    assert printed[:len(expected)] == expected
    assert printed[len(expected)] == f"quarantine written to {q_path}"
    written = pq.read_table(q_path)
    assert written.num_rows == quarantine.num_rows
    assert sorted(zip(written.column("source").to_pylist(), written.column("row").to_pylist())) \
        == sorted(zip(quarantine.column("source").to_pylist(), quarantine.column("row").to_pylist()))
