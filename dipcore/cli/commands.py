"""The commands that read cases: validate, calibrate, settle, audit, drg-group (and
generate)."""
from __future__ import annotations

import time

from dipcore.cli.options import drg_inputs, engine_of, policy_arg
from dipcore.cli.progress import Progress, StagedProgress
from dipcore.errors import InputError


def cmd_generate(args) -> int:
    from data_gen import generate
    manifest = generate(args.out, args.cases_per_year, args.years, hospitals=args.hospitals,
                        seed=args.seed, chunk_rows=args.chunk_rows, bad_share=args.bad_share,
                        drg_pack=args.drg_pack, heterogeneity=args.heterogeneity,
                        progress=Progress("generate"),
                        patients_per_case=args.patients_per_case, diagnoses=args.diagnoses,
                        procedures=args.procedures, max_secondary=args.max_secondary,
                        secondary_scale=args.secondary_scale,
                        max_procedures=args.max_procedures,
                        extra_procedure_share=args.extra_procedure_share,
                        row_group_rows=args.row_group_rows, order=args.order)
    print(f"wrote {manifest['cases']:,} cases of {manifest['hospitals']} hospitals "
          f"({args.years[0]}-{args.years[1]}) to {args.out} in {manifest['seconds']} s")
    for name, n in sorted(manifest["anomaly_cases"].items()):
        print(f"  injected {name}: {n:,} cases")
    if "drg_pack" in manifest:
        print(f"  CHS-DRG rule pack: {args.out}/{manifest['drg_pack']}")
    return 0


def _scan(source, hospitals, encoding, mapping=None, label="read", code_list=None,
          work=lambda b: (b.table(), b.quarantine)):
    """``work(checked batch)`` for the batches of a source (by default the kept cases and
    the quarantine as tables), with progress; warnings about unknown codes are printed
    once the source is read."""
    import warnings

    from dipcore.ingest.codelist import UnknownCodes
    from dipcore.ingest.reader import scan_checked
    from dipcore.ingest.sources import count_rows
    rows = 0
    total = count_rows(source)
    progress = Progress(label)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownCodes)
        for n, result in scan_checked(source, lambda b: (b.n + b.quarantine.num_rows, work(b)),
                                      hospitals=hospitals, encoding=encoding, mapping=mapping,
                                      code_list=code_list):
            yield result
            rows += n
            progress(rows, total)
    for w in caught:
        print(f"warning: {w.message}")


def _read(source, hospitals, encoding, mapping=None, label="read", code_list=None):
    """The kept cases as one table, and the quarantine (the demo works on the table)."""
    import pyarrow as pa

    from dipcore.schema import CASE_SCHEMA, QUARANTINE_SCHEMA
    cases, quarantine = [], []
    for c, q in _scan(source, hospitals, encoding, mapping, label, code_list):
        cases.append(c)
        if q.num_rows:
            quarantine.append(q)
    return (pa.concat_tables(cases) if cases else CASE_SCHEMA.empty_table(),
            pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table())


def cmd_validate(args) -> int:
    """Read and validate cases in bounded memory: each batch's part of the summary is
    worked out on its own thread from the checked codes (``dipcore.cli.summary``), with no
    table of the kept cases; the quarantine (the bad rows only) is collected and written
    at the end."""
    import pyarrow as pa

    from dipcore.cli.summary import CaseSummary, SummaryPart
    from dipcore.ingest.codelist import CodeList
    from dipcore.ingest.quarantine import save_quarantine
    from dipcore.ingest.reader import read_hospitals
    from dipcore.reports.files import output_file
    from dipcore.schema import QUARANTINE_SCHEMA
    if args.quarantine:
        output_file(args.quarantine)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    if args.unknown_code and not args.code_list:
        raise InputError("--unknown-code needs --code-list (the codes to know)")
    code_list = (CodeList.load(args.code_list, action=args.unknown_code or "quarantine")
                 if args.code_list else None)
    summary, quarantine = CaseSummary(), []
    for part, q in _scan(args.cases, hospitals, args.encoding, code_list=code_list,
                         work=lambda b: (SummaryPart.of_batch(b), b.quarantine)):
        summary.add_part(part)
        if q.num_rows:
            quarantine.append(q)
    for line in summary.lines():
        print(line)
    if args.quarantine:
        save_quarantine(pa.concat_tables(quarantine) if quarantine
                        else QUARANTINE_SCHEMA.empty_table(), args.quarantine)
        print(f"quarantine written to {args.quarantine}")
    return 0


