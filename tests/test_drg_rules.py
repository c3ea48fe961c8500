"""CHS-DRG rule packs: loading, fingerprint, and one clear error for every broken pack.

Each broken pack is a copy of the real one in tmp_path with one edit; pack.json's SHA-256
and row counts are updated for the edited table (as a bureau's tooling would), so the
loader reaches the edit itself, except in the tests of those declarations.
"""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from naive_drg import copy_pack, pack_dir

PACK = pack_dir()
if not (PACK / "pack.json").exists():
    pytest.skip(f"CHS-DRG pack not found at {PACK.resolve()} (set DIPCORE_DRG_PACK)",
                allow_module_level=True)

import dipcore as dc  # noqa: E402
from dipcore.errors import InputError  # noqa: E402
from dipcore.schemes.drg.rules import PackError  # noqa: E402


def edit_rows(fn):
    """A table edit: ``fn(header, rows)`` changes the parsed rows in place."""
    def run(text):
        header, *rows = list(csv.reader(io.StringIO(text)))
        fn(header, rows)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header] + rows)
        return buf.getvalue()
    return run


def set_cell(row_no: int, column: str, value: str):
    """Set one cell; ``row_no`` is the 1-based data row."""
    def fn(header, rows):
        rows[row_no - 1][header.index(column)] = value
    return edit_rows(fn)


def find_row(text: str, column: str, value: str) -> int:
    rows = list(csv.DictReader(io.StringIO(text)))
    return next(i for i, r in enumerate(rows, 1) if r[column] == value)


def load_broken(tmp_path, edits, reseal=True):
    return dc.DrgRules.load(copy_pack(PACK, tmp_path / "pack", edits, reseal))


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# -------------------------------------------------------------------------------------------
def test_load_the_real_pack():
    rules = dc.DrgRules.load(PACK)
    meta = json.loads((PACK / "pack.json").read_text(encoding="utf-8"))
    assert rules.name == meta["name"] == "chs-drg-1.1"
    assert re.fullmatch(r"[0-9a-f]{64}", rules.fingerprint)
    assert [m.mdc for m in rules.mdcs] == meta["mdc_order"]
    assert (len(rules.mdcs), len(rules.adrgs), len(rules.drgs)) == (26, 376, 628)
    kinds = {}
    for a in rules.adrgs:
        kinds[a.adrg] = a
    assert kinds["JA1"].proc_terms == ((1, 2), (1, 3, 4))
    assert [a.adrg for a in rules.adrgs if a.mdc == "F"].index("FF2") < \
        [a.adrg for a in rules.adrgs if a.mdc == "F"].index("FF1")      # by seq, not code
    assert "A17.000+G01*" not in rules.mcc or rules.mcc["A17.000+G01*"]
    assert rules.compiled.bits.shape[0] == rules.compiled.n_codes + 1
    assert repr(rules).startswith("DrgRules(name='chs-drg-1.1'")


def test_fingerprint_follows_content(tmp_path):
    same = dc.DrgRules.load(copy_pack(PACK, tmp_path / "a"))
    assert same.fingerprint == dc.DrgRules.load(copy_pack(PACK, tmp_path / "b")).fingerprint
    changed = load_broken(tmp_path, {"drg.csv": set_cell(1, "name_zh", "改名")})
    assert changed.fingerprint != same.fingerprint


def test_a_city_version_with_a_new_shape_loads(tmp_path):
    """Same format, different content: an extra column, reordered columns, a BOM."""
    def reorder(text):
        rows = list(csv.reader(io.StringIO(text)))
        rows = [r[::-1] + ["x"] for r in rows]
        rows[0][-1] = "local_note"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return "\ufeff" + buf.getvalue()
    rules = load_broken(tmp_path, {"adrg.csv": reorder})
    assert len(rules.adrgs) == 376


# -------------------------------------------------------------------------------------------
# every pack error: one line naming the file, the row and the column
# -------------------------------------------------------------------------------------------
def test_missing_table(tmp_path):
    with pytest.raises(PackError) as exc:
        load_broken(tmp_path, {"cc.csv": None})
    assert "cc.csv" in one_line(exc) and "missing" in str(exc.value)
    assert isinstance(exc.value, InputError)


