"""Ingest: sources, mapping, conversion, validation and quarantine (issue: foundation)."""
import csv
import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pathlib import Path

import dipcore as dc
from dipcore.schema import CASE_SCHEMA, QUARANTINE_SCHEMA, fen

HEADER = ["case_id", "patient_id", "hospital_id", "hospital_level", "pool", "admission_date",
          "discharge_date", "age_years", "sex", "primary_dx", "secondary_dx", "procedures",
          "total_cost", "fund_paid", "discharge_way", "bed_day_category", "icu_days"]


def row(i, **changes):
    r = {"case_id": f"C{i}", "patient_id": f"P{i}", "hospital_id": "H1", "hospital_level": "3",
         "pool": "employee", "admission_date": "2024-03-01", "discharge_date": "2024-03-08",
         "age_years": "54", "sex": "1", "primary_dx": "k35.900", "secondary_dx": "I10.x00|E11.900",
         "procedures": "47.0100", "total_cost": "12345.67", "fund_paid": "9000.10",
         "discharge_way": "1", "bed_day_category": "", "icu_days": ""}
    r.update(changes)
    return r


def write_csv(path, rows, encoding="utf-8", header=HEADER):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_good_csv_is_canonical(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(1), row(2, procedures="", secondary_dx="")])
    cases, quarantine = dc.read_cases(path)
    assert quarantine.num_rows == 0
    assert cases.schema == CASE_SCHEMA
    first = cases.to_pylist()[0]
    assert first["primary_dx"] == "K35.900"
    assert first["secondary_dx"] == ["I10.x00", "E11.900"]
    assert first["procedures"] == ["47.0100"]
    assert first["total_cost"] == Decimal("12345.67")
    assert first["fund_paid"] == Decimal("9000.10")
    assert first["admission_date"] == dt.date(2024, 3, 1)
    assert first["pool"] == "employee" and first["sex"] == 1 and first["icu_days"] is None
    assert cases.to_pylist()[1]["procedures"] == []
    assert fen(cases.column("total_cost")).tolist() == [1234567, 1234567]


BAD = [
    ("case_id", "", "missing_case_id"),
    ("hospital_id", " ", "missing_hospital"),
    ("hospital_level", "4", "bad_hospital_level"),
    ("pool", "military", "unknown_pool"),
    ("admission_date", "2024-13-01", "bad_date"),
    ("discharge_date", "2024-02-30", "bad_date"),
    ("discharge_date", "2024-02-01", "discharge_before_admission"),
    ("age_years", "x", "bad_number"),
    ("age_years", "131", "bad_age"),
    ("age_years", "-1", "bad_age"),
    ("sex", "3", "bad_sex"),
    ("primary_dx", "", "missing_primary_dx"),
    ("primary_dx", "K3X.9", "malformed_diagnosis"),
    ("secondary_dx", "I10.x00|ZZZ", "malformed_diagnosis"),
    ("procedures", "47.01|4", "malformed_procedure"),
    ("total_cost", "abc", "bad_number"),
    ("total_cost", "", "bad_number"),
    ("total_cost", "nan", "nonfinite_cost"),
    ("total_cost", "-inf", "nonfinite_cost"),
    ("total_cost", "-5", "negative_cost"),
    ("total_cost", "1000000000", "absurd_cost"),
    ("fund_paid", "-0.01", "negative_cost"),
    ("fund_paid", "12345.68", "fund_exceeds_total"),
    ("discharge_way", "6", "bad_discharge_way"),
    ("discharge_way", "", "bad_discharge_way"),
    ("bed_day_category", "surgery", "bad_bed_day_category"),
    ("icu_days", "-2", "bad_value"),
    ("icu_days", "two", "bad_number"),
]


@pytest.mark.parametrize("column, value, reason", BAD)
def test_each_bad_value_goes_to_quarantine(tmp_path, column, value, reason):
    path = write_csv(tmp_path / "a.csv", [row(1), row(2, **{column: value}), row(3)])
    cases, quarantine = dc.read_cases(path)
    assert cases.num_rows + quarantine.num_rows == 3          # rows in = kept + quarantined
    assert cases.column("case_id").to_pylist() == ["C1", "C3"]
    q = quarantine.to_pylist()[0]
    assert (q["row"], q["reason"], q["column"]) == (2, reason, column)
    assert q["source"] == str(path)
    assert q["case_id"] == (None if column == "case_id" else "C2")
    assert json.loads(q["record"])[column] == value
    assert q["message"]


def test_duplicate_case_ids_keep_the_first_across_files(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_csv(d / "a.csv", [row(1), row(2), row(1, total_cost="1.00", fund_paid="0")])
    write_csv(d / "b.csv", [row(2), row(3)])
    cases, quarantine = dc.read_cases(d)
    assert cases.column("case_id").to_pylist() == ["C1", "C2", "C3"]
    assert fen(cases.column("total_cost")).tolist() == [1234567] * 3
    got = [(r["source"].rsplit("/", 1)[1], r["row"], r["reason"]) for r in quarantine.to_pylist()]
    assert got == [("a.csv", 3, "duplicate_case_id"), ("b.csv", 1, "duplicate_case_id")]


def _id_piece(ids):
    from dipcore.ingest.sources import Piece
    batch = pa.record_batch({"case_id": pa.array(ids, pa.string())})
    return Piece("<table>", batch, np.arange(1, len(ids) + 1))


@pytest.mark.parametrize("expected_rows", [1000, 2_000_000])
def test_a_kept_id_set_is_emptied_before_the_next_run(expected_rows):
    """A set of a year's ids (2M: over ``PREPARE_SET_BYTES``, emptied on its own thread
    while the first batch is read) or a small one (emptied at once) is kept for the next
    run, which must not see the ids of the last."""
    from dipcore.ingest import dedupe

    first = [f"C{i}" for i in range(3000)] + ["a long case id of more than fifteen bytes"]
    big = dedupe._borrow_set(expected_rows).nbytes >= dedupe.PREPARE_SET_BYTES
    assert big == (expected_rows > 1000)
    for run in range(3):
        d = dedupe.Deduplicator(expected_rows=expected_rows)
        assert (d._clearing is not None) == big
        p = d(_id_piece(first))
        assert not p.dup.any(), f"run {run} saw ids of an earlier run"
        # within the run, repeats are found, in this batch and across batches
        again = d(_id_piece(["C7", "new", "C2999", "new", "a long case id of more than fifteen bytes"]))
        assert again.dup.tolist() == [1, 0, 1, 1, 1]
        d.close()
        assert len(dedupe._idle_sets) == 1      # kept for the next run


def test_registry_supplies_levels_and_rejects_unknown_hospitals(tmp_path):
    reg = tmp_path / "h.csv"
    reg.write_text("hospital_id,level,kind,name\nH1,2,general,甲医院\nH2,1,tcm,乙医院\n", encoding="utf-8")
    hospitals = dc.read_hospitals(reg)
    rows = [row(1), row(2, hospital_id="H9"), row(3, hospital_id="H2", hospital_level="")]
    header = [h for h in HEADER if h != "hospital_level"]
    path = write_csv(tmp_path / "a.csv", rows, header=header)
    with pytest.raises(dc.InputError, match="hospital_level"):
        dc.read_cases(path)                     # without a registry the level is required
    cases, quarantine = dc.read_cases(path, hospitals=hospitals)
    assert cases.column("hospital_level").to_pylist() == [2, 1]
    assert quarantine.column("reason").to_pylist() == ["unknown_hospital"]


def test_rows_with_wrong_field_count_keep_their_row_numbers(tmp_path):
    path = tmp_path / "a.csv"
    lines = [",".join(HEADER)]
    for i in range(1, 9):
        r = row(i, patient_id="P\nwith newline" if i == 5 else f"P{i}")
        fields = ['"' + r[h].replace('"', '""') + '"' if "\n" in r[h] else r[h] for h in HEADER]
        if i == 3:
            fields = fields[:-2]               # too few fields
        if i == 6:
            fields = fields + ["extra"]        # too many
        lines.append(",".join(fields))
    path.write_text("\r\n".join(lines) + "\r\n\r\n", encoding="utf-8")
    cases, quarantine = dc.read_cases(path)
    assert cases.num_rows + quarantine.num_rows == 8
    q = quarantine.to_pylist()
    assert [(r["row"], r["reason"]) for r in q] == [(3, "wrong_field_count"), (6, "wrong_field_count")]
    assert q[0]["record"].startswith("C3,")
    # the good rows after them are numbered right: make row 8 bad and look at its number
    lines[8] = lines[8].replace("k35.900", "K3X")
    path.write_text("\n".join(lines), encoding="utf-8")
    _, quarantine = dc.read_cases(path)
    assert (8, "malformed_diagnosis") in [(r["row"], r["reason"]) for r in quarantine.to_pylist()]


def test_gbk_file_with_chinese_labels(tmp_path):
    rows = [row(1, pool="职工", bed_day_category="精神"), row(2, pool="居民")]
    path = write_csv(tmp_path / "gbk.csv", rows, encoding="gbk")
    cases, quarantine = dc.read_cases(path, encoding="gbk")
    assert quarantine.num_rows == 0
    assert cases.column("pool").to_pylist() == ["employee", "resident"]
    assert cases.column("bed_day_category").to_pylist() == ["psychiatric", None]


def test_gbk_read_as_utf8_stops_with_a_hint(tmp_path):
    rows = [row(i, pool="职工") for i in range(40)]
    path = write_csv(tmp_path / "gbk.csv", rows, encoding="gbk")
    with pytest.raises(dc.InputError, match="gbk") as info:
        dc.read_cases(path)
    assert str(path) in str(info.value) and "row 1" in str(info.value)


def test_undecodable_bytes_quarantine_only_their_row(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(i) for i in range(1, 30)])
    data = path.read_bytes().replace(b"P7,", b"P\xff7,")
    path.write_bytes(data)
    cases, quarantine = dc.read_cases(path)
    assert cases.num_rows == 28
    q = quarantine.to_pylist()
    assert [(r["row"], r["reason"], r["column"]) for r in q] == [(7, "bad_encoding", "patient_id")]