def cmd_calibrate(args) -> int:
    from dipcore.api import calibrate
    from dipcore.catalog import Catalog
    from dipcore.ingest.reader import read_hospitals
    Catalog.check_path(args.out)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    years = list(range(args.years[0], args.years[1] + 1)) if args.years else None
    policy = policy_arg(args.policy)
    rules, new_technology = drg_inputs(args)
    t0 = time.perf_counter()
    with engine_of(args) as (engine, client):
        catalog = calibrate(args.history, policy=policy, hospitals=hospitals, years=years,
                            encoding=args.encoding, engine=engine, client=client,
                            progress=StagedProgress(), rules=rules,
                            new_technology=new_technology)
    catalog.save(args.out)
    for line in catalog_summary(catalog, time.perf_counter() - t0):
        print(line)
    for w in catalog.warnings:
        print(f"warning: {w}")
    print(f"catalogue written to {args.out}")
    return 0


def catalog_summary(catalog, seconds: float, top: int = 5) -> list[str]:
    """What a calibration made: its groups (DIP kinds; or DRGs, stable and unstable, with
    the most frequent and the heaviest), M and the level coefficients."""
    import pyarrow.compute as pc
    g = catalog.groups
    cases = sum(g.column("cases").to_pylist())
    levels = (f"M = {catalog.mean_cost:,.2f} yuan; level coefficients "
              + ", ".join(f"{k}: {v}" for k, v in sorted(catalog.level_coefficients.items())))
    if catalog.scheme == "drg":
        stable = sum(g.column("stable").to_pylist())
        rules = catalog.rules
        pack = (f" with rule pack {rules.get('name')} ({str(rules.get('fingerprint', ''))[:12]})"
                if rules else "")
        return [f"calibrated {cases:,} grouped cases of {catalog.years} in {seconds:.1f} s: "
                f"{g.num_rows:,} DRGs ({stable:,} stable, {g.num_rows - stable:,} unstable: "
                f"paid by cost){pack}", levels] + drg_top_lines(catalog, top)
    kinds = {r["values"]: r["counts"] for r in pc.value_counts(g.column("kind")).to_pylist()}
    return [f"calibrated {cases:,} cases of {catalog.years} in {seconds:.1f} s: "
            f"{g.num_rows:,} groups ({kinds.get('core', 0):,} core, "
            f"{kinds.get('comprehensive', 0):,} comprehensive, "
            f"{sum(g.column('basic').to_pylist()):,} basic)", levels]


def drg_top_lines(catalog, top: int = 5) -> list[str]:
    """The DRGs of a DRG catalogue with the most calibration cases, and the stable DRGs
    with the highest weights (an unstable DRG's weight pays nothing: its cases are paid by
    cost)."""
    rows = catalog.groups.select(["drg", "name_zh", "cases", "rw", "base_points",
                                  "stable"]).to_pylist()

    def fmt(r):
        flag = "" if r["stable"] else " (unstable)"
        return (f"  {r['drg']:<6} {r['cases']:>9,} cases, RW {r['rw']:>7.4f}, "
                f"{r['base_points']:>9.4f} base points{flag}  {r['name_zh'] or ''}").rstrip()
    by_cases = sorted(rows, key=lambda r: (-r["cases"], r["drg"]))[:top]
    by_weight = sorted((r for r in rows if r["stable"]), key=lambda r: (-r["rw"], r["drg"]))[:top]
    return (["DRGs with the most cases:"] + [fmt(r) for r in by_cases]
            + ["stable DRGs with the highest weights:"] + [fmt(r) for r in by_weight])


def _settle_summary(result, top: int = 5, scheme: str = "dip") -> list[str]:
    drg = scheme == "drg"
    name, kind_column = ("DRG", "kind") if drg else ("DIP", "group_kind")
    lines = []
    for row in result.pools.to_pylist():
        lines.append(f"pool {row['pool']}: point value {row['point_value']:.4f} yuan/point "
                     f"({row['mode']}), {float(row['points']):,.0f} points, budget "
                     f"{float(row['budget']):,.2f} yuan, fund ratio {row['fund_ratio']:.3f}")
    # counted as the cases were settled: cases.parquet is not read back
    oc = result.case_labels.get("outlier", {})
    kinds = result.case_labels.get(kind_column, {})
    scored = sum(v for k, v in oc.items() if k)
    if scored:
        classes = ("low", "normal", "high") if drg else ("low", "normal", "high", "extreme")
        lines.append(f"outliers among {name} cases: " + ", ".join(
            f"{k} {oc.get(k, 0) / scored:.1%}" for k in classes))
    lines.append("cases by kind: " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())))
    h = result.hospitals.to_pylist()
    if drg and sum(int(r["new_technology_cases"]) for r in h):
        lines.append(f"new technology: {sum(int(r['new_technology_cases']) for r in h):,} cases "
                     f"paid by cost, {sum(float(r['new_technology_points']) for r in h):,.0f} "
                     f"points")
    h.sort(key=lambda r: float(r["gain"]))
    def fmt(r):
        share = float(r["gain"]) / max(float(r["total_cost"]), 1.0)
        return (f"  {r['hospital_id']} {r['pool']:<9} gain {float(r['gain']):>15,.2f} yuan "
                f"({share:+.1%} of cost), CMI {'-' if r['cmi'] is None else format(r['cmi'], '.3f')}, "
                f"balance {float(r['balance']):>15,.2f}")
    lines.append(f"largest gains ({name} amount minus actual cost):")
    lines += [fmt(r) for r in reversed(h[-top:])]
    lines.append("largest losses:")
    lines += [fmt(r) for r in h[:top]]
    return lines


