"""``dipcore demo``: the whole job on a generated province, paid by DIP or (``--scheme drg``)
by CHS-DRG points with the province's synthetic rule pack."""
from __future__ import annotations

import time
from pathlib import Path

from dipcore.cli.commands import _read, _settle_summary, audit_lines, drg_top_lines
from dipcore.cli.progress import Progress, StagedProgress

#: The DRG demo files one new-technology procedure on this day (SPEC 10.4): its cases
#: discharged from then on are paid by cost.
NEW_TECHNOLOGY_FILED = "2024-07-01"


def cmd_demo(args) -> int:
    import numpy as np
    import pyarrow.compute as pc

    from data_gen import generate
    from dipcore.ingest.quarantine import save_quarantine
    from dipcore.ingest.reader import read_hospitals
    from dipcore.schema import fen
    t_start = time.perf_counter()
    drg = getattr(args, "scheme", "dip") == "drg"
    out = Path(args.out)
    data = out / "province"
    print(f"dipcore demo: a generated province of {args.cases_per_year:,} cases a year, "
          f"2021-2024, {args.hospitals} hospitals (seed {args.seed})"
          + (", paid by CHS-DRG points with the generated rule pack" if drg else ""))
    manifest = generate(data, args.cases_per_year, (2021, 2024), hospitals=args.hospitals,
                        seed=args.seed, bad_share=0.0005, progress=Progress("generate"),
                        drg_pack=True)
    print(f"  generated {manifest['cases']:,} cases in {manifest['seconds']} s -> {data}")
    hospitals = read_hospitals(data / "hospitals.csv")
    t0 = time.perf_counter()
    cases, quarantine = _read(data / "cases", hospitals, "utf-8", label="read")
    print(f"  read and validated in {time.perf_counter() - t0:.1f} s: {cases.num_rows:,} kept, "
          f"{quarantine.num_rows:,} quarantined -> {out / 'quarantine.csv'}")
    save_quarantine(quarantine, out / "quarantine.csv")
    year = pc.year(cases.column("discharge_date"))
    history = cases.filter(pc.less(year, 2024))
    current = cases.filter(pc.equal(year, 2024))
    previous = cases.filter(pc.equal(year, 2023))
    # the demo budget: what the fund paid in 2024, per pool
    pools = current.column("pool").to_pylist()
    paid = fen(current.column("fund_paid"))
    budget = {}
    for p in sorted(set(pools)):
        budget[p] = float(paid[np.array(pools, dtype=object) == p].sum()) / 100.0
    year_of = _drg_year if drg else _dip_year
    year_of(out, data, manifest, history, current, previous, budget, hospitals)
    _report(out)
    print(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


def _dip_year(out: Path, data: Path, manifest, history, current, previous, budget,
              hospitals) -> None:
    """Calibrate 2021-2023, settle and audit 2024 by DIP; the same year grouped by CHS-DRG."""
    from dipcore.api import audit, calibrate, settle
    t0 = time.perf_counter()
    catalog = calibrate(history, years=[2021, 2022, 2023], progress=StagedProgress())
    catalog.save(out / "catalog.parquet")
    g = catalog.groups
    print(f"calibrated 2021-2023 ({history.num_rows:,} cases) in {time.perf_counter() - t0:.1f} s: "
          f"{g.num_rows:,} groups, {sum(1 for k in g.column('kind').to_pylist() if k == 'core'):,} core; "
          f"M = {catalog.mean_cost:,.2f} yuan; level coefficients "
          + ", ".join(f"{k}: {v}" for k, v in sorted(catalog.level_coefficients.items())))
    t0 = time.perf_counter()
    result = settle(current, catalog, budget=budget, hospitals=hospitals,
                    progress=StagedProgress())
    result.save(out / "settlement")
    _print_settlement(result, current, t0, "dip")
    t0 = time.perf_counter()
    found = audit(current, catalog, previous=previous)
    found.save(out / "audit")
    _print_audit(found, manifest, t0)
    _sweep(out, current, catalog, budget, hospitals, DIP_VARIANTS)
    _drg_grouping(current, data / "drg_pack", out / "drg_grouped.parquet")
    print(f"outputs in {out}: catalog.parquet, settlement/ (cases.parquet, hospitals.csv, "
          f"monthly.csv, pools.csv, summary.json), audit/, sweep/, quarantine.csv, "
          f"drg_grouped.parquet, report.html")


def _drg_year(out: Path, data: Path, manifest, history, current, previous, budget,
              hospitals) -> None:
    """The DRG year (SPEC 10): weights from 2021-2023 under the national DRG policy with the
    province's rule pack, one new-technology procedure filed mid-2024, then 2024 settled
    and audited with them."""
    from dipcore.api import audit, calibrate, settle
    from dipcore.policy import Policy
    from dipcore.schemes.drg import DrgRules
    rules = DrgRules.load(data / "drg_pack")
    new_technology = out / "new_technology.csv"
    code, cases_with_it = _file_new_technology(current, rules, new_technology)
    print(f"  CHS-DRG rule pack {rules.name} ({rules.fingerprint[:12]}): {len(rules.mdcs)} MDCs, "
          f"{len(rules.adrgs)} ADRGs, {len(rules.drgs)} DRGs; new technology: procedure {code} "
          f"filed {NEW_TECHNOLOGY_FILED} ({cases_with_it:,} cases of 2024 have it) -> "
          f"{new_technology}")
    t0 = time.perf_counter()
    catalog = calibrate(history, Policy.builtin("national_drg"), years=[2021, 2022, 2023],
                        rules=rules, new_technology=new_technology, progress=StagedProgress())
    catalog.save(out / "catalog.parquet")
    g = catalog.groups
    stable = sum(g.column("stable").to_pylist())
    print(f"calibrated 2021-2023 ({history.num_rows:,} cases) under national_drg in "
          f"{time.perf_counter() - t0:.1f} s: {g.num_rows:,} DRGs, {stable:,} stable, "
          f"{g.num_rows - stable:,} unstable; M = {catalog.mean_cost:,.2f} yuan; level "
          "coefficients " + ", ".join(f"{k}: {v}" for k, v in sorted(catalog.level_coefficients.items())))
    for line in drg_top_lines(catalog):
        print("  " + line)
    for w in catalog.warnings:
        print(f"  warning: {w}")
    t0 = time.perf_counter()
    result = settle(current, catalog, budget=budget, hospitals=hospitals, rules=rules,
                    new_technology=new_technology, progress=StagedProgress())
    result.save(out / "settlement")
    _print_settlement(result, current, t0, "drg")
    t0 = time.perf_counter()
    found = audit(current, catalog, previous=previous, rules=rules,
                  new_technology=new_technology)
    found.save(out / "audit")
    _print_audit(found, manifest, t0)
    _sweep(out, current, catalog, budget, hospitals, DRG_VARIANTS, rules=rules,
           new_technology=new_technology)
    print(f"outputs in {out}: catalog.parquet (DRG weights), settlement/ (cases.parquet, "
          f"hospitals.csv, monthly.csv, pools.csv, summary.json), audit/, sweep/, "
          f"quarantine.csv, new_technology.csv, report.html")


#: What-if variants the demo sweeps (``dc.sweep``): point rules and settlement rules.
DIP_VARIANTS = {
    "high-cost threshold 2.5": {"high_ratio": 2.5},
    "high-cost threshold 3.0": {"high_ratio": 3.0},
    "low-cost paid RW x r": {"low_rule": "ratio_2020"},
    "reserve 5 %": {"reserve": 0.05},
    "overspend shared": {"sharing_bands": [[0.1, 0.7], [0.2, 0.5]]},
}
DRG_VARIANTS = {
    "high-cost multiple 2.0 above 300": {"drg_high_above": 2.0},
    "low-cost ratio 0.3": {"drg_low_ratio": 0.3},
    "k by DRG and level": {"drg_coefficient": "drg_level"},
    "reserve 5 %": {"reserve": 0.05},
}


def _sweep(out: Path, current, catalog, budget, hospitals, variants, **drg) -> None:
    """The year again under a few policy variants (what-if), for the report's chart."""
    from dipcore.api import sweep
    from dipcore.cli.commands import sweep_lines
    t0 = time.perf_counter()
    result = sweep(current, catalog, variants, budget, hospitals=hospitals,
                   progress=StagedProgress(), **drg)
    result.save(out / "sweep")
    print(f"swept {len(variants)} policy variants of 2024 in {time.perf_counter() - t0:.1f} s "
          f"(cases prepared once, {result.counts['scorings']} scorings):")
    for line in sweep_lines(result):
        print("  " + line)


def _report(out: Path) -> None:
    """The HTML report of the demo's year: settlement, audit and catalogue together."""
    from dipcore.reports.html import write_report
    t0 = time.perf_counter()
    path = write_report(out, out / "report.html")
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - t0:.1f} s; open it in a browser, or print it")