def test_missing_pack_json_and_bad_json(tmp_path):
    with pytest.raises(PackError, match="pack.json.*missing"):
        load_broken(tmp_path / "1", {"pack.json": lambda meta: None})
    d = copy_pack(PACK, tmp_path / "2")
    (d / "pack.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PackError, match="pack.json: not valid JSON"):
        dc.DrgRules.load(d)
    with pytest.raises(PackError, match="not a rule pack directory"):
        dc.DrgRules.load(tmp_path / "nowhere")


def test_unknown_adrg_condition_kind(tmp_path):
    row = find_row((PACK / "adrg.csv").read_text(encoding="utf-8"), "adrg", "GZ1")
    with pytest.raises(PackError) as exc:
        load_broken(tmp_path, {"adrg.csv": set_cell(row, "dx_rule", "main_like")})
    assert one_line(exc).startswith(str(tmp_path / "pack" / "adrg.csv"))
    assert f"row {row}, column 'dx_rule': unknown condition kind 'main_like'" in str(exc.value)


def test_unknown_proc_rule_split_and_mdc_rule(tmp_path):
    with pytest.raises(PackError, match=r"adrg.csv, row 1, column 'proc_rule': unknown "):
        load_broken(tmp_path / "1", {"adrg.csv": set_cell(1, "proc_rule", "any_in")})
    with pytest.raises(PackError, match=r"drg.csv, row 3, column 'split': unknown condition "
                                        r"kind 'cc'"):
        load_broken(tmp_path / "2", {"drg.csv": set_cell(3, "split", "cc")})
    with pytest.raises(PackError, match=r"mdc.csv, row 2, column 'dx_rule'"):
        load_broken(tmp_path / "3", {"mdc.csv": set_cell(2, "dx_rule", "any_in")})


def test_unknown_check(tmp_path):
    def add(meta):
        meta["checks"]["weight_plausible"] = True
        return meta
    with pytest.raises(PackError, match=r"pack.json, column 'checks.weight_plausible': "
                                        r"unknown check"):
        load_broken(tmp_path, {"pack.json": add})


def test_drg_whose_adrg_does_not_exist(tmp_path):
    with pytest.raises(PackError) as exc:
        load_broken(tmp_path, {"drg.csv": set_cell(5, "adrg", "ZZ9")})
    assert "drg.csv, row 5, column 'adrg'" in one_line(exc)
    assert "ADRG 'ZZ9' is not in adrg.csv" in str(exc.value)


def test_duplicate_codes(tmp_path):
    def dup(header, rows):
        rows.insert(10, list(rows[3]))
    with pytest.raises(PackError, match=r"mcc.csv, row 11, column 'code': duplicate code"):
        load_broken(tmp_path / "1", {"mcc.csv": edit_rows(dup)})

    def dup_case(header, rows):                 # same code after trimming and upper-casing
        r = list(rows[0])
        r[header.index("code")] = " " + r[header.index("code")].lower() + " "
        rows.append(r)
    with pytest.raises(PackError, match=r"cce.csv, row 28303, column 'code': duplicate"):
        load_broken(tmp_path / "2", {"cce.csv": edit_rows(dup_case)})
    with pytest.raises(PackError, match=r"adrg_proc.csv, row 3, column 'code': duplicate code "
                                        r"'50.5100' in list 1 of ADRG AB1"):
        load_broken(tmp_path / "3", {"adrg_proc.csv": set_cell(3, "code", "50.5100")})


def test_duplicate_adrg_drg_and_seq(tmp_path):
    with pytest.raises(PackError, match=r"adrg.csv, row 2, column 'adrg': duplicate ADRG 'AA1'"):
        load_broken(tmp_path / "1", {"adrg.csv": set_cell(2, "adrg", "AA1")})
    with pytest.raises(PackError, match=r"adrg.csv, row 2, column 'seq': seq 1 of MDC A"):
        load_broken(tmp_path / "2", {"adrg.csv": set_cell(2, "seq", "1")})
    with pytest.raises(PackError, match=r"drg.csv, row 2, column 'drg': duplicate DRG"):
        load_broken(tmp_path / "3", {"drg.csv": set_cell(2, "drg", "AA19")})


def test_last_drg_must_have_split_none(tmp_path):
    with pytest.raises(PackError, match=r"drg.csv, row 1, column 'split': DRG AA19 is the last "
                                        r"of ADRG AA1 and must have split none"):
        load_broken(tmp_path, {"drg.csv": set_cell(1, "split", "mcc")})


def test_missing_column_and_bad_values(tmp_path):
    def drop(header, rows):
        i = header.index("exclusion_table")
        for r in [header] + rows:
            del r[i]
    with pytest.raises(PackError, match=r"cc.csv, column 'exclusion_table': column missing"):
        load_broken(tmp_path / "1", {"cc.csv": edit_rows(drop)})
    with pytest.raises(PackError, match=r"adrg.csv, row 4, column 'seq': 'x' is not an integer"):
        load_broken(tmp_path / "2", {"adrg.csv": set_cell(4, "seq", "x")})
    with pytest.raises(PackError, match=r"mdc_dx.csv, row 7, column 'code': empty code"):
        load_broken(tmp_path / "3", {"mdc_dx.csv": set_cell(7, "code", " ")})
    with pytest.raises(PackError, match=r"mdc_dx.csv, row 7, column 'mdc': MDC 'Q9'"):
        load_broken(tmp_path / "4", {"mdc_dx.csv": set_cell(7, "mdc", "Q9")})
    with pytest.raises(PackError, match=r"cce.csv, row 9, column 'exclusion_table': value "
                                        r"required"):
        load_broken(tmp_path / "5", {"cce.csv": set_cell(9, "exclusion_table", "")})


def test_ragged_rows_and_bad_encoding(tmp_path):
    with pytest.raises(PackError, match=r"mcc.csv, row 1: 3 fields where the header has 2"):
        load_broken(tmp_path / "1", {"mcc.csv": lambda t: t.replace("\n", ",x\n", 2)
                                     .replace(",x\n", "\n", 1)})
    d = copy_pack(PACK, tmp_path / "2", reseal=False)
    (d / "cc.csv").write_bytes("code,exclusion_table\n诊断,1\n".encode("gbk"))
    meta = json.loads((d / "pack.json").read_text(encoding="utf-8"))
    del meta["files"]["cc.csv"]["sha256"], meta["files"]["cc.csv"]["rows"]
    (d / "pack.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(PackError, match=r"cc.csv: not UTF-8 text \(byte \d+, line 2\)"):
        dc.DrgRules.load(d)


def test_proc_expr_must_name_lists_that_exist(tmp_path):
    text = (PACK / "adrg.csv").read_text(encoding="utf-8")
    row = find_row(text, "adrg", "JA1")
    with pytest.raises(PackError, match=rf"adrg.csv, row {row}, column 'proc_expr': ADRG JA1 "
                                        r"reads procedure list 5"):
        load_broken(tmp_path / "1", {"adrg.csv": set_cell(row, "proc_expr", "1&5")})
    with pytest.raises(PackError, match=rf"row {row}, column 'proc_expr': bad proc_expr "):
        load_broken(tmp_path / "2", {"adrg.csv": set_cell(row, "proc_expr", "1&&2")})
    with pytest.raises(PackError, match=r"adrg_proc.csv, row \d+, column 'list': list 4 of "
                                        r"ADRG JA1 is read by no condition"):
        load_broken(tmp_path / "3", {"adrg.csv": set_cell(row, "proc_expr", "1&2|1&3")})
    gz1 = find_row(text, "adrg", "GZ1")
    with pytest.raises(PackError, match=rf"row {gz1}, column 'proc_expr': proc_expr is only "):
        load_broken(tmp_path / "4", {"adrg.csv": set_cell(gz1, "proc_expr", "1")})


def test_condition_without_its_table(tmp_path):
    text = (PACK / "adrg.csv").read_text(encoding="utf-8")
    row = find_row(text, "adrg", "AA1")
    with pytest.raises(PackError, match=rf"adrg.csv, row {row}, column 'dx_rule': ADRG AA1 has "
                                        r"dx_rule main_in but no rows in adrg_dx.csv"):
        load_broken(tmp_path, {"adrg.csv": set_cell(row, "dx_rule", "main_in")})


def test_table_rows_no_condition_reads(tmp_path):
    text = (PACK / "adrg.csv").read_text(encoding="utf-8")
    row = find_row(text, "adrg", "GZ1")
    dx_row = find_row((PACK / "adrg_dx.csv").read_text(encoding="utf-8"), "adrg", "GZ1")
    with pytest.raises(PackError, match=rf"adrg_dx.csv, row {dx_row}, column 'adrg': ADRG GZ1 "
                                        r"has rows here but no dx_rule"):
        load_broken(tmp_path, {"adrg.csv": set_cell(row, "dx_rule", "")})


def test_declared_sha256_and_rows_are_checked(tmp_path):
    d = copy_pack(PACK, tmp_path / "1", {"drg.csv": set_cell(1, "name_zh", "x")}, reseal=False)
    with pytest.raises(PackError, match=r"drg.csv: the table's SHA-256 differs from the one "
                                        r"pack.json declares"):
        dc.DrgRules.load(d)

    def rows_off(meta):
        meta["files"]["mcc.csv"]["rows"] += 1
        return meta
    with pytest.raises(PackError, match=r"mcc.csv: 4678 rows where pack.json declares 4679"):
        load_broken(tmp_path / "2", {"pack.json": rows_off})


def test_mdc_order_and_counts_must_agree(tmp_path):
    def swap(meta):
        meta["mdc_order"][0], meta["mdc_order"][1] = meta["mdc_order"][1], meta["mdc_order"][0]
        return meta
    with pytest.raises(PackError, match=r"pack.json, column 'mdc_order'"):
        load_broken(tmp_path / "1", {"pack.json": swap})
    with pytest.raises(PackError, match=r"mdc.csv, row 1, column 'adrg_count': MDC A has 9"):
        load_broken(tmp_path / "2", {"mdc.csv": set_cell(1, "adrg_count", "10")})


def test_map_mode_needs_the_maps(tmp_path):
    rules = load_broken(tmp_path, {"dx_map.csv": None, "pack.json": _unlist("dx_map.csv")})
    assert rules.dx_map is None
    import pyarrow.parquet as pq
    cases = pq.read_table(PACK / "cases-public.parquet").slice(0, 5)
    assert dc.drg_group(cases, rules).num_rows == 5
    with pytest.raises(InputError, match="map mode needs dx_map.csv"):
        dc.drg_group(cases, rules, map_codes=True)


def _unlist(name):
    def fn(meta):
        del meta["files"][name]
        return meta
    return fn