def _catalog(path, policy, rules):
    """The catalogue settle and audit read; with a rule pack, an official DRG weight table
    is read with it (its DRGs checked against the pack) and with the policy given."""
    from dipcore.catalog import Catalog
    if rules is None:
        return Catalog.load(path)
    return Catalog.load(path, rules=rules, policy=policy)


def cmd_settle(args) -> int:
    from dipcore.api import settle
    from dipcore.ingest.reader import read_hospitals
    policy = policy_arg(args.policy)
    rules, new_technology = drg_inputs(args)
    catalog = _catalog(args.catalog, policy, rules)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    t0 = time.perf_counter()
    with engine_of(args) as (engine, client):
        result = settle(args.cases, catalog, budget=args.budget, policy=policy,
                        hospitals=hospitals, special_cases=args.special_cases,
                        appraisal=args.appraisal, deductions=args.deductions,
                        prepaid=args.prepaid, encoding=args.encoding, out=args.out,
                        engine=engine, client=client, progress=StagedProgress(),
                        rules=rules, new_technology=new_technology, out_format=args.format)
    print(f"settled {result.cases_count:,} cases in {time.perf_counter() - t0:.1f} s")
    for line in _settle_summary(result, scheme=catalog.scheme):
        print(line)
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"results written to {args.out}")
    return 0


def cmd_sweep(args) -> int:
    from dipcore.api import sweep
    from dipcore.ingest.reader import read_hospitals
    from dipcore.payment.sweep import load_variants
    from dipcore.reports.files import output_directory
    policy = policy_arg(args.policy)
    rules, new_technology = drg_inputs(args)
    catalog = _catalog(args.catalog, policy, rules)
    variants = load_variants(args.variants)
    output_directory(args.out)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    t0 = time.perf_counter()
    with engine_of(args) as (engine, client):
        result = sweep(args.cases, catalog, variants, budget=args.budget, policy=policy,
                       hospitals=hospitals, special_cases=args.special_cases,
                       appraisal=args.appraisal, deductions=args.deductions,
                       prepaid=args.prepaid, history=args.history, encoding=args.encoding,
                       engine=engine, client=client, progress=StagedProgress(), rules=rules,
                       new_technology=new_technology)
    result.save(args.out, format=args.format)
    print(f"swept {len(result.variants) - 1} variants of {result.baseline.cases_count:,} cases "
          f"in {time.perf_counter() - t0:.1f} s ({result.counts['preparations']} preparation"
          f"{'s' if result.counts['preparations'] > 1 else ''} of the cases, "
          f"{result.counts['scorings']} scorings, {result.counts['catalogues'] - 1} "
          "recalibrated catalogues)")
    for line in sweep_lines(result):
        print(line)
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"results written to {args.out} (variants, hospitals and statements per variant)")
    return 0


def sweep_lines(result, shown: int = 20) -> list[str]:
    """Per variant and pool: the point value and the fund's payment against the baseline,
    the outlier counts, and how many hospitals gain or lose; the first ``shown`` rows."""
    import pyarrow.compute as pc
    h = result.hospitals
    rows = result.totals.to_pylist()
    lines = [f"{'variant':<28} {'pool':<9} {'point value':>12} {'fund payable':>18} "
             f"{'vs baseline':>15} {'high':>8} {'low':>8}  hospitals +/-"]
    for r in rows[:shown]:
        mine = h.filter(pc.and_(pc.equal(h["variant"], r["variant"]), pc.equal(h["pool"], r["pool"])))
        diff = [float(x) for x in mine["difference"].to_pylist()]
        name = r["variant"] + (" (recalibrated)" if r["recalibrated"] else "")
        lines.append(f"{name[:28]:<28} {r['pool']:<9} {r['point_value']:>12.4f} "
                     f"{float(r['fund_payable']):>18,.2f} {float(r['difference']):>+15,.2f} "
                     f"{r['high_cases']:>8,} {r['low_cases']:>8,}  "
                     f"{sum(d > 0 for d in diff)}/{sum(d < 0 for d in diff)}")
    if len(rows) > shown:
        lines.append(f"... {len(rows) - shown} more rows in the variants table")
    return lines


