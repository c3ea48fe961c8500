"""Byte-identical outputs: run the whole job, then compare two runs file by file.

A change meant to alter nothing (a refactor, a faster kernel) must leave every output byte
as it was. ``write`` runs the whole job through the public API only (``read_cases``,
``read_hospitals``, ``calibrate``, ``settle``, ``audit``, ``Policy`` and the ``save``
methods) on generated provinces, under five policies and on both engines, and writes every
output to a tree; ``diff`` compares two trees byte for byte and, for a Parquet file that
differs, says which columns, metadata keys and first row differ.

Usage, from the project root::

    python -m tools.regression write OUT [--province demo|2m|both] [--data DIR]
                                         [--engines local,dask] [--overwrite]
    python -m tools.regression diff A B

A typical check: ``write /tmp/regress/before`` on the old code (e.g. a worktree of the old
commit with ``PYTHONPATH`` pointing at it), ``write /tmp/regress/after`` on the new code
with the same ``--data``, then ``diff /tmp/regress/before /tmp/regress/after``; ``diff``
exits 0 only when every file is identical.

``write`` lays out::

    OUT/timings.json                          wall times (never compared)
    OUT/<province>/inputs.json                generator parameters and a digest of the data
    OUT/<province>/<policy>/<engine>/
        quarantine.parquet                    rows rejected by read_cases
        catalog.parquet                       Catalog.save
        settlement/                           Settlement.save
        audit/                                Audit.save, or skipped.json (see below)
        warnings.json                         warnings of calibrate, settle and audit
        point_value.json                      the budget given and the point values found

Provinces (generated once by ``data_gen.generate`` and cached under ``--data``, default
``/tmp/dipcore-regress-data``): ``demo`` is the province of ``dipcore demo`` (200 000 cases
a year, 60 hospitals, seed 2024, 0.05 % bad rows); ``2m`` has 500 000 cases a year and 200
hospitals (seed 7), 2 million cases in all. Both cover 2021-2024.

Each run reads and validates the cases against the registry, calibrates on 2021-2023,
settles 2024 with a budget per pool equal to what the fund paid for the valid 2024 cases
(as ``dipcore demo`` does) and audits 2024 against 2023. The ``local`` engine is given
in-memory tables, as the demo does; ``dask`` (one local cluster of 2 single-threaded
worker processes, shared by all runs) the hive directories of the years, as the README
shows. When the installed dipcore rejects a Dask audit, ``audit/skipped.json`` records the
error, so the same tool works before and after the Dask engine learns to audit.

The tool works from the data directory and passes paths relative to it, so outputs that
name source files (the quarantine) do not depend on where the cache lives. None of the
compared files holds a time: wall times go to ``OUT/timings.json`` only.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DEFAULT_DATA = "/tmp/dipcore-regress-data"
FIRST_YEAR, LAST_YEAR = 2021, 2024
CALIBRATION_YEARS = [2021, 2022, 2023]
SETTLE_YEAR = 2024
DASK_WORKERS = 2
ENGINES = ("local", "dask")
#: Files of a tree that ``diff`` never compares: wall times differ from run to run.
UNCOMPARED = frozenset({"timings.json"})
#: Rows of a differing column compared at once while looking for its first differing row.
SLICE_ROWS = 1 << 16


@dataclass(frozen=True)
class Province:
    """Arguments of ``data_gen.generate`` for one generated province."""

    name: str
    cases_per_year: int
    hospitals: int
    seed: int
    bad_share: float

    def params(self) -> dict[str, Any]:
        return {"cases_per_year": self.cases_per_year, "years": [FIRST_YEAR, LAST_YEAR],
                "hospitals": self.hospitals, "seed": self.seed, "bad_share": self.bad_share}


PROVINCES = {
    # exactly what ``dipcore demo`` generates (its argparse defaults and its bad_share)
    "demo": Province("demo", 200_000, 60, 2024, 0.0005),
    # 2 million cases, 2.5 times the demo: several batches per local pass (2**18 rows
    # each), and more hospitals for the statements and the audit
    "2m": Province("2m", 500_000, 200, 7, 0.0005),
}


def policies() -> dict[str, Any]:
    """The five policies, by directory name.

    ``national`` (the defaults), the two shipped regional examples, and two built here to
    reach the grouping variants the examples leave out: diagnosis categories with
    procedure prefixes, merged small comprehensive groups and the highest treatment class;
    the first recorded procedure's class with highest-score ties and extra exclusions.
    """
    import dipcore as dc
    shipped = resources.files("dipcore").joinpath("data", "policies")
    return {
        "national": dc.Policy(),
        "hubei": dc.Policy.load(str(shipped.joinpath("hubei_example.toml"))),
        "shandong": dc.Policy.load(str(shipped.joinpath("shandong_example.toml"))),
        "category": dc.Policy(core_dx_level="category",
                              procedure_prefix=5,             # ICD-9-CM-3 subcategory, "38.47"
                              comprehensive_small="merge", comprehensive_min_cases=10,
                              comprehensive_class_from="highest"),
        # 95.* (eye and ear diagnostics) and 87.9* (other x-rays) are frequent in the
        # generated data and not in the shipped exclusion list, so excluding them regroups
        # cases
        "first_class": dc.Policy(comprehensive_class_from="first", tie_break="highest_score",
                                 extra_exclusions=["95.*", "87.9*"]),
    }


def _audit_function():
    """``dipcore.audit``; from its module where the package does not export it."""
    import dipcore as dc
    fn = getattr(dc, "audit", None)
    if callable(fn):
        return fn
    from dipcore.audit import audit  # the attribute may be the submodule, not the function
    return audit


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
class Timings:
    """Wall times of the steps, printed as they finish and kept for ``timings.json``."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def step(self, *labels: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        seconds = round(time.perf_counter() - t0, 2)
        self.rows.append({"step": "/".join(labels), "seconds": seconds})
        print(f"  {'/'.join(labels)}: {seconds:.1f} s", file=sys.stderr, flush=True)


