"""The shape knobs of the synthetic province (``data_gen.shape``): each does what it says,
keeps the output a function of the seed whatever the chunk size, and the defaults are the
province as before."""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from data_gen import generate
from data_gen.model import build_model
from data_gen.shape import Shape
from dipcore.cli.main import main

ARGS = {"cases_per_year": 24_000, "years": (2024, 2024), "hospitals": 30, "seed": 4,
        "gaming": []}


def _cases(out):
    return ds.dataset(out / "cases", format="parquet", partitioning="hive").to_table()


def _files(out):
    return sorted((out / "cases").rglob("*.parquet"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    return out, generate(out, **ARGS)


def test_default_knobs_are_the_province_as_before(plain, tmp_path):
    out, manifest = plain
    again = generate(tmp_path / "p", **ARGS, **Shape().as_dict())
    assert "shape" not in manifest and "shape" not in again
    for a, b in zip(_files(out), _files(tmp_path / "p"), strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_patients_per_case(plain, tmp_path):
    n = ARGS["cases_per_year"]
    distinct = pc.count_distinct(_cases(plain[0])["patient_id"]).as_py() / n
    assert distinct < 0.6                                       # repeat admissions
    one = generate(tmp_path / "one", **ARGS, patients_per_case=1.0)
    assert one["shape"] == {"patients_per_case": 1.0}
    assert pc.count_distinct(_cases(tmp_path / "one")["patient_id"]).as_py() > 0.995 * n
    generate(tmp_path / "third", **ARGS, patients_per_case=0.3)
    third = pc.count_distinct(_cases(tmp_path / "third")["patient_id"]).as_py() / n
    # the pool gives 0.3; newborns and some mothers are patients of their own on top
    assert 0.3 < third < 0.45


def test_code_vocabulary(plain, tmp_path):
    generate(tmp_path / "v", **ARGS, diagnoses=400, procedures=300)
    t = _cases(tmp_path / "v")
    base = pc.count_distinct(pc.utf8_slice_codeunits(t["primary_dx"], 0, 7)).as_py()
    assert 300 < base <= 400
    procs = pc.count_distinct(pc.list_flatten(t["procedures"])).as_py()
    assert 200 < procs <= 300
    p = plain[0]
    assert pc.count_distinct(pc.list_flatten(_cases(p)["procedures"])).as_py() > 1000
    model = build_model(4, 30, 400, 300)
    assert len(model.proc_codes) == 300
    assert len(set(model.proc_codes)) == 300
    # a combination never lists a code twice
    pairs = model.combo_procs[model.combo_procs[:, 1] >= 0]
    assert (pairs[:, 0] != pairs[:, 1]).all()
    # the excluded simple procedures are kept
    assert {model.proc_codes[k] for k in model.extra_procs} >= {"99.2900", "93.5700"}
    with pytest.raises(ValueError, match="procedures: at most"):
        build_model(4, 30, 400, 10 ** 6)
    with pytest.raises(ValueError, match="diagnoses: at most"):
        build_model(4, 30, 99_999)


def test_codes_per_case(plain, tmp_path):
    base = _cases(plain[0])
    generate(tmp_path / "few", **ARGS, max_secondary=3, max_procedures=2,
             extra_procedure_share=0.0, secondary_scale=0.5)
    few = _cases(tmp_path / "few")
    sec, proc = (pc.list_value_length(few[c]).to_numpy() for c in ("secondary_dx", "procedures"))
    assert sec.max() == 3 and proc.max() == 2
    assert pc.max(pc.list_value_length(base["procedures"])).as_py() > 2
    model = build_model(4, 30)
    # the excluded simple procedures (but those a treatment combination also draws)
    extras = pa.array([model.proc_codes[k] for k in model.extra_procs
                       if k not in set(model.combo_procs.ravel())])
    assert pc.any(pc.is_in(pc.list_flatten(base["procedures"]), value_set=extras)).as_py()
    assert not pc.any(pc.is_in(pc.list_flatten(few["procedures"]), value_set=extras)).as_py()
    generate(tmp_path / "many", **ARGS, max_secondary=20, secondary_scale=3.0)
    many = pc.list_value_length(_cases(tmp_path / "many")["secondary_dx"]).to_numpy()
    plain_sec = pc.list_value_length(base["secondary_dx"]).to_numpy()
    assert many.mean() > 2.5 * plain_sec.mean() and many.max() > 8
    assert sec.mean() < 0.6 * plain_sec.mean()


def test_max_procedures_cuts_the_list_and_nothing_else(plain, tmp_path):
    generate(tmp_path / "cut", **ARGS, max_procedures=1)
    base, cut = _cases(plain[0]), _cases(tmp_path / "cut")
    assert pc.max(pc.list_value_length(cut["procedures"])).as_py() == 1
    assert cut.drop_columns(["procedures"]).equals(base.drop_columns(["procedures"]))
    first = pc.list_slice(base["procedures"], 0, 1).cast(cut["procedures"].type)
    assert pc.all(pc.equal(pc.list_value_length(first), pc.list_value_length(cut["procedures"]))
                  ).as_py()


def test_row_group_rows(plain, tmp_path):
    generate(tmp_path / "rg", **ARGS, row_group_rows=500)
    for f in _files(tmp_path / "rg"):
        meta = pq.ParquetFile(f).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert max(sizes) == 500 and sum(sizes) == meta.num_rows > 500
    meta = pq.ParquetFile(_files(plain[0])[0]).metadata
    assert meta.num_row_groups == 1 and meta.row_group(0).num_rows > 500


def test_shuffled_rows_are_the_same_rows_in_another_order(plain, tmp_path):
    a = generate(tmp_path / "a", **ARGS, order="shuffled", chunk_rows=700)
    generate(tmp_path / "b", **ARGS, order="shuffled", chunk_rows=700)
    assert a["shape"] == {"order": "shuffled"}
    for fs, fp in zip(_files(tmp_path / "a"), _files(tmp_path / "b"), strict=True):
        assert pq.read_table(fs).equals(pq.read_table(fp))          # deterministic
    sorted_rows = _cases(plain[0])
    shuffled = _cases(tmp_path / "a")
    assert not shuffled["case_id"].equals(sorted_rows["case_id"])
    assert shuffled.sort_by("case_id").equals(sorted_rows.sort_by("case_id"))
    # every file is shuffled, and its order is a function of its rows: a whole month in
    # one file is the same whatever the chunk size that would have cut it
    for f in _files(tmp_path / "a"):
        ids = pq.read_table(f, columns=["case_id"])["case_id"].to_pylist()
        assert ids != sorted(ids)
    generate(tmp_path / "c", **ARGS, order="shuffled", chunk_rows=10_000)
    generate(tmp_path / "d", **ARGS, order="shuffled", chunk_rows=12_000)
    for fc, fd in zip(_files(tmp_path / "c"), _files(tmp_path / "d"), strict=True):
        assert pq.read_table(fc).equals(pq.read_table(fd))


def test_every_knob_together_is_independent_of_the_chunk_size(tmp_path):
    knobs = {"patients_per_case": 0.9, "diagnoses": 500, "procedures": 400,
             "max_secondary": 4, "secondary_scale": 1.5, "max_procedures": 2,
             "extra_procedure_share": 0.2, "row_group_rows": 1000}
    args = {**ARGS, "gaming": None, "bad_share": 0.01}
    generate(tmp_path / "a", **args, **knobs, chunk_rows=97)
    generate(tmp_path / "b", **args, **knobs, chunk_rows=5000)
    a, b = _cases(tmp_path / "a"), _cases(tmp_path / "b")
    assert a.num_rows == ARGS["cases_per_year"] and a.equals(b)
    la, lb = (pq.read_table(p / "labels.parquet").sort_by([("case_id", "ascending"),
                                                          ("anomaly", "ascending")])
              for p in (tmp_path / "a", tmp_path / "b"))
    assert la.equals(lb) and la.num_rows > 0
    generate(tmp_path / "c", **{**args, "seed": 5}, **knobs, chunk_rows=5000)
    assert not _cases(tmp_path / "c").equals(a)


@pytest.mark.parametrize("knob, value", [
    ("patients_per_case", 0.0), ("patients_per_case", 1.5), ("diagnoses", 2.5),
    ("procedures", 5), ("max_secondary", -1), ("secondary_scale", -1.0),
    ("max_procedures", 0), ("extra_procedure_share", 1.2), ("row_group_rows", 0),
    ("order", "random"), ("max_procedures", True),
])
def test_a_bad_knob_is_refused(knob, value):
    with pytest.raises(ValueError, match=knob):
        Shape(**{knob: value})


def test_generate_command_takes_the_knobs(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["generate", str(out), "--cases-per-year", "1200", "--years", "2024-2024",
                 "--hospitals", "12", "--patients-per-case", "1", "--diagnoses", "500",
                 "--procedures", "200", "--max-secondary", "2", "--secondary-scale", "0.5",
                 "--max-procedures", "2", "--extra-procedure-share", "1",
                 "--row-group-rows", "64", "--order", "shuffled", "-q"]) == 0
    import json
    shape = json.loads((out / "manifest.json").read_text())["shape"]
    assert shape == {"patients_per_case": 1.0, "diagnoses": 500, "procedures": 200,
                     "max_secondary": 2, "secondary_scale": 0.5, "max_procedures": 2,
                     "extra_procedure_share": 1.0, "row_group_rows": 64, "order": "shuffled"}
    lengths = pc.list_value_length(_cases(out)["procedures"]).to_numpy()
    assert lengths.max() == 2 and np.mean(lengths >= 1) > 0.99
