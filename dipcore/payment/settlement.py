"""Settlement and clearing (SPEC.md sections 6 and 7).

Partition kernel (``settle_batch``): prepared cases are scored (``scoring.score_batch``);
the batch yields its case-level table and exact int64 partial sums per (hospital, pool) and
per (hospital, pool, month). Merge: concatenate and sum (Arrow hash aggregation of int64:
exact). Finalize (``finalize``): point value per pool, statements, monthly prepayments.

Money is integer fen throughout; each amount states its rounding:

* ``fund_base`` (D_h x f) is the pool budget allocated over hospitals in proportion to their
  points by largest remainder (``allocation = "exact"``): it adds up to the budget to the fen
  in floating mode. ``dip_amount`` (D_h) is allocated the same way from the pool's total.
* appraisal adjustments, sharing and clawbacks are rounded half away from zero to the fen.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore.catalog import Catalog
from dipcore.errors import InputError
from dipcore.reports.files import atomic_path
from dipcore.policy import CALIBRATION_FIELDS, Policy
from dipcore.schemes.dip.features import CLASS_NAMES, SUBTYPE_CODES, Features
from dipcore.schema import POOLS, money_array, points_array
from dipcore.payment.points import OUTLIER_NAMES, UNGROUPED_REASONS, Scored
from dipcore.ingest.validate import CheckedBatch

#: int64 partial sums kept per (hospital, pool).
HOSPITAL_SUMS = P.HOSPITAL_SUMS
_SEP = "\x1f"
_POOL_NAMES = pa.array(list(POOLS))


def _fen(amount) -> int:
    """Yuan (number or text) -> fen, half away from zero."""
    d = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(d * 100)


def _round_fen(x: Fraction | float) -> int:
    """A fen amount (possibly fractional) -> whole fen, half away from zero."""
    fr = Fraction(x)
    return _round_ratio(fr.numerator, fr.denominator)


def _round_ratio(num: int, den: int) -> int:
    """``num / den`` (``den > 0``) rounded to an integer, half away from zero, exactly."""
    q = (2 * abs(num) + den) // (2 * den)
    return -q if num < 0 else q


def allocate(total: int, weights: list[int], keys: list[str]) -> list[int]:
    """Split ``total`` fen in proportion to integer ``weights`` by largest remainder.

    The parts add up to ``total`` exactly; ties in the remainder go to the smaller key, so
    the result does not depend on the order of the inputs.
    """
    W = sum(weights)
    if W == 0:
        return [0] * len(weights)
    q = [total * w // W for w in weights]
    r = [total * w % W for w in weights]
    rest = total - sum(q)
    for i in sorted(range(len(weights)), key=lambda i: (-r[i], keys[i]))[:rest]:
        q[i] += 1
    return q


# ---------------------------------------------------------------------------------------------
# partition kernel
# ---------------------------------------------------------------------------------------------
_GROUP_KINDS = pa.array(["core", "comprehensive", "basic", "bed_day", "ungrouped", "special"])
_CLASS_LABELS = pa.array(list(CLASS_NAMES))
_OUTLIER_LABELS = pa.array(list(OUTLIER_NAMES))
_REASON_LABELS = pa.array(list(UNGROUPED_REASONS))
_AUX_LABELS = pa.array([""] + list(SUBTYPE_CODES))


def _labels(labels: pa.Array, codes: np.ndarray) -> pa.Array:
    return labels.take(pa.array(np.asarray(codes).astype(np.int32, copy=False)))


def _row_kinds(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Per catalogue row: 1 for a comprehensive group (else core), and the basic flag;
    made once per catalogue."""
    cached = catalog.__dict__.get("_row_kinds")
    if cached is None:
        g = catalog.groups
        comprehensive = pc.equal(g.column("kind"), "comprehensive").to_numpy(zero_copy_only=False)
        basic = g.column("basic").to_numpy(zero_copy_only=False)
        cached = catalog.__dict__["_row_kinds"] = (
            comprehensive.astype(np.int8) if g.num_rows else np.zeros(1, np.int8),
            basic if g.num_rows else np.zeros(1, bool))
    return cached