def _write_json(path: Path, data: Any) -> None:
    # sorted keys and a fixed layout: the same data always gives the same bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _digest(root: Path) -> dict[str, Any]:
    """SHA-256 over the generated files (names and bytes) under ``root``.

    ``manifest.json`` is left out: it holds the generator's wall time.
    """
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return {"files": len(files), "sha256": h.hexdigest()}


def ensure_province(data: Path, province: Province, timings: Timings) -> Path:
    """The province's directory under ``data``, generated the first time.

    Generated into a temporary directory and renamed when complete, so an interrupted
    generation is never taken for a cached province. A cached province made with other
    parameters is an error rather than silently reused.
    """
    from data_gen import generate
    target = data / province.name
    params_file = target / "regression-params.json"
    if target.exists():
        found = json.loads(params_file.read_text()) if params_file.exists() else None
        if found != province.params():
            raise SystemExit(f"{target} holds another province ({found}); remove it or choose "
                             "another --data")
        return target
    data.mkdir(parents=True, exist_ok=True)
    staging = data / f".{province.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    with timings.step(province.name, "generate"):
        generate(staging, province.cases_per_year, (FIRST_YEAR, LAST_YEAR),
                 hospitals=province.hospitals, seed=province.seed,
                 bad_share=province.bad_share)
    _write_json(staging / "regression-params.json", province.params())
    os.replace(staging, target)
    return target


def fund_budget(cases: pa.Table) -> dict[str, float]:
    """What the fund paid per pool, in yuan: the budget ``dipcore demo`` settles with.

    Summed exactly in fen and divided by 100 once, as the demo does, so the float is the
    same bit for bit whatever the order of the cases.
    """
    sums = cases.group_by("pool").aggregate([("fund_paid", "sum")])
    fen = {pool: int(total * 100) for pool, total in
           zip(sums.column("pool").to_pylist(), sums.column("fund_paid_sum").to_pylist())}
    return {pool: float(fen[pool]) / 100.0 for pool in sorted(fen)}


# ---------------------------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------------------------
@dataclass
class Inputs:
    """What every run of one province is given, per engine."""

    hospitals: pa.Table
    quarantine: pa.Table
    budget: dict[str, float]
    local: dict[str, Any]       # history, current, previous as in-memory tables
    dask: dict[str, Any]        # the same as hive directories (relative paths)


