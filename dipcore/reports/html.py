"""The HTML report a bureau can hand out (``dipcore report``): one self-contained file.

:func:`write_report` reads a settlement's results (and the audit, catalogue and what-if
sweep beside them: ``dipcore.reports.inputs``), explains every statement line by line
(``dipcore.reports.statement``), draws the charts (``dipcore.reports.figures``) and renders
the Jinja2 templates of ``dipcore/reports/templates`` with every label from
``dipcore.reports.i18n``. plotly.js is inlined once, so the file opens offline; nothing in
it refers to an external resource. A print stylesheet lays it out on A4 with each
hospital's statement on its own pages.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from dipcore._version import __version__
from dipcore.policy import SECTIONS, Policy
from dipcore.reports import figures
from dipcore.reports import formats as fmt
from dipcore.reports.files import atomic_path
from dipcore.reports.i18n import Labels
from dipcore.reports.inputs import ReportInputs, fen, load_inputs, sweep_matches
from dipcore.reports.statement import explain
from dipcore.supervision.measures import FLAGS, MEASURES

#: Appraisal indicators shown under each statement: (statement column, formatter).
INDICATORS = (("cmi", lambda v: fmt.ratio(v, 4)), ("mean_cost", fmt.number),
              ("mean_los", lambda v: fmt.ratio(v, 2)), ("outlier_share", fmt.percent),
              ("operation_rate", fmt.percent), ("death_rate", fmt.percent),
              ("patient_paid_share", fmt.percent))
#: Columns of the region's statement table, in order.
REGION_COLUMNS = ("cases", "points", "AMOUNT", "total_cost", "gain", "fund_base",
                  "appraisal_adjustment", "deductions", "sharing", "surplus_clawback",
                  "fund_payable", "prepaid", "reserve_withheld", "advance", "balance")


def _environment():
    """The templates' Jinja2 environment (imported here: ``import dipcore`` stays light)."""
    import jinja2
    return jinja2.Environment(loader=jinja2.PackageLoader("dipcore.reports", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def _plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (no CDN), safe inside a
    <script> element."""
    from plotly.offline import get_plotlyjs
    return get_plotlyjs().replace("</script", "<\\/script")


def _figure_json(fig: go.Figure) -> str:
    """A figure as JSON that can sit inside a <script> element."""
    return fig.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _policy_view(policy: Policy, t: Labels) -> dict[str, Any]:
    """A policy as the report traces it: each section's fingerprint and the parameters that
    differ from the national defaults."""
    defaults, values = Policy().to_dict(), policy.to_dict()
    changed = [dict(name=k, value=json.dumps(values[k], ensure_ascii=False),
                    default=json.dumps(defaults[k], ensure_ascii=False))
               for names in SECTIONS.values() for k in names if values[k] != defaults[k]]
    return dict(sections=[dict(name=s, fingerprint=fp)
                          for s, fp in policy.section_fingerprints().items()],
                changed=changed)


def _pool_views(inputs: ReportInputs, t: Labels) -> list[dict[str, Any]]:
    """Each pool's point value and how it was reached (SPEC 6), with the numbers."""
    out = []
    policy = inputs.policy
    for p in inputs.pools.to_pylist():
        f, pv = fmt.number(p["fund_ratio"], 6), fmt.number(p["point_value"], 6)
        mode = p["mode"]
        if mode == "fixed":
            formula = t("pv_fixed", PV=pv)
        elif mode == "elastic" and policy is not None:
            ceiling = "" if policy.elastic_ceiling is None else \
                t("pv_elastic_ceiling", ceiling=fmt.number(policy.elastic_ceiling, 2))
            formula = t("pv_elastic", share=fmt.percent(policy.elastic_base_share, 0),
                        base=fmt.number(p["base_point_value"], 6),
                        floating=fmt.number(p["floating_point_value"], 6), ceiling=ceiling, PV=pv)
        elif mode == "elastic":
            formula = t("pv_elastic_base", base=fmt.number(p["base_point_value"], 6),
                        floating=fmt.number(p["floating_point_value"], 6), PV=pv)
        else:
            formula = t("pv_floating", B=fmt.money(p["budget"]), f=f, P=fmt.points(p["points"]),
                        PV=pv)
        out.append(dict(
            pool=t.name("pool", p["pool"]), budget=fmt.money(p["budget"]), f=f,
            f_formula=t("f_formula", fund=fmt.money(p["fund_paid"]),
                        cost=fmt.money(p["total_cost"]), f=f),
            points=fmt.points(p["points"]), mode=t.name("mode", mode), point_value=pv,
            formula=formula, elastic=mode == "elastic",
            base=fmt.number(p["base_point_value"], 6),
            floating=fmt.number(p["floating_point_value"], 6),
            budget_pv=fmt.number(p["budget_point_value"], 6),
            total_cost=fmt.money(p["total_cost"]), fund_paid=fmt.money(p["fund_paid"])))
    return out


def _case_totals(inputs: ReportInputs, column: str, kind: str, order: tuple[str, ...],
                 t: Labels) -> list[dict[str, Any]]:
    """Cases, points and cost per value of ``column`` (case kind or outlier class)."""
    cases = inputs.cases
    rows = cases.group_by([column]).aggregate(
        [(column, "count"), ("points", "sum"), ("total_cost", "sum")]).to_pylist()
    n = max(cases.num_rows, 1)
    rank = {v: i for i, v in enumerate(order)}
    rows.sort(key=lambda r: (rank.get(r[column], len(rank)), str(r[column])))
    out = [dict(name=t.name(kind, r[column]), cases=fmt.integer(r[f"{column}_count"]),
                share=fmt.percent(r[f"{column}_count"] / n), points=fmt.points(r["points_sum"]),
                cost=fmt.money(r["total_cost_sum"]), total=False) for r in rows]
    out.append(dict(name=t("total"), cases=fmt.integer(cases.num_rows), share=fmt.percent(1.0),
                    points=fmt.points(sum(r["points_sum"] for r in rows)),
                    cost=fmt.money(sum(r["total_cost_sum"] for r in rows)), total=True))
    return out


def _evidence_view(r: dict[str, Any], names: dict[str, str], t: Labels) -> dict[str, Any]:
    growth = r["test"] == "growth"
    return dict(
        hospital=names.get(r["hospital_id"], r["hospital_id"]), hospital_id=r["hospital_id"],
        flag=t.name("flag", r["flag"]), indicator=t.name("indicator", r["indicator"]),
        test=t.name("test", r["test"]), cases=fmt.integer(r["cases"]),
        observed=fmt.ratio(r["observed"], 2), expected=fmt.ratio(r["expected"], 2),
        ratio=fmt.ratio(r["ratio"], 3),
        effect=fmt.ratio(r.get("effect"), 3) if growth else "",
        z=fmt.ratio(r["z"], 2), z_limit=fmt.ratio(r["z_limit"], 2),
        previous=fmt.ratio(r.get("previous_ratio"), 3),
        previous_cases=fmt.integer(r.get("previous_cases")))


def _charts(inputs: ReportInputs, hospitals: list[dict], names: dict[str, str],
            flagged_tests: dict[tuple[str, str], set[str]], t: Labels) -> dict[str, list]:
    """The figures of each section, as ``{section: [{id, json}]}``."""
    amount_label = t(f"amount_short_{'drg' if inputs.amount_column == 'drg_amount' else 'dip'}")
    region = [figures.gain_chart(hospitals, amount_label, t), figures.cmi_chart(hospitals, t)]
    if inputs.cases is not None:
        region.append(figures.outlier_chart(inputs.cases, t))
    if inputs.monthly is not None and inputs.monthly.num_rows:
        region.append(figures.monthly_chart(inputs.monthly, t))
    funnels = []
    audit = inputs.audit
    if audit is not None and audit.funnel is not None:
        points, limits = defaultdict(list), defaultdict(list)
        for r in audit.funnel.to_pylist():
            if (r["indicator"], r["test"]) in flagged_tests:
                points[(r["indicator"], r["test"])].append(r)
        if audit.funnel_limits is not None:
            for r in audit.funnel_limits.to_pylist():
                if (r["indicator"], r["test"]) in flagged_tests:
                    limits[(r["indicator"], r["test"])].append(r)
        order = {m.name: i for i, m in enumerate(MEASURES)}
        for key in sorted(flagged_tests, key=lambda k: (order.get(k[0], 99), k[1] != "level")):
            title = t("funnel_title", indicator=t.name("indicator", key[0]),
                      test=t.name("test", key[1]))
            funnels.append(figures.funnel_chart(points[key], limits[key], flagged_tests[key],
                                                names, title, key[1] == "growth", t))
    sweep = [figures.sweep_chart(inputs.sweep, names, t)] if inputs.sweep is not None else []
    out, k = {}, 0
    for section, figs in (("region", region), ("funnels", funnels), ("sweep", sweep)):
        out[section] = []
        for fig in figs:
            k += 1
            out[section].append(dict(id=f"chart-{k}", json=_figure_json(fig)))
    return out


def build_context(inputs: ReportInputs, lang: str = "zh") -> dict[str, Any]:
    """Everything the template shows, formatted (the numbers are the results' own).

    Parameters
    ----------
    inputs : ReportInputs
    lang : {"zh", "en"}

    Returns
    -------
    dict
    """
    t = Labels(lang)
    statements = inputs.statements.sort_by([("hospital_id", "ascending"),
                                            ("pool", "ascending")]).to_pylist()
    pools = {p["pool"]: p for p in inputs.pools.to_pylist()}
    names = {r["hospital_id"]: figures.hospital_label(r["hospital_id"], r["hospital_name"])
             for r in statements}
    months: dict[tuple[str, str], list[int]] = {}
    if inputs.monthly is not None:
        for r in inputs.monthly.select(["hospital_id", "pool", "prepayment", "reserve"]).to_pylist():
            m = months.setdefault((r["hospital_id"], r["pool"]), [0, 0, 0])
            m[0] += 1
            m[1] += fen(r["prepayment"])
            m[2] += fen(r["reserve"])
    warnings = [dict(source=t.name("warn_source", "settlement"), text=w)
                for w in inputs.summary.get("warnings", [])]
    if inputs.catalog is not None:
        warnings += [dict(source=t.name("warn_source", "catalog"), text=w)
                     for w in inputs.catalog.warnings]

    # supervision: flags per hospital, their evidence, the tests behind them
    audit = inputs.audit
    flags: dict[str, list[str]] = {}
    evidence: dict[str, list[dict]] = defaultdict(list)
    flagged_tests: dict[tuple[str, str], set[str]] = defaultdict(set)
    region_evidence = []
    if inputs.sweep is not None and not sweep_matches(inputs.sweep, inputs.pools):
        warnings.append(dict(source=t.name("warn_source", "report"),
                             text=t("warn_sweep_baseline")))
    if audit is None:
        warnings.append(dict(source=t.name("warn_source", "report"), text=t("warn_no_audit")))
    else:
        warnings += [dict(source=t.name("warn_source", "audit"), text=w)
                     for w in audit.summary.get("warnings", [])]
        if audit.funnel is None:
            warnings.append(dict(source=t.name("warn_source", "report"),
                                 text=t("warn_funnel_missing")))
        for h, f in zip(audit.hospitals.column("hospital_id").to_pylist(),
                        audit.hospitals.column("flags").to_pylist()):
            if f:
                flags[h] = [t.name("flag", x) for x in FLAGS if x in f] + \
                    [t.name("flag", x) for x in f if x not in FLAGS]
        for r in audit.evidence.to_pylist():
            view = _evidence_view(r, names, t)
            evidence[r["hospital_id"]].append(view)
            region_evidence.append(view)
            flagged_tests[(r["indicator"], r["test"])].add(r["hospital_id"])

    # the statements, line by line, per hospital
    hospitals: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    region_rows = []
    for r in statements:
        h = r["hospital_id"]
        if h not in by_id:
            by_id[h] = dict(id=h, anchor=f"h{len(by_id) + 1}", name=r["hospital_name"] or "",
                            level=t.name("level", r["hospital_level"]), pools=[],
                            flags=flags.get(h, []), evidence=evidence.get(h, []))
            hospitals.append(by_id[h])
        lines = explain(r, pools[r["pool"]], inputs.policy, inputs.amount_column,
                        tuple(months[(h, r["pool"])]) if (h, r["pool"]) in months else None, t)
        for line in lines:
            if not line.holds:
                warnings.append(dict(source=t.name("warn_source", "report"),
                                     text=t("warn_payable_mismatch", hospital=names[h],
                                            pool=t.name("pool", r["pool"]))))
        by_id[h]["pools"].append(dict(
            pool=t.name("pool", r["pool"]), pool_key=r["pool"], lines=lines,
            indicators=[dict(label=t(k), value=f(r.get(k))) for k, f in INDICATORS]))
        cells = []
        for c in REGION_COLUMNS:
            key = inputs.amount_column if c == "AMOUNT" else c
            v = r[key]
            cells.append(dict(key=key, value=fmt.integer(v) if c == "cases" else
                              fmt.points(v) if c == "points" else fmt.money(v)))
        region_rows.append(dict(hospital=names[h], anchor=by_id[h]["anchor"],
                                pool=t.name("pool", r["pool"]), pool_key=r["pool"],
                                hospital_id=h, cells=cells))
    region_header = [t("cases"), t("points")] + [t(inputs.amount_column)] + [
        t(c) for c in REGION_COLUMNS[3:]]

    charts = _charts(inputs, figures.by_hospital(statements, inputs.amount_column), names,
                     flagged_tests, t)
    catalog = inputs.catalog
    catalog_view = None
    if catalog is not None:
        catalog_view = dict(
            path=str(inputs.catalog_path), scheme=t.name("scheme", catalog.scheme),
            fingerprint=catalog.fingerprint or "—", version=catalog.version or "—",
            years=", ".join(str(y) for y in catalog.years) or "—",
            mean_cost=fmt.money(round(catalog.mean_cost, 2)), groups=fmt.integer(catalog.groups.num_rows),
            levels=", ".join(f"{t.name('level', k)} {v:.4f}"
                             for k, v in sorted(catalog.level_coefficients.items())),
            rules=(f"{catalog.rules.get('name')} ({catalog.rules.get('fingerprint', '')})"
                   if catalog.rules else ""),
            policy=_policy_view(catalog.policy, t))
    policy_note = None
    if inputs.policy_source == "catalog":
        policy_note = t("policy_unknown")
    elif inputs.policy_source is None:
        policy_note = t("policy_none")
    reserve = inputs.policy.reserve if inputs.policy is not None else None
    sweep = None
    if inputs.sweep is not None:
        sweep = dict(path=str(inputs.sweep.directory), variants=[dict(
            variant=r["variant"], pool=t.name("pool", r["pool"]),
            point_value=fmt.number(r["point_value"], 6), points=fmt.points(r["points"]),
            fund_payable=fmt.money(r["fund_payable"]),
            recalibrated=t("yes") if r["recalibrated"] else t("no"), changes=r["changes"] or "")
            for r in inputs.sweep.variants.to_pylist()])
    kind_order = ("core", "comprehensive", "basic", "drg", "unstable", "new_technology",
                  "bed_day", "special", "ungrouped")
    return dict(
        t=t, lang=lang, version=__version__,
        title=t(f"title_{inputs.scheme}") if inputs.scheme in ("dip", "drg") else t("title"),
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        settlement=str(inputs.settlement),
        audit_dir=str(audit.directory) if audit is not None else None,
        scheme=t.name("scheme", inputs.scheme), pools=_pool_views(inputs, t),
        budget_note=t("budget_pv_note", reserve=fmt.percent(reserve, 0))
        if reserve is not None else t("budget_pv_note_unknown"),
        kinds=_case_totals(inputs, "kind", "kind", kind_order, t)
        if inputs.cases is not None else None,
        outliers=_case_totals(inputs, "outlier", "outlier",
                              ("low", "normal", "high", "extreme", ""), t)
        if inputs.cases is not None else None,
        catalog=catalog_view,
        settlement_policy=_policy_view(inputs.policy, t)
        if inputs.policy_source == "settlement" else None,
        policy_note=policy_note, warnings=warnings, charts=charts,
        chart_count=sum(len(v) for v in charts.values()),
        region_header=region_header, region_rows=region_rows,
        region_evidence=region_evidence, has_audit=audit is not None, sweep=sweep,
        hospitals=hospitals, amount_label=t(inputs.amount_column))


def render_report(inputs: ReportInputs, lang: str = "zh") -> str:
    """The report's HTML text.

    Parameters
    ----------
    inputs : ReportInputs
        From :func:`dipcore.reports.inputs.load_inputs`.
    lang : {"zh", "en"}
        Language of every label (default Chinese).

    Returns
    -------
    str
    """
    context = build_context(inputs, lang)
    return _environment().get_template("report.html.j2").render(plotly_js=_plotly_js(),
                                                                **context)


def write_report(results: str | os.PathLike, out: str | os.PathLike, *, lang: str = "zh",
                 audit: str | os.PathLike | None = None,
                 catalog: str | os.PathLike | None = None,
                 sweep: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of a settlement (atomically).

    Parameters
    ----------
    results : path
        The directory ``settle`` wrote (``hospitals.parquet`` ...), or a folder holding it
        as ``settlement/`` (as ``dipcore demo`` writes).
    out : path
        The HTML file to write.
    lang : {"zh", "en"}
        Report language (default Chinese).
    audit, catalog, sweep : path, optional
        The audit directory, catalogue and what-if sweep directory; found inside or beside
        the results directory when not given.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    InputError
        A missing or unreadable input, named in one line.
    """
    Labels(lang)    # an unknown language stops before any reading
    inputs = load_inputs(results, audit=audit, catalog=catalog, sweep=sweep)
    text = render_report(inputs, lang)
    out = Path(out)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return out
