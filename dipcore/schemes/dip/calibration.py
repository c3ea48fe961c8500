"""Calibration: building the catalogue from history (SPEC.md section 4).

Three passes over the history, each written as *partition kernel -> mergeable partial state
-> finalize*, so that the local engine and the Dask engine run the same code:

1. ``KeyCounts``: case counts and cost sums per (diagnosis key, main procedure,
   combination, category, class, year). Merge: concatenate and sum. Finalize: the core
   groups (SPEC 3.2 threshold, SPEC 4 related-procedure uplift rule).
2. ``assignments``: every case grouped by the same kernel as settlement, against the core
   groups and every observed comprehensive key; the partial state is a compact per-case
   record (group, year, level, cost, subtype slots). Merge: concatenate. Finalize: sorted by
   (group, cost), which makes trimming percentiles, means, CVs and subtypes independent of
   the partitioning and row order.
3. the history scored with the new catalogue, for the budget point value (SPEC 6), unless
   the policy gives one (``dipcore.payment.point_value``).

The passes themselves (what runs per batch, what merges) are declared in
``dipcore.schemes.dip.passes``; this module holds the rules they apply.

Choices SPEC.md leaves open, made here and documented:

* trimming percentiles are taken over a group's pooled calibration years (NumPy's linear
  interpolation); cases exactly at a cut point are kept;
* the CV reported and used for basic groups is that of the trimmed pooled costs;
* subtype criteria compare the group's untrimmed CV with the case-weighted mean CV of the
  dimension's cells, the cell of cases outside every subtype of that dimension included;
  subtype coefficients are year-weighted untrimmed means (subtype over group);
* the uplift rule compares a combination's year-weighted mean with that of the cases coded
  with the main procedure alone (all cases of the main procedure when there are none);
* provisional group means for the "closest mean" tie-break in pass 2 are untrimmed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels.aggregate import (
    cell_stats,
    count_by,
    sum_count_by2,
)
from dipcore._version import __version__
from dipcore.catalog import Catalog
from dipcore.coding.facts import CLASS_NAMES, category_code, procedure_facts
from dipcore.errors import InputError
from dipcore.payment.point_value import in_years
from dipcore.policy import Policy
from dipcore.schemes.dip.features import SUBTYPE_CODES, Features
from dipcore.schemes.dip.grouping import group_rows
from dipcore.schemes.dip.groups import GROUP_SCHEMA, comprehensive_code
from dipcore.schemes.statistics import (
    bed_day_rates,
    cv_of,
    group_stats,
    level_coefficients,
    percentile_keep,
    present_years,
    round4,
    sorted_by_group_cost,
    stats_by_year,
    weighted_mean,
    year_weights,
)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


# ---------------------------------------------------------------------------------------------
# pass 1: key counts
# ---------------------------------------------------------------------------------------------
KEY_COLUMNS = ["dx_key", "main", "combination", "cat", "tclass", "year"]


class KeyCounts:
    """Pass 1 partial state: case counts and cost sums of DIP cases per grouping key
    (diagnosis key, combination, treatment class) and year.

    Batches are counted into dense arrays over their codebook's key ids (exact int64
    sums); ``table()`` names the keys present by their strings, the form in which partial
    counts of different threads or workers merge (``merge_key_counts``).
    """

    def __init__(self):
        self._parts: dict[tuple, tuple[Features, dict[int, list[np.ndarray]]]] = {}

    @staticmethod
    def count(f: Features) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """One batch (any thread): per year, [counts, cost sums] by key id."""
        years = present_years(f.year)
        if not years:
            return {}
        k = int(f.key.max()) + 1
        yi = np.searchsorted(np.array(years, np.int64), f.year).astype(np.int32)
        sums, counts = sum_count_by2(f.key, yi, len(years), k, f.cost, f.bed < 0)
        return {y: (counts[:, j], sums[:, j]) for j, y in enumerate(years)}

    def add(self, f: Features, counted: dict | None = None) -> None:
        """Add a batch (``counted``: its :meth:`count`, when done elsewhere)."""
        counted = counted if counted is not None else self.count(f)
        ctx = (id(f.codebook), id(f.grouping), f.key_len)
        acc = self._parts.setdefault(ctx, (f, {}))[1]
        for y, (n, s) in counted.items():
            have = acc.get(y)
            if have is None:
                acc[y] = [n.copy(), s.copy()]
                continue
            if len(have[0]) < len(n):            # the codebook has grown: pad
                have = acc[y] = [np.concatenate([a, np.zeros(len(n) - len(a), np.int64)]) for a in have]
            have[0][:len(n)] += n
            have[1][:len(s)] += s

    def table(self) -> pa.Table:
        tables = []
        for f, acc in self._parts.values():
            g = f.grouping
            facts = g.key_facts(f.key_len)
            for y, (n, s) in sorted(acc.items()):
                keys = np.flatnonzero(n)
                if not len(keys):
                    continue
                dx_key, comb = facts["dx_key"][keys], facts["comb"][keys]
                tables.append(pa.table({
                    "dx_key": f.dx_key_strings().take(pa.array(dx_key)),
                    "main": g.main_strings().take(pa.array(comb)).fill_null(""),
                    "combination": g.combination_strings().take(pa.array(comb)),
                    "cat": pa.array(f.codebook.diagnoses.key_categories(f.key_len)[dx_key]),
                    "tclass": pa.array(facts["tclass"][keys]),
                    "year": pa.array(np.full(len(keys), y, np.int16)),
                    "n": pa.array(n[keys]), "cost": pa.array(s[keys]),
                }))
        if not tables:
            return pa.table({"dx_key": pa.array([], pa.string()), "main": pa.array([], pa.string()),
                             "combination": pa.array([], pa.string()), "cat": pa.array([], pa.int32()),
                             "tclass": pa.array([], pa.int8()), "year": pa.array([], pa.int16()),
                             "n": pa.array([], pa.int64()), "cost": pa.array([], pa.int64())})
        return merge_key_counts(tables)


def merge_key_counts(parts: Iterable[pa.Table]) -> pa.Table:
    t = pa.concat_tables(list(parts))
    return t.group_by(KEY_COLUMNS).aggregate([("n", "sum"), ("cost", "sum")]) \
        .rename_columns(KEY_COLUMNS + ["n", "cost"])


def fingerprint(id_hash: np.ndarray, f: Features) -> np.ndarray:
    """Order-independent digest parts: [n, sum of per-case hashes] (uint64, wrapping);
    ``id_hash``: the case ids' ``hash_strings``."""
    with np.errstate(over="ignore"):
        h = id_hash + np.uint64(3) * f.codebook.diagnoses.facts()["hash"][f.dx]
        h = h + np.uint64(5) * f.grouping.comb_facts()["hash"][f.comb]
        h = h + f.cost.astype(np.uint64) * _GOLDEN + f.year.astype(np.uint64)
        return np.array([f.n, int(h.sum(dtype=np.uint64))], dtype=np.uint64)