def load_inputs(name: str, timings: Timings) -> Inputs:
    """Read and validate a province (relative to the working directory) once."""
    import dipcore as dc
    root = Path(name)
    hospitals = dc.read_hospitals(root / "hospitals.csv")
    with timings.step(name, "read_cases"):
        cases, quarantine = dc.read_cases(root / "cases", hospitals=hospitals)
    year = pc.year(cases.column("discharge_date"))
    local = {
        "history": cases.filter(pc.less(year, SETTLE_YEAR)),
        "current": cases.filter(pc.equal(year, SETTLE_YEAR)),
        "previous": cases.filter(pc.equal(year, SETTLE_YEAR - 1)),
    }
    years = root / "cases"
    dask = {
        "history": [str(years / f"year={y}") for y in CALIBRATION_YEARS],
        "current": str(years / f"year={SETTLE_YEAR}"),
        "previous": str(years / f"year={SETTLE_YEAR - 1}"),
    }
    return Inputs(hospitals, quarantine, fund_budget(local["current"]), local, dask)


def run_one(out: Path, inputs: Inputs, policy: Any, engine: str, client: Any,
            timings: Timings, labels: tuple[str, ...]) -> None:
    """The whole job under one policy on one engine, every output saved under ``out``."""
    import dipcore as dc
    audit = _audit_function()
    out.mkdir(parents=True, exist_ok=True)
    src = inputs.local if engine == "local" else inputs.dask
    engine_args: dict[str, Any] = {} if engine == "local" else {"engine": "dask",
                                                                 "client": client}
    # every run directory is complete on its own: the quarantine is the same for all
    dc.save_quarantine(inputs.quarantine, out / "quarantine.parquet")
    with timings.step(*labels, "calibrate"):
        catalog = dc.calibrate(src["history"], policy=policy, hospitals=inputs.hospitals,
                               years=CALIBRATION_YEARS, **engine_args)
    catalog.save(out / "catalog.parquet")
    with timings.step(*labels, "settle"):
        result = dc.settle(src["current"], catalog, budget=inputs.budget, policy=policy,
                           hospitals=inputs.hospitals, **engine_args)
    result.save(out / "settlement")
    _write_json(out / "point_value.json", {"budget": inputs.budget,
                                           "point_value": result.point_value})
    audit_warnings = None
    try:
        with timings.step(*labels, "audit"):
            found = audit(src["current"], catalog, policy=policy, hospitals=inputs.hospitals,
                          previous=src["previous"], **engine_args)
    except (TypeError, ValueError, NotImplementedError) as exc:
        if engine == "local":
            raise
        # this dipcore cannot audit on Dask: say so in the tree, so that a version which
        # can shows up in a diff, and carry on with the other runs
        _write_json(out / "audit" / "skipped.json",
                    {"engine": engine, "error": f"{type(exc).__name__}: {exc}"})
        print(f"  {'/'.join(labels)}/audit: skipped ({type(exc).__name__}: {exc})",
              file=sys.stderr, flush=True)
    else:
        found.save(out / "audit")
        audit_warnings = found.warnings
    _write_json(out / "warnings.json", {"calibrate": catalog.warnings,
                                        "settle": result.warnings, "audit": audit_warnings})