def case_table(b: CheckedBatch, f: Features, s: Scored, catalog: Catalog) -> pa.Table:
    """The per-case explanation of points (``result.cases``)."""
    g = catalog.groups
    has = s.row >= 0
    safe = np.maximum(s.row, 0)
    rows = pa.array(s.row, mask=~has)
    kind_of_row, basic = _row_kinds(catalog)
    kind = np.where(s.kind == P.SPECIAL, 5, np.where(
        s.kind == P.BED_DAY, 3, np.where(s.kind == P.UNGROUPED, 4, np.where(
            basic[safe], 2, kind_of_row[safe]))))
    return pa.table({
        "case_id": b.case_id,
        "hospital_id": b.hospital_id(),
        "pool": b.pool_names(),
        "hospital_level": pa.array(b.level),
        "discharge_date": pa.array(b.discharge, pa.int32()).cast(pa.date32()),
        "group_code": g.column("group_code").take(rows),
        "group_kind": _labels(_GROUP_KINDS, kind),
        "treatment_class": g.column("treatment_class").take(rows),
        "case_class": _labels(_CLASS_LABELS, f.treatment_class),
        "combination": f.grouping.combination_strings().take(pa.array(f.comb)),
        "los": pa.array(f.los),
        "cci": pa.array(f.cci),
        "aux_code": _labels(_AUX_LABELS, s.aux_slot.astype(np.int32) + 1),
        "aux_coefficient": pa.array(s.a),
        "level_coefficient": pa.array(s.k),
        "score": pa.array(s.rw),
        "base_cost": pa.array(s.base / 100.0, mask=s.kind != P.DIP),
        "ratio": pa.array(s.ratio, mask=s.kind != P.DIP),
        "outlier": _labels(_OUTLIER_LABELS, s.outlier),
        "ungrouped_reason": _labels(_REASON_LABELS, s.reason),
        "bed_day_category": b.bed_names(),
        "total_cost": money_array(b.cost),
        "fund_paid": money_array(b.fund),
        "points": points_array(s.units),
    })


def hospital_sums(codes: np.ndarray, n_codes: int, f: Features, s: Scored) -> np.ndarray:
    """The ``HOSPITAL_SUMS`` of the cases by code: int64 [n_codes, 16].

    Statements (here) and supervision (``dipcore.audit``) both sum these, so a CMI, an
    outlier share or an operation rate means the same in both.
    """
    return P.hospital_sums(codes, n_codes, s.kind, s.outlier, s.units, s.rw, f.cost, f.fund,
                           f.los, f.way, f.treatment_class)


