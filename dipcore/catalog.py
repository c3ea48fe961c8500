"""The catalogue (目录库): disease groups with their scores, and the lookup the kernels use.

A catalogue is a Parquet file: one row per group (``GROUP_SCHEMA``) and, in the file's
key-value metadata, the all-case mean cost M, the level coefficients, the bed-day rates,
the budget point values, the calibration years, the policy it was built with (canonical
JSON), a fingerprint of its input and the dipcore version. The same input and policy give
a byte-identical file. ``Catalog.load`` also reads an official catalogue given as CSV.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore._kernels.group import CONSERVATIVE, DIAGNOSTIC, SURGERY, THERAPEUTIC
from dipcore._version import __version__
from dipcore.errors import InputError
from dipcore.reports.files import atomic_path
from dipcore.policy import Policy
from dipcore.ingest.codebook import packed_categories
from dipcore.schemes.dip.features import CLASS_NAMES, N_CATEGORIES, SUBTYPE_CODES

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

_CLASS_RANK = {name: i for i, name in enumerate(CLASS_NAMES)}


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
        rank = np.array([_CLASS_RANK.get(c, 0) if c is not None else -1
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


@dataclass
class Catalog:
    """Disease groups with scores, plus the region-wide numbers settlement needs.

    Attributes
    ----------
    groups : pyarrow.Table
        One row per group (:data:`GROUP_SCHEMA`).
    mean_cost : float
        M, the year-weighted all-case mean cost (yuan) of DIP cases.
    level_coefficients : dict
        Hospital level coefficient by level (``{1: k1, 2: k2, 3: k3}``).
    bed_day_rates : dict
        Points per day by bed-day category.
    budget_point_value : dict
        Budget point value by pool (yuan per point), for monthly prepayment.
    years : list of int
        Calibration years, oldest first.
    policy : Policy
        The policy the catalogue was built with.
    fingerprint : str
        Fingerprint of the calibration input (order-independent).
    version : str
        dipcore version that built it.
    """

    groups: pa.Table
    mean_cost: float
    level_coefficients: dict[int, float]
    bed_day_rates: dict[str, float]
    budget_point_value: dict[str, float] = field(default_factory=dict)
    years: list[int] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    fingerprint: str = ""
    version: str = __version__
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def index(self) -> GroupIndex:
        return GroupIndex.build(self.groups, self.policy)

    def _metadata(self) -> dict[bytes, bytes]:
        meta = {
            "dipcore.version": self.version,
            "dipcore.mean_cost": repr(float(self.mean_cost)),
            "dipcore.level_coefficients": json.dumps({str(k): v for k, v in sorted(self.level_coefficients.items())}),
            "dipcore.bed_day_rates": json.dumps(dict(sorted(self.bed_day_rates.items()))),
            "dipcore.budget_point_value": json.dumps(dict(sorted(self.budget_point_value.items()))),
            "dipcore.years": json.dumps(self.years),
            "dipcore.policy": self.policy.to_json(),
            "dipcore.fingerprint": self.fingerprint,
            "dipcore.warnings": json.dumps(self.warnings, ensure_ascii=False),
        }
        return {k.encode(): v.encode() for k, v in meta.items()}

    def save(self, path: str | os.PathLike) -> None:
        """Write the catalogue as Parquet (atomically: temporary name, then rename)."""
        table = self.groups.cast(GROUP_SCHEMA).replace_schema_metadata(self._metadata())
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mean_cost: float | None = None,
             level_coefficients: dict | None = None, bed_day_rates: dict | None = None,
             policy: Policy | None = None) -> "Catalog":
        """Read a catalogue: dipcore Parquet, or an official catalogue as CSV.

        A CSV catalogue has columns ``group_code``, ``dx_key`` (diagnosis), ``procedures``
        (combination joined by ``+``; empty for conservative) and ``score``; optional
        ``kind`` (core/comprehensive/basic), ``treatment_class``, ``mean_cost`` and
        ``mean_cost_level1..3``. Its region-wide numbers come from the keyword arguments or
        from a JSON file next to it with the same name (``catalog.json``).
        """
        path = Path(path)
        if not path.exists():
            raise InputError("no such catalogue file", source=str(path))
        if path.suffix.lower() == ".csv":
            return _load_csv(path, mean_cost, level_coefficients, bed_day_rates, policy)
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"not a readable catalogue ({str(exc).splitlines()[0]})",
                             source=str(path)) from None
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if "dipcore.mean_cost" not in meta:
            raise InputError("not a dipcore catalogue (no dipcore metadata)", source=str(path))
        missing = [f.name for f in GROUP_SCHEMA if f.name not in table.column_names]
        if missing:
            raise InputError(f"catalogue lacks columns {missing}", source=str(path))
        return cls(
            groups=table.replace_schema_metadata(None).select(GROUP_SCHEMA.names).cast(GROUP_SCHEMA),
            mean_cost=float(meta["dipcore.mean_cost"]),
            level_coefficients={int(k): v for k, v in json.loads(meta["dipcore.level_coefficients"]).items()},
            bed_day_rates=json.loads(meta["dipcore.bed_day_rates"]),
            budget_point_value=json.loads(meta.get("dipcore.budget_point_value", "{}")),
            years=json.loads(meta.get("dipcore.years", "[]")),
            policy=Policy.from_dict(json.loads(meta["dipcore.policy"]), source=str(path)),
            fingerprint=meta.get("dipcore.fingerprint", ""),
            version=meta.get("dipcore.version", ""),
            warnings=json.loads(meta.get("dipcore.warnings", "[]")),
        )


def _load_csv(path: Path, mean_cost, level_coefficients, bed_day_rates, policy) -> Catalog:
    sidecar = path.with_suffix(".json")
    side: dict[str, Any] = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    mean_cost = mean_cost if mean_cost is not None else side.get("mean_cost")
    if mean_cost is None:
        raise InputError("a CSV catalogue needs the all-case mean cost M (mean_cost=..., or "
                         f"\"mean_cost\" in {sidecar.name})", source=str(path))
    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"group_code": pa.string(), "dx_key": pa.string(),
                          "procedures": pa.string(), "kind": pa.string(),
                          "treatment_class": pa.string()},
            strings_can_be_null=False))
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a readable CSV catalogue ({str(exc).splitlines()[0]})",
                         source=str(path)) from None
    for col in ("group_code", "dx_key", "procedures", "score"):
        if col not in t.column_names:
            raise InputError("CSV catalogue lacks a required column", source=str(path), column=col)
    n = t.num_rows
    from dipcore.schemes.dip.features import treatment_class
    get = lambda c, default: t.column(c).to_pylist() if c in t.column_names else [default] * n  # noqa: E731
    score = np.asarray(t.column("score").cast(pa.float64()))
    kinds = get("kind", "core")
    dx = [str(d).strip().upper() for d in get("dx_key", "")]
    procs = [str(p or "").strip() for p in get("procedures", "")]
    classes = get("treatment_class", None)
    out_kind, basic, tclass = [], [], []
    for i in range(n):
        k = (kinds[i] or "core").strip().lower()
        if k not in ("core", "comprehensive", "basic"):
            raise InputError(f"kind must be core, comprehensive or basic, not {k!r}",
                             source=str(path), row=i + 1, column="kind")
        out_kind.append("comprehensive" if k == "comprehensive" else "core")
        basic.append(k == "basic")
        cls_name = (classes[i] or "").strip().lower() or None
        if cls_name is None and k != "comprehensive":
            cls_name = treatment_class(procs[i].split("+")[0])
        tclass.append(cls_name)
    means = get("mean_cost", None)
    mean = np.array([m if m is not None else s * mean_cost / (policy or Policy()).score_scale
                     for m, s in zip(means, score)], dtype=float)
    cols = {"mean_cost_level1": get("mean_cost_level1", None),
            "mean_cost_level2": get("mean_cost_level2", None),
            "mean_cost_level3": get("mean_cost_level3", None)}
    groups = pa.table({
        "group_code": get("group_code", ""), "kind": out_kind, "basic": basic, "dx_key": dx,
        "procedures": [p if k == "core" else None for p, k in zip(procs, out_kind)],
        "treatment_class": tclass, "cases": [0] * n, "cases_by_year": [[]] * n,
        "mean_cost": mean, **{k: pa.array(v, pa.float64()) for k, v in cols.items()},
        "cv": pa.nulls(n, pa.float64()), "score": score, "subtypes": [[]] * n,
    }).cast(GROUP_SCHEMA)
    levels = level_coefficients or side.get("level_coefficients") or {1: 1.0, 2: 1.0, 3: 1.0}
    return Catalog(groups=groups, mean_cost=float(mean_cost),
                   level_coefficients={int(k): float(v) for k, v in levels.items()},
                   bed_day_rates=bed_day_rates or side.get("bed_day_rates") or {},
                   budget_point_value=side.get("budget_point_value") or {},
                   policy=policy or Policy(), fingerprint="official:" + path.name,
                   version="official")
