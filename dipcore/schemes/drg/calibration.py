"""DRG weights from history (SPEC.md section 10.2).

One pass over the history (``dipcore.schemes.drg.passes.DrgHistory``) groups every case
with the rule pack and keeps a compact record of each case the weights are made of: DRG,
year, hospital level and cost (grouped cases only; bed-day cases apart, for their rates;
ungroupable, check-failed and new-technology cases left out). :func:`build_catalog` then
sorts them by (DRG, cost), so every statistic is independent of how the history was cut,
and applies the rules:

* trimming per DRG with at least ``drg_trim_min_cases`` cases: ``sd`` keeps costs within
  mean +- ``drg_trim_sd`` population standard deviations, one pass over the DRG's pooled
  calibration years and levels (cases exactly at a limit are kept); ``percentile`` keeps
  [trim_low, trim_high] (NumPy's linear interpolation); ``none``;
* ``m_d``: year-weighted (renormalised over present years) mean of the trimmed costs;
  ``m_d,L`` the same per hospital level; CV of the trimmed pooled costs;
* ``M``: year-weighted mean cost of every grouped case (unstable DRGs included; untrimmed);
* ``RW_d = m_d / M``; unstable when the DRG has fewer than ``drg_min_cases`` calibration
  cases (untrimmed) or a CV above ``drg_max_cv``;
* weight adjustments (seed 004): the factor of the longest matching policy entry; with
  ``drg_adjust_budget_neutral`` every adjusted weight is scaled by
  ``sum_d n_d RW_d / sum_d n_d RW_d f_d`` over the stable DRGs (``n_d`` their calibration
  cases), so the history's total weight is unchanged;
* ``B_d = RW_d (adjusted) x drg_scale``; weights and base points published with 4
  decimals (half-up), ratios from the unrounded means;
* level coefficients ``M_L / M`` and bed-day rates as DIP (``dipcore.schemes.statistics``).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dipcore._kernels.aggregate import within_cuts
from dipcore._version import __version__
from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.payment.point_value import in_years
from dipcore.policy import Policy
from dipcore.schemes.drg.features import DrgFeatures
from dipcore.schemes.drg.rules import STATUSES, DrgRules
from dipcore.schemes.drg.weights import WEIGHT_SCHEMA
from dipcore.schemes.statistics import (
    bed_day_rates,
    group_stats,
    level_coefficients,
    percentile_keep,
    round4,
    sorted_by_group_cost,
    stats_by_year,
    weighted_mean,
    year_weights,
)

_OK = STATUSES.index("ok")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def history_record(f: DrgFeatures) -> dict[str, np.ndarray]:
    """The per-batch record calibration keeps (all years; filtered at the end)."""
    weighted = (f.status == _OK) & (f.bed < 0) & ~f.new_tech
    bed = f.bed >= 0
    return {
        "drg": f.drg[weighted], "year": f.year[weighted], "level": f.level[weighted],
        "cost": f.cost[weighted],
        "bed_cat": f.bed[bed], "bed_year": f.year[bed], "bed_cost": f.cost[bed],
        "bed_days": f.los[bed].astype(np.int64),
        "left_out": np.array([int((f.new_tech & (f.bed < 0)).sum()),
                              int(((f.status != _OK) & (f.bed < 0) & ~f.new_tech).sum())],
                             np.int64),
    }


def fingerprint(id_hash: np.ndarray, f: DrgFeatures) -> np.ndarray:
    """Order-independent digest parts ``[n, sum of per-case hashes]`` of a batch."""
    with np.errstate(over="ignore"):
        h = id_hash + np.uint64(3) * f.drg.astype(np.uint64) + np.uint64(7) * f.status.astype(np.uint64)
        h = h + f.cost.astype(np.uint64) * _GOLDEN + f.year.astype(np.uint64)
        return np.array([f.n, int(h.sum(dtype=np.uint64))], dtype=np.uint64)


def adjustment_factors(codes: list[str], policy: Policy) -> np.ndarray:
    """The weight adjustment factor of each DRG code: the longest matching entry's."""
    rules = [(str(m).strip().upper(), float(adj["factor"]))
             for adj in policy.drg_weight_adjustments for m in adj["match"]]
    rules.sort(key=lambda r: -len(r[0]))
    out = np.ones(len(codes))
    for i, code in enumerate(codes):
        for prefix, factor in rules:
            if code.upper().startswith(prefix):
                out[i] = factor
                break
    return out


