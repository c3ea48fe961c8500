"""Supervision measured: recall per gaming behaviour and the share of honest hospitals
flagged, on generated provinces with known gaming (issue 12, SPEC.md sections 8 and 11).

Usage, from the project root::

    python benchmarks/supervision.py [--seeds 1,2,3] [--sizes 60:150000,120:300000]
                                     [--scheme dip|drg] [--out results.json]
                                     [--work /tmp/dipcore-sup] [--heterogeneity H]
                                     [--set KEY=VALUE ...]

For each seed and province size (``hospitals:cases_per_year``) the script generates a
province for 2021-2024 under ``WORK/s<seed>-h<hospitals>-c<cases>/`` (``...-het<H>/`` with
honest hospital heterogeneity ``H`` > 0, ``data_gen.heterogeneity``: 1 is realistic, 0,
the default, makes every honest hospital of a level alike in distribution; reused when its
manifest and the generator's source are what this run asks for), with 14 gaming
hospitals: every behaviour of ``data_gen.gaming`` (both diagnosis-upcoding variants) once
weak and once strong (the weak and strong ends of ``data_gen.STRENGTHS``), one of the two
at a small hospital and the other at a large one; which one is small alternates with the
seed and the behaviour, so two consecutive seeds cover the four strength x size cells of
every behaviour. It reads the cases as ``dipcore demo`` does, calibrates on 2021-2023
(DIP, or CHS-DRG under the ``national_drg`` policy with the province's synthetic rule
pack), audits 2024 against 2023 with the default settings, and compares the flags of
``audit.hospitals`` with the ground truth of the manifest:

* **recall**: per behaviour (variant) x strength x size, the gaming hospitals that carry
  the behaviour's flag, over seeds (diagnosis upcoding of either variant is found by the
  ``upcoding_diagnosis`` flag);
* **false flags**: per province, the share of honest hospitals (no injected behaviour)
  with any flag, and which flags they got;
* **cross-flags**: per gaming hospital, the flags other than its own behaviour's.

It prints the tables and writes everything, with the timings of each province, as JSON
(``--out``, default ``WORK/results-<scheme>.json``, ``WORK/results-<scheme>-het<H>.json``
with heterogeneity).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

if __package__ in (None, ""):      # run as a script: the project root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow.compute as pc  # noqa: E402

import dipcore as dc  # noqa: E402
from data_gen import BEHAVIOURS, STRENGTHS, generate  # noqa: E402

YEARS = (2021, 2024)
HISTORY = [2021, 2022, 2023]
AUDITED = 2024
DEFAULT_WORK = Path("/tmp/dipcore-sup")
#: The two sizes and strengths every behaviour is injected at.
SIZES = ("small", "large")
STRENGTH_LABELS = ("weak", "strong")


def gaming_list(seed: int) -> list[dict]:
    """Every behaviour (and variant) once weak and once strong, one at a small hospital and
    one at a large; the pairing alternates with the seed and the behaviour."""
    out = []
    for k, ((behaviour, variant), strengths) in enumerate(STRENGTHS.items()):
        weak, strong = strengths[0], strengths[-1]
        small_first = (seed + k) % 2 == 0
        for strength, size in ((weak, SIZES[0] if small_first else SIZES[1]),
                               (strong, SIZES[1] if small_first else SIZES[0])):
            out.append({"behaviour": behaviour, **({"variant": variant} if variant else {}),
                        "strength": strength, "size": size})
    return out


def _generator_digest() -> str:
    """A digest of the generator's source, so a changed generator regenerates."""
    root = Path(__file__).resolve().parent.parent / "data_gen"
    h = hashlib.sha256()
    for path in sorted(root.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _het_suffix(heterogeneity: float) -> str:
    return f"-het{heterogeneity:g}" if heterogeneity else ""


def province(work: Path, seed: int, hospitals: int, cases: int, heterogeneity: float = 0.0
             ) -> tuple[Path, dict, float]:
    """The province's directory and manifest, generated unless an identical one is there;
    ``(path, manifest, seconds spent generating)`` (0 when reused)."""
    path = work / f"s{seed}-h{hospitals}-c{cases}{_het_suffix(heterogeneity)}"
    gaming = gaming_list(seed)
    wanted = {"seed": seed, "cases_per_year": cases, "years": list(YEARS),
              "hospitals": hospitals, "drg_pack": "drg_pack",
              "heterogeneity": float(heterogeneity),
              "gaming": [{"behaviour": g["behaviour"], "variant": g.get("variant", ""),
                          "strength": g["strength"], "size": g["size"]} for g in gaming]}
    digest = _generator_digest()
    stamp = path / "generator.sha256"
    manifest_path = path / "manifest.json"
    if manifest_path.exists() and stamp.exists() and stamp.read_text() == digest:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        have = {k: manifest.get(k) for k in wanted}
        have["heterogeneity"] = manifest.get("heterogeneity", 0.0)
        have["gaming"] = [{k: e[k] for k in ("behaviour", "variant", "strength", "size")}
                          for e in manifest.get("gaming", [])]
        if have == wanted:
            return path, manifest, 0.0
    t0 = time.perf_counter()
    manifest = generate(path, cases, YEARS, hospitals=hospitals, seed=seed, drg_pack=True,
                        gaming=gaming, heterogeneity=heterogeneity)
    stamp.write_text(digest)
    return path, manifest, time.perf_counter() - t0


def audit_province(path: Path, scheme: str, settings: dict | None = None
                   ) -> tuple[dict[str, list[str]], list[str], dict]:
    """Calibrate on the history, audit the last year (the catalogue's policy with
    ``settings`` changed, e.g. ``audit_overdispersion``): ``(flags per hospital, warnings,
    seconds per step)``."""
    seconds = {}
    t0 = time.perf_counter()
    cases, _ = dc.read_cases(path / "cases", hospitals=dc.read_hospitals(path / "hospitals.csv"))
    year = pc.year(cases.column("discharge_date"))
    history = cases.filter(pc.less(year, AUDITED))
    current = cases.filter(pc.equal(year, AUDITED))
    previous = cases.filter(pc.equal(year, AUDITED - 1))
    seconds["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if scheme == "drg":
        rules = dc.DrgRules.load(path / "drg_pack")
        catalog = dc.calibrate(history, dc.Policy.builtin("national_drg"), years=HISTORY,
                               rules=rules)
        seconds["calibrate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        found = dc.audit(current, catalog, catalog.policy.replace(**(settings or {})),
                         previous=previous, rules=rules)
    else:
        catalog = dc.calibrate(history, years=HISTORY)
        seconds["calibrate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        found = dc.audit(current, catalog, catalog.policy.replace(**(settings or {})),
                         previous=previous)
    seconds["audit"] = time.perf_counter() - t0
    flags = {r["hospital_id"]: list(r["flags"] or [])
             for r in found.hospitals.select(["hospital_id", "flags"]).to_pylist()}
    return flags, list(found.warnings), seconds


def score(manifest: dict, flags: dict[str, list[str]]) -> dict:
    """Ground truth against flags: the gaming hospitals (found, cross-flags) and the honest
    ones (how many carry any flag, and which)."""
    strength_label = {}
    for (behaviour, variant), strengths in STRENGTHS.items():
        strength_label[behaviour, variant, strengths[0]] = "weak"
        strength_label[behaviour, variant, strengths[-1]] = "strong"
    gaming = []
    for e in manifest["gaming"]:
        got = flags.get(e["hospital_id"])
        gaming.append({
            **e, "strength_label": strength_label.get(
                (e["behaviour"], e["variant"], e["strength"]), str(e["strength"])),
            "audited": got is not None, "found": e["behaviour"] in (got or []),
            "flags": got or [], "cross_flags": [f for f in (got or []) if f != e["behaviour"]]})
    gamers = {e["hospital_id"] for e in manifest["gaming"]}
    honest = {h: f for h, f in flags.items() if h not in gamers}
    flagged = {h: f for h, f in honest.items() if f}
    return {"gaming": gaming, "honest_hospitals": len(honest),
            "honest_flagged": len(flagged),
            "honest_flagged_share": len(flagged) / len(honest) if honest else 0.0,
            "honest_flags": dict(Counter(f for fs in flagged.values() for f in fs).most_common()),
            "honest_flagged_hospitals": flagged}


def _cell(found: int, injected: int) -> str:
    return f"{found}/{injected}" if injected else "-"


def report(runs: list[dict], heterogeneity: float = 0.0) -> dict:
    """Print recall, false-flag and cross-flag tables; return the recall summary."""
    columns = [(s, z) for s in STRENGTH_LABELS for z in SIZES]
    recall = defaultdict(lambda: [0, 0])
    for run in runs:
        for e in run["gaming"]:
            key = (run["province"], e["behaviour"], e["variant"], e["strength_label"], e["size"])
            recall[key][0] += e["found"]
            recall[key][1] += 1
    summary = [{"province": p, "behaviour": b, "variant": v, "strength": s, "size": z,
                "found": n[0], "injected": n[1]} for (p, b, v, s, z), n in sorted(recall.items())]
    for prov in sorted({r["province"] for r in runs}, key=lambda p: [int(x) for x in p.split(":")]):
        hosp, cases = prov.split(":")
        print(f"\nrecall, {hosp} hospitals x {int(cases):,} cases a year, heterogeneity "
              f"{heterogeneity:g} (found / injected over seeds)")
        print(f"  {'behaviour':<32}" + "".join(f"{s + '/' + z:>14}" for s, z in columns)
              + f"{'all':>9}")
        for behaviour, variant in STRENGTHS:
            cells = [recall.get((prov, behaviour, variant, s, z), [0, 0]) for s, z in columns]
            name = behaviour + (f" ({variant})" if variant else "")
            total = [sum(c[0] for c in cells), sum(c[1] for c in cells)]
            print(f"  {name:<32}" + "".join(f"{_cell(*c):>14}" for c in cells)
                  + f"{_cell(*total):>9}")
    print("\nfalse flags: honest hospitals with any flag")
    for run in runs:
        flags = ", ".join(f"{k} {v}" for k, v in run["honest_flags"].items()) or "none"
        print(f"  seed {run['seed']:>3} {run['province']:>12}: {run['honest_flagged']:>3} of "
              f"{run['honest_hospitals']:>3} ({100 * run['honest_flagged_share']:5.1f} %)  "
              f"flags: {flags}")
    print("\ncross-flags: gaming hospitals' flags other than their own")
    crossed = [(run, e) for run in runs for e in run["gaming"] if e["cross_flags"]]
    for run, e in crossed:
        name = e["behaviour"] + (f" ({e['variant']})" if e["variant"] else "")
        print(f"  seed {run['seed']:>3} {run['province']:>12} {e['hospital_id']} {name}, "
              f"{e['strength_label']} {e['size']}: {', '.join(e['cross_flags'])}")
    if not crossed:
        print("  none")
    return {"recall": summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    ap.add_argument("--sizes", default="60:150000,120:300000",
                    help="comma-separated hospitals:cases_per_year (default 60:150000,120:300000)")
    ap.add_argument("--scheme", choices=("dip", "drg"), default="dip")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK,
                    help=f"where provinces are generated and reused (default {DEFAULT_WORK})")
    ap.add_argument("--out", type=Path, help="results JSON (default WORK/results-SCHEME.json)")
    ap.add_argument("--heterogeneity", type=float, default=0.0, metavar="H",
                    help="honest hospitals' stable differences (data_gen.heterogeneity): "
                         "0, alike (default); 1, realistic")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="audit with this policy setting changed (TOML value, e.g. "
                         "audit_overdispersion='\"none\"' or audit_min_ratio=1.1); repeatable")
    args = ap.parse_args(argv)
    import tomllib
    try:
        settings = {k: v for item in args.set for k, v in tomllib.loads(item).items()}
    except tomllib.TOMLDecodeError as exc:
        ap.error(f"--set: {exc}")
    if not args.heterogeneity >= 0:
        ap.error("--heterogeneity must be a number >= 0")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    sizes = []
    for item in args.sizes.split(","):
        hospitals, _, cases = item.partition(":")
        if not cases:
            ap.error(f"--sizes: {item!r} is not hospitals:cases_per_year")
        sizes.append((int(hospitals), int(cases)))
    runs = []
    for hospitals, cases in sizes:
        for seed in seeds:
            t0 = time.perf_counter()
            path, manifest, t_gen = province(args.work, seed, hospitals, cases,
                                             args.heterogeneity)
            flags, warnings, seconds = audit_province(path, args.scheme, settings)
            seconds = {"generate": t_gen, **seconds, "total": time.perf_counter() - t0}
            run = {"seed": seed, "hospitals": hospitals, "cases_per_year": cases,
                   "province": f"{hospitals}:{cases}", "path": str(path),
                   "heterogeneity": args.heterogeneity,
                   "seconds": {k: round(v, 1) for k, v in seconds.items()},
                   "warnings": warnings, **score(manifest, flags)}
            runs.append(run)
            print(f"seed {seed}, {hospitals} hospitals x {cases:,} cases a year: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in run["seconds"].items())
                  + f"; {sum(e['found'] for e in run['gaming'])} of {len(run['gaming'])} gaming "
                  f"hospitals found, {run['honest_flagged']} of {run['honest_hospitals']} "
                  "honest flagged", flush=True)
    summary = report(runs, args.heterogeneity)
    out = args.out or args.work / f"results-{args.scheme}{_het_suffix(args.heterogeneity)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scheme": args.scheme, "settings": settings,
                               "heterogeneity": args.heterogeneity, "seeds": seeds,
                               "sizes": [f"{h}:{c}" for h, c in sizes],
                               "behaviours": list(BEHAVIOURS), **summary, "runs": runs},
                              indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nresults -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
