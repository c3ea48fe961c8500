"""The DIP group table of a catalogue (SPEC.md sections 3.2 and 4) and its kernel lookup.

One row per group (:data:`GROUP_SCHEMA`): core groups keyed by diagnosis key and procedure
combination, comprehensive groups by diagnosis category and treatment class, with scores,
per-level means, CV and auxiliary subtypes. :class:`GroupIndex` turns the table into the
integer structures the grouping and points kernels read.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels.group import CONSERVATIVE, DIAGNOSTIC, SURGERY, THERAPEUTIC
from dipcore.coding.facts import CLASS_RANK, N_CATEGORIES, packed_categories
from dipcore.policy import Policy
from dipcore.schemes.dip.features import SUBTYPE_CODES

SUBTYPE_TYPE = pa.struct([("code", pa.string()), ("cases", pa.int64()),
                          ("coefficient", pa.float64())])

GROUP_SCHEMA = pa.schema([
    pa.field("group_code", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),          # core | comprehensive
    pa.field("basic", pa.bool_(), nullable=False),
    pa.field("dx_key", pa.string(), nullable=False),        # K35.9 (core) or K35
    pa.field("procedures", pa.string()),                    # '+'-joined; '' conservative; null: any
    pa.field("treatment_class", pa.string()),               # conservative/diagnostic/therapeutic/surgery; null: catch-all
    pa.field("cases", pa.int64(), nullable=False),
    pa.field("cases_by_year", pa.list_(pa.int64())),
    pa.field("mean_cost", pa.float64(), nullable=False),    # yuan, year-weighted, trimmed
    pa.field("mean_cost_level1", pa.float64()),
    pa.field("mean_cost_level2", pa.float64()),
    pa.field("mean_cost_level3", pa.float64()),
    pa.field("cv", pa.float64()),
    pa.field("score", pa.float64(), nullable=False),        # RW, 4 decimals
    pa.field("subtypes", pa.list_(SUBTYPE_TYPE)),
])

def comprehensive_code(category: str, treatment_class: str | None) -> str:
    return f"{category}|{treatment_class or '*'}"


def group_tiers(policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Priority tier (lower wins) of core and comprehensive groups by treatment class."""
    core = np.empty(4, np.int32)
    comp = np.empty(4, np.int32)
    if policy.group_priority == "core_first":
        order = [("core", SURGERY), ("core", THERAPEUTIC), ("core", DIAGNOSTIC),
                 ("core", CONSERVATIVE), ("comp", SURGERY), ("comp", THERAPEUTIC),
                 ("comp", DIAGNOSTIC), ("comp", CONSERVATIVE)]
    else:  # operative comprehensive groups before conservative core groups
        order = [("core", SURGERY), ("core", THERAPEUTIC), ("core", DIAGNOSTIC),
                 ("comp", SURGERY), ("core", CONSERVATIVE), ("comp", THERAPEUTIC),
                 ("comp", DIAGNOSTIC), ("comp", CONSERVATIVE)]
    for tier, (kind, cls) in enumerate(order):
        (core if kind == "core" else comp)[cls] = tier
    return core, comp