def sd_cuts(c: np.ndarray, bounds: np.ndarray, trimmed: np.ndarray, k: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Limits mean -+ k population SDs of each trimmed group's sorted costs (others
    unbounded); sums in the canonical (sorted) order, so the same for any input order."""
    G = len(bounds) - 1
    lo, hi = np.full(G, -np.inf), np.full(G, np.inf)
    n = np.diff(bounds)
    for g in np.flatnonzero(trimmed):
        x = c[bounds[g]:bounds[g + 1]].astype(np.float64)
        mu = x.sum() / n[g]
        sd = np.sqrt(((x - mu) ** 2).sum() / n[g])
        lo[g], hi[g] = mu - k * sd, mu + k * sd
    return lo, hi


def build_catalog(state: dict[str, np.ndarray], rules: DrgRules, policy: Policy,
                  years: list[int], fingerprint_text: str, warnings: list[str]) -> Catalog:
    """The DRG catalogue of the calibration years' records (SPEC 10.2)."""
    warnings = list(warnings)
    Y = len(years)
    w = year_weights(policy, years)
    W = np.array([w[y] for y in years])
    yr = np.array(years)
    use = in_years(state["year"], years)
    drg = state["drg"][use].astype(np.int32)
    yi = np.searchsorted(yr, state["year"][use]).astype(np.int16)
    level, cost = state["level"][use], state["cost"][use]
    if drg.size == 0:
        raise InputError("the history has no grouped DRG cases in the calibration years")
    # M and M_L over every grouped case, untrimmed
    s_all, n_all = stats_by_year(np.zeros(drg.size, np.int8), yi, cost, 1, Y)
    M = float(weighted_mean(s_all, n_all, W)[0])
    s_lv, n_lv = stats_by_year(level, yi, cost, 4, Y)
    M_L = weighted_mean(s_lv, n_lv, W)

    G = len(rules.drgs)
    g, y, lv, c, _, bounds = sorted_by_group_cost(drg, yi, level, cost,      # copies: overwritten
                                                   np.zeros((drg.size, 0), np.int8), G,
                                                   overwrite=True)
    n_g = np.diff(bounds)
    trimmed = n_g >= policy.drg_trim_min_cases
    keep = np.ones(g.size, bool)
    if policy.drg_trim == "sd" and trimmed.any():
        keep = within_cuts(c, bounds, *sd_cuts(c, bounds, trimmed, policy.drg_trim_sd))
    elif policy.drg_trim == "percentile":
        keep = percentile_keep(c, bounds, trimmed, policy.trim_low, policy.trim_high)
    st = group_stats(c, y, lv, keep, bounds, Y, W)
    cnt_year, mean_g, mean_gl, cv = st.cases_by_year, st.mean, st.level_mean, st.cv
    present = np.flatnonzero(n_g > 0)
    codes = [rules.drgs[i].drg for i in present]
    rw_raw = mean_g[present] / M
    stable = (n_g[present] >= policy.drg_min_cases) & (np.nan_to_num(cv[present], nan=np.inf)
                                                        <= policy.drg_max_cv)
    factor = adjustment_factors(codes, policy)
    if policy.drg_adjust_budget_neutral and policy.drg_weight_adjustments:
        n_s = n_g[present][stable]
        before = float((n_s * rw_raw[stable]).sum())
        after = float((n_s * rw_raw[stable] * factor[stable]).sum())
        if after > 0:
            factor = factor * (before / after)
    rw = rw_raw * factor
    adrg_of = {a.adrg: a for a in rules.adrgs}
    mdc_code = {m.mdc: m.code for m in rules.mdcs}
    drgs = [rules.drgs[i] for i in present]

    def nullable(values: np.ndarray) -> pa.Array:
        return pa.array(np.where(np.isnan(values), None, values).tolist(), pa.float64())
    table = pa.table({
        "drg": codes, "name_zh": [d.name_zh for d in drgs],
        "mdc": [mdc_code.get(adrg_of[d.adrg].mdc) for d in drgs],
        "adrg": [d.adrg for d in drgs],
        "cases": n_g[present].astype(np.int64),
        "cases_by_year": pa.array(cnt_year[present].tolist(), pa.list_(pa.int64())),
        "mean_cost": mean_g[present] / 100.0,
        **{f"mean_cost_level{L}": nullable(mean_gl[present, L] / 100.0) for L in (1, 2, 3)},
        "cv": nullable(cv[present]),
        "rw_raw": round4(rw_raw), "adjustment": round4(factor), "rw": round4(rw),
        "base_points": round4(rw * policy.drg_scale), "stable": stable,
    }).cast(WEIGHT_SCHEMA).sort_by("drg")
    if (~stable).any():
        warnings.append(f"{int((~stable).sum())} of {len(codes)} DRGs are unstable (fewer than "
                        f"{policy.drg_min_cases} cases or CV above {policy.drg_max_cv}): their "
                        "cases are paid by cost")
    level_coef = level_coefficients(M, M_L, policy, warnings)
    rates = bed_day_rates(state_in_years(state, years), M, Y, W, policy, policy.drg_scale, warnings)
    return Catalog(groups=table, mean_cost=M / 100.0, level_coefficients=level_coef,
                   bed_day_rates=rates, years=years, policy=policy, fingerprint=fingerprint_text,
                   version=__version__, warnings=warnings, scheme="drg",
                   rules={"name": rules.name, "fingerprint": rules.fingerprint})


def state_in_years(state: dict[str, np.ndarray], years: list[int]) -> dict[str, np.ndarray]:
    """The bed-day records of the calibration years, years as indices."""
    use = in_years(state["bed_year"], years)
    return {"bed_cat": state["bed_cat"][use],
            "bed_year": np.searchsorted(np.array(years), state["bed_year"][use]).astype(np.int16),
            "bed_cost": state["bed_cost"][use], "bed_days": state["bed_days"][use]}
