"""Writing a synthetic province: cases, hospital registry, anomaly labels, manifest.

Layout of ``OUT``::

    cases/year=YYYY/month=MM/part-NNNNNNNNN.parquet   canonical case columns (SPEC.md 2)
    hospitals.csv                                    hospital_id, level, kind, name (UTF-8)
    labels.parquet                                   case_id, hospital_id, year, anomaly,
                                                     related_case_id (ground truth)
    manifest.json                                    parameters, counts, gaming hospitals

Ground truth. ``labels.parquet`` has a row per (case, anomaly) for every case a gaming
behaviour changed (``anomaly`` = the behaviour: ``split_admission`` (the second stay,
``related_case_id`` the first), ``low_standard``, ``upcoding_diagnosis``,
``upcoding_procedure``, ``point_inflation``, ``cost_shifting``) and for injected bad input
(``bad_input``). ``manifest["gaming"]`` lists the gaming hospitals (``hospital_id``,
``behaviour``, ``variant``, ``strength``, ``size``, ``cases_last_year``) and
``manifest["gaming_hospitals"]`` maps each behaviour to its hospital ids. The behaviours
are described in ``data_gen.gaming``; a case no behaviour changed is exactly the case the
same province generated honest (``gaming=[]``, the same ``heterogeneity``) has at that index.

Honest hospitals differ stably with ``heterogeneity`` > 0 (``data_gen.heterogeneity``:
coding depth and comorbidity, cost and LOS levels, surgical propensity, fund share,
readmissions, very costly cases); ``manifest["heterogeneity"]`` and
``manifest["heterogeneity_drift"]`` record it.

Each year's cases are numbered ``0..N-1`` and cut into months by index, then into chunks of
at most ``chunk_rows`` within a month; a chunk is sampled by the Numba kernel and written
at once, so memory is bounded by the chunk size. Since every case is a pure function of its
index, the set of rows (and so every partition's content) is the same whatever the chunk
size; only the cut into files differs.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dipcore.errors import InputError
from dipcore.reports.files import atomic_path, output_directory
from dipcore.schema import BED_DAY_CATEGORIES, CASE_SCHEMA, POOLS, money_array

from . import gaming as _gaming
from . import heterogeneity as _heterogeneity
from . import kernel
from .drg_pack import write_pack
from .model import Model, build_model
from .shape import Shape, shuffle_order

# Month shares of admissions (fewer around the Spring Festival, more at year end).
_SEASON = np.array([0.95, 0.80, 1.0, 1.0, 1.0, 0.98, 1.02, 1.02, 1.0, 0.95, 1.05, 1.10])
_EPOCH = dt.date(1970, 1, 1)
_BED_CATEGORIES = pa.array(list(BED_DAY_CATEGORIES))
_POOLS = pa.array(list(POOLS))
LABEL_SCHEMA = pa.schema([("case_id", pa.string()), ("hospital_id", pa.string()),
                          ("year", pa.int16()), ("anomaly", pa.string()),
                          ("related_case_id", pa.string())])


def _key(*parts: int) -> np.uint64:
    """A 64-bit stream key from integers (splitmix64 of a fold)."""
    z = 0x12345678ABCDEF
    for p in parts:
        z = (z ^ (p & 0xFFFFFFFFFFFFFFFF)) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF
        z ^= z >> 31
    return np.uint64(z)


def month_bounds(n_cases: int) -> np.ndarray:
    """First case index of each month (13 entries; the last is ``n_cases``)."""
    share = _SEASON / _SEASON.sum()
    counts = np.floor(share * n_cases).astype(np.int64)
    counts[: n_cases - counts.sum()] += 1
    return np.concatenate([[0], np.cumsum(counts)])


def hospital_ids(n: int) -> list[str]:
    return [f"H{h:05d}" for h in range(n)]


def _lists(matrix: np.ndarray, values: pa.Array) -> pa.Array:
    mask = matrix >= 0
    offsets = np.zeros(matrix.shape[0] + 1, np.int32)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(matrix[mask])))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), text, "")


def _with_nulls(values: np.ndarray, dtype) -> pa.Array:
    return pa.array(values.astype(dtype), mask=values < 0)


class Province:
    """A synthetic province: its model, its gaming hospitals and the writer of its cases.

    Parameters
    ----------
    seed : int
        Everything is a function of the seed.
    hospitals : int
        Number of hospitals (at least 6).
    gaming : list of dict, optional
        The gaming behaviours (``data_gen.gaming``): ``{"behaviour", "strength", "size"}``
        and, for ``upcoding_diagnosis``, ``"variant"``. ``None``: the default list (every
        behaviour once at a middle strength; in a province with too few general hospitals
        some share a hospital). ``[]``: an honest province.
    n_years : int, default 1
        Number of years generated: behaviours that act in the last year only (or grow to
        it) need to know which one that is (``year_index == n_years - 1``).
    heterogeneity : float, default 0
        Scale of the honest hospitals' stable differences (``data_gen.heterogeneity``):
        0, every hospital of a level alike in distribution; 1, realistic.
    heterogeneity_drift : float, default 1/3
        Their year-to-year drift: a random walk whose steps are this share of each effect.
    shape : Shape, optional
        The shape of the cases (``data_gen.shape``; :func:`generate` documents each knob).
        ``None``: the defaults.
    """

    def __init__(self, seed: int = 0, hospitals: int = 60, gaming: list[dict] | None = None,
                 n_years: int = 1, heterogeneity: float = 0.0,
                 heterogeneity_drift: float = _heterogeneity.DRIFT, shape: Shape | None = None):
        if n_years < 1:
            raise ValueError("n_years must be at least 1")
        _heterogeneity.check(heterogeneity, heterogeneity_drift)
        self.seed = seed
        self.n_years = n_years
        self.heterogeneity = float(heterogeneity)
        self.heterogeneity_drift = float(heterogeneity_drift)
        self.shape = shape or Shape()
        self.model: Model = build_model(seed, hospitals, self.shape.diagnoses,
                                        self.shape.procedures)
        m = self.model
        self.n_hospitals = len(m.hosp_level)
        self.hospital_ids = pa.array(hospital_ids(self.n_hospitals))
        self.dx_codes = pa.array(m.dx_codes)
        self.proc_codes = pa.array(m.proc_codes)
        self.hosp_cdf = np.cumsum(m.hosp_weight) / m.hosp_weight.sum()
        default = gaming is None
        self.behaviours = _gaming.parse_gaming(_gaming.default_gaming() if default else gaming)
        self.gaming_hosp = _gaming.assign_hospitals(m, seed, self.behaviours, reuse=default)
        #: float64[n_years, effects, hospitals]: the honest effects, year by year
        self.effects = _heterogeneity.hospital_effects(
            seed, self.n_hospitals, n_years, self.heterogeneity, self.heterogeneity_drift)

    def registry(self) -> pa.Table:
        m = self.model
        return pa.table({"hospital_id": self.hospital_ids,
                         "level": pa.array(m.hosp_level, pa.int8()),
                         "kind": pa.array(m.hosp_kind), "name": pa.array(m.hosp_name)})

    def gaming_hospitals(self) -> dict[str, list[str]]:
        """Behaviour -> ids of the hospitals gaming it (every behaviour, sorted ids)."""
        ids = self.hospital_ids.to_pylist()
        return {name: sorted({ids[h] for b, h in zip(self.behaviours, self.gaming_hosp)
                              if b.behaviour == name})
                for name in _gaming.BEHAVIOURS}

    def ground_truth(self, cases_last_year: dict[str, int]) -> list[dict]:
        """``manifest["gaming"]``: one dict per behaviour list entry, in its order, with its
        hospital and that hospital's number of cases in the last year generated."""
        ids = self.hospital_ids.to_pylist()
        return [{"hospital_id": ids[h], "behaviour": b.behaviour, "variant": b.variant,
                 "strength": b.strength, "size": b.size,
                 "cases_last_year": int(cases_last_year.get(ids[h], 0))}
                for b, h in zip(self.behaviours, self.gaming_hosp)]

    def intensities(self, year_index: int) -> np.ndarray:
        """The gaming intensities of year ``year_index``, float64[behaviours, hospitals]."""
        return _gaming.intensities(self.behaviours, self.gaming_hosp, self.n_hospitals,
                                   year_index, self.n_years)

    def cases(self, year: int, year_index: int, n_cases: int, start: int, stop: int,
              p_bed: float = 0.015, bad_share: float = 0.0) -> tuple[pa.Table, pa.Table]:
        """Cases ``[start, stop)`` of ``year`` (within one month), year ``year_index`` of
        the province's ``n_years``, and their labels."""
        m = self.model
        bounds = month_bounds(n_cases)
        month = int(np.searchsorted(bounds, start, side="right")) - 1
        if stop > bounds[month + 1]:
            raise ValueError("a chunk must lie within one month")
        first_day = (dt.date(year, month + 1, 1) - _EPOCH).days
        days = calendar.monthrange(year, month + 1)[1]
        gaming = self.intensities(year_index)
        upcode = _gaming.procedure_targets(m, n_cases, max(1, self.n_years - 1))
        shape = self.shape
        n_patients, patient_skew = shape.patient_pool(n_cases)
        sec_width, proc_width = shape.widths()
        n = stop - start
        out = dict(
            patient_o=np.empty(n, np.int64), hosp_o=np.empty(n, np.int32),
            dx_o=np.empty(n, np.int32), sec_o=np.empty((n, sec_width), np.int32),
            proc_o=np.empty((n, proc_width), np.int32), age_o=np.empty(n, np.int16),
            age_days_o=np.empty(n, np.int32), sex_o=np.empty(n, np.int8),
            bw_o=np.empty(n, np.int32), adm_o=np.empty(n, np.int32), dis_o=np.empty(n, np.int32),
            cost_o=np.empty(n, np.int64), fund_o=np.empty(n, np.int64),
            way_o=np.empty(n, np.int8), bed_o=np.empty(n, np.int8), icu_o=np.empty(n, np.int16),
            pool_o=np.empty(n, np.int8), label_o=np.empty(n, np.int8),
            partner_o=np.empty(n, np.int64), bad_o=np.empty(n, np.int8))
        kernel.generate_chunk(
            _key(self.seed, year), _key(self.seed, 0x9E0), start, stop, int(bounds[month]),
            first_day, days, year, year_index, n_patients, patient_skew, shape.max_secondary,
            float(shape.secondary_scale), shape.max_procedures,
            float(shape.extra_procedure_share),
            self.hosp_cdf, p_bed, bad_share, m.dx_base, m.dx_n_ext, m.dx_cdf, m.dx_common_cdf, m.dx_chapter,
            m.dx_cost, m.dx_los, m.dx_combo_start, m.dx_combo_count, upcode,
            m.combo_cdf, m.combo_procs, m.combo_cost, m.combo_los, m.extra_procs,
            m.charlson_codes, m.charlson_weight, m.charlson_cdf, m.severe_charlson, m.bed_dx,
            m.hosp_level, m.hosp_bed_cdf, gaming,
            np.ascontiguousarray(self.effects[year_index]), **out)
        o = out
        index = np.arange(start, stop, dtype=np.int64)
        case_id = _ids(f"S{year}", index, 9)
        hospital = self.hospital_ids.take(pa.array(o["hosp_o"]))
        primary = self.dx_codes.take(pa.array(o["dx_o"]))
        cost, fund, way = o["cost_o"], o["fund_o"], o["way_o"]
        bad = o["bad_o"]
        if bad.any():   # injected bad input, so that the quarantine has work in a demo
            primary = pc.if_else(pa.array(bad == 1), pa.scalar("K3X.9"), primary)
            cost = np.where(bad == 2, -cost, cost)
            fund = np.where(bad == 3, cost + 100, fund)
            way = np.where(bad == 4, 7, way).astype(np.int8)
            hospital = pc.if_else(pa.array(bad == 5), pa.scalar("H99999"), hospital)
        table = pa.Table.from_arrays([
            case_id,
            _ids("P", o["patient_o"], 11),
            hospital,
            pa.array(m.hosp_level[o["hosp_o"]], pa.int8()),
            _POOLS.take(pa.array(o["pool_o"])),
            pa.array(o["adm_o"]).cast(pa.date32()),
            pa.array(o["dis_o"]).cast(pa.date32()),
            pa.array(o["age_o"]),
            _with_nulls(o["age_days_o"], np.int32),
            pa.array(o["sex_o"]),
            _with_nulls(o["bw_o"], np.int32),
            primary,
            _lists(o["sec_o"], self.dx_codes),
            _lists(o["proc_o"], self.proc_codes),
            money_array(cost),
            money_array(fund),
            pa.array(way),
            _BED_CATEGORIES.take(pa.array(o["bed_o"].astype(np.int64), mask=o["bed_o"] < 0)),
            _with_nulls(o["icu_o"], np.int16),
        ], schema=pa.schema([f.with_nullable(True) for f in CASE_SCHEMA]))
        return table, self._labels(year, case_id, hospital, o["label_o"], o["partner_o"])

    @staticmethod
    def _labels(year, case_id, hospital, label, partner) -> pa.Table:
        parts = []
        for bit, name in kernel.ANOMALIES.items():
            rows = np.flatnonzero(label & bit)
            if rows.size == 0:
                continue
            take = pa.array(rows)
            related = (_ids(f"S{year}", partner[rows], 9) if bit == 1 << kernel.SPLIT
                       else pa.nulls(rows.size, pa.string()))
            parts.append(pa.table({
                "case_id": case_id.take(take), "hospital_id": hospital.take(take),
                "year": pa.array(np.full(rows.size, year, np.int16)),
                "anomaly": pa.array([name] * rows.size), "related_case_id": related,
            }, schema=LABEL_SCHEMA))
        return pa.concat_tables(parts) if parts else LABEL_SCHEMA.empty_table()


