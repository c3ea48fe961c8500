"""Gaming behaviours of the synthetic province: the behaviour list, its hospitals, its
intensities year by year. The cases they change carry a label (``labels.parquet``) and the
hospitals are the ground truth of ``manifest.json``, so supervision's recall and its
false flags can be measured (issue 12, SPEC.md sections 8 and 11).

A behaviour list is a list of dicts::

    {"behaviour": "upcoding_diagnosis", "variant": "growth", "strength": 0.25, "size": "large"}

``behaviour`` is the audit flag that must find it; ``variant`` (``"level"`` or ``"growth"``)
exists for ``upcoding_diagnosis`` only and defaults to ``"level"``; ``strength`` is the
behaviour's intensity (below); ``size`` the hospital's size class, ``"small"``,
``"medium"``, ``"large"`` (terciles of case volume among general hospitals) or ``"any"``
(the default). Every entry gets a hospital of its own. Each behaviour changes a hospital's cases the way
the same conduct changes real claims (医保结算清单):

``split_admission`` (分解住院)
    The hospital discharges a patient and readmits them a few days later for the same
    diagnosis, so that one treatment earns two case payments. A stay of the hospital is
    followed by such a second stay with probability ``strength`` (0.04-0.10; at most
    ``kernel.SPLIT_CAP``), except the 15 % of stays whose own split draw is below the cap
    (so that a second stay is never split again) and a stay that ends in the last two days
    of its month: about 0.8 ``strength`` of its stays are split. An
    honest hospital's readmissions of the same kind (complications, planned second courses)
    happen at 0.2 % and carry no label. Each part is shorter and cheaper than the whole
    (0.6 of its LOS and cost), and the second starts 1-10 days after the first ends, within
    the month.
``low_standard`` (低标入院)
    The hospital admits patients an outpatient visit would have served (a check-up, a mild
    episode): a share ``strength`` (0.03-0.08) of its admissions get conservative treatment,
    1-2 days and 0.3 of a conservative stay's cost, so they are low-cost cases of
    conservative groups.
``upcoding_diagnosis``, variant ``level`` (高套编码, by level)
    The coders add comorbidities the patient was not treated for: every year, a share
    ``strength`` (0.15-0.35) of the hospital's DIP cases get 1-3 extra secondary diagnoses of
    severe Charlson conditions (weight 2 or more: renal disease, complicated diabetes,
    malignancy, ...), which raise the CCI subtype in DIP and are CC/MCC in DRG. Nothing is
    treated, so the cost does not move. The hospital codes more comorbidity than its case mix
    explains, year after year: only case-mix adjustment sees it, growth never does.
``upcoding_diagnosis``, variant ``growth``
    The same, started in the last year (the year audited against the one before): no extra
    codes before, a share ``strength`` of the DIP cases in the last year.
``upcoding_procedure`` (高套手术)
    In the last year, a share ``strength`` (0.10-0.30) of the hospital's conservatively
    treated cases get an operation recorded: the procedures of the most frequent surgical
    combination of their diagnosis, which the public catalogue lists as a core group of
    that diagnosis (a surgical ADRG of its MDC in DRG). The coder picks a diagnosis only
    where that group exists, so only diagnoses whose operation is expected at least
    :data:`UPCODE_MIN_EXPECTED` times in the calibration years (the years before the last)
    are upcoded: elsewhere the recorded operation would find no surgical group and the
    case would stay in its diagnosis' conservative group, or go ungrouped. LOS and cost
    stay those of the conservative stay, so the surgical share rises while the cost per
    case does not.
``point_inflation`` (冲点数, by cost)
    The hospital pads chosen bills (drugs, consumables, repeated tests) until they cross the
    high-cost line, whose cases earn points in proportion to their cost: a share of its DIP
    cases costs 2.4-3.5 times the expected cost of the case (or its drawn cost, when
    dearer), so the cost ratio r of the case goes above 2 (for about nine in ten of them:
    the hospital pads against the group's mean, which it knows only roughly, and the
    expected cost of a young patient without comorbidity is below it). The share grows
    over the years from a quarter of ``strength`` in the first year to ``strength``
    (0.06-0.20) in the last. The hospital's volume does not change: more admissions would
    take cases from every other hospital, and it is the cost behaviour the audit must find.
``cost_shifting`` (转嫁费用)
    In the last year the hospital moves items off the insurance list (self-paid drugs and
    consumables, prescriptions filled outside): on every bill the fund's share
    ``fund_paid / total_cost`` drops by ``strength`` on average (0.08-0.15, between half and
    one and a half times it on a bill), so the patients pay more.

Hospitals are chosen from the seed alone (not from the cases), distinct per entry. A hospital
never games two behaviours, except in the default list of a province too small to give
each behaviour a hospital of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import kernel
from .model import Model

BEHAVIOURS = kernel.BEHAVIOURS
SIZES = ("small", "medium", "large", "any")
#: Variants of a behaviour; the first is the default.
VARIANTS = {"upcoding_diagnosis": ("level", "growth")}
#: (weak, middle, strong) strengths of each behaviour and variant.
STRENGTHS = {
    ("split_admission", ""): (0.04, 0.07, 0.10),
    ("low_standard", ""): (0.03, 0.05, 0.08),
    ("upcoding_diagnosis", "level"): (0.15, 0.25, 0.35),
    ("upcoding_diagnosis", "growth"): (0.15, 0.25, 0.35),
    ("upcoding_procedure", ""): (0.10, 0.20, 0.30),
    ("point_inflation", ""): (0.06, 0.12, 0.20),
    ("cost_shifting", ""): (0.08, 0.12, 0.15),
}
#: Largest strength of each behaviour (a probability or share otherwise).
_MAX_STRENGTH = {"split_admission": kernel.SPLIT_CAP, "cost_shifting": 0.5}
#: Behaviours and variants that act in the last year only.
_LAST_YEAR_ONLY = {("upcoding_diagnosis", "growth"), ("upcoding_procedure", ""),
                   ("cost_shifting", "")}
#: Seed of the choice of gaming hospitals, beside the province's seed.
_GAMING_STREAM = 0x6A3E
#: Expected cases, in the calibration years, of a diagnosis' most frequent surgical
#: combination for a procedure upcoder to record it (twice the default ``core_min_cases``,
#: so that the combination is a core group of the catalogue).
UPCODE_MIN_EXPECTED = 30


@dataclass(frozen=True)
class Behaviour:
    """One validated entry of a behaviour list."""

    behaviour: str
    variant: str
    strength: float
    size: str

    def intensity(self, year_index: int, n_years: int) -> float:
        """The behaviour's intensity in year ``year_index`` of ``n_years`` (the kernel's
        ``gaming`` matrix entry; see the module docstring)."""
        last = n_years - 1
        if (self.behaviour, self.variant) in _LAST_YEAR_ONLY:
            return self.strength if year_index == last else 0.0
        if self.behaviour == "point_inflation":
            t = year_index / last if last > 0 else 1.0
            return self.strength * (0.25 + 0.75 * t)
        return self.strength


def default_gaming() -> list[dict[str, Any]]:
    """The default behaviour list: every behaviour once, both diagnosis-upcoding variants
    (7 hospitals), at the middle strength, of any size."""
    return [{"behaviour": b, **({"variant": v} if v else {}), "strength": s[1], "size": "any"}
            for (b, v), s in STRENGTHS.items()]


def parse_gaming(gaming: Iterable[dict[str, Any]]) -> list[Behaviour]:
    """Validate a behaviour list (see the module docstring); ``ValueError`` names the entry."""
    if isinstance(gaming, dict):
        raise ValueError("gaming must be a list of behaviour dicts, not one dict")
    out = []
    for k, entry in enumerate(gaming):
        where = f"gaming[{k}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
        unknown = set(entry) - {"behaviour", "variant", "strength", "size"}
        if unknown:
            raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
        behaviour = entry.get("behaviour")
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"{where}: behaviour {behaviour!r} is not one of {list(BEHAVIOURS)}")
        variants = VARIANTS.get(behaviour, ("",))
        variant = entry.get("variant") or variants[0]
        if variant not in variants:
            raise ValueError(f"{where}: {behaviour} has no variant {variant!r}"
                             + (f" (one of {list(variants)})" if variants != ("",) else ""))
        strength = entry.get("strength")
        high = _MAX_STRENGTH.get(behaviour, 1.0)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) \
                or not 0.0 < strength <= high:
            raise ValueError(f"{where}: strength of {behaviour} must be a number in (0, {high}], "
                             f"got {strength!r}")
        size = entry.get("size", "any")
        if size not in SIZES:
            raise ValueError(f"{where}: size {size!r} is not one of {list(SIZES)}")
        out.append(Behaviour(behaviour, variant, float(strength), size))
    return out


def size_classes(model: Model) -> dict[str, list[int]]:
    """General hospitals by size class: terciles of their expected case volume (the model's
    hospital weight), smallest first; ``"any"`` is all of them. (A province of a handful
    of hospitals without a general one uses its TCM hospitals.)"""
    general = ([h for h, kind in enumerate(model.hosp_kind) if kind == "general"]
               or [h for h, kind in enumerate(model.hosp_kind) if kind == "tcm"])
    by_volume = sorted(general, key=lambda h: (model.hosp_weight[h], h))
    small, medium, large = ([int(h) for h in part] for part in np.array_split(by_volume, 3))
    return {"small": small, "medium": medium, "large": large, "any": general}


def assign_hospitals(model: Model, seed: int, behaviours: list[Behaviour], *,
                     reuse: bool = False) -> list[int]:
    """A distinct hospital of its size class for every behaviour, drawn from ``seed``.

    When a class has no hospital left: with ``reuse``, the class's least used hospital
    (so a small province still gets every behaviour); otherwise ``ValueError``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, _GAMING_STREAM]))
    classes = size_classes(model)
    order = {size: [int(h) for h in rng.permutation(members)] for size, members in classes.items()}
    uses: dict[int, int] = {}
    chosen = []
    for k, b in enumerate(behaviours):
        candidates = order[b.size]
        free = [h for h in candidates if h not in uses]
        if free:
            h = free[0]
        elif reuse and candidates:
            h = min(candidates, key=lambda c: uses[c])
        else:
            wanted = sum(1 for x in behaviours if x.size == b.size)
            raise ValueError(
                f"gaming[{k}] ({b.behaviour}) needs a {b.size} general hospital of its own, but "
                f"the province's {len(model.hosp_kind)} hospitals have only {len(candidates)} "
                f"{'general' if b.size == 'any' else b.size + ' general'} hospitals, "
                f"{len(uses)} of them already gaming ({wanted} {b.size} entries asked for); "
                "generate more hospitals or list fewer behaviours")
        uses[h] = uses.get(h, 0) + 1
        chosen.append(h)
    return chosen