@contextlib.contextmanager
def _dask_client(needed: bool) -> Iterator[Any]:
    """One local cluster for every Dask run (started only when asked for)."""
    if not needed:
        yield None
        return
    from dask.distributed import Client, LocalCluster
    # processes, one thread each: the partial states really cross process boundaries
    with LocalCluster(n_workers=DASK_WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def write(out: Path, provinces: list[str], data: Path, engines: list[str],
          overwrite: bool = False) -> None:
    """Write the outputs of every province, policy and engine under ``out``.

    Parameters
    ----------
    out : Path
        Output tree; a province already in it is an error unless ``overwrite``.
    provinces : list of str
        Names among :data:`PROVINCES`.
    data : Path
        Cache of generated provinces (outside the repository).
    engines : list of str
        ``local`` and/or ``dask``.
    overwrite : bool
        Replace a province's outputs already under ``out``.
    """
    out, data = out.resolve(), data.resolve()
    for name in provinces:
        if (out / name).exists():
            if not overwrite:
                raise SystemExit(f"{out / name} exists; remove it or pass --overwrite")
            shutil.rmtree(out / name)
    timings = Timings()
    t0 = time.perf_counter()
    for name in provinces:
        ensure_province(data, PROVINCES[name], timings)
    # workers are started from the data directory too, so relative paths resolve on them
    with _working_directory(data), _dask_client("dask" in engines) as client:
        for name in provinces:
            print(f"{name}:", file=sys.stderr, flush=True)
            _write_json(out / name / "inputs.json",
                        {"generator": PROVINCES[name].params(), "data": _digest(Path(name))})
            inputs = load_inputs(name, timings)
            for policy_name, policy in policies().items():
                for engine in engines:
                    run_one(out / name / policy_name / engine, inputs, policy, engine, client,
                            timings, (name, policy_name, engine))
            del inputs
    timings.rows.append({"step": "total", "seconds": round(time.perf_counter() - t0, 2)})
    _write_json(out / "timings.json", timings.rows)
    print(f"outputs in {out} ({timings.rows[-1]['seconds']:.0f} s)", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# diff
# ---------------------------------------------------------------------------------------------
def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and p.name not in UNCOMPARED}


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _same_value(u: Any, v: Any) -> bool:
    # NaN != NaN, but a NaN on both sides is no difference here
    return u == v or (u != u and v != v)


def _first_difference(a: pa.ChunkedArray, b: pa.ChunkedArray) -> int | None:
    """Index of the first row where two columns differ over their common length, or None."""
    n = min(len(a), len(b))
    for start in range(0, n, SLICE_ROWS):
        x, y = a.slice(start, SLICE_ROWS), b.slice(start, SLICE_ROWS)
        if x.equals(y):
            continue
        # Arrow's equality also fails on NaNs and list contents with NaNs: look value by value
        for i, (u, v) in enumerate(zip(x.to_pylist(), y.to_pylist())):
            if not _same_value(u, v):
                return start + i
    return None


def _metadata_lines(a: pa.Schema, b: pa.Schema) -> list[str]:
    ma = {k.decode(): v.decode(errors="replace") for k, v in (a.metadata or {}).items()}
    mb = {k.decode(): v.decode(errors="replace") for k, v in (b.metadata or {}).items()}
    lines = []
    for key in sorted(set(ma) | set(mb)):
        if ma.get(key) == mb.get(key):
            continue
        va, vb = ma.get(key), mb.get(key)
        try:   # JSON values (a catalogue's policy): name the keys that differ
            ja, jb = json.loads(va), json.loads(vb)
            if isinstance(ja, dict) and isinstance(jb, dict):
                keys = sorted(k for k in set(ja) | set(jb) if ja.get(k) != jb.get(k))
                lines.append(f"metadata {key}: differs at "
                             + ", ".join(f"{k}: {_short(ja.get(k), 60)} != {_short(jb.get(k), 60)}"
                                         for k in keys))
                continue
        except (TypeError, ValueError):
            pass
        lines.append(f"metadata {key}: {_short(va)} != {_short(vb)}")
    return lines


def explain_parquet(a: Path, b: Path) -> list[str]:
    """What differs between two Parquet files whose bytes differ."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    lines = _metadata_lines(ta.schema, tb.schema)
    found = len(lines)
    if ta.num_rows != tb.num_rows:
        lines.append(f"rows: {ta.num_rows} != {tb.num_rows}")
    only_a = [c for c in ta.column_names if c not in tb.column_names]
    only_b = [c for c in tb.column_names if c not in ta.column_names]
    if only_a or only_b:
        lines.append(f"columns only in A: {only_a}; only in B: {only_b}")
    if [c for c in ta.column_names if c in tb.column_names] != \
            [c for c in tb.column_names if c in ta.column_names]:
        lines.append("the columns are in another order")
    for name in ta.column_names:
        if name not in tb.column_names:
            continue
        x, y = ta.column(name), tb.column(name)
        if x.type != y.type:
            lines.append(f"column {name}: type {x.type} != {y.type}")
            continue
        row = _first_difference(x, y)
        if row is not None:
            lines.append(f"column {name}: first difference at row {row}: "
                         f"{_short(x[row].as_py())} != {_short(y[row].as_py())}")
    if len(lines) == found:
        lines.append("the tables hold the same values: only "
                     + ("the schema metadata above" if found else
                        "the file's encoding (row groups, compression, writer)") + " differs")
    return lines


def _csv_difference(header: str, x: str, y: str) -> str | None:
    """The first differing field of two CSV lines, named by the header."""
    names = next(csv.reader([header]))
    fx, fy = next(csv.reader([x])), next(csv.reader([y]))
    for i, (u, v) in enumerate(zip(fx, fy)):
        if u != v:
            name = names[i] if i < len(names) else f"field {i + 1}"
            return f"first differing field {name}: {_short(u, 60)} != {_short(v, 60)}"
    return None


def explain_text(a: Path, b: Path) -> list[str]:
    """The first differing line of two text files (CSV: and its first differing field)."""
    try:
        la = a.read_text(encoding="utf-8").splitlines()
        lb = b.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return ["binary contents differ"]
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            lines = [f"line {i + 1}: {_short(x)}", f"    != {_short(y)}"]
            if a.suffix == ".csv" and i > 0:
                with contextlib.suppress(csv.Error, StopIteration):
                    field = _csv_difference(la[0], x, y)
                    if field:
                        lines.append(field)
            return lines
    return [f"lines: {len(la)} != {len(lb)} (one file is a prefix of the other)"]


def diff(a: Path, b: Path) -> int:
    """Compare two trees file by file; print the differences and a summary line.

    Returns
    -------
    int
        0 when every file is byte-identical and none is missing, 1 otherwise.
    """
    for root in (a, b):
        if not root.is_dir():
            raise SystemExit(f"{root} is not a directory")
    fa, fb = _files(a), _files(b)
    same = differ = missing = 0
    for rel in sorted(fa | fb):
        if rel not in fa or rel not in fb:
            missing += 1
            print(f"MISSING in {'A' if rel not in fa else 'B'}: {rel}")
            continue
        pa_, pb_ = a / rel, b / rel
        if _same_bytes(pa_, pb_):
            same += 1
            continue
        differ += 1
        print(f"DIFFERS: {rel}")
        explain = explain_parquet if rel.endswith(".parquet") else explain_text
        try:
            details = explain(pa_, pb_)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is itself the finding
            details = [f"cannot compare contents: {type(exc).__name__}: {exc}"]
        for line in details:
            print(f"    {line}")
    print(f"{same} identical, {differ} differ, {missing} missing")
    return 0 if differ == 0 and missing == 0 else 1


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _engines(text: str) -> list[str]:
    names = [e.strip() for e in text.split(",") if e.strip()]
    bad = [e for e in names if e not in ENGINES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"engines are a comma list of {', '.join(ENGINES)}")
    return [e for e in ENGINES if e in names]   # a fixed order, whatever the order given


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.regression",
                                description="Byte-identical outputs regression check.")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="run every province, policy and engine; write outputs")
    w.add_argument("out", type=Path, help="output tree")
    w.add_argument("--province", choices=[*PROVINCES, "both"], default="both")
    w.add_argument("--data", type=Path, default=Path(DEFAULT_DATA),
                   help=f"cache of generated provinces (default {DEFAULT_DATA})")
    w.add_argument("--engines", type=_engines, default=list(ENGINES),
                   help="comma list of local, dask (default both)")
    w.add_argument("--overwrite", action="store_true",
                   help="replace a province's outputs already in OUT")
    d = sub.add_parser("diff", help="compare two output trees byte for byte")
    d.add_argument("a", type=Path)
    d.add_argument("b", type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "diff":
        return diff(args.a, args.b)
    provinces = list(PROVINCES) if args.province == "both" else [args.province]
    write(args.out, provinces, args.data, args.engines, overwrite=args.overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