def generate(out: str | Path, cases_per_year: int, years: tuple[int, int] = (2021, 2024),
             hospitals: int = 60, seed: int = 0, chunk_rows: int = 500_000,
             p_bed: float = 0.015, bad_share: float = 0.0, drg_pack: bool = False,
             gaming: list[dict] | None = None, heterogeneity: float = 0.0,
             heterogeneity_drift: float = _heterogeneity.DRIFT,
             progress: Callable[[int, int], None] | None = None, *,
             patients_per_case: float | None = None, diagnoses: int = 3000,
             procedures: int | None = None, max_secondary: int = kernel.MAX_SEC - 4,
             secondary_scale: float = 1.0, max_procedures: int = kernel.MAX_PROCS,
             extra_procedure_share: float = 0.5, row_group_rows: int = 1 << 17,
             order: str = "sorted") -> dict:
    """Write a synthetic province to ``out`` (see the module docstring for the layout).

    Parameters
    ----------
    out : path
        Output directory (created; the cases of a province generated there before are
        removed first, so none mix with this one's).
    cases_per_year : int
        Cases per year.
    years : (first, last)
        Inclusive range of years.
    hospitals : int
        Number of hospitals.
    seed : int
        Random seed: the same seed gives the same province.
    chunk_rows : int
        Rows sampled and written at a time (bounds memory; does not change the data).
    p_bed : float
        Share of bed-day (psychiatric, rehabilitation, hospice) cases.
    bad_share : float
        Share of cases given one bad value (malformed code, negative cost, fund above
        total, bad discharge way, unknown hospital); labelled ``bad_input``.
    drg_pack : bool, default False
        Also write ``out/drg_pack/``: an invented CHS-DRG rule pack over this province's
        codes (:func:`data_gen.drg_pack.write_pack`), to group the cases with
        :func:`dipcore.drg_group`. The cases are the same either way.
    gaming : list of dict, optional
        Gaming behaviours and their hospitals' sizes (``data_gen.gaming``), e.g.
        ``[{"behaviour": "upcoding_diagnosis", "variant": "growth", "strength": 0.25,
        "size": "large"}]``. ``None``: every behaviour once at a middle strength; ``[]``:
        an honest province.
    heterogeneity : float, default 0
        Stable differences between honest hospitals of one level (coding habits, cost and
        LOS levels, surgical propensity, fund share, readmissions, very costly cases),
        scaled by this: 0 (every hospital of a level alike in distribution; the cases are
        those of a province generated without it), 1 (realistic) or more
        (``data_gen.heterogeneity`` gives the effects and their sizes). Gaming acts on top.
    heterogeneity_drift : float, default 1/3
        The effects' year-to-year drift, a random walk whose yearly step is this share of
        each effect's size (0: the same every year).
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after every chunk.
    patients_per_case : float, optional
        Distinct patients per case within a year, in (0, 1]: patients are drawn alike from
        a pool sized to give this share (1.0: a readmission is rare, nearly one patient per
        case). Newborns, and mothers whom the pool's draw does not fit, are patients of
        their own on top (0.3 gives about 0.38). ``None`` (default): a pool of 0.6 patients
        a case drawn skewed, so that some patients come back often (about 0.5 distinct
        patients a case in a year).
    diagnoses : int, default 3000
        Diagnoses of the catalogue (distinct ICD-10 leaves, Zipf-like in popularity), at
        most the 10K-odd leaves the generator uses. The principal diagnosis codes are these
        (about 15 % of them also coded with extensions, ``K35.900x001``); the secondary ones
        are these and ~100 Charlson condition codes. Changing it redraws the whole model.
        A catalogue much above 3000 can run out of procedure codes of some chapter
        (``RuntimeError``; 6000 does).
    procedures : int, optional
        Distinct procedure codes: the codes the diagnoses' treatment combinations draw
        (about 2.6 a diagnosis, ~7,900 at 3000 diagnoses) are mapped onto this many, class
        by class, the 8 excluded simple procedures kept (``model._restrict_procedures``).
        ``None``: all of them; more than there are is refused (widen the vocabulary
        with ``diagnoses``).
    max_secondary : int, default 8
        Most secondary diagnoses a case's coder records (the Poisson count is cut there);
        diagnosis upcoding (``gaming``) adds up to three on top.
    secondary_scale : float, default 1
        Multiplier of the mean number of secondary diagnoses (about 2.5 a case by default,
        growing with age).
    max_procedures : int, default 5
        Most procedures a case records: its treatment combination's (one or two) first, then
        the excluded simple ones; the rest are not recorded (the case is otherwise the same).
    extra_procedure_share : float, default 0.5
        Probability that a case records excluded simple procedures (one, and a second with
        probability 0.3): the main lever on the mean number of procedures a case
        (about 1.0 by default).
    row_group_rows : int, default 131072
        Rows per Parquet row group (a file holds at most ``chunk_rows`` rows of one month,
        so a larger group needs larger months and chunks to show).
    order : {"sorted", "shuffled"}
        Rows within each file: ``"sorted"`` by case index (cases cut into months by
        discharge, as always); ``"shuffled"`` by a hash of the seed, year and case index,
        a function of the file's rows alone (the same rows, in a deterministic order).

    Returns
    -------
    dict
        The manifest (also written to ``out/manifest.json``).
    """
    if cases_per_year < 12:
        raise InputError("cases_per_year must be at least 12 (one a month)")
    if seed < 0:
        raise InputError(f"seed must not be negative, not {seed}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("the output directory is an existing file", source=str(out))
    cases_dir = out / "cases"
    if cases_dir.exists():
        # the cases of an earlier province here would mix with this one's (other months,
        # other part files): replaced when the generator wrote them, refused otherwise
        if not (out / "manifest.json").is_file():
            raise InputError("holds a cases/ folder the generator did not write (no "
                             "manifest.json); choose an empty directory", source=str(out))
        shutil.rmtree(cases_dir)
    output_directory(cases_dir)
    t0 = time.perf_counter()
    first, last = years
    if last < first:
        raise InputError(f"years {years}: the last year is before the first")
    shape = Shape(patients_per_case=patients_per_case, diagnoses=diagnoses,
                  procedures=procedures, max_secondary=max_secondary,
                  secondary_scale=secondary_scale, max_procedures=max_procedures,
                  extra_procedure_share=extra_procedure_share, row_group_rows=row_group_rows,
                  order=order)
    province = Province(seed, hospitals, gaming, n_years=last - first + 1,
                        heterogeneity=heterogeneity, heterogeneity_drift=heterogeneity_drift,
                        shape=shape)
    registry = province.registry()
    import pyarrow.csv as pacsv
    with atomic_path(out / "hospitals.csv") as tmp:
        pacsv.write_csv(registry, tmp)
    total = cases_per_year * (last - first + 1)
    done = 0
    labels = []
    last_counts: dict[str, int] = {}
    for yi, year in enumerate(range(first, last + 1)):
        bounds = month_bounds(cases_per_year)
        for month in range(12):
            lo, hi = int(bounds[month]), int(bounds[month + 1])
            folder = out / "cases" / f"year={year}" / f"month={month + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for start in range(lo, hi, chunk_rows):
                stop = min(hi, start + chunk_rows)
                table, lab = province.cases(year, yi, cases_per_year, start, stop, p_bed, bad_share)
                if shape.order == "shuffled":
                    table = table.take(shuffle_order(seed, year, np.arange(start, stop)))
                with atomic_path(folder / f"part-{start:09d}.parquet") as tmp:
                    pq.write_table(table, tmp, compression="zstd",
                                   row_group_size=shape.row_group_rows)
                if lab.num_rows:
                    labels.append(lab)
                if year == last:
                    for r in pc.value_counts(table.column("hospital_id")).to_pylist():
                        last_counts[r["values"]] = last_counts.get(r["values"], 0) + r["counts"]
                done += stop - start
                if progress is not None:
                    progress(done, total)
    if drg_pack:
        write_pack(out / "drg_pack", seed, model=province.model)
    label_table = pa.concat_tables(labels) if labels else LABEL_SCHEMA.empty_table()
    with atomic_path(out / "labels.parquet") as tmp:
        pq.write_table(label_table, tmp)
    counts = label_table.group_by("anomaly").aggregate([("case_id", "count")]).to_pylist()
    manifest = {
        "generator": "dipcore data_gen",
        "seed": seed, "cases_per_year": cases_per_year, "years": [first, last],
        "hospitals": province.n_hospitals, "p_bed": p_bed, "bad_share": bad_share,
        "heterogeneity": province.heterogeneity,
        "heterogeneity_drift": province.heterogeneity_drift,
        "cases": total, "anomaly_cases": {r["anomaly"]: r["case_id_count"] for r in counts},
        "gaming": province.ground_truth(last_counts),
        "gaming_hospitals": province.gaming_hospitals(),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if drg_pack:      # only then, so that the manifest of a plain run is unchanged
        manifest["drg_pack"] = "drg_pack"
    if shape.changed():   # likewise: the knobs set away from their defaults
        manifest["shape"] = shape.changed()
    with atomic_path(out / "manifest.json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest
