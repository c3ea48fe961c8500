"""Per-case rows written off the main thread: in order, bounded, atomic, failures reported."""
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dipcore as dc
from dipcore.engine import writer as W
from dipcore.errors import InputError
from dipcore.reports.files import PER_CASE_VALUES, cases_parquet_options
from dipcore.schema import fen, label_array, label_counts, plain_labels


# -- the writer class, with fake sinks -----------------------------------------------------------
class SlowSink:
    """Records what it writes, slowly, and how many tables were handed over but not written."""

    def __init__(self, delay: float = 0.02):
        self.delay, self.written, self.handed = delay, [], 0
        self.most_pending = 0
        self.lock = threading.Lock()

    def handed_one(self):
        with self.lock:
            self.handed += 1
            self.most_pending = max(self.most_pending, self.handed - len(self.written))

    def write(self, table):
        time.sleep(self.delay)
        with self.lock:
            self.written.append(table["i"][0].as_py())


def _tables(n):
    return [pa.table({"i": [k]}) for k in range(n)]


@pytest.mark.parametrize("depth", [1, 3])
def test_writes_everything_in_order_with_at_most_depth_waiting(depth):
    sink = SlowSink()
    with W.BackgroundWriter(sink.write, "fake", depth=depth) as w:
        for t in _tables(20):
            w.put(t)
            sink.handed_one()
    assert sink.written == list(range(20))
    # waiting in the queue, plus the one being written, plus the one being handed over
    assert sink.most_pending <= depth + 2
    assert sink.most_pending >= depth        # the queue did fill: the bound was exercised


def test_put_does_not_wait_for_writes_until_the_queue_is_full():
    """With the writer held inside its first write: three puts return (one being written,
    two queued), the fourth waits until a write finishes. The timeouts only guard against
    a hang; nothing here depends on how fast anything runs."""
    release = threading.Event()
    written = []

    def write(table):
        release.wait()
        written.append(table["i"][0].as_py())

    w = W.BackgroundWriter(write, "fake", depth=2)
    first = threading.Thread(target=lambda: [w.put(t) for t in _tables(3)])
    first.start()
    first.join(timeout=30)
    assert not first.is_alive()
    fourth_done = threading.Event()

    def fourth():
        w.put(pa.table({"i": [3]}))
        fourth_done.set()
    t = threading.Thread(target=fourth)
    t.start()
    assert not fourth_done.wait(0.3)         # the queue is full: it waits for a write
    release.set()
    t.join(timeout=30)
    assert fourth_done.is_set()
    w.close()
    assert written == [0, 1, 2, 3]


def test_a_failed_write_is_reported_and_does_not_block_the_producer():
    calls = []

    def write(table):
        calls.append(table)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        time.sleep(0.01)

    w = W.BackgroundWriter(write, "out/cases.parquet", depth=1)
    with pytest.raises(W.WriteError, match=r"writing out/cases.parquet failed: OSError: .*No "
                                           r"space left on device") as info:
        for t in _tables(50):                # a put after the failure raises, none hangs
            w.put(t)
        w.close()
    assert isinstance(info.value.__cause__, OSError)
    assert len(calls) == 2                   # nothing written after the failure


def test_abort_drops_what_is_waiting():
    sink = SlowSink(delay=0.1)
    with pytest.raises(KeyError):
        with W.BackgroundWriter(sink.write, "fake", depth=5) as w:
            for t in _tables(5):
                w.put(t)
            raise KeyError("the run failed")
    assert len(sink.written) < 5
    with pytest.raises(RuntimeError, match="closed"):
        w.put(pa.table({"i": [9]}))


# -- a settlement streamed to Parquet --------------------------------------------------------------
@pytest.fixture(scope="module")
def year(small_years):
    hospitals, current = small_years["hospitals"], small_years["current"]
    catalog = dc.calibrate(small_years["history"], policy=dc.Policy(core_min_cases=5))
    pools = np.array(current["pool"].to_pylist(), dtype=object)
    paid = fen(current["fund_paid"])
    budget = {p: float(paid[pools == p].sum()) / 100.0 for p in sorted(set(pools))}
    return dict(current=current, catalog=catalog, budget=budget, hospitals=hospitals)


def test_streamed_cases_equal_the_in_memory_table_in_reading_order(year, tmp_path):
    kwargs = dict(budget=year["budget"], hospitals=year["hospitals"], batch_rows=500)
    memory = dc.settle(year["current"], year["catalog"], **kwargs)
    streamed = dc.settle(year["current"], year["catalog"], out=tmp_path, **kwargs)
    back = pq.read_table(tmp_path / "cases.parquet")
    assert back.schema == memory.cases.schema          # types users read back unchanged
    assert back.equals(memory.cases)                   # same rows, same (reading) order
    assert streamed.cases.equals(memory.cases)
    kept = set(back.column("case_id").to_pylist())     # the source's order, less quarantine
    assert back.column("case_id").to_pylist() == [
        c for c in year["current"].column("case_id").to_pylist() if c in kept]
    # written batch by batch (a row group each), so the order was the writer's to keep;
    # repetitive columns dictionary-encoded, per-case values plain
    meta = pq.ParquetFile(tmp_path / "cases.parquet").metadata
    assert meta.num_row_groups >= year["current"].num_rows // 500
    names = memory.cases.column_names
    for i, name in enumerate(names):
        dictionary = "RLE_DICTIONARY" in meta.row_group(0).column(i).encodings
        assert dictionary == (name not in PER_CASE_VALUES), name
    assert meta.row_group(0).column(names.index("group_code")).compression == "ZSTD"
    # saving the in-memory result writes the same file content
    memory.save(tmp_path / "saved")
    assert pq.read_table(tmp_path / "saved" / "cases.parquet").equals(back)


def test_a_failing_writer_fails_the_run_and_leaves_no_file(year, tmp_path, monkeypatch):
    real = W.ParquetAppender.write
    written = []

    def failing(self, table):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(table.num_rows)
        real(self, table)

    monkeypatch.setattr(W.ParquetAppender, "write", failing)
    out = tmp_path / "res"
    with pytest.raises(W.WriteError, match=r"cases\.parquet failed: OSError: .*No space left"):
        dc.settle(year["current"], year["catalog"], budget=year["budget"],
                  hospitals=year["hospitals"], batch_rows=500, out=out)
    assert len(written) == 2                                # it failed mid-run
    assert not out.exists() or list(out.iterdir()) == []    # no file, no temporary left


def test_a_failing_run_stops_the_writer_and_leaves_no_file(year, tmp_path, monkeypatch):
    from dipcore.engine.passes import SettlementSums
    real = SettlementSums.fold
    folded = []

    def failing(self, state, b, result, write=None):
        if len(folded) == 3:
            raise RuntimeError("a pass failed")
        folded.append(1)
        return real(self, state, b, result, write)

    monkeypatch.setattr(SettlementSums, "fold", failing)
    before = {t.name for t in threading.enumerate()}
    out = tmp_path / "res"
    with pytest.raises(RuntimeError, match="a pass failed"):
        dc.settle(year["current"], year["catalog"], budget=year["budget"],
                  hospitals=year["hospitals"], batch_rows=500, out=out)
    assert not out.exists() or list(out.iterdir()) == []
    assert "dipcore-writer" not in {t.name for t in threading.enumerate()} - before


def test_the_writer_takes_one_of_the_threads(tmp_path):
    from dipcore.engine.executor import RowSink
    from dipcore.engine.local import batch_threads
    from dipcore.engine.threads import set_threads
    try:
        for n, streamed, kept in ((4, 3, 4), (2, 1, 2), (1, 1, 1)):
            set_threads(n)
            assert batch_threads(RowSink(tmp_path, write=print)) == streamed
            assert batch_threads(None) == kept
            assert batch_threads(RowSink(tmp_path, directory=tmp_path)) == kept   # Dask files
    finally:
        set_threads(None)


@given(st.lists(st.text(max_size=4), unique=True, max_size=8), st.data())
def test_label_arrays_read_as_the_strings_they_point_at(names, data):
    """``label_array`` (a per-case table's labels) decodes to ``names[codes]``, null where
    a code is negative, and Parquet gives the strings back, not the dictionary."""
    codes = data.draw(st.lists(st.integers(-1, len(names) - 1), max_size=30))
    arr = label_array(pa.array(names, pa.string()), np.array(codes, np.int64))
    expect = [names[c] if c >= 0 else None for c in codes]
    table = pa.table({"label": arr})
    assert plain_labels(table).column("label").to_pylist() == expect
    assert plain_labels(table).schema.field("label").type == pa.string()
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **cases_parquet_options(table.schema))
    back = pq.read_table(pa.BufferReader(sink.getvalue()))
    assert back.schema.field("label").type == pa.string()
    assert back.column("label").to_pylist() == expect


def test_label_counts_by_hand():
    """Codes 0 and 2 both name "x": the count is by name. Nulls count under None."""
    arr = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 1, 2, 2], pa.int32()),
                                         pa.array(["x", "y", "x", "unused"]))
    assert label_counts(arr) == {"x": 3, "y": 2, None: 1}
    assert label_counts(pa.chunked_array([arr, arr.slice(4)])) == {"x": 5, "y": 2, None: 1}
    assert label_counts(pa.array(["a", None, "a"])) == {"a": 2, None: 1}


@given(st.lists(st.sampled_from(["", "low", "high", None]), max_size=40), st.integers(1, 5))
def test_label_counts_against_a_plain_count(values, pieces):
    """A column read back from Parquet with ``read_dictionary`` (chunks with their own
    dictionaries) counts as the plain strings do."""
    import tempfile
    from collections import Counter
    from dipcore.ingest.tables import read_parquet_file
    table = pa.table({"label": pa.array(values, pa.string())})
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(table, f"{tmp}/t.parquet", row_group_size=max(1, len(values) // pieces))
        back = read_parquet_file(f"{tmp}/t.parquet", dictionary=["label"])
    expect = {k: n for k, n in Counter(values).items()}
    assert label_counts(back.column("label")) == expect
    assert label_counts(table.column("label")) == expect


def test_output_paths_that_cannot_be_written_are_one_line(tmp_path):
    """A file where a directory goes, a directory where a file goes, a parent that cannot
    hold directories and a path that is no path each stop with one line naming it."""
    from dipcore.reports.files import atomic_path, output_directory
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    with pytest.raises(InputError, match="a-file: the output directory is an existing file"):
        output_directory(tmp_path / "a-file")
    with pytest.raises(InputError, match="cannot make the output directory"):
        output_directory(tmp_path / "a-file" / "below")
    with pytest.raises(InputError, match="an output directory is a path, not int"):
        output_directory(1)
    with pytest.raises(InputError, match="a-dir: the output file is an existing directory"):
        with atomic_path(tmp_path / "a-dir"):
            pass
    assert output_directory(tmp_path / "new" / "deep").is_dir()


def test_a_quarantine_that_is_no_table_is_one_line(tmp_path):
    from dipcore.ingest.quarantine import save_quarantine
    with pytest.raises(InputError, match="the quarantine is a pyarrow.Table, not NoneType"):
        save_quarantine(None, tmp_path / "q.csv")
