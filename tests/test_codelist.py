"""Code lists as a check (``dipcore.ingest.codelist``): codes outside the official edition
are quarantined as ``unknown_code`` or kept and counted, and nothing is lost."""
import subprocess
import sys
import warnings

import pyarrow as pa
import pytest
from test_io import row, write_csv

import dipcore as dc
from dipcore.errors import InputError

DX = ["K35.900", "I10.x00", "E11.900", "J18.900"]
PROC = ["47.0100", "47.0900"]


def lists(action="quarantine"):
    return dc.CodeList(diagnoses=pa.array(DX), procedures=pa.array(PROC), action=action)


def test_unknown_codes_are_quarantined_by_column(tmp_path):
    rows = [row(1), row(2, primary_dx="A09.000"), row(3, secondary_dx="I10.x00|Z99.100"),
            row(4, procedures="47.0100|99.9900"), row(5, sex="7", primary_dx="A09.000"),
            row(6, primary_dx=" k35.900 ", secondary_dx="")]
    cases, quarantine = dc.read_cases(write_csv(tmp_path / "c.csv", rows), code_list=lists())
    assert cases.column("case_id").to_pylist() == ["C1", "C6"]     # normalised before compare
    q = {r["case_id"]: r for r in quarantine.to_pylist()}
    assert cases.num_rows + quarantine.num_rows == len(rows)
    assert (q["C2"]["reason"], q["C2"]["column"]) == ("unknown_code", "primary_dx")
    assert q["C2"]["message"].endswith("'A09.000'")
    assert (q["C3"]["reason"], q["C3"]["column"]) == ("unknown_code", "secondary_dx")
    assert q["C3"]["message"].endswith("'Z99.100'")
    assert (q["C4"]["reason"], q["C4"]["column"]) == ("unknown_code", "procedures")
    assert q["C4"]["message"].endswith("'99.9900'")
    assert q["C5"]["reason"] == "bad_sex"          # an earlier check keeps its reason
    assert q["C2"]["row"] == 2


def test_warn_keeps_the_rows_and_counts_them(tmp_path):
    rows = [row(1), row(2, primary_dx="A09.000"), row(3, procedures="99.9900")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cases, quarantine = dc.read_cases(write_csv(tmp_path / "c.csv", rows),
                                          code_list=lists("warn"))
    assert cases.num_rows == 3 and quarantine.num_rows == 0
    found = [w for w in caught if issubclass(w.category, dc.UnknownCodes)]
    assert len(found) == 1 and str(found[0].message).startswith("2 rows carry codes")


def test_a_missing_list_is_not_checked(tmp_path):
    only_dx = dc.CodeList(diagnoses=pa.array(DX))
    rows = [row(1, procedures="99.9900")]
    cases, _ = dc.read_cases(write_csv(tmp_path / "c.csv", rows), code_list=only_dx)
    assert cases.num_rows == 1


def test_loading_lists_and_their_errors(tmp_path):
    d = tmp_path / "lists"
    d.mkdir()
    (d / "dx_codes.csv").write_text("code,name_zh\nK35.900,急性阑尾炎\nI10.x00,高血压\n",
                                    encoding="utf-8")
    cl = dc.CodeList.load(d, action="warn")
    assert cl.procedures is None and sorted(cl.diagnoses.to_pylist()) == ["I10.x00", "K35.900"]
    with pytest.raises(InputError, match="dx_codes.csv or proc_codes.csv"):
        dc.CodeList.load(tmp_path)
    (d / "proc_codes.csv").write_text("name\n47.0100\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        dc.CodeList.load(d)
    assert "proc_codes.csv" in str(err.value) and "code" in str(err.value)
    with pytest.raises(InputError, match="warn, quarantine"):
        dc.CodeList(diagnoses=pa.array(DX), action="drop")
    # a list with a header and no code (a truncated export) would make every code unknown
    (d / "proc_codes.csv").write_text("code\n", encoding="utf-8")
    with pytest.raises(InputError, match="proc_codes.csv, column 'code': the code list has no codes"):
        dc.CodeList.load(d)


def test_validate_command_counts_unknown_codes(tmp_path):
    d = tmp_path / "lists"
    d.mkdir()
    (d / "dx_codes.csv").write_text("code\n" + "\n".join(DX) + "\n", encoding="utf-8")
    src = write_csv(tmp_path / "c.csv", [row(1), row(2, primary_dx="A09.000")])
    r = subprocess.run([sys.executable, "-m", "dipcore", "validate", str(src),
                        "--code-list", str(d)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "unknown_code" in r.stdout
    r = subprocess.run([sys.executable, "-m", "dipcore", "validate", str(src),
                        "--code-list", str(d), "--unknown-code", "warn"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "1 rows carry codes outside the code list" in r.stdout
    r = subprocess.run([sys.executable, "-m", "dipcore", "validate", str(src),
                        "--unknown-code", "warn"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--unknown-code needs --code-list" in r.stderr
    # a quarantine file that cannot be written stops before the cases are read
    r = subprocess.run([sys.executable, "-m", "dipcore", "validate", str(src),
                        "--quarantine", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "the output file is an existing directory" in r.stderr
    assert "cases kept" not in r.stdout