def test_missing_required_column_names_file_and_column(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(1)], header=[h for h in HEADER if h != "total_cost"])
    with pytest.raises(dc.InputError) as info:
        dc.read_cases(path)
    msg = str(info.value)
    assert str(path) in msg and "'total_cost'" in msg and "\n" not in msg


def test_unreadable_files_raise_input_error(tmp_path):
    good = tmp_path / "good.parquet"
    table, _ = dc.read_cases(write_csv(tmp_path / "a.csv", [row(1), row(2)]))
    pq.write_table(table, good)
    truncated = tmp_path / "cut.parquet"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(dc.InputError, match="cut.parquet"):
        dc.read_cases(truncated)
    with pytest.raises(dc.InputError, match="no such file"):
        dc.read_cases(tmp_path / "missing.parquet")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(dc.InputError, match="empty"):
        dc.read_cases(empty)


def test_csv_truncated_inside_quotes(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(1), row(2)])
    path.write_text(path.read_text() + 'C3,"P3 unfinished')
    with pytest.raises(dc.InputError, match="truncated"):
        dc.read_cases(path)


def _reference_table(tmp_path):
    rows = [row(i, total_cost=f"{1000 + i}.5{i % 10}") for i in range(1, 50)]
    return dc.read_cases(write_csv(tmp_path / "ref.csv", rows))[0]


def test_every_source_kind_gives_the_same_cases(tmp_path):
    ref = _reference_table(tmp_path)
    pq.write_table(ref, tmp_path / "cases.parquet", row_group_size=7)
    hive = tmp_path / "hive" / "year=2024" / "month=03"
    hive.mkdir(parents=True)
    pq.write_table(ref.slice(0, 20), hive / "part-0.parquet")
    pq.write_table(ref.slice(20), hive / "part-1.parquet")
    with pa.OSFile(str(tmp_path / "cases.arrow"), "wb") as f:
        with pa.ipc.new_file(f, ref.schema) as w:
            w.write_table(ref)
    sources = [tmp_path / "cases.parquet", tmp_path / "hive", tmp_path / "cases.arrow", ref,
               pa.RecordBatchReader.from_batches(ref.schema, ref.to_batches(max_chunksize=9))]
    pytest.importorskip("pandas")
    sources.append(ref.to_pandas())
    pl = pytest.importorskip("polars")
    sources.append(pl.from_arrow(ref))
    for source in sources:
        cases, quarantine = dc.read_cases(source)
        assert quarantine.num_rows == 0, type(source)
        assert cases.equals(ref), type(source)