@dataclass
class CoreDefinition:
    """Result of pass 1: the provisional groups that pass 2 assigns cases to."""

    groups: pa.Table      # GROUP_SCHEMA rows (provisional means, no statistics)
    years: list[int]
    threshold: int


_SEP = "\x1f"


def _joined(columns: list[pa.Array]) -> pa.Array:
    columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
    return pc.binary_join_element_wise(*columns, _SEP) if len(columns) > 1 else columns[0]


def _factorize(columns: list[pa.Array]) -> tuple[np.ndarray, pa.Array, list[pa.Array]]:
    """Integer codes of the distinct tuples of string columns: ``(codes, joined distinct
    tuples, the distinct tuples' columns)``."""
    enc = pc.dictionary_encode(_joined(columns))
    parts = pc.split_pattern(enc.dictionary, _SEP)
    cols = [pc.list_element(parts, k) for k in range(len(columns))]
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary, cols


def _by_key_year(codes: np.ndarray, k: int, yi: np.ndarray, Y: int, n: np.ndarray,
                 s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and cost sums per (key, year) -> int64 [K, Y] each."""
    cnt = np.zeros((k, Y), np.int64)
    tot = np.zeros((k, Y), np.int64)
    np.add.at(cnt, (codes, yi), n)
    np.add.at(tot, (codes, yi), s)
    return cnt, tot


def _lookup(keys: pa.Array, vocab: pa.Array) -> np.ndarray:
    """Position of each key in ``vocab`` (-1 if absent)."""
    return pc.index_in(keys, value_set=vocab).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def choose_groups(counts: pa.Table, policy: Policy, years: list[int]) -> CoreDefinition:
    """Pass 1 finalize: core groups and the comprehensive keys (SPEC 3.2, 4)."""
    w = year_weights(policy, years)
    W = np.array([w[y] for y in years])
    Y = len(years)
    t = counts.filter(pc.is_in(counts.column("year"),
                               value_set=pa.array(years, counts.schema.field("year").type)))
    yi = np.searchsorted(np.array(years), t.column("year").to_numpy())
    n = t.column("n").to_numpy()
    s = t.column("cost").to_numpy()
    mcode, mjoined, (m_dx, m_main) = _factorize([t.column("dx_key"), t.column("main")])
    fcode, fjoined, (f_dx, f_main, f_comb) = _factorize(
        [t.column("dx_key"), t.column("main"), t.column("combination")])
    m_n, m_s = _by_key_year(mcode, len(mjoined), yi, Y, n, s)
    f_n, f_s = _by_key_year(fcode, len(fjoined), yi, Y, n, s)
    m_total, f_total = m_n.sum(axis=1), f_n.sum(axis=1)
    m_mean = weighted_mean(m_s, m_n, W)
    f_mean = weighted_mean(f_s, f_n, W)

    threshold = policy.core_min_cases
    if policy.core_rule == "coverage":
        ns = np.sort(m_total)[::-1]
        if ns.size:
            cover = np.cumsum(ns) / ns.sum()
            threshold = int(ns[min(np.searchsorted(cover, policy.core_coverage), ns.size - 1)])
    core_main = m_total >= threshold
    # related procedures: a group of their own only with enough uplift over the cases of
    # the main procedure alone (all of the main procedure's cases when there are none)
    main_of = _lookup(_joined([f_dx, f_main]), mjoined)
    alone = _lookup(_joined([f_dx, f_main, f_main]), fjoined)
    has_alone = alone >= 0
    has_alone[has_alone] = f_total[alone[has_alone]] > 0
    base = np.where(has_alone, f_mean[np.maximum(alone, 0)], m_mean[main_of])
    candidate = (pc.not_equal(f_comb, f_main).to_numpy(zero_copy_only=False) & core_main[main_of]
                 & (f_total >= threshold))
    with np.errstate(invalid="ignore"):
        related = candidate & (f_mean >= (1.0 + policy.related_min_uplift) * base)
    mains = pa.table({"dx": m_dx, "main": m_main, "comb": m_main}).filter(pa.array(core_main))
    rel = pa.table({"dx": f_dx, "main": f_main, "comb": f_comb}).filter(pa.array(related))
    mains = mains.append_column("mean", pa.array(m_mean[core_main])) \
        .sort_by([("dx", "ascending"), ("main", "ascending")])
    rel = rel.append_column("mean", pa.array(f_mean[related])) \
        .sort_by([("dx", "ascending"), ("main", "ascending"), ("comb", "ascending")])
    core = pa.concat_tables([mains, rel])
    main = core.column("main").combine_chunks()
    _, rank = procedure_facts(main)
    rank = np.where(pc.equal(main, "").to_numpy(zero_copy_only=False), 0, rank)
    comb = core.column("comb").combine_chunks()
    dx = core.column("dx").combine_chunks()
    core_codes = pc.binary_join_element_wise(
        dx, pc.if_else(pc.equal(comb, ""), "conservative", comb), "|")
    # comprehensive keys: every observed (category, class) of the calibration years
    cat = t.column("cat").to_numpy().astype(np.int64)
    cls = t.column("tclass").to_numpy().astype(np.int64)
    ok = cat >= 0
    comp_ids, comp_code = np.unique(cat[ok] * 4 + cls[ok], return_inverse=True)
    c_n, c_s = _by_key_year(comp_code, len(comp_ids), yi[ok], Y, n[ok], s[ok])
    c_mean = weighted_mean(c_s, c_n, W)
    comp_cat = [category_code(k // 4) for k in comp_ids.tolist()]
    comp_cls = [CLASS_NAMES[k % 4] for k in comp_ids.tolist()]
    groups = pa.table({
        "group_code": pa.concat_arrays([core_codes, pa.array(
            [comprehensive_code(c, k) for c, k in zip(comp_cat, comp_cls)], pa.string())]),
        "kind": pa.array(["core"] * core.num_rows + ["comprehensive"] * len(comp_ids)),
        "dx_key": pa.concat_arrays([dx, pa.array(comp_cat, pa.string())]),
        "procedures": pa.concat_arrays([comb, pa.nulls(len(comp_ids), pa.string())]),
        "treatment_class": pa.concat_arrays([pa.array(np.array(CLASS_NAMES)[rank].tolist(), pa.string()),
                                             pa.array(comp_cls, pa.string())]),
        "mean_cost": np.concatenate([core.column("mean").to_numpy(), c_mean]) / 100.0,
    })
    return CoreDefinition(groups=_provisional_table(groups), years=years, threshold=threshold)


def _provisional_table(g: pa.Table) -> pa.Table:
    """The draft groups in the catalogue schema (statistics still empty)."""
    n = g.num_rows
    return pa.table({
        "group_code": g.column("group_code"), "kind": g.column("kind"),
        "basic": pa.array(np.zeros(n, bool)), "dx_key": g.column("dx_key"),
        "procedures": g.column("procedures"), "treatment_class": g.column("treatment_class"),
        "cases": pa.array(np.zeros(n, np.int64)),
        "cases_by_year": pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)),
                                                  pa.array([], pa.int64())),
        "mean_cost": g.column("mean_cost"),
        "mean_cost_level1": pa.nulls(n, pa.float64()), "mean_cost_level2": pa.nulls(n, pa.float64()),
        "mean_cost_level3": pa.nulls(n, pa.float64()), "cv": pa.nulls(n, pa.float64()),
        "score": pa.array(np.ones(n)),
        "subtypes": pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)),
                                             pa.array([], GROUP_SCHEMA.field("subtypes").type.value_type)),
    }).cast(GROUP_SCHEMA)


# ---------------------------------------------------------------------------------------------
# pass 2: assignments
# ---------------------------------------------------------------------------------------------
def assignments(f: Features, draft: Catalog, years: list[int]) -> dict[str, np.ndarray]:
    """Pass 2 partition kernel: each calibration case's group and the facts its statistics need."""
    use = in_years(f.year, years)
    yi = np.searchsorted(np.array(years), f.year).astype(np.int8)
    row = group_rows(f, draft, draft.policy)
    dip = use & (f.bed < 0)
    bed = use & (f.bed >= 0)
    return {
        "group": row[dip], "year": yi[dip], "level": f.level[dip], "cost": f.cost[dip],
        "slots": f.slots[dip],
        "bed_cat": f.bed[bed], "bed_year": yi[bed], "bed_cost": f.cost[bed],
        "bed_days": f.los[bed].astype(np.int64),
    }


def merge_assignments(parts: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = list(parts)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def build_catalog(draft: CoreDefinition, state: dict[str, np.ndarray], policy: Policy,
                  fingerprint: str, extra_warnings: list[str]) -> Catalog:
    """Pass 2 finalize: statistics, scores, coefficients, subtypes, bed-day rates."""
    warnings = list(extra_warnings)
    years = draft.years
    Y = len(years)
    w = year_weights(policy, years)
    W = np.array([w[y] for y in years])
    groups = draft.groups
    group = state["group"]
    year, level, cost, slots = state["year"], state["level"], state["cost"], state["slots"]
    # region-wide means (all DIP cases, untrimmed): M and M_L (SPEC 4)
    s_all, n_all = stats_by_year(np.zeros(year.shape[0], np.int8), year, cost, 1, Y)
    if n_all.sum() == 0:
        raise InputError("the history has no DIP cases in the calibration years")
    M = float(weighted_mean(s_all, n_all, W)[0])
    s_lv, n_lv = stats_by_year(level, year, cost, 4, Y)
    M_L = weighted_mean(s_lv, n_lv, W)

    # comprehensive keys below the threshold may merge into their category's catch-all
    kind = np.array(groups.column("kind").to_pylist())
    counts0 = count_by(group, groups.num_rows)
    codes = groups.column("group_code").to_pylist()
    dx_keys = groups.column("dx_key").to_pylist()
    if policy.comprehensive_small == "merge":
        small = (kind == "comprehensive") & (counts0 > 0) & (counts0 < policy.comprehensive_min_cases)
        if small.any():
            extra = {}
            remap = np.arange(groups.num_rows)
            for g in np.flatnonzero(small):
                cat = dx_keys[g]
                if cat not in extra:
                    extra[cat] = groups.num_rows + len(extra)
                remap[g] = extra[cat]
            remap = np.concatenate([remap, np.arange(groups.num_rows, groups.num_rows + len(extra))])
            catch = pa.table({f.name: pa.nulls(len(extra), f.type) for f in GROUP_SCHEMA})
            catch = catch.set_column(0, "group_code", pa.array([comprehensive_code(c, None) for c in extra]))
            catch = catch.set_column(1, "kind", pa.array(["comprehensive"] * len(extra)))
            catch = catch.set_column(2, "basic", pa.array([False] * len(extra)))
            catch = catch.set_column(3, "dx_key", pa.array(list(extra)))
            catch = catch.set_column(GROUP_SCHEMA.get_field_index("cases"), "cases", pa.array([0] * len(extra), pa.int64()))
            catch = catch.set_column(GROUP_SCHEMA.get_field_index("mean_cost"), "mean_cost", pa.array([0.0] * len(extra)))
            catch = catch.set_column(GROUP_SCHEMA.get_field_index("score"), "score", pa.array([0.0] * len(extra)))
            groups = pa.concat_tables([groups, catch.cast(GROUP_SCHEMA)])
            group = np.where(group >= 0, remap[np.maximum(group, 0)], -1).astype(np.int32)
            kind = np.array(groups.column("kind").to_pylist())
            codes = groups.column("group_code").to_pylist()
            dx_keys = groups.column("dx_key").to_pylist()
    G = groups.num_rows

    # sort grouped cases by (group, cost): the canonical order of every statistic below
    # (written over the state's arrays, which nothing reads again)
    g, y, lv, c, sl, bounds = sorted_by_group_cost(group, year, level, cost, slots, G,
                                                   overwrite=True)
    n_g = np.diff(bounds)
    keep = np.ones(g.size, bool)
    if policy.trim == "percentile":
        keep = percentile_keep(c, bounds, n_g >= policy.trim_min_cases, policy.trim_low,
                               policy.trim_high)
    st = group_stats(c, y, lv, keep, bounds, Y, W)
    cnt_year, mean_g, mean_gl, cv, primary = (st.cases_by_year, st.mean, st.level_mean,
                                              st.cv, st.primary)
    primary_share = primary / np.maximum(n_g, 1)

    if policy.score_base == "reference_group":
        if policy.reference_group not in codes:
            raise InputError(f"reference group {policy.reference_group!r} is not in the catalogue")
        base = mean_g[codes.index(policy.reference_group)]
    else:
        base = M
    score = round4(mean_g / base * policy.score_scale)
    basic = (kind == "core") & (cv <= policy.basic_max_cv) & (primary_share >= policy.basic_min_primary_share)
    basic |= np.isin(np.array(codes, dtype=object), policy.basic_groups)

    subtypes = _subtypes(g, y, c, sl, n_g, G, Y, W, policy)

    present = n_g > 0
    if (~present & (kind == "core")).any():
        warnings.append(f"{int((~present & (kind == 'core')).sum())} core keys lost all their "
                        "cases to higher-priority groups and were dropped")
    lvl_cols = {}
    for L in (1, 2, 3):
        m = mean_gl[:, L] / 100.0
        lvl_cols[f"mean_cost_level{L}"] = pa.array(np.where(np.isnan(m), None, m).tolist(), pa.float64())
    out = pa.table({
        "group_code": codes, "kind": kind.tolist(), "basic": basic.tolist(), "dx_key": dx_keys,
        "procedures": groups.column("procedures"), "treatment_class": groups.column("treatment_class"),
        "cases": n_g.astype(np.int64), "cases_by_year": pa.array(cnt_year.astype(np.int64).tolist(), pa.list_(pa.int64())),
        "mean_cost": mean_g / 100.0, **lvl_cols,
        "cv": pa.array(np.where(np.isnan(cv), None, cv).tolist(), pa.float64()),
        "score": score, "subtypes": subtypes,
    }).cast(GROUP_SCHEMA)
    out = out.filter(pa.array(present)).sort_by("group_code")

    # hospital level coefficients and bed-day rates (SPEC 4)
    level_coef = level_coefficients(M, M_L, policy, warnings)
    rates = bed_day_rates(state, M, Y, W, policy, policy.score_scale, warnings)
    return Catalog(groups=out, mean_cost=M / 100.0, level_coefficients=level_coef,
                   bed_day_rates=rates, years=years, policy=policy, fingerprint=fingerprint,
                   version=__version__, warnings=warnings)


_SUBTYPE_TYPE = GROUP_SCHEMA.field("subtypes").type
#: Position of each subtype slot when its codes are sorted (a group lists them by code).
_CODE_RANK = np.argsort(np.argsort(np.array(SUBTYPE_CODES)))


def _subtypes(g, y, c, sl, n_g, G, Y, W, policy) -> pa.Array:
    """Auxiliary subtypes per group (SPEC 4): one dimension at a time.

    Returns the ``subtypes`` column: per group a list of {code, cases, coefficient},
    ordered by code.
    """
    groups, slots, cases, coefs = [], [], [], []
    eligible = n_g >= policy.aux_min_group_cases
    if eligible.any() and policy.aux_dimensions:
        cv_all, _ = cv_of(g, c, G)
        s_all, k_all = stats_by_year(g, y, c, G, Y)
        mean_all = weighted_mean(s_all, k_all, W)
        dims = {"cci": 0, "age": 1, "death": 2, "icu": 3}
        n_slots = len(SUBTYPE_CODES)
        for dim in policy.aux_dimensions:
            # cells: group x (slot + 1), cell 0 outside every subtype. The arrays are sorted
            # by (group, cost): within each cell the costs come in ascending order whatever
            # the input order (equal costs are equal values), so the float sums below do
            # not depend on the partitioning
            cv_cell, n_cell, s_cell, k_cell = cell_stats(g, sl[:, dims[dim]], G, n_slots, y, Y, c)
            cv_cell = cv_cell.reshape(G, n_slots + 1)
            n_cell = n_cell.reshape(G, n_slots + 1)
            usable = n_cell >= 2
            with np.errstate(invalid="ignore", divide="ignore"):
                wcv = np.where(usable, cv_cell * n_cell, 0).sum(1) / np.where(usable, n_cell, 0).sum(1)
                reduction = 1.0 - wcv / cv_all
            split = eligible & (reduction >= policy.aux_min_cv_reduction) & (cv_all > 0)
            if not split.any():
                continue
            mean_cell = weighted_mean(s_cell.astype(np.float64), k_cell.astype(np.float64),
                                      W).reshape(G, n_slots + 1)[:, 1:]
            made = split[:, None] & (n_cell[:, 1:] >= policy.aux_min_subtype_cases)
            with np.errstate(invalid="ignore", divide="ignore"):
                coef = round4(mean_cell / mean_all[:, None])
            gi, slot = np.nonzero(made)
            groups.append(gi)
            slots.append(slot)
            cases.append(n_cell[gi, slot + 1].astype(np.int64))
            coefs.append(coef[gi, slot])
    gi = np.concatenate(groups) if groups else np.zeros(0, np.int64)
    slot = np.concatenate(slots) if slots else np.zeros(0, np.int64)
    order = np.lexsort((_CODE_RANK[slot], gi))
    gi, slot = gi[order], slot[order]
    offsets = np.zeros(G + 1, np.int32)
    np.cumsum(np.bincount(gi, minlength=G), out=offsets[1:])
    values = pa.StructArray.from_arrays(
        [pa.array(np.array(SUBTYPE_CODES, dtype=object)[slot].tolist(), pa.string()),
         pa.array(np.concatenate(cases)[order] if cases else np.zeros(0, np.int64)),
         pa.array(np.concatenate(coefs)[order] if coefs else np.zeros(0))],
        fields=list(_SUBTYPE_TYPE.value_type))
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=_SUBTYPE_TYPE)