def _print_settlement(result, current, t0: float, scheme: str) -> None:
    print(f"settled 2024 ({current.num_rows:,} cases) in {time.perf_counter() - t0:.1f} s "
          f"with budgets equal to the fund's 2024 spending:")
    for line in _settle_summary(result, scheme=scheme):
        print("  " + line)
    for w in result.warnings:
        print(f"  warning: {w}")


def _print_audit(found, manifest, t0: float) -> None:
    """The audit's findings beside the generator's ground truth (``manifest["gaming"]``)."""
    print(f"audited 2024 against 2023 in {time.perf_counter() - t0:.1f} s:")
    for line in audit_lines(found):
        print("  " + line)
    flagged = found.flagged()
    gaming = manifest["gaming_hospitals"]
    for kind, ids in gaming.items():
        hits = [f"{h} {'found' if kind in flagged.get(h, []) else 'MISSED'}" for h in ids]
        print(f"  the generator injected {kind.replace('_', ' ')} at: {'; '.join(hits)}")
    injected = {h for ids in gaming.values() for h in ids}
    honest = [h for h in found.hospitals.column("hospital_id").to_pylist() if h not in injected]
    false = [h for h in honest if h in flagged]
    print(f"  honest hospitals flagged: {len(false)} of {len(honest)}"
          + (f" ({', '.join(false)})" if false else ""))


