"""What-if sweeps measured: many policy variants of one year against one settlement.

Usage, from the project root::

    python benchmarks/sweep.py CASES --catalog CATALOG [--variants 100] [--kind points|mixed]
                               [--rules DIR] [--check 3] [--out results.json]

``CASES`` is one year's cases (a Parquet file or directory), ``CATALOG`` a catalogue for
them (DIP, or CHS-DRG with ``--rules``). The budget per pool is what the fund paid that
year. The script times, in one process and in this order:

1. ``dc.settle`` of the year under the catalogue's policy (no per-case output): the unit;
2. ``dc.sweep`` with ``--variants`` variants:

   * ``points`` (the default and the hard case): every variant changes the point rules
     (a grid of high-cost and low-cost thresholds, and for half of them the low-cost rule
     or extreme-case payment), so every variant scores all cases again;
   * ``mixed``: half point-rule variants, half settlement variants (point-value mode,
     sharing bands, reserve, surplus cap), which reuse the scoring.

It prints the ratio sweep / settle (target: under 5) and the implied speed-up over
running ``settle`` once per variant (target: at least 20x), and with ``--check K``
settles K of the variants with ``dc.settle`` and checks their statements are identical
to the sweep's.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):      # run as a script: the project root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402

import dipcore as dc  # noqa: E402
from dipcore.schema import fen  # noqa: E402


def budget_of(cases: str) -> dict[str, float]:
    """What the fund paid per pool in the year (reads two columns)."""
    t = ds.dataset(cases, format="parquet", partitioning="hive").to_table(
        columns=["pool", "fund_paid"])
    pools = np.array(t.column("pool").to_pylist(), dtype=object)
    paid = fen(t.column("fund_paid"))
    return {p: float(paid[pools == p].sum()) / 100.0 for p in sorted(set(pools))}


def variants_of(n: int, kind: str, scheme: str) -> dict[str, dict]:
    """``n`` variants: point-rule variants only, or half point rules, half settlement."""
    points = []
    if scheme == "drg":
        for low in np.linspace(0.2, 0.5, 10):
            for above in np.linspace(1.2, 2.1, 10):
                points.append({"drg_low_ratio": round(float(low), 3),
                               "drg_high_above": round(float(above), 3)})
    else:
        rules = [{}, {"low_rule": "ratio_2020"}, {"extreme_pay": "normal"},
                 {"coefficients_on_outliers": False}]
        for high in np.linspace(1.5, 3.0, 10):
            for low in np.linspace(0.3, 0.6, 10):
                points.append({"high_ratio": round(float(high), 3),
                               "low_ratio": round(float(low), 3),
                               **rules[len(points) % len(rules)]})
    settlement = []
    for reserve in (0.0, 0.05, 0.1, 0.15, 0.2):
        for bands in ([], [[0.1, 0.7]], [[0.1, 0.7], [0.2, 0.5]], [[0.15, 0.6]], [[0.05, 0.9]]):
            for cap in (None, 0.1):
                settlement.append({"reserve": reserve, "sharing_bands": bands,
                                   "surplus_cap": cap})
    chosen = points[:n] if kind == "points" else points[:n - n // 2] + settlement[:n // 2]
    return {f"v{i:03d}": v for i, v in enumerate(chosen)}


def peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases")
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--rules")
    ap.add_argument("--variants", type=int, default=100)
    ap.add_argument("--kind", choices=("points", "mixed"), default="points")
    ap.add_argument("--check", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args()
    rules = dc.DrgRules.load(args.rules) if args.rules else None
    catalog = dc.Catalog.load(args.catalog, rules=rules) if rules else dc.Catalog.load(args.catalog)
    budget = budget_of(args.cases)
    variants = variants_of(args.variants, args.kind, catalog.scheme)

    t0 = time.perf_counter()
    one = dc.settle(args.cases, catalog, budget, rules=rules)
    settle_s = time.perf_counter() - t0
    print(f"settle: {one.cases_count:,} cases in {settle_s:.2f} s (peak RSS {peak_mb():,} MB)",
          flush=True)
    t0 = time.perf_counter()
    sweep = dc.sweep(args.cases, catalog, variants, budget, rules=rules)
    sweep_s = time.perf_counter() - t0
    ratio = sweep_s / settle_s
    n = len(sweep.variants)
    print(f"sweep: baseline + {n - 1} {args.kind} variants in {sweep_s:.2f} s "
          f"({sweep.seconds}, {sweep.counts}; peak RSS {peak_mb():,} MB)")
    print(f"sweep / one settle = {ratio:.2f} (target < 5); settle x {n} would take "
          f"~{settle_s * n:.0f} s: {settle_s * n / sweep_s:.1f}x faster (target >= 20x)")
    checked = []
    for name in list(variants)[:args.check]:
        v = next(x for x in sweep.variants if x.name == name)
        s = dc.settle(args.cases, catalog, budget, policy=v.policy, rules=rules)
        same = s.hospitals.equals(sweep.settlements[name].hospitals) and \
            s.pools.equals(sweep.settlements[name].pools)
        checked.append({"variant": name, "identical": same})
        print(f"check {name} ({v.changes()}): {'identical' if same else 'DIFFERENT'} to settle")
    result = {"cases": one.cases_count, "settle_s": round(settle_s, 3),
              "sweep_s": round(sweep_s, 3), "variants": n, "kind": args.kind,
              "ratio": round(ratio, 3), "speedup_vs_settle_each": round(settle_s * n / sweep_s, 1),
              "phases": {k: round(v, 3) for k, v in sweep.seconds.items()},
              "counts": sweep.counts, "peak_rss_mb": peak_mb(), "checked": checked}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