def hospital_keys(b: CheckedBatch, present: np.ndarray) -> pa.Array:
    """``hospital_id + SEP + pool`` of packed keys ``hospital * 2 + pool`` (the partial
    states' key: strings, so partials of any thread or worker merge)."""
    names = b.codebook.hospital.canon.take(present // 2)
    return pc.binary_join_element_wise(names, _POOL_NAMES.take(pa.array(present % 2)), _SEP)


def partial_sums(b: CheckedBatch, f: Features, s: Scored) -> tuple[pa.Table, pa.Table]:
    """Exact int64 sums per (hospital, pool) and per (hospital, pool, month)."""
    n = f.n
    codes = f.hospital.astype(np.int64) * 2 + f.pool
    K = int(codes.max()) + 1 if n else 0
    sums = hospital_sums(codes, K, f, s)
    present = np.flatnonzero(sums[:, 0])
    hosp = pa.table({"key": hospital_keys(b, present),
                     **{name: sums[present, j] for j, name in enumerate(HOSPITAL_SUMS)}})
    mkey = codes * 12 + (f.month.astype(np.int64) - 1)
    msums = sum_by(mkey, K * 12, np.stack([s.units, np.ones(n, np.int64)], axis=1))
    nz = np.flatnonzero(msums[:, 1])
    monthly = pa.table({"key": hospital_keys(b, nz // 12),
                        "month": pa.array((nz % 12 + 1).astype(np.int8)),
                        "points": msums[nz, 0], "cases": msums[nz, 1]})
    return hosp, monthly


def merge_sums(parts: Iterable[pa.Table], keys: list[str]) -> pa.Table:
    t = pa.concat_tables(list(parts))
    values = [c for c in t.column_names if c not in keys]
    out = t.group_by(keys).aggregate([(c, "sum") for c in values])
    return out.rename_columns([c[:-4] if c.endswith("_sum") else c for c in out.column_names]) \
        .sort_by([(k, "ascending") for k in keys])


# ---------------------------------------------------------------------------------------------
# finalize
# ---------------------------------------------------------------------------------------------
@dataclass
class Settlement:
    """Result of :func:`dipcore.settle`.

    Attributes
    ----------
    point_value : dict
        Settlement point value per pool (yuan of total cost per point).
    pools : pyarrow.Table
        Per pool: budget, points, fund ratio, point values, totals.
    hospitals : pyarrow.Table
        Per (hospital, pool) statement, line by line (SPEC 7).
    monthly : pyarrow.Table
        Monthly prepayment per (hospital, pool, month).
    cases : pyarrow.Table
        Per case: everything that explains its points.
    warnings : list of str
    """

    point_value: dict[str, float]
    pools: pa.Table
    hospitals: pa.Table
    monthly: pa.Table
    cases_table: pa.Table | None = None
    warnings: list[str] = field(default_factory=list)
    quarantine: pa.Table | None = None
    #: Where the per-case table was streamed to (``settle(out=...)``), if it was.
    cases_path: Path | None = None
    cases_count: int = 0

    @property
    def cases(self) -> pa.Table:
        """Per-case results; read (memory-mapped) from ``cases_path`` when streamed there."""
        if self.cases_table is None and self.cases_path is not None:
            self.cases_table = pq.read_table(self.cases_path, memory_map=True)
        return self.cases_table

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``cases.parquet``, ``hospitals.parquet``/``.csv``, ``monthly.csv``,
        ``pools.csv``, ``quarantine.csv`` and ``summary.json`` (each atomically)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        target = d / "cases.parquet"
        if self.cases_path is None or target.resolve() != Path(self.cases_path).resolve():
            with atomic_path(target) as tmp:
                pq.write_table(self.cases, tmp, compression="zstd")
        with atomic_path(d / "hospitals.parquet") as tmp:
            pq.write_table(self.hospitals, tmp)
        for name, table in (("hospitals", self.hospitals), ("monthly", self.monthly),
                            ("pools", self.pools)):
            with atomic_path(d / f"{name}.csv") as tmp:
                pacsv.write_csv(table, tmp)
        if self.quarantine is not None:
            with atomic_path(d / "quarantine.csv") as tmp:
                pacsv.write_csv(self.quarantine, tmp)
        summary = {"point_value": self.point_value, "warnings": self.warnings,
                   "pools": self.pools.to_pylist()}
        with atomic_path(d / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str),
                                 encoding="utf-8")


def _by_hospital(table: pa.Table | None, value: str, what: str, warnings: list[str],
                 known: set[tuple[str, str]]) -> dict[tuple[str, str | None], Any]:
    """Read an input table keyed by hospital (and optionally pool)."""
    if table is None:
        return {}
    cols = table.column_names
    if "hospital_id" not in cols or value not in cols:
        raise InputError(f"the {what} table needs columns hospital_id and {value}",
                         source=what)
    pools = table.column("pool").to_pylist() if "pool" in cols else [None] * table.num_rows
    out: dict = {}
    hospitals = {h for h, _ in known}
    for i, (h, p, v) in enumerate(zip(table.column("hospital_id").to_pylist(), pools,
                                      table.column(value).to_pylist())):
        if v is None:
            raise InputError(f"empty {value}", source=what, row=i + 1, column=value)
        h = str(h).strip()
        if h not in hospitals:
            warnings.append(f"{what}: hospital {h} has no cases in this settlement")
        out[(h, p.strip() if isinstance(p, str) and p.strip() else None)] = v
    return out


def _lookup(table: dict, hospital: str, pool: str, default):
    return table.get((hospital, pool), table.get((hospital, None), default))


def finalize(hospital_sums: pa.Table, monthly_sums: pa.Table, cases: pa.Table | None,
             catalog: Catalog, policy: Policy, budget: dict[str, Any],
             appraisal: pa.Table | None = None, deductions: pa.Table | None = None,
             prepaid: pa.Table | None = None, warnings: list[str] | None = None) -> Settlement:
    """Point values, statements and the monthly prepayment table (SPEC 6, 7)."""
    warnings = list(warnings or [])
    keys = hospital_sums.column("key").to_pylist()
    hosp = [k.split(_SEP)[0] for k in keys]
    pool = [k.split(_SEP)[1] for k in keys]
    sums = {c: hospital_sums.column(c).to_pylist() for c in HOSPITAL_SUMS}
    budget_fen = {}
    for p in sorted(set(pool)):
        if p not in budget:
            raise InputError(f"pool '{p}' has cases but no budget (give --budget {p}=...)")
    for p, amount in budget.items():
        try:
            budget_fen[p] = _fen(amount)
        except Exception:
            raise InputError(f"budget of pool '{p}' is not a number: {amount!r}") from None
        if budget_fen[p] < 0:
            raise InputError(f"budget of pool '{p}' is negative")
    known = set(zip(hosp, pool))
    coef = _by_hospital(appraisal, "coefficient", "appraisal", warnings, known)
    ded = _by_hospital(deductions, "amount", "deductions", warnings, known)
    pre = _by_hospital(prepaid, "amount", "prepaid", warnings, known)
    adv = _by_hospital(prepaid, "advance", "prepaid", warnings, known) \
        if prepaid is not None and "advance" in prepaid.column_names else {}

    pool_rows, pv = [], {}
    pool_info: dict[str, dict] = {}
    for p in sorted(set(pool)):
        idx = [i for i in range(len(keys)) if pool[i] == p]
        units = sum(sums["points"][i] for i in idx)
        cost = sum(sums["cost"][i] for i in idx)
        fund = sum(sums["fund"][i] for i in idx)
        f = Fraction(fund, cost) if cost else Fraction(0)
        B = budget_fen[p]
        total_points = Fraction(units, P.UNITS)
        dip_total = Fraction(B) / f if f else Fraction(0)           # B / f, in fen
        if policy.pv_mode == "floating":
            value = dip_total / total_points / 100 if total_points else Fraction(0)
            base_pv = float_pv = value
        else:
            fixed = Fraction(str(policy.fixed_point_value.get(p, 0)))
            if fixed <= 0:
                raise InputError(f"policy gives no fixed point value for pool '{p}'")
            if policy.pv_mode == "fixed":
                value = base_pv = float_pv = fixed
            else:   # elastic
                share = Fraction(str(policy.elastic_base_share))
                base_volume = share * dip_total / 100 / fixed        # points the base share buys
                base_pv = fixed
                if total_points <= base_volume:
                    value = float_pv = fixed
                else:
                    extra = total_points - base_volume
                    float_pv = (1 - share) * dip_total / 100 / extra
                    if policy.elastic_ceiling is not None:
                        float_pv = min(float_pv, Fraction(str(policy.elastic_ceiling)) * fixed)
                    value = (base_volume * fixed + extra * float_pv) / total_points
        pv[p] = float(value)
        pool_info[p] = dict(f=f, value=value, B=B, units=units, cost=cost, fund=fund)
        pool_rows.append({
            "pool": p, "budget": B, "points_units": units, "cost": cost, "fund": fund,
            "fund_ratio": float(f), "point_value": float(value), "base_point_value": float(base_pv),
            "floating_point_value": float(float_pv), "mode": policy.pv_mode,
            "budget_point_value": float(catalog.budget_point_value.get(p, catalog.mean_cost / policy.score_scale)),
        })

    # per-hospital statements
    n = len(keys)
    dip_amount = [0] * n
    fund_base = [0] * n
    for p, info in pool_info.items():
        idx = [i for i in range(n) if pool[i] == p]
        total_dip = _round_fen(info["value"] * Fraction(info["units"], P.UNITS) * 100)
        weights = [sums["points"][i] for i in idx]
        names = [hosp[i] for i in idx]
        if policy.allocation == "exact":
            d_parts = allocate(total_dip, weights, names)
            total_base = info["B"] if policy.pv_mode == "floating" else _round_fen(total_dip * info["f"])
            f_parts = allocate(total_base, weights, names)
        else:
            d_parts = [_round_fen(info["value"] * Fraction(w, P.UNITS) * 100) for w in weights]
            f_parts = [_round_fen(d * info["f"]) for d in d_parts]
        for j, i in enumerate(idx):
            dip_amount[i], fund_base[i] = d_parts[j], f_parts[j]

    rows = []
    bands = policy.sharing_bands
    for i in range(n):
        h, p = hosp[i], pool[i]
        info = pool_info[p]
        f = info["f"]
        c_h = Fraction(str(_lookup(coef, h, p, 1.0)))
        d_fen = _fen(_lookup(ded, h, p, 0))
        D = dip_amount[i]
        C = sums["cost"][i]
        patient = sums["cost"][i] - sums["fund"][i]
        if policy.fund_share_method == "ratio":
            base = fund_base[i]
        else:
            base = D - patient
        appraisal_adj = _round_fen(base * (c_h - 1))
        # surplus retained / overspend shared (SPEC 7), in fund terms (x f)
        clawback = sharing = 0
        if D >= C:
            if policy.surplus_cap is not None:
                excess = (D - C) - Fraction(str(policy.surplus_cap)) * D
                if excess > 0:
                    clawback = _round_fen(excess * f)
        elif bands:
            over = Fraction(C - D)
            shared = Fraction(0)
            lower = Fraction(0)
            for upto, share in bands:
                upper = Fraction(str(upto)) * D
                part = max(Fraction(0), min(over, upper) - lower)
                shared += part * Fraction(str(share))
                lower = upper
            sharing = _round_fen(shared * f)
        payable = base + appraisal_adj - d_fen + sharing - clawback
        pre_fen = _fen(_lookup(pre, h, p, 0)) if pre else None
        adv_fen = _fen(_lookup(adv, h, p, 0)) if adv else 0
        rows.append(dict(hospital_id=h, pool=p, cases=sums["cases"][i], dip_cases=sums["dip_cases"][i],
                         points=sums["points"][i], cost=C, fund=sums["fund"][i], patient=patient,
                         dip_amount=D, fund_base=base, appraisal_coefficient=float(c_h),
                         appraisal_adjustment=appraisal_adj, deductions=d_fen, sharing=sharing,
                         surplus_clawback=clawback, fund_payable=payable, prepaid=pre_fen,
                         advance=adv_fen, i=i))

    # monthly prepayment table (SPEC 7): P_month x PV_budget x f x (1 - reserve)
    mk = monthly_sums.column("key").to_pylist()
    m_month = monthly_sums.column("month").to_pylist()
    m_points = monthly_sums.column("points").to_pylist()
    m_rows = []
    prepaid_calc: dict[tuple[str, str], tuple[int, int]] = {}
    reserve = Fraction(str(policy.reserve))
    # gross = units / 10^4 x PV_budget x 100 x f: one exact rational factor per pool
    factor = {p: Fraction(str(catalog.budget_point_value.get(p, catalog.mean_cost / policy.score_scale)))
              * 100 * info["f"] / P.UNITS for p, info in pool_info.items()}
    for key, month, units in zip(mk, m_month, m_points):
        h, p = key.split(_SEP)
        gross = _round_ratio(units * factor[p].numerator, factor[p].denominator)
        withheld = _round_ratio(gross * reserve.numerator, reserve.denominator)
        net = gross - withheld
        m_rows.append(dict(hospital_id=h, pool=p, month=month, points=units, gross=gross,
                           reserve=withheld, prepayment=net))
        a, b = prepaid_calc.get((h, p), (0, 0))
        prepaid_calc[(h, p)] = (a + net, b + withheld)
    for r in rows:
        net, withheld = prepaid_calc.get((r["hospital_id"], r["pool"]), (0, 0))
        r["reserve_withheld"] = withheld
        if r["prepaid"] is None:
            r["prepaid"] = net
        r["balance"] = r["fund_payable"] - r["prepaid"] - r["advance"]
    hospitals = _statement_table(rows, sums, pv, policy.score_scale)
    monthly = pa.table({
        "hospital_id": [r["hospital_id"] for r in m_rows], "pool": [r["pool"] for r in m_rows],
        "month": pa.array([r["month"] for r in m_rows], pa.int8()),
        "points": points_array(np.array([r["points"] for r in m_rows], np.int64)),
        "gross": money_array(np.array([r["gross"] for r in m_rows], np.int64), 18),
        "reserve": money_array(np.array([r["reserve"] for r in m_rows], np.int64), 18),
        "prepayment": money_array(np.array([r["prepayment"] for r in m_rows], np.int64), 18),
    })
    pools = pa.table({
        "pool": [r["pool"] for r in pool_rows],
        "budget": money_array(np.array([r["budget"] for r in pool_rows], np.int64), 18),
        "points": points_array(np.array([r["points_units"] for r in pool_rows], np.int64)),
        "total_cost": money_array(np.array([r["cost"] for r in pool_rows], np.int64), 18),
        "fund_paid": money_array(np.array([r["fund"] for r in pool_rows], np.int64), 18),
        "fund_ratio": [r["fund_ratio"] for r in pool_rows],
        "point_value": [r["point_value"] for r in pool_rows],
        "base_point_value": [r["base_point_value"] for r in pool_rows],
        "floating_point_value": [r["floating_point_value"] for r in pool_rows],
        "budget_point_value": [r["budget_point_value"] for r in pool_rows],
        "mode": [r["mode"] for r in pool_rows],
    })
    return Settlement(point_value=pv, pools=pools, hospitals=hospitals, monthly=monthly,
                      cases_table=cases, warnings=warnings)


def _statement_table(rows: list[dict], sums: dict, pv: dict, scale: float) -> pa.Table:
    """Per (hospital, pool) statement with the appraisal indicators of SPEC 8."""
    def money(name):
        return money_array(np.array([r[name] for r in rows], np.int64), 18)
    i = [r["i"] for r in rows]
    cases = np.array([sums["cases"][k] for k in i], np.float64)
    dip = np.array([sums["dip_cases"][k] for k in i], np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmi = np.array([sums["rw"][k] for k in i]) / 10_000.0 / dip / scale
        outl = (np.array([sums["low"][k] + sums["high"][k] + sums["extreme"][k] for k in i])) / dip
    table = pa.table({
        "hospital_id": [r["hospital_id"] for r in rows],
        "pool": [r["pool"] for r in rows],
        "cases": pa.array([r["cases"] for r in rows], pa.int64()),
        "dip_cases": pa.array([r["dip_cases"] for r in rows], pa.int64()),
        "points": points_array(np.array([r["points"] for r in rows], np.int64)),
        "cmi": pa.array(cmi, mask=dip == 0),
        "point_value": [pv[r["pool"]] for r in rows],
        "total_cost": money("cost"),
        "fund_paid": money("fund"),
        "patient_paid": money("patient"),
        "dip_amount": money("dip_amount"),
        "gain": money_array(np.array([r["dip_amount"] - r["cost"] for r in rows], np.int64), 18),
        "fund_base": money("fund_base"),
        "appraisal_coefficient": [r["appraisal_coefficient"] for r in rows],
        "appraisal_adjustment": money("appraisal_adjustment"),
        "deductions": money("deductions"),
        "sharing": money("sharing"),
        "surplus_clawback": money("surplus_clawback"),
        "fund_payable": money("fund_payable"),
        "prepaid": money("prepaid"),
        "reserve_withheld": money("reserve_withheld"),
        "advance": money("advance"),
        "balance": money("balance"),
        "mean_cost": pa.array(np.array([r["cost"] for r in rows]) / 100.0 / cases),
        "mean_los": pa.array(np.array([sums["los"][k] for k in i]) / cases),
        "outlier_share": pa.array(outl, mask=dip == 0),
        "ungrouped_cases": pa.array([sums["ungrouped"][k] for k in i], pa.int64()),
        "special_cases": pa.array([sums["special"][k] for k in i], pa.int64()),
        "bed_day_cases": pa.array([sums["bed_day"][k] for k in i], pa.int64()),
        "death_rate": pa.array(np.array([sums["deaths"][k] for k in i]) / cases),
        "operation_rate": pa.array(np.array([sums["surgery"][k] for k in i]) / np.maximum(dip, 1),
                                   mask=dip == 0),
        "patient_paid_share": pa.array(np.array([r["patient"] for r in rows]) / np.maximum(
            np.array([r["cost"] for r in rows]), 1)),
    })
    return table.sort_by([("pool", "ascending"), ("hospital_id", "ascending")])


def policy_warnings(catalog: Catalog, policy: Policy) -> list[str]:
    diff = catalog.policy.differences(policy, CALIBRATION_FIELDS)
    if diff:
        return [f"the catalogue was built under a different policy ({', '.join(diff)}); "
                "scores may not match this policy"]
    return []