def _file_new_technology(current, rules, target: Path) -> tuple[str, int]:
    """Write the demo's new-technology table: the operating-room procedure (a procedure of a
    surgical ADRG, second letter A-H) most frequent among the year's cases, filed on
    ``NEW_TECHNOLOGY_FILED``. ``(code, cases of the year with it)``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from dipcore.reports.files import atomic_path
    surgical = set()
    for adrg, tables in rules.adrg_proc.items():
        if "A" <= adrg[1:2] <= "H":
            for codes in tables.values():
                surgical.update(codes)
    procedures = current.column("procedures").combine_chunks()
    pairs = pa.table({"code": pc.list_flatten(procedures),
                      "case": pc.list_parent_indices(procedures)})
    counts = pairs.group_by("code").aggregate([("case", "count_distinct")]).to_pylist()
    ranked = sorted((-r["case_count_distinct"], r["code"]) for r in counts
                    if r["code"] in surgical)
    n, code = (-ranked[0][0], ranked[0][1]) if ranked else (0, min(surgical))
    with atomic_path(target) as tmp:
        pacsv.write_csv(pa.table({"procedure_code": [code],
                                  "filing_date": [NEW_TECHNOLOGY_FILED]}), tmp)
    return code, n


def _drg_grouping(cases, pack, target: Path) -> None:
    """The same year grouped by CHS-DRG with the province's synthetic rule pack
    (``data_gen.drg_pack``): what a DRG region's grouper makes of these cases."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from dipcore.reports.files import atomic_path
    from dipcore.schemes.drg import DrgRules, drg_group
    rules = DrgRules.load(pack)
    t0 = time.perf_counter()
    grouped = drg_group(cases, rules)
    seconds = time.perf_counter() - t0
    with atomic_path(target) as tmp:
        pq.write_table(grouped, tmp, compression="zstd")
    status = grouped.column("status").value_counts().to_pylist()
    ok = grouped.filter(pc.equal(grouped.column("status"), "ok"))
    print(f"grouped 2024 by CHS-DRG with the synthetic pack {rules.name} in {seconds:.2f} s: "
          + ", ".join(f"{s['values']} {s['counts']:,}" for s in status)
          + f"; {len(set(ok.column('drg').to_pylist())):,} DRGs used")