def intensities(behaviours: list[Behaviour], hospitals: list[int], n_hospitals: int,
                year_index: int, n_years: int) -> np.ndarray:
    """The kernel's ``gaming`` matrix for one year: float64[len(BEHAVIOURS), n_hospitals],
    the intensity of each behaviour at each hospital (the largest, should a hospital
    carry a behaviour twice)."""
    if not 0 <= year_index < n_years:
        raise ValueError(f"year_index {year_index} is outside the {n_years} years generated")
    matrix = np.zeros((len(BEHAVIOURS), n_hospitals))
    for b, h in zip(behaviours, hospitals):
        row = BEHAVIOURS.index(b.behaviour)
        matrix[row, h] = max(matrix[row, h], b.intensity(year_index, n_years))
    return matrix


def procedure_targets(model: Model, cases_per_year: int, history_years: int) -> np.ndarray:
    """int32[D]: the combination a procedure upcoder records for each diagnosis, or -1.

    It is the diagnosis' most frequent surgical combination, when that combination is
    expected at least :data:`UPCODE_MIN_EXPECTED` times in ``history_years`` years of
    ``cases_per_year`` cases (so that calibration makes it a core group).
    """
    combo = model.dx_surgery_combo
    safe = np.maximum(combo, 0)
    first = safe == model.dx_combo_start
    p_combo = model.combo_cdf[safe] - np.where(first, 0.0, model.combo_cdf[np.maximum(safe - 1, 0)])
    p_dx = np.diff(model.dx_cdf, prepend=0.0)
    expected = cases_per_year * history_years * p_dx * p_combo
    return np.where((combo >= 0) & (expected >= UPCODE_MIN_EXPECTED), combo, -1).astype(np.int32)
