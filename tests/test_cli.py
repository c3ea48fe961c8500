"""The command line, run as a user runs it: a subprocess, exit codes, one-line errors."""
import os
import subprocess
import sys

import pyarrow.parquet as pq


def run(*args, cwd=None):
    env = dict(os.environ)
    env.pop("DIPCORE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "dipcore", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dipcore: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_generate_then_validate(tmp_path):
    out = tmp_path / "prov"
    r = run("generate", out, "--cases-per-year", 2400, "--years", "2023-2024", "--hospitals", 8,
            "--seed", 5, "--bad-share", 0.01)
    assert r.returncode == 0, r.stderr
    assert "wrote 4,800 cases" in r.stdout
    assert (out / "labels.parquet").exists() and (out / "manifest.json").exists()
    r = run("validate", out / "cases", "--hospitals", out / "hospitals.csv",
            "--quarantine", tmp_path / "q.parquet")
    assert r.returncode == 0, r.stderr
    q = pq.read_table(tmp_path / "q.parquet")
    kept = int(r.stdout.split("cases kept: ")[1].split()[0].replace(",", ""))
    assert kept + q.num_rows == 4800 and q.num_rows > 0


def test_missing_column_is_one_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("case_id,hospital_id\nC1,H1\n")
    # required columns are checked in schema order: pool is the first one missing
    assert_one_line_error(run("validate", path), str(path), "'pool'")


def test_missing_file_and_bad_arguments(tmp_path):
    assert_one_line_error(run("validate", tmp_path / "nope.parquet"), "no such file")
    r = run("generate", tmp_path / "x", "--cases-per-year", "ten")
    assert r.returncode == 2 and "whole number" in r.stderr and "Traceback" not in r.stderr
    r = run("generate", tmp_path / "x", "--cases-per-year", 100, "--years", "2024-2021")
    assert r.returncode == 2 and "bad year range" in r.stderr


def test_corrupt_parquet_is_one_line(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 64)
    assert_one_line_error(run("validate", path), str(path))


def test_demo_runs_small(tmp_path):
    r = run("demo", "--out", tmp_path / "demo", "--cases-per-year", 3000, "--hospitals", 10)
    assert r.returncode == 0, r.stderr
    assert "point value" in r.stdout and "largest gains" in r.stdout
    demo = tmp_path / "demo"
    for name in ("quarantine.csv", "catalog.parquet", "settlement/hospitals.csv",
                 "settlement/cases.parquet", "province/labels.parquet", "drg_grouped.parquet",
                 "province/drg_pack/pack.json"):
        assert (demo / name).exists(), name
    # the year grouped by CHS-DRG too: one row per settled case, most of them grouped
    import pyarrow.parquet as pq
    grouped = pq.read_table(demo / "drg_grouped.parquet")
    settled = pq.read_table(demo / "settlement" / "cases.parquet")
    assert grouped.num_rows == settled.num_rows
    assert grouped.column("status").to_pylist().count("ok") >= 0.9 * grouped.num_rows
    assert "grouped 2024 by CHS-DRG" in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("dipcore ")
