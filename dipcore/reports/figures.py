"""The report's charts, built as plotly figures from the saved results.

Every chart names the hospital on hover (name and id). Figures are drawn by the plotly.js
copy the report carries inline, so they need no network; they are sized by their container,
which the print stylesheet fits to A4.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

from dipcore.reports.i18n import Labels
from dipcore.reports.inputs import SweepInputs, fen

#: System fonts only (no web font is fetched): CJK faces first, then the platform default.
FONT = ('"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", '
        '"WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif')
GAIN, LOSS, NEUTRAL, FLAGGED = "#2e7d32", "#c62828", "#90a4ae", "#d32f2f"
LEVEL_COLOURS = {1: "#1e88e5", 2: "#fb8c00", 3: "#8e24aa", None: "#757575"}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return dict(title=dict(text=title, x=0.01, font=dict(size=15)), font=dict(family=FONT, size=12),
                margin=dict(l=70, r=30, t=50, b=60), plot_bgcolor="white", paper_bgcolor="white",
                hoverlabel=dict(font=dict(family=FONT)), height=420, **extra)


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return dict(title=dict(text=title), gridcolor="#e0e0e0", zerolinecolor="#9e9e9e",
                linecolor="#9e9e9e", **extra)


def hospital_label(hospital_id: str, name: str | None) -> str:
    """How a chart names a hospital: its name and id."""
    return f"{name} ({hospital_id})" if name else str(hospital_id)


def by_hospital(statements: list[dict[str, Any]], amount_column: str) -> list[dict[str, Any]]:
    """Statement rows summed over pools per hospital: cases, grouped cases, cost, D, gain, and
    the CMI over all its grouped cases (each pool's CMI weighted by its grouped cases)."""
    grouped = "drg_cases" if amount_column == "drg_amount" else "dip_cases"
    out: dict[str, dict[str, Any]] = {}
    for r in statements:
        h = out.setdefault(r["hospital_id"], dict(
            hospital_id=r["hospital_id"], name=r.get("hospital_name"), level=r.get("hospital_level"),
            cases=0, grouped=0, cost=0, amount=0, gain=0, cmi_sum=0.0))
        h["cases"] += int(r["cases"])
        h["cost"] += fen(r["total_cost"])
        h["amount"] += fen(r[amount_column])
        h["gain"] += fen(r["gain"])
        n = int(r.get(grouped) or 0)
        if r.get("cmi") is not None and not math.isnan(r["cmi"]):
            h["grouped"] += n
            h["cmi_sum"] += r["cmi"] * n
    for h in out.values():
        h["cmi"] = h["cmi_sum"] / h["grouped"] if h["grouped"] else None
        h["label"] = hospital_label(h["hospital_id"], h["name"])
    return list(out.values())


def gain_chart(hospitals: list[dict[str, Any]], amount_label: str, t: Labels) -> go.Figure:
    """Each hospital's gain (D - C over its pools), sorted from the largest loss."""
    rows = sorted(hospitals, key=lambda h: (h["gain"], h["hospital_id"]))
    gain = [h["gain"] / 100 for h in rows]
    share = [h["gain"] / h["cost"] if h["cost"] else 0.0 for h in rows]
    fig = go.Figure(go.Bar(
        x=[h["label"] for h in rows], y=gain, marker_color=[GAIN if g >= 0 else LOSS for g in gain],
        customdata=share, hovertemplate="%{x}<br>" + t("gain_tooltip") + " %{y:,.2f}<br>"
        + t("gain_share") + " %{customdata:.1%}<extra></extra>"))
    fig.update_layout(**_layout(t("chart_gain", amount=amount_label)),
                      xaxis=_axis(t("axis_hospital"), showticklabels=len(rows) <= 40,
                                  tickangle=-60, categoryorder="array",
                                  categoryarray=[h["label"] for h in rows]),
                      yaxis=_axis(t("axis_gain"), tickformat=",.0f"), bargap=0.15)
    return fig


def cmi_chart(hospitals: list[dict[str, Any]], t: Labels) -> go.Figure:
    """CMI against cost per case, one point per hospital, coloured by level, sized by cases."""
    fig = go.Figure()
    largest = max([h["cases"] for h in hospitals] or [1])
    for level in sorted({h["level"] for h in hospitals}, key=lambda v: (v is None, v)):
        rows = [h for h in hospitals if h["level"] == level and h["cmi"] is not None]
        if not rows:
            continue
        fig.add_trace(go.Scatter(
            x=[h["cmi"] for h in rows], y=[h["cost"] / 100 / max(h["cases"], 1) for h in rows],
            mode="markers", name=t.name("level", level), text=[h["label"] for h in rows],
            customdata=[h["cases"] for h in rows],
            marker=dict(color=LEVEL_COLOURS.get(level, "#757575"), opacity=0.8,
                        size=[8 + 18 * math.sqrt(h["cases"] / largest) for h in rows]),
            hovertemplate="%{text}<br>CMI %{x:.3f}<br>" + t("axis_cost_per_case")
            + " %{y:,.2f}<br>" + t("cases") + " %{customdata:,}<extra></extra>"))
    fig.update_layout(**_layout(t("chart_cmi")), xaxis=_axis(t("axis_cmi")),
                      yaxis=_axis(t("axis_cost_per_case"), tickformat=",.0f"),
                      legend=dict(title=dict(text=t("level"))))
    return fig


def outlier_chart(cases: pa.Table, t: Labels) -> go.Figure:
    """Low-, high- and extreme-cost shares of the grouped cases (those with an outlier
    class) by hospital level."""
    scored = cases.filter(pc.not_equal(cases.column("outlier"), ""))
    counts = scored.group_by(["hospital_level", "outlier"]).aggregate([("outlier", "count")])
    n: dict[Any, int] = defaultdict(int)
    k: dict[tuple[Any, str], int] = {}
    for r in counts.to_pylist():
        n[r["hospital_level"]] += r["outlier_count"]
        k[(r["hospital_level"], r["outlier"])] = r["outlier_count"]
    levels = sorted(n, key=lambda v: (v is None, v))
    fig = go.Figure()
    for cls, colour in (("low", "#1e88e5"), ("high", "#e53935"), ("extreme", "#6a1b9a")):
        if not any((lv, cls) in k for lv in levels):
            continue
        fig.add_trace(go.Bar(
            x=[t.name("level", lv) for lv in levels],
            y=[k.get((lv, cls), 0) / n[lv] for lv in levels], name=t.name("outlier", cls),
            marker_color=colour, customdata=[k.get((lv, cls), 0) for lv in levels],
            hovertemplate="%{x}: %{y:.2%} (%{customdata:,})<extra>" + t.name("outlier", cls)
            + "</extra>"))
    fig.update_layout(**_layout(t("chart_outliers")), barmode="group",
                      xaxis=_axis(t("axis_level")), yaxis=_axis(t("axis_share"), tickformat=".0%"))
    return fig


def monthly_chart(monthly: pa.Table, t: Labels) -> go.Figure:
    """The region's monthly prepayments (bars, per pool) against its points (line)."""
    per = monthly.group_by(["month", "pool"]).aggregate(
        [("prepayment", "sum"), ("reserve", "sum"), ("points", "sum")]).to_pylist()
    months = sorted({r["month"] for r in per})
    pools = sorted({r["pool"] for r in per})
    cell = {(r["month"], r["pool"]): r for r in per}
    fig = go.Figure()
    for p in pools:
        fig.add_trace(go.Bar(
            x=months, y=[float(cell[(m, p)]["prepayment_sum"]) if (m, p) in cell else 0
                         for m in months],
            customdata=[float(cell[(m, p)]["reserve_sum"]) if (m, p) in cell else 0
                        for m in months],
            name=f"{t('prepayment')} · {t.name('pool', p)}",
            hovertemplate=t("axis_month") + " %{x}: %{y:,.2f}<br>" + t("reserve")
            + " %{customdata:,.2f}<extra>" + t.name("pool", p) + "</extra>"))
    fig.add_trace(go.Scatter(
        x=months, y=[sum(float(cell[(m, p)]["points_sum"]) for p in pools if (m, p) in cell)
                     for m in months],
        name=t("axis_points"), yaxis="y2", mode="lines+markers", line=dict(color="#37474f"),
        hovertemplate=t("axis_month") + " %{x}: %{y:,.0f}<extra>" + t("axis_points") + "</extra>"))
    fig.update_layout(**_layout(t("chart_monthly")), barmode="stack",
                      xaxis=_axis(t("axis_month"), dtick=1),
                      yaxis=_axis(t("axis_prepayment"), tickformat=",.0f"),
                      yaxis2=dict(title=dict(text=t("axis_points")), overlaying="y", side="right",
                                  tickformat=",.0f", showgrid=False, rangemode="tozero"),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def funnel_chart(points: list[dict[str, Any]], limits: list[dict[str, Any]],
                 flagged: set[str], names: dict[str, str], title: str, growth: bool,
                 t: Labels) -> go.Figure:
    """A funnel plot (Spiegelhalter 2005): each hospital's O/E (or its growth) against its
    indicator's cases, the 95 % and control limits behind, the flagged hospitals in red."""
    fig = go.Figure()
    limits = sorted(limits, key=lambda r: r["cases"])
    x = [r["cases"] for r in limits]
    for key, name, dash in (("95", t("limit_95"), "dot"), ("limit", t("limit_control"), "solid")):
        for side in ("lower", "upper"):
            column = f"{side}_{key}" if key == "95" else f"{side}_limit"
            fig.add_trace(go.Scatter(
                x=x, y=[r[column] for r in limits], mode="lines", name=name,
                legendgroup=key, showlegend=side == "upper", hoverinfo="skip",
                line=dict(color="#546e7a" if key == "limit" else "#90a4ae", dash=dash, width=1.2)))
    shown = [r for r in points if r["value"] is not None and math.isfinite(r["value"])]
    null = shown[0]["null"] if shown else 1.0
    if x:
        fig.add_trace(go.Scatter(x=[min(x), max(x)], y=[null, null], mode="lines",
                                 name=t("null_line"), hoverinfo="skip",
                                 line=dict(color="#9e9e9e", width=1)))
    for is_flagged in (False, True):
        rows = [r for r in shown if (r["hospital_id"] in flagged) == is_flagged]
        if not rows:
            continue
        fig.add_trace(go.Scatter(
            x=[r["cases"] for r in rows], y=[r["value"] for r in rows], mode="markers",
            name=t("flagged") if is_flagged else t("hospitals_plain"),
            text=[names.get(r["hospital_id"], r["hospital_id"]) for r in rows],
            customdata=[r.get("z") for r in rows],
            marker=dict(color=FLAGGED if is_flagged else NEUTRAL, size=11 if is_flagged else 7,
                        line=dict(color="white", width=0.5)),
            hovertemplate="%{text}<br>" + t("axis_cases") + " %{x:,}<br>O/E %{y:.3f}<br>"
            "z %{customdata:.2f}<extra></extra>"))
    values = [r["value"] for r in shown] + [v for r in limits for v in
                                            (r["lower_limit"], r["upper_limit"]) if v is not None]
    log = bool(values) and all(v > 0 for v in values if math.isfinite(v))
    fig.update_layout(**_layout(title), xaxis=_axis(t("axis_cases"), type="log"),
                      yaxis=_axis(t("axis_growth") if growth else t("axis_oe"),
                                  type="log" if log else "linear"),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def sweep_chart(sweep: SweepInputs, names: dict[str, str], t: Labels) -> go.Figure:
    """Per variant, every hospital's change of fund payable (pools together) against the
    baseline: one point per hospital over a box of the spread."""
    rows = sweep.hospitals.group_by(["variant", "hospital_id"]).aggregate(
        [("difference", "sum")]).to_pylist()
    order = list(dict.fromkeys(sweep.variants.column("variant").to_pylist()))
    fig = go.Figure()
    for v in order + sorted({r["variant"] for r in rows} - set(order)):
        mine = sorted((r for r in rows if r["variant"] == v), key=lambda r: r["hospital_id"])
        fig.add_trace(go.Box(
            y=[float(r["difference_sum"]) for r in mine], name=str(v), boxpoints="all",
            jitter=0.4, pointpos=0, marker=dict(size=5, opacity=0.7),
            hovertext=[names.get(r["hospital_id"], r["hospital_id"]) for r in mine],
            hoverinfo="text+y"))
    fig.update_layout(**_layout(t("chart_sweep")), showlegend=False,
                      xaxis=_axis(t("variant")),
                      yaxis=_axis(t("axis_difference"), tickformat=",.0f"))
    return fig