def _ratio(x) -> str:
    """A ratio for the terminal: none where the peers had no event (E = 0)."""
    return "n/a (peers had none)" if x is None else ("inf" if x == float("inf") else f"{x:.2f}")


def audit_lines(result) -> list[str]:
    """What an audit found, for the terminal: the case lists' sizes, then each flagged
    hospital with the strongest evidence of each flag (indicator, test, O/E, z)."""
    same = sum(result.readmissions.column("same_hospital").to_pylist())
    lines = [f"readmissions within the window: {result.readmissions.num_rows:,} "
             f"({same:,} at the same hospital: suspected split admissions); low-standard "
             f"admissions: {result.low_standard.num_rows:,}; cases behind upcoding flags: "
             f"{result.upcoded_cases.num_rows:,}"]
    flagged = result.flagged()
    best: dict[tuple[str, str], dict] = {}
    for r in result.evidence.to_pylist():
        key = (r["hospital_id"], r["flag"])
        if r["z"] is not None and (key not in best or r["z"] > best[key]["z"]):
            best[key] = r
    lines.append(f"{len(flagged)} of {result.hospitals.num_rows} hospitals flagged "
                 f"(funnel limit z >= {result.tests[0]['z_limit']:.2f} and O/E >= the policy's "
                 "minimum; evidence.csv has every test behind a flag)")
    for h, flags in flagged.items():
        parts = []
        for f in flags:
            r = best.get((h, f))
            parts.append(f"{f} ({r['indicator']} {r['test']}: O/E {_ratio(r['ratio'])}"
                         + (f", x{_ratio(r['effect'])} on last year" if r["test"] == "growth"
                            else "") + f", z {r['z']:.1f})" if r else f)
        lines.append(f"  {h}: " + "; ".join(parts))
    return lines


def cmd_audit(args) -> int:
    from dipcore.api import audit
    from dipcore.ingest.reader import read_hospitals
    from dipcore.reports.files import output_directory
    policy = policy_arg(args.policy)
    rules, new_technology = drg_inputs(args)
    catalog = _catalog(args.catalog, policy, rules)
    output_directory(args.out)
    hospitals = read_hospitals(args.hospitals, encoding=args.encoding) if args.hospitals else None
    t0 = time.perf_counter()
    with engine_of(args) as (engine, client):
        result = audit(args.cases, catalog, policy=policy, hospitals=hospitals,
                       previous=args.previous, encoding=args.encoding, engine=engine,
                       client=client, progress=StagedProgress(), rules=rules,
                       new_technology=new_technology)
    result.save(args.out, format=args.format, names=hospitals)
    print(f"audited {int(sum(result.hospitals.column('cases').to_pylist())):,} cases of "
          f"{result.hospitals.num_rows} hospitals in {time.perf_counter() - t0:.1f} s")
    for line in audit_lines(result):
        print(line)
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"audit written to {args.out}")
    return 0


def cmd_drg_group(args) -> int:
    """CHS-DRG grouping of cases with a rule pack (SPEC 10.1): one row per case."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from dipcore.reports.files import atomic_path, output_file
    from dipcore.schemes.drg import DrgRules, drg_group
    output_file(args.out)
    t0 = time.perf_counter()
    rules = DrgRules.load(args.rules)
    t1 = time.perf_counter()
    out = drg_group(args.cases, rules, trace=args.trace, map_codes=args.map_codes,
                    encoding=args.encoding)
    seconds = time.perf_counter() - t1
    csv = not args.out.lower().endswith((".parquet", ".pq"))
    if csv and "trace" in out.column_names:
        # a CSV cell holds text: the steps in one language, one after another
        steps = out.column("trace").combine_chunks()
        text = pc.binary_join(pa.ListArray.from_arrays(steps.offsets,
                                                       steps.values.field(args.lang)), " | ")
        out = out.set_column(out.schema.get_field_index("trace"), "trace", text)
    with atomic_path(args.out) as tmp:
        if csv:
            pacsv.write_csv(out, tmp)
        else:
            pq.write_table(out, tmp, compression="zstd")
    counts = out.group_by("status").aggregate([("case_id", "count")]).sort_by("status")
    print(f"rule pack {rules.name} ({rules.fingerprint[:12]}) loaded in {t1 - t0:.1f} s")
    print(f"grouped {out.num_rows:,} cases in {seconds:.2f} s "
          f"({out.num_rows / max(seconds, 1e-9):,.0f} cases/s): "
          + ", ".join(f"{r['status']} {r['case_id_count']:,}" for r in counts.to_pylist()))
    print(f"written to {args.out}")
    return 0