@pytest.mark.parametrize("dictionaries", [True, False])
@pytest.mark.parametrize("batch_rows", [5, 23, 1000])
def test_small_row_groups_with_their_own_dictionaries(tmp_path, monkeypatch, batch_rows,
                                                      dictionaries):
    """Row groups of 4 rows, each with codes the others lack, read dictionary-encoded (as
    row groups of ``DICTIONARY_MIN_GROUP_ROWS`` and more are) and put together into
    batches that cut across them, or read as plain text (as tiny row groups are): the
    cases, and the row number of a bad code in a late group, are those of the CSV."""
    from dipcore.ingest import sources
    if dictionaries:
        monkeypatch.setattr(sources, "DICTIONARY_MIN_GROUP_ROWS", 1)
    dx = ["K35.900", "I10.x00", "E11.900", "J18.900", "N18.500", "C34.900"]
    rows = [row(i, hospital_id=f"H{i % 5}", primary_dx=dx[(i // 4) % len(dx)],
                secondary_dx="|".join(dx[(i // 4 + k) % len(dx)] for k in range(1 + i % 3)),
                procedures="" if i % 4 == 0 else f"47.01{i // 4 % 9}0")
            for i in range(1, 61)]
    rows[41]["primary_dx"] = "not a code"
    ref, bad = dc.read_cases(write_csv(tmp_path / "ref.csv", rows))
    assert bad.column("row").to_pylist() == [42]          # data rows count from 1
    plain = pa.table({c: [r[c] for r in rows] for c in HEADER})
    pq.write_table(plain, tmp_path / "cases.parquet", row_group_size=4)
    assert pq.ParquetFile(tmp_path / "cases.parquet").metadata.num_row_groups == 15
    opened = sources.parquet_file(str(tmp_path / "cases.parquet"), {c: c for c in HEADER})
    assert opened[1] is dictionaries
    parts = list(dc.scan_cases(tmp_path / "cases.parquet", batch_rows=batch_rows))
    if dictionaries:                                      # whole groups while they fit
        assert len(parts) == -(-15 // (batch_rows // 4))
    else:                                                 # plain text spans row groups
        assert len(parts) == -(-60 // batch_rows)
    cases = pa.concat_tables([c for c, _ in parts])
    quarantine = pa.concat_tables([q for _, q in parts])
    assert cases.equals(ref)
    assert quarantine.column("row").to_pylist() == [42]
    assert quarantine.column("reason").to_pylist() == bad.column("reason").to_pylist()


def test_typed_money_and_dates_from_parquet(tmp_path):
    t = pa.table({
        "case_id": ["A", "B", "C", "D"], "hospital_id": ["H", "H", "H", "H"],
        "hospital_level": pa.array([1, 2, 3, 3], pa.int64()), "pool": ["employee"] * 4,
        "admission_date": pa.array([dt.datetime(2024, 1, 1, 8)] * 4),
        "discharge_date": pa.array([20240105] * 4, pa.int64()),
        "age_years": pa.array([1.0, 2.0, 3.5, 4.0]),
        "primary_dx": ["K35.900"] * 4,
        "total_cost": pa.array([Decimal("10.1250"), Decimal("10.1249"), Decimal("1"), Decimal("2")],
                               pa.decimal128(18, 4)),
        "fund_paid": pa.array([1.25, 10.13, float("nan"), 1.0]),
        "discharge_way": pa.array([1, 1, 1, 1], pa.int8()),
    })
    cases, quarantine = dc.read_cases(t)
    assert cases.column("case_id").to_pylist() == ["A", "D"]
    assert fen(cases.column("total_cost")).tolist() == [1013, 200]
    assert cases.column("discharge_date").to_pylist() == [dt.date(2024, 1, 5)] * 2
    assert fen(cases.column("fund_paid")).tolist() == [125, 100]
    # B: 10.1249 rounds to 10.12 < 10.13; C: a fractional age comes before its NaN fund
    assert [(r["case_id"], r["reason"], r["column"]) for r in quarantine.to_pylist()] == [
        ("B", "fund_exceeds_total", "fund_paid"), ("C", "bad_number", "age_years")]


def test_settlement_list_names_and_user_mapping(tmp_path):
    names = {"case_id": "setl_id", "patient_id": "psn_no", "hospital_id": "fixmedins_code",
             "pool": "insutype", "admission_date": "adm_time", "discharge_date": "dscg_time",
             "age_years": "age", "sex": "gend", "total_cost": "medfee_sumamt",
             "fund_paid": "hifp_pay", "discharge_way": "dscg_way"}
    header = [names.get(h, h).upper() if h in names else h for h in HEADER]
    rows = [{names.get(k, k).upper() if k in names else k: v for k, v in row(i, pool="310").items()}
            for i in (1, 2)]
    path = write_csv(tmp_path / "setl.csv", rows, header=header)
    cases, quarantine = dc.read_cases(path)
    assert quarantine.num_rows == 0 and cases.column("pool").to_pylist() == ["employee"] * 2
    renamed = [{("diag_main" if k == "primary_dx" else k): v for k, v in row(1).items()}]
    path2 = write_csv(tmp_path / "m.csv", renamed,
                      header=["diag_main" if h == "primary_dx" else h for h in HEADER])
    with pytest.raises(dc.InputError, match="primary_dx"):
        dc.read_cases(path2)
    cases, _ = dc.read_cases(path2, mapping={"diag_main": "primary_dx"})
    assert cases.column("primary_dx").to_pylist() == ["K35.900"]
    with pytest.raises(dc.InputError, match="not a case column"):
        dc.read_cases(path2, mapping={"diag_main": "diagnosis"})
    with pytest.raises(dc.InputError, match="does not have"):
        dc.read_cases(path2, mapping={"nothere": "primary_dx"})


def test_quarantine_saves_as_csv_and_parquet(tmp_path):
    path = write_csv(tmp_path / "a.csv", [row(1), row(2, pool="x"), row(3, primary_dx="中文")])
    _, quarantine = dc.read_cases(path)
    dc.save_quarantine(quarantine, tmp_path / "q.parquet")
    dc.save_quarantine(quarantine, tmp_path / "q.csv")
    assert pq.read_table(tmp_path / "q.parquet").equals(quarantine)
    with open(tmp_path / "q.csv", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert [r["reason"] for r in back] == ["unknown_pool", "malformed_diagnosis"]
    assert "中文" in back[1]["record"]
    assert quarantine.schema == QUARANTINE_SCHEMA
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


@pytest.mark.parametrize("text, message", [
    ("hospital_id,level,kind\nH1,2,general\nH1,3,tcm\n", "appears twice"),
    ("hospital_id,level,kind\nH1,4,general\n", "level"),
    ("hospital_id,level,kind\nH1,2,clinic\n", "kind"),
    ("hospital_id,kind\nH1,general\n", "'level'"),
])
def test_bad_registry_stops_with_the_row(tmp_path, text, message):
    path = tmp_path / "h.csv"
    path.write_text(text)
    with pytest.raises(dc.InputError, match=message) as info:
        dc.read_hospitals(path)
    assert str(path) in str(info.value)


def test_generated_province_invariant(small_province):
    out, manifest = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    cases, quarantine = dc.read_cases(out / "cases", hospitals=hospitals)
    assert cases.num_rows + quarantine.num_rows == manifest["cases"]
    labels = pq.read_table(out / "labels.parquet")
    bad = labels.filter(pc.equal(labels["anomaly"], "bad_input"))
    assert sorted(quarantine.column("case_id").to_pylist()) == sorted(bad.column("case_id").to_pylist())
    assert pc.all(pc.equal(pc.utf8_slice_codeunits(cases["primary_dx"], 3, 4), ".")).as_py()
    # rows are numbered within their own file, 1-based
    rows = np.asarray(quarantine.column("row"))
    assert rows.min() >= 1 and rows.max() <= 1000


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_written_files_respect_the_umask(tmp_path, mask):
    # files come out of a private temporary; after the rename they carry what a new file
    # would under the process umask: 0644 under 022, 0640 under 027, 0600 under 077
    import os
    import stat

    from dipcore.reports.files import atomic_path, normal_mode, umask
    old = os.umask(mask)
    try:
        assert umask() == mask
        with atomic_path(tmp_path / "out.csv") as tmp:
            Path(tmp).write_text("a\n")
        assert stat.S_IMODE(os.stat(tmp_path / "out.csv").st_mode) == 0o666 & ~mask
        d = tmp_path / "dir"
        d.mkdir(mode=0o700)
        normal_mode(d)
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o777 & ~mask
    finally:
        os.umask(old)
