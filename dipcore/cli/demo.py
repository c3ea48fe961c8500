"""``dipcore demo``: the whole job on a generated province."""
from __future__ import annotations

import time
from pathlib import Path

from dipcore.cli.commands import _read, _settle_summary
from dipcore.cli.progress import Progress, StagedProgress


def cmd_demo(args) -> int:
    import numpy as np
    import pyarrow.compute as pc

    from data_gen import generate
    from dipcore.api import calibrate, settle
    from dipcore.ingest.quarantine import save_quarantine
    from dipcore.ingest.reader import read_hospitals
    from dipcore.schema import fen
    t_start = time.perf_counter()
    out = Path(args.out)
    data = out / "province"
    print(f"dipcore demo: a generated province of {args.cases_per_year:,} cases a year, "
          f"2021-2024, {args.hospitals} hospitals (seed {args.seed})")
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
    t0 = time.perf_counter()
    catalog = calibrate(history, years=[2021, 2022, 2023], progress=StagedProgress())
    catalog.save(out / "catalog.parquet")
    g = catalog.groups
    print(f"calibrated 2021-2023 ({history.num_rows:,} cases) in {time.perf_counter() - t0:.1f} s: "
          f"{g.num_rows:,} groups, {sum(1 for k in g.column('kind').to_pylist() if k == 'core'):,} core; "
          f"M = {catalog.mean_cost:,.2f} yuan; level coefficients "
          + ", ".join(f"{k}: {v}" for k, v in sorted(catalog.level_coefficients.items())))
    # the demo budget: what the fund paid in 2024, per pool
    pools = current.column("pool").to_pylist()
    paid = fen(current.column("fund_paid"))
    budget = {}
    for p in sorted(set(pools)):
        budget[p] = float(paid[np.array(pools, dtype=object) == p].sum()) / 100.0
    t0 = time.perf_counter()
    result = settle(current, catalog, budget=budget, progress=StagedProgress())
    result.save(out / "settlement")
    print(f"settled 2024 ({current.num_rows:,} cases) in {time.perf_counter() - t0:.1f} s "
          f"with budgets equal to the fund's 2024 spending:")
    for line in _settle_summary(result):
        print("  " + line)
    for w in result.warnings:
        print(f"  warning: {w}")
    from dipcore.api import audit
    t0 = time.perf_counter()
    found = audit(current, catalog, previous=cases.filter(pc.equal(year, 2023)))
    found.save(out / "audit")
    print(f"audited 2024 against 2023 in {time.perf_counter() - t0:.1f} s: "
          f"{found.readmissions.num_rows:,} suspected split admissions, "
          f"{found.low_standard.num_rows:,} low-standard admissions")
    flagged = {r["hospital_id"]: r["flags"] for r in found.hospitals.to_pylist() if r["flags"]}
    for kind, ids in manifest["gaming_hospitals"].items():
        hits = [f"{h} flagged {', '.join(flagged.get(h, [])) or 'nothing'}" for h in ids]
        print(f"  the generator made {kind.replace('_', ' ')} at: {'; '.join(hits)}")
    print(f"  {len(flagged)} hospitals flagged in all (audit/hospitals.csv)")
    _drg_grouping(current, data / "drg_pack", out / "drg_grouped.parquet")
    print(f"outputs in {out}: catalog.parquet, settlement/ (cases.parquet, hospitals.csv, "
          f"monthly.csv, pools.csv, summary.json), audit/, quarantine.csv, drg_grouped.parquet")
    print(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


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