@dataclass
class GroupIndex:
    """Integer lookup structures of a catalogue for the grouping and points kernels.

    The grouping kernel works in *positions*: core groups first, contiguous per diagnosis
    key, then the other groups. ``perm[position]`` is the catalogue row; per-row arrays
    (``basic``, ``level_mean``, ``aux``, ``score``) are indexed by row.
    """

    dx_vocab: pa.Array          # sorted core diagnosis keys
    proc_vocab: pa.Array        # sorted procedure codes of core groups
    dx_start: np.ndarray        # first position of each diagnosis key's core groups
    dx_count: np.ndarray
    g_off: np.ndarray           # CSR of procedure ids per position (empty if none)
    g_procs: np.ndarray
    g_tier: np.ndarray
    g_mean: np.ndarray          # fen, by position
    g_score: np.ndarray         # by position
    comp_group: np.ndarray      # [N_CATEGORIES, 4] position of the comprehensive group
    comp_all: np.ndarray        # [N_CATEGORIES] position of the catch-all
    cat_known: np.ndarray       # [N_CATEGORIES] bool
    comp_tier: np.ndarray       # [4]
    perm: np.ndarray            # position -> row
    score: np.ndarray           # by row
    basic: np.ndarray           # bool, by row
    level_mean: np.ndarray      # float64[G, 4] fen by level (1..3; 0 = all levels), by row
    aux: np.ndarray             # float64[G, len(SUBTYPE_CODES)], 0 where no subtype, by row

    @classmethod
    def build(cls, groups: pa.Table, policy: Policy) -> "GroupIndex":
        G = groups.num_rows
        col = lambda name: groups.column(name).combine_chunks()  # noqa: E731
        is_core = pc.equal(col("kind"), "core").to_numpy(zero_copy_only=False)
        dx = col("dx_key")
        core_rows = np.flatnonzero(is_core)
        core_dx = dx.take(pa.array(core_rows))
        dx_vocab = pc.unique(core_dx).sort() if len(core_rows) else pa.array([], pa.string())
        # positions: core groups by (diagnosis key, row), then the other groups
        dx_id = pc.index_in(core_dx, value_set=dx_vocab).to_numpy(zero_copy_only=False).astype(np.int64)
        core_order = np.lexsort((core_rows, dx_id))
        perm = np.concatenate([core_rows[core_order], np.flatnonzero(~is_core)]).astype(np.int32)
        n_core = len(core_rows)
        dx_count = np.bincount(dx_id, minlength=len(dx_vocab)).astype(np.int32)
        dx_start = (np.cumsum(dx_count) - dx_count).astype(np.int32)
        # procedures of the core groups by position ('+'-joined; '' is conservative), as ids
        # in a sorted vocabulary
        lists = pc.split_pattern(col("procedures").take(pa.array(perm[:n_core])).fill_null(""), "+")
        flat = pc.list_flatten(lists)
        real = pc.not_equal(flat, "")
        codes = pc.filter(flat, real)
        proc_vocab = pc.unique(codes).sort() if len(codes) else pa.array([], pa.string())
        g_procs = pc.index_in(codes, value_set=proc_vocab).to_numpy(zero_copy_only=False).astype(np.int32)
        parent = pc.filter(pc.list_parent_indices(lists), real).to_numpy(zero_copy_only=False)
        g_off = np.zeros(G + 1, np.int32)
        np.cumsum(np.bincount(parent, minlength=n_core), out=g_off[1:n_core + 1])
        g_off[n_core + 1:] = g_off[n_core]
        core_tier, comp_tier = group_tiers(policy)
        rank = np.array([CLASS_RANK.get(c, 0) if c is not None else -1
                         for c in col("treatment_class").to_pylist()], np.int64)
        g_tier = np.zeros(G, np.int32)
        g_tier[:n_core] = core_tier[rank[perm[:n_core]]]
        # comprehensive groups by (category, class); a null class is the category's catch-all
        cats = packed_categories(dx)
        cat_known = np.zeros(N_CATEGORIES, bool)
        cat_known[cats[cats >= 0]] = True
        comp_group = np.full((N_CATEGORIES, 4), -1, np.int32)
        comp_all = np.full(N_CATEGORIES, -1, np.int32)
        for pos in range(n_core, G):
            g = perm[pos]
            c = cats[g]
            if c < 0:
                continue
            if rank[g] < 0:
                comp_all[c] = pos
            else:
                comp_group[c, rank[g]] = pos
        mean = groups.column("mean_cost").to_numpy() * 100.0
        score = groups.column("score").to_numpy()
        level_mean = np.empty((G, 4))
        level_mean[:, 0] = mean
        for lv in (1, 2, 3):
            m = groups.column(f"mean_cost_level{lv}").fill_null(np.nan).to_numpy() * 100.0
            level_mean[:, lv] = np.where(np.isnan(m), mean, m)
        aux = np.zeros((G, len(SUBTYPE_CODES)))
        subs = col("subtypes")
        if len(subs) and len(subs.values):
            owner = np.repeat(np.arange(G), np.diff(np.asarray(subs.fill_null([]).offsets)))
            code = pc.index_in(subs.values.field("code"), value_set=pa.array(SUBTYPE_CODES)) \
                .to_numpy(zero_copy_only=False).astype(np.int64)
            aux[owner, code] = subs.values.field("coefficient").to_numpy(zero_copy_only=False)
        return cls(
            dx_vocab=dx_vocab.cast(pa.string()), proc_vocab=proc_vocab.cast(pa.string()),
            dx_start=dx_start, dx_count=dx_count, g_off=g_off, g_procs=g_procs.astype(np.int32),
            g_tier=g_tier, g_mean=mean[perm], g_score=score[perm], comp_group=comp_group,
            comp_all=comp_all, cat_known=cat_known, comp_tier=comp_tier, perm=perm, score=score,
            basic=groups.column("basic").to_numpy(zero_copy_only=False), level_mean=level_mean,
            aux=aux)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Catalogue rows of kernel positions (-1 stays -1)."""
        return np.where(positions >= 0, self.perm[np.maximum(positions, 0)], -1).astype(np.int32)
