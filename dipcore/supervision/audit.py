"""Supervision signals and appraisal indicators (SPEC.md sections 8 and 11).

``dipcore.audit`` scores a year's cases against a catalogue (the same scheme scoring as
settlement, so groups, outlier classes and CMI are the settlement's; the per-batch facts
are ``dipcore.supervision.facts``) and :func:`finish` reports:

* per hospital, the appraisal indicators of SPEC 8 (cases, CMI, mean cost, mean LOS,
  outlier share, readmission rate, operation rate, severe-case share, patient-paid share,
  death rate, secondary diagnoses per case, points per case) beside the region's;
* per hospital and indicator of ``dipcore.supervision.measures``, the case-mix adjusted
  observed and expected values, O/E and its z-score this year (level) and against the
  previous year's O/E (growth) -- ``dipcore.supervision.statistics``;
* the flags those tests raise, each with its evidence (``Audit.evidence``), and the
  funnel-plot data behind them (``Audit.funnel``, ``Audit.funnel_limits``);
* the case lists a reviewer starts from: readmission pairs (suspected split admissions,
  分解住院), low-standard admissions (低标入院), and the cases behind an upcoding flag
  (``Audit.upcoded_cases``, kept as candidates while the year is scored).

A flag needs the hospital to have at least ``audit_min_cases`` cases (and the year before,
for growth) and an event indicator at least ``audit_min_events`` events, so nothing is
flagged from a handful of cases.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels.stays import readmission_pairs
from dipcore._kernels.strings import hash_strings
from dipcore.errors import InputError
from dipcore.payment.points import UNITS
from dipcore.policy import Policy
from dipcore.reports.files import atomic_path, output_directory
from dipcore.reports.results import save_tables
from dipcore.supervision import statistics as st
from dipcore.supervision.cases import case_list
from dipcore.supervision.facts import AUDIT_SUMS, squares, strata_totals, year_tables
from dipcore.supervision.indicators import hospital_indicators
from dipcore.supervision.measures import FLAGS, Measure, measures_for


@dataclass
class Audit:
    """Result of :func:`dipcore.audit`.

    Attributes
    ----------
    hospitals : pyarrow.Table
        Per hospital: appraisal indicators (SPEC 8); per supervision indicator
        ``{name}_oe`` and ``{name}_z`` (this year's case-mix adjusted ratio and its z),
        with a previous year ``{name}_oe_previous`` and ``{name}_z_growth``; and
        ``flags`` (list of str, ``measures.FLAGS``).
    evidence : pyarrow.Table
        One row per flag and each test behind it: hospital, flag, indicator, test
        (level|growth), year, the indicator's cases (its denominator: grouped cases for
        most), observed and expected (totals and per case), ratio O/E, effect (the ratio,
        or for growth this year's ratio over last year's), z and its limit, whether the
        test passed, and last year's cases, ratio and per-case value. ``effect`` and ``z``
        are what the flag rule compares with ``audit_min_ratio`` and the limit.
    indicators : pyarrow.Table
        Every test of every indicator at every hospital (the long form of the above).
    funnel : pyarrow.Table
        Funnel-plot points: per indicator, test and hospital, the indicator's cases,
        expected, the plotted value (O/E, or the change of O/E), its null value, and the
        hospital's own 95 % and control limits (with over-dispersion).
    funnel_limits : pyarrow.Table
        Smooth control limits against cases, per indicator and test, to draw behind them.
    readmissions : pyarrow.Table
        One row per readmission (suspected split admission when ``same_hospital``): case and
        previous case, patient, hospitals, category, days.
    low_standard : pyarrow.Table
        One row per low-standard admission: case, hospital, group, LOS, ratio.
    upcoded_cases : pyarrow.Table
        The cases behind each upcoding flag at its hospital (``dipcore.supervision.cases``).
    region : dict
        The region's appraisal indicators.
    tests : list of dict
        Per indicator and test: hospitals tested, over-dispersion ``tau2``, z limit.
    year : int or None
        The audited year (most cases' discharge year).
    warnings : list of str
    """

    readmissions: pa.Table
    low_standard: pa.Table
    hospitals: pa.Table
    evidence: pa.Table = None
    indicators: pa.Table = None
    funnel: pa.Table = None
    funnel_limits: pa.Table = None
    upcoded_cases: pa.Table = None
    region: dict[str, float] = field(default_factory=dict)
    tests: list[dict] = field(default_factory=list)
    year: int | None = None
    warnings: list[str] = field(default_factory=list)

    #: Tables written by :meth:`save` (Parquet, and CSV or a sheet of ``audit.xlsx``).
    TABLES = ("hospitals", "evidence", "indicators", "funnel", "funnel_limits", "readmissions",
              "low_standard", "upcoded_cases")

    def flagged(self) -> dict[str, list[str]]:
        """``{hospital_id: flags}`` of the hospitals with a flag."""
        return {h: f for h, f in zip(self.hospitals.column("hospital_id").to_pylist(),
                                     self.hospitals.column("flags").to_pylist()) if f}

    def save(self, directory: str | os.PathLike, format: str = "csv",
             names: Mapping[str, str] | pa.Table | None = None) -> None:
        """Write the audit to ``directory``, each file atomically: every table of
        ``TABLES`` as Parquet (the machine copy reports read, always written), its
        human-readable copy in ``format``, and ``summary.json``.

        Parameters
        ----------
        directory : str or os.PathLike
            Created if missing.
        format : {"csv", "xlsx"}
            ``csv``: a CSV file per table (lists joined by ``;``). ``xlsx``: one workbook
            ``audit.xlsx``, a sheet per table in ``TABLES`` order
            (``dipcore.reports.excel``).
        names : mapping or pyarrow.Table, optional
            Hospital names for the workbook, shown beside each ``hospital_id``:
            ``{hospital_id: name}``, the hospital registry or a settlement's statements.
            The CSV files are left as they are.
        """
        d = output_directory(directory)
        tables = {name: getattr(self, name) for name in self.TABLES
                  if getattr(self, name) is not None}
        flags = pc.binary_join(self.hospitals.column("flags"), ";")
        save_tables(d, tables, format, "audit.xlsx", names=names, csv={
            "hospitals": self.hospitals.set_column(
                self.hospitals.schema.get_field_index("flags"), "flags", flags)})
        with atomic_path(d / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps({
                "year": self.year, "region": self.region, "flagged": self.flagged(),
                "flags": {f: sum(f in v for v in self.flagged().values()) for f in FLAGS},
                "readmissions": self.readmissions.num_rows,
                "low_standard": self.low_standard.num_rows, "tests": self.tests,
                "warnings": self.warnings}, indent=2, ensure_ascii=False), encoding="utf-8")


def _pairs(t: pa.Table, hashes: dict[str, np.ndarray], key: np.ndarray, same: list[str],
           days: int) -> tuple[pa.Array, pa.Array]:
    """``(readmission, previous)`` row positions of ``t``: each stay against the previous
    stay of the same patient and ``key`` (a hash: ``dipcore._kernels.stays``), confirmed on
    the strings of ``same`` (and the patient)."""
    cur, prev = readmission_pairs(hashes["order"], hashes["patient"], key,
                                  t.column("admission").to_numpy(),
                                  t.column("discharge").to_numpy(), hashes["case"], days)
    cur, prev = pa.array(cur), pa.array(prev)
    real = None
    for name in ["patient_id"] + same:
        column = t.column(name).combine_chunks()
        equal = pc.equal(column.take(cur), column.take(prev))
        real = equal if real is None else pc.and_(real, equal)
    return cur.filter(real), prev.filter(real)


def find_readmissions(stays: pa.Table, days: int, before: pa.Table | None = None) -> pa.Table:
    """Readmissions of the same patient for the same diagnosis category within ``days`` of
    the previous discharge (SPEC 8), attributed to the hospital of the readmission; sorted
    by hospital and case.

    A stay is compared with the previous stay of the same patient and category (stays of
    other categories in between do not hide a split admission) at any hospital, and with
    the previous such stay *at the same hospital* (a stay elsewhere in between does not
    hide it either): a readmission has a row for each (``same_hospital`` tells which),
    one when they are the same stay. Stays are ordered by (admission, discharge, case id
    hash) -- ``dipcore._kernels.stays`` compares 64-bit hashes (fast, and the order depends
    only on the stays, not on how they were read); hits are confirmed on the strings.

    ``before``: stays of the previous year, which may be the earlier stay of a readmission
    early in this year (only this year's stays are reported as readmissions)."""
    t = stays.filter(pc.is_valid(stays.column("patient_id")))
    t = t.append_column("_now", pa.array(np.ones(t.num_rows, bool)))
    if before is not None and before.num_rows and t.num_rows:
        first = pc.min(t.column("admission")).as_py()
        early = before.filter(pc.and_(pc.is_valid(before.column("patient_id")),
                                      pc.greater_equal(before.column("discharge"), first - days)))
        early = early.select(stays.column_names)
        t = pa.concat_tables([t, early.append_column(
            "_now", pa.array(np.zeros(early.num_rows, bool)))]).combine_chunks()
    category = t.column("category").combine_chunks()
    hospital = t.column("hospital_id").combine_chunks()
    ph = hash_strings(t.column("patient_id").combine_chunks())
    hashes = {"patient": ph, "order": np.argsort(ph, kind="stable"),
              "case": hash_strings(t.column("case_id").combine_chunks())}
    ch = hash_strings(category)
    any_cur, any_prev = _pairs(t, hashes, ch, ["category"], days)
    elsewhere = pc.not_equal(hospital.take(any_cur), hospital.take(any_prev))
    # category and hospital in one key: the category's hash mixed with the hospital's
    both = ch * np.uint64(0x9E3779B97F4A7C15) ^ hash_strings(hospital)
    same_cur, same_prev = _pairs(t, hashes, both, ["category", "hospital_id"], days)
    cur = pa.concat_arrays([any_cur.filter(elsewhere), same_cur])
    prev = pa.concat_arrays([any_prev.filter(elsewhere), same_prev])
    now = t.column("_now").combine_chunks().take(cur)
    cur, prev = cur.filter(now), prev.filter(now)
    adm, dis = t.column("admission").combine_chunks(), t.column("discharge").combine_chunks()
    out = pa.table({
        "case_id": t.column("case_id").take(cur),
        "previous_case_id": t.column("case_id").take(prev),
        "patient_id": t.column("patient_id").take(cur),
        "hospital_id": hospital.take(cur), "previous_hospital_id": hospital.take(prev),
        "level": t.column("level").take(cur), "category": category.take(cur),
        "days": pc.subtract(adm.take(cur), dis.take(prev)).cast(pa.int32()),
        "same_hospital": pc.equal(hospital.take(cur), hospital.take(prev)),
    })
    return out.sort_by([("hospital_id", "ascending"), ("case_id", "ascending"),
                        ("same_hospital", "ascending")])


#: Column order of the audit's appraisal indicators (SPEC 8).
INDICATORS = ("cmi", "mean_cost", "mean_los", "outlier_share", "readmission_rate",
              "operation_rate", "severe_share", "patient_paid_share", "death_rate",
              "low_standard_share", "secondary_per_case", "points_per_case")


def _appraisal(sums: dict[str, np.ndarray], readmits: np.ndarray, scale: float
               ) -> dict[str, np.ndarray]:
    """The statements' indicators (``dipcore.supervision.indicators``) and supervision's."""
    n = np.maximum(sums["cases"], 1).astype(float)
    ind = hospital_indicators(sums, scale)
    ind.update({
        "readmission_rate": readmits / n,
        "severe_share": sums["severe"] / n,
        "low_standard_share": sums["low_standard"] / n,
        "secondary_per_case": sums["secondary"] / n,
        "points_per_case": sums["points"] / UNITS / n,
    })
    return {k: ind[k] for k in INDICATORS}


def _readmission_strata(stays: pa.Table, readmissions: pa.Table, peer_level: bool) -> pa.Table:
    """Stays with a patient id and their same-hospital readmissions per (hospital, diagnosis
    category, level): the ``readmission`` stratification (a readmission counts at the
    hospital that readmitted, in its category; a stay without a patient id could never be
    one, so it is not in the denominator). Strata are ``category code * 4 + level``."""
    keys = ["hospital_id", "category", "level"]
    stays = stays.filter(pc.is_valid(stays.column("patient_id")))
    cases = stays.group_by(keys).aggregate([("case_id", "count")]) \
        .rename_columns(keys + ["cases"])
    same = readmissions.filter(pc.equal(readmissions.column("same_hospital"), True))
    events = same.group_by(keys).aggregate([("case_id", "count_distinct")]) \
        .rename_columns(keys + ["readmissions"])
    t = cases.join(events, keys, join_type="left outer").sort_by(
        [(k, "ascending") for k in keys])
    code = pc.index_in(t.column("category"), value_set=pc.unique(t.column("category")).sort())
    level = t.column("level").to_numpy().astype(np.int64) & 3 if peer_level else 0
    return pa.table({"hospital_id": t.column("hospital_id"),
                     "stratum": code.to_numpy().astype(np.int64) * 4 + level,
                     "cases": t.column("cases"),
                     "readmissions": pc.fill_null(t.column("readmissions"), 0)})


def _indexed(tables: dict[str, pa.Table], ids: list[str]) -> dict[str, tuple]:
    """Per stratification: ``(table, hospital index into ids (-1: not reported, still a
    peer), dense stratum index, dense index of the stratum without its level)``. Strata
    carry the level in their two low bits."""
    out = {}
    value_set = pa.array(ids, pa.string())
    for name, t in tables.items():
        hospital = pc.fill_null(pc.index_in(t.column("hospital_id"), value_set=value_set), -1)
        raw = t.column("stratum").to_numpy().astype(np.int64)
        _, stratum = np.unique(raw, return_inverse=True)
        _, coarse = np.unique(raw >> 2, return_inverse=True)
        out[name] = (t, hospital.to_numpy().astype(np.int64), stratum.astype(np.int64),
                     coarse.astype(np.int64))
    return out


def _standardised(indexed: dict[str, tuple], n_hospitals: int, m: Measure,
                  outlying: np.ndarray | None = None) -> st.Standardised:
    """Indirect standardisation of one measure over a year's strata tables
    (:func:`_indexed`), per hospital (one without cases in the strata has O = E = 0);
    ``outlying`` hospitals are nobody's peers."""
    t, hospital, stratum, coarse = indexed[m.strata]
    col = lambda c: t.column(c).to_numpy().astype(np.float64)   # noqa: E731
    sq = None
    if not m.event:
        sq = squares(t.column(f"{m.column}_sq_hi").to_numpy(),
                     t.column(f"{m.column}_sq_lo").to_numpy()) * (m.sq_unit / m.unit) ** 2
    return st.standardise(hospital, stratum, coarse, col("cases"), col(m.column) / m.unit, sq,
                          n_hospitals, outlying)


def _robust(indexed: dict[str, tuple], n_hospitals: int, m: Measure, policy: Policy,
            zlim: float) -> tuple[st.Standardised, np.ndarray]:
    """The standardisation against peers that are not themselves far out: a first pass
    finds the hospitals beyond the control limit by chance alone (an event count below its
    expectation by its exact tail) with O/E at least ``audit_min_ratio`` or at most its
    inverse, the second leaves them out of everyone's peers (where that leaves a hospital no
    peer at its level, its peers keep them: ``statistics.standardise``). ``(standardised,
    outlying)``."""
    first = _standardised(indexed, n_hospitals, m)
    # by chance alone: the over-dispersion of a contaminated reference is itself inflated
    t = st.level_test(first, "none", policy.audit_scale, m.event)
    alpha = (1.0 - policy.audit_control_limit) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        high = np.isfinite(t.z) & (t.z >= zlim) & (first.ratio >= policy.audit_min_ratio)
        low = np.isfinite(t.z) & (t.z <= -zlim) & (first.ratio <= 1.0 / policy.audit_min_ratio)
    if m.event:
        # a small count far below by the normal curve is often just chance (0 events where
        # 5 were expected has P = 0.007): far below only by its exact lower tail
        for i in np.flatnonzero(low):
            low[i] = st.poisson_lower_tail(first.observed[i], first.expected[i]) <= alpha
    # both tails, as a trimmed mean trims both: leaving out only the excesses would lower
    # every expectation and make honest hospitals look high
    far = high | low
    if not far.any():
        return first, far
    return _standardised(indexed, n_hospitals, m, far), far


def _year_of(stays: pa.Table) -> int | None:
    years = pc.value_counts(stays.column("year")).to_pylist()
    return max(years, key=lambda r: (r["counts"], r["values"]))["values"] if years else None


def _year_measures(state, policy: Policy, before: pa.Table | None = None) -> tuple:
    """``(stays, low-standard, sums, readmissions, strata tables)`` of a merged audit state
    (``before``: the previous year's stays, earlier stays of readmissions)."""
    stays, low, sums_t = year_tables(state)
    readmissions = find_readmissions(stays, policy.readmit_days, before)
    tables = strata_totals(state)
    tables["readmission"] = _readmission_strata(stays, readmissions, policy.audit_peer_level)
    return stays, low, sums_t, readmissions, tables


def finish(current, previous, policy: Policy, scale: float | None = None,
           scheme: str = "dip") -> Audit:
    """The audit of merged audit states (``dipcore.engine.passes.AuditSums``) of a year and,
    optionally, of the year before (scored with the same catalogue); ``scale``: the
    scheme's score scale (CMI = mean weight over it; DIP's ``score_scale`` when not given);
    ``scheme``: the catalogue's scheme (which measures apply)."""
    scale = float(policy.score_scale if scale is None else scale)
    measures = measures_for(scheme)
    warnings: list[str] = []
    last = None
    if previous is not None and not previous.sums:
        warnings.append("the previous year has no usable cases: no growth tests")
    elif previous is not None:
        last = _year_measures(previous, policy)
    stays, low, sums_t, readmissions, tables = _year_measures(
        current, policy, last[0] if last else None)
    if sums_t.num_rows == 0:
        raise InputError("no usable cases to audit")
    year = _year_of(stays)
    ids = sums_t.column("hospital_id").to_pylist()
    pos = {h: i for i, h in enumerate(ids)}
    counts = np.zeros(len(ids))          # readmitted cases (a case may have two rows)
    for h in readmissions.group_by(["hospital_id", "case_id"]).aggregate([]) \
            .column("hospital_id").to_pylist():
        counts[pos[h]] += 1
    sums = {c: sums_t.column(c).to_numpy() for c in AUDIT_SUMS}
    appraisal = _appraisal(sums, counts, scale)
    region = {k: float(v[0]) for k, v in _appraisal(
        {k: np.array([v.sum()]) for k, v in sums.items()}, np.array([counts.sum()]),
        scale).items()}

    zlim = st.z_limit(policy.audit_control_limit)
    indexed = _indexed(tables, ids)
    now, outlying = {}, {}
    for m in measures:
        now[m.name], outlying[m.name] = _robust(indexed, len(ids), m, policy, zlim)
    before: dict[str, st.Standardised] = {}
    if last is not None:
        _, _, p_sums, _, p_tables = last
        p_ids = set(p_sums.column("hospital_id").to_pylist())
        p_indexed = _indexed(p_tables, ids)
        before = {m.name: _standardised(p_indexed, len(ids), m, outlying[m.name])
                  for m in measures}
        missing = [h for h in ids if h not in p_ids]
        if len(missing) == len(ids):
            warnings.append("the previous year has none of this year's hospitals: no growth "
                            "tests")
            before = {}
        elif missing:
            warnings.append(f"{len(missing)} hospitals have no cases in the previous year, "
                            f"no growth tests for them: {', '.join(missing[:10])}"
                            + (" ..." if len(missing) > 10 else ""))
    small = [h for h, n in zip(ids, sums["cases"]) if n < policy.audit_min_cases]
    if small:
        warnings.append(f"{len(small)} hospitals have fewer than {policy.audit_min_cases} cases "
                        f"and are not flagged: {', '.join(small[:10])}"
                        + (" ..." if len(small) > 10 else ""))

    z95 = st.z_limit(0.95)
    results: list[tuple[Measure, str, st.Test, np.ndarray, np.ndarray]] = []
    tests: list[dict] = []
    wide: dict[str, np.ndarray] = {}
    for m in measures:
        s = now[m.name]
        wide[f"{m.name}_oe"] = s.ratio
        with np.errstate(invalid="ignore"):
            # events where the peers had none: an unbounded excess (the exact tail and the
            # minimum events decide)
            level = np.where((s.expected == 0) & (s.observed > 0), np.inf, s.ratio)
        kinds = [("level", st.level_test(s, policy.audit_overdispersion, policy.audit_scale,
                                          m.event), level)]
        if before:
            b = before[m.name]
            with np.errstate(invalid="ignore", divide="ignore"):
                # from nothing to something is an unbounded rise (min events and z still
                # decide)
                growth = np.where(b.ratio > 0, s.ratio / b.ratio,
                                  np.where((b.ratio == 0) & (s.ratio > 0), np.inf, np.nan))
            kinds.append(("growth", st.growth_test(s, b, policy.audit_overdispersion, m.event,
                                                   policy.audit_scale), growth))
            wide[f"{m.name}_oe_previous"] = b.ratio
        for test, t, effect in kinds:
            wide[f"{m.name}_z" if test == "level" else f"{m.name}_z_growth"] = t.z
            # the indicator's own cases (grouped cases, for most) in both years
            testable = (s.cases >= policy.audit_min_cases) & np.isfinite(t.z)
            if test == "growth":
                testable &= before[m.name].cases >= policy.audit_min_cases
            if m.event:
                testable &= s.observed >= policy.audit_min_events
            with np.errstate(invalid="ignore"):
                hit = testable & (t.z >= zlim) & (effect >= policy.audit_min_ratio)
                if test == "growth":
                    # a rise that ends at or below the peers' rate (back from a low year)
                    # is no excess to defend a flag with
                    hit &= s.ratio > 1.0
            # rare events on the ratio scale: the exact tail must be beyond the limit too (on
            # the log scale an event's z already comes from its exact tail, tau^2 only
            # lowering it)
            if m.event and policy.audit_scale == "ratio":
                alpha = (1.0 - policy.audit_control_limit) / 2.0
                for i in np.flatnonzero(hit):
                    p_value = st.exact_level_p(s, i) if test == "level" else \
                        st.exact_growth_p(s, before[m.name], i)
                    hit[i] = p_value <= alpha
            results.append((m, test, t, effect, hit))
            tests.append({"indicator": m.name, "test": test,
                          "hospitals": int(np.isfinite(t.z).sum()), "tau2": t.tau2,
                          "z_limit": zlim, "passed": int(hit.sum())})
    # hospitals big enough to audit but with too few of an indicator's own cases (grouped
    # cases, stays with a patient id ...) to test it: say so rather than stay silent
    big = sums["cases"] >= policy.audit_min_cases
    untested: dict[str, list[str]] = {}
    for m in measures:
        for i in np.flatnonzero(big & (now[m.name].cases < policy.audit_min_cases)):
            if m.flag is not None:
                untested.setdefault(ids[i], []).append(m.name)
    if untested:
        listed = [f"{h} ({', '.join(names)})" for h, names in untested.items()]
        warnings.append(f"{len(untested)} hospitals have fewer than {policy.audit_min_cases} "
                        "of an indicator's own cases and are not tested on it: "
                        + "; ".join(listed[:10]) + (" ..." if len(listed) > 10 else ""))
    flags, evidence_of = _flags(ids, results, zlim)
    indicators, funnel, limits = [], [], []
    n = len(ids)
    for m, test, t, effect, hit in results:
        s, b = now[m.name], before.get(m.name)
        nan = np.full(n, np.nan)
        label = {"indicator": pa.array([m.name] * n), "test": pa.array([test] * n)}
        indicators.append(pa.table({
            "hospital_id": ids, **label, "year": pa.array([year] * n, pa.int32()),
            "cases": s.cases.astype(np.int64),
            "observed": s.observed.astype(np.float64),
            "expected": s.expected.astype(np.float64),
            "observed_per_case": _masked(_per_case(s.observed, s.cases)),
            "expected_per_case": _masked(_per_case(s.expected, s.cases)),
            "ratio": _masked(s.ratio), "effect": _masked(effect), "z": _masked(t.z),
            "z_limit": np.full(n, zlim), "passed": hit,
            "previous_cases": pa.array(b.cases.astype(np.int64) if b is not None
                                       else [None] * n, pa.int64()),
            "previous_ratio": _masked(b.ratio if b is not None else nan),
            "previous_per_case": _masked(_per_case(b.observed, b.cases) if b is not None
                                         else nan)}))
        funnel.append(pa.table({
            **label, "hospital_id": ids, "cases": s.cases.astype(np.int64),
            "expected": s.expected.astype(np.float64),
            # the raw O/E (or its growth) on the log scale, not the half-event corrected one
            "value": _masked(effect if t.scale == "log" else t.value),
            "null": np.full(n, t.plotted_null),
            **_bounds(t, z95, zlim), "z": _masked(t.z)}))
        grid = st.funnel_grid(s.cases, t.se_chance, t.tau2, t.null, (z95, zlim),
                              scale=t.scale)
        k = len(grid["cases"])
        if k:
            limits.append(pa.table({
                "indicator": pa.array([m.name] * k), "test": pa.array([test] * k),
                "cases": grid["cases"].astype(np.int64), "lower_95": grid["lower0"],
                "upper_95": grid["upper0"], "lower_limit": grid["lower1"],
                "upper_limit": grid["upper1"]}))
    indicators = pa.concat_tables(indicators)
    # a row of indicators per (result, hospital): result k, hospital i is row k * n + i
    evidence = indicators.take(pa.array([k * n + i for i, k, _ in evidence_of], pa.int64()))
    evidence = evidence.add_column(1, "flag", pa.array([f for _, _, f in evidence_of],
                                                       pa.string()))
    table = pa.table({
        "hospital_id": ids, "cases": sums["cases"], "readmissions": counts.astype(np.int64),
        "low_standard_cases": sums["low_standard"],
        **{k: _masked(v) for k, v in appraisal.items()},
        **{k: _masked(v) for k, v in wide.items()},
        "flags": pa.array([flags[h] for h in ids], pa.list_(pa.string())),
    })
    return Audit(readmissions=readmissions, low_standard=low, hospitals=table,
                 upcoded_cases=case_list(current.candidates, flags),
                 evidence=evidence, indicators=indicators,
                 funnel=pa.concat_tables(funnel),
                 funnel_limits=pa.concat_tables(limits) if limits else None, region=region,
                 tests=tests, year=year, warnings=warnings)


def _flags(ids: list[str], results, zlim: float
           ) -> tuple[dict[str, list[str]], list[tuple[int, int, str]]]:
    """Each hospital's flags (``FLAGS`` order) from the tests that passed, and the evidence:
    ``(hospital index, result index, flag)`` for each test behind each flag, in hospital,
    flag and result order.

    A flag is raised by any test of ``Measure.tests`` of its measures (of a measure with
    ``Measure.requires``, only beside that measure's same test), unless the test's
    ``Measure.unless`` measure explains it in the same test (``Measure.unless_rule``):
    ``"rises"`` when that measure rose beyond the limit (a surgical share rising *with* cost
    per case is a real shift to surgery), ``"as_fast"`` when its effect is at least as large
    (points per case rising no faster than cost per case are paying for cost). Otherwise
    that measure's row joins the evidence."""
    index = {(m.name, test): k for k, (m, test, _, _, _) in enumerate(results)}
    flags: dict[str, list[str]] = {}
    evidence: list[tuple[int, int, str]] = []
    for i, h in enumerate(ids):
        mine: dict[str, list[int]] = {}
        for k, (m, test, t, effect, hit) in enumerate(results):
            if not (m.flag and test in m.tests and hit[i]):
                continue
            if m.requires is not None and (m.requires, test) in index \
                    and not results[index[(m.requires, test)]][4][i]:
                continue
            rows = [k]
            if m.unless is not None and (m.unless, test) in index:
                j = index[(m.unless, test)]
                _, _, other, other_effect, _ = results[j]
                if m.unless_rule == "rises":
                    explained = np.isfinite(other.z[i]) and other.z[i] >= zlim
                else:
                    explained = np.isfinite(other_effect[i]) and other_effect[i] >= effect[i]
                if explained:
                    continue
                rows.append(j)
            mine.setdefault(m.flag, []).extend(rows)
        flags[h] = [f for f in FLAGS if f in mine]
        for f in flags[h]:
            evidence += [(i, k, f) for k in dict.fromkeys(mine[f])]
    return flags, evidence


def _bounds(t: st.Test, z95: float, zlim: float) -> dict[str, pa.Array]:
    """A hospital's own 95 % and control limits on the plotted scale."""
    lo95, hi95 = t.limits(z95)
    lo, hi = t.limits(zlim)
    return {"lower_95": _masked(lo95), "upper_95": _masked(hi95), "lower_limit": _masked(lo),
            "upper_limit": _masked(hi)}


def _per_case(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _masked(v: np.ndarray) -> pa.Array:
    """A float array with NaN as null."""
    v = np.asarray(v, dtype=np.float64)
    return pa.array(v, mask=np.isnan(v))
