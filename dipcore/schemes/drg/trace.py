"""Why a case got its DRG: the steps that decided it, in Chinese and English.

``drg_group(..., trace=True)`` calls :func:`trace_table`. It walks each case through the
rules again in plain Python, on the pack's code sets (``DrgRules``), writing down each step
a coder would check by hand: the checks, every MDC the case entered and why, the MDCs it
fell through, the QY slot, the ADRG condition that matched, each CC/MCC among the other
diagnoses and whether the main diagnosis' exclusion table removed it, and the DRG. Its
result must equal the kernel's, case by case; a difference is an internal error and is
raised, never printed as a plausible but wrong explanation.
"""
from __future__ import annotations

import contextvars
import re

import numpy as np
import pyarrow as pa

from dipcore.schemes.drg.cases import INT_COLUMNS, ints
from dipcore.schemes.drg.rules import AdrgRule, DrgRules, MdcRule, fold_code

Step = tuple[str, str]          # (zh, en)

_SPLIT_WORDS = {"mcc": ("伴严重并发症或合并症（MCC）", "with MCC"),
                "mcc_or_cc": ("伴并发症或合并症（CC 或 MCC）", "with CC or MCC"),
                "none": ("不伴并发症或合并症", "without a counted CC/MCC"),
                "unsplit": ("该 ADRG 不细分", "the ADRG is not split")}


def trace_table(table: pa.Table, rules: DrgRules, out: pa.Table, map_codes: bool) -> pa.Array:
    """The ``trace`` column of ``drg_group`` for the cases of ``table`` (its canonical
    columns), checked against the kernel's results in ``out``."""
    n = table.num_rows
    values = {}
    for c in INT_COLUMNS:
        v = ints(table.column(c), c) if n else np.zeros(0, np.int64)
        values[c] = [None if x == np.iinfo(np.int64).min else int(x) for x in v.tolist()]
    prim = table.column("primary_dx").to_pylist()
    lists = {c: _as_lists(table.column(c)) for c in ("secondary_dx", "procedures")}
    got = list(zip(*(out.column(c).to_pylist() for c in
                     ("status", "mdc", "adrg", "drg", "cc_kind"))))
    traces = []
    for i in range(n):
        case = {c: values[c][i] for c in INT_COLUMNS}
        case["primary_dx"] = prim[i]
        case["secondary_dx"] = lists["secondary_dx"][i]
        case["procedures"] = lists["procedures"][i]
        result, steps = explain(rules, case, map_codes)
        if result != got[i]:
            raise RuntimeError(f"internal error: the trace of case row {i + 1} ends in "
                               f"{result}, the kernel gave {got[i]}")
        traces.append([{"zh": zh, "en": en} for zh, en in steps])
    return pa.array(traces, type=pa.list_(pa.struct([("zh", pa.string()),
                                                     ("en", pa.string())])))


def _as_lists(col: pa.ChunkedArray) -> list:
    t = col.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        # split as the grouper does: on "," and "|", keeping empty pieces
        return [None if s is None else re.split(r"[,|]", s) for s in col.to_pylist()]
    if pa.types.is_null(t):
        return [None] * len(col)
    return col.to_pylist()


_SHOWN: contextvars.ContextVar[dict] = contextvars.ContextVar("shown", default={})


def _show(code: str) -> str:
    """A folded code as the case recorded it."""
    return _SHOWN.get().get(code, code)


def _dx(rules: DrgRules, code: str) -> str:
    name = rules.dx_names.get(code)
    shown = _show(code) if code else "（空）"
    return f"{shown}（{name}）" if name else shown


def _dx_en(code: str) -> str:
    return _show(code) if code else "(empty)"


def _proc(rules: DrgRules, code: str) -> str:
    name = rules.proc_names.get(code)
    shown = _show(code) if code else "（空）"
    return f"{shown}（{name}）" if name else shown


def explain(rules: DrgRules, case: dict, map_codes: bool = False):
    """Group one case in plain Python and say why.

    Returns ``((status, mdc, adrg, drg, cc_kind), steps)``, steps as ``(zh, en)`` pairs.
    """
    steps: list[Step] = []
    raw = [case["primary_dx"]] + list(case["secondary_dx"] or []) + list(case["procedures"] or [])
    # codes are compared folded but shown as the hospital recorded them (trimmed)
    _SHOWN.set({fold_code(x): x.strip() for x in raw if x is not None})
    D = [fold_code(case["primary_dx"])] + [fold_code(x) for x in (case["secondary_dx"] or [])]
    P = [fold_code(x) for x in (case["procedures"] or [])]
    none = (None, None, None, None)

    if map_codes:
        for pos, d in enumerate(D):
            t = rules.dx_map.get(d)
            if t is None or t in ("", "-"):
                steps.append((f"诊断 {_dx(rules, d)} 不在诊断编码映射表中：诊断不能转换（invalid_dx）",
                              f"diagnosis {_dx_en(d)} is not in the diagnosis code map: "
                              "invalid_dx"))
                return ("invalid_dx", *none), steps
        for p in P:
            t = rules.proc_map.get(p)
            if t is None or t in ("", "-"):
                steps.append((f"手术操作 {_proc(rules, p)} 不在手术编码映射表中：手术操作不能转换"
                              "（invalid_proc）",
                              f"procedure {_dx_en(p)} is not in the procedure code map: "
                              "invalid_proc"))
                return ("invalid_proc", *none), steps
        mapped = [(a, rules.dx_map[a]) for a in D if rules.dx_map[a] != a]
        mapped += [(a, rules.proc_map[a]) for a in P if rules.proc_map[a] != a]
        D = [rules.dx_map[d] for d in D]
        P = [rules.proc_map[p] for p in P]
        for a, b in mapped:
            steps.append((f"编码 {_show(a)} 映射为 {b}", f"code {_show(a)} mapped to {b}"))

    failed = _check(rules, case)
    if failed:
        steps.append(failed)
        return ("check_failed", *none), steps
    steps.append((f"主诊断 {_dx(rules, D[0])}；主手术 "
                  f"{_proc(rules, P[0]) if P else '无'}；性别 {case['sex']}，"
                  f"年龄 {case['age_years']} 岁",
                  f"main diagnosis {_dx_en(D[0])}; main procedure "
                  f"{_dx_en(P[0]) if P else 'none'}; sex {case['sex']}, "
                  f"age {case['age_years']} years"))

    entered = False
    for m in rules.mdcs:
        why = _entry(rules, m, D, P, case)
        if why is None:
            continue
        entered = True
        steps.append((f"进入 {m.code}（{m.name_zh}）：{why[0]}",
                      f"entered {m.code} ({m.name_en or m.name_zh}): {why[1]}"))
        qy_pending = m.qy_enabled
        any_valid = any(p in rules.proc_valid for p in P)
        for a in (a for a in rules.adrgs if a.mdc == m.mdc):
            if qy_pending and a.seq > m.qy_after_seq:
                qy_pending = False
                if any_valid:
                    return _qy(m, steps)
            why = _condition(rules, a, D, P, case)
            if why is None:
                continue
            steps.append((f"符合 ADRG {a.adrg}（{a.name_zh}）：{why[0]}",
                          f"ADRG {a.adrg} ({a.name_zh}) matches: {why[1]}"))
            drg, cc_kind = _split(rules, a, D, steps)
            return ("ok", m.code, a.adrg, drg, cc_kind), steps
        if qy_pending and any_valid:
            return _qy(m, steps)
        steps.append((f"{m.code} 中没有 ADRG 符合条件，转入后续 MDC",
                      f"no ADRG of {m.code} matches: falling through to the next MDCs"))
    if not entered:
        steps.append(("没有 MDC 的入组条件符合（主诊断不在任何可进入的 MDC 主诊表中，"
                      "且主手术不能进入 MDCA）",
                      "no MDC's entry test passes (the main diagnosis is in no enterable "
                      "MDC table, and no valid main procedure opens MDCA)"))
    steps.append(("无法入组（0000 组）", "ungroupable (group 0000)"))
    return ("ungroupable", *none), steps


def _qy(m: MdcRule, steps: list[Step]):
    steps.append((f"{m.code} 的歧义组（QY）：存在有效手术操作，与主诊断无关 → {m.mdc}QY",
                  f"QY slot of {m.code}: a valid procedure unrelated to the main "
                  f"diagnosis -> {m.mdc}QY"))
    return ("ambiguous_qy", m.code, None, m.mdc + "QY", None), steps


def _check(rules: DrgRules, c: dict) -> Step | None:
    """README section 1, in pack.json order: the first check that fails, in words."""
    k = rules.checks
    sex, ay, ad, w = c["sex"], c["age_years"], c["age_days"], c["birth_weight_g"]
    if "sex_in" in k and (sex is None or sex not in k["sex_in"]):
        allowed = "、".join(str(v) for v in k["sex_in"])
        return (f"性别 {sex if sex is not None else '缺失'} 不是 {allowed}：信息校验不通过",
                f"sex {sex if sex is not None else 'missing'} is not one of "
                f"{', '.join(str(v) for v in k['sex_in'])}: check failed")
    if k.get("age_years_required") and ay is None:
        return ("年龄（岁）缺失：信息校验不通过", "age in years missing: check failed")
    eq = k.get("age_days_required_if_age_years_eq")
    if eq is not None and ay == eq and ad is None:
        return (f"年龄为 {eq} 岁但日龄缺失：信息校验不通过",
                f"age {eq} years but age in days missing: check failed")
    le = k.get("birth_weight_required_if_age_years_eq_0_and_age_days_le")
    if le is not None and ay == 0 and ad is not None and ad <= le and w is None:
        return (f"日龄 {ad} 天（≤ {le}）但出生体重缺失：信息校验不通过",
                f"age {ad} days (<= {le}) but birth weight missing: check failed")
    return None


def _entry(rules: DrgRules, m: MdcRule, D, P, c) -> Step | None:
    """README section 2: why the case enters MDC ``m``, or None."""
    zh, en = [], []
    if m.dx_rule == "main_in":
        if D[0] not in rules.mdc_dx[m.mdc]:
            return None
        zh.append(f"主诊断 {_dx(rules, D[0])} 在 {m.code} 主诊表中")
        en.append(f"main diagnosis {_dx_en(D[0])} is in the {m.code} main-diagnosis table")
    if m.proc_rule == "main_valid":
        if not (P and P[0] in rules.proc_valid):
            return None
        zh.append(f"主手术 {_proc(rules, P[0])} 是有效手术操作")
        en.append(f"main procedure {_dx_en(P[0])} is a valid operation")
    if m.sex is not None:
        if c["sex"] != m.sex:
            return None
        zh.append(f"性别 {c['sex']} 符合")
        en.append(f"sex {c['sex']} fits")
    if m.age_years is not None:
        if c["age_years"] != m.age_years:
            return None
        zh.append(f"年龄 {c['age_years']} 岁")
        en.append(f"age {c['age_years']} years")
    if m.min_trauma_regions:
        reg = rules.trauma_regions[m.mdc]
        found = sorted({reg[d] for d in D if d in reg})
        if len(found) < m.min_trauma_regions:
            return None
        zh.append(f"诊断涉及 {len(found)} 个创伤部位（{'、'.join(found)}），"
                  f"至少需要 {m.min_trauma_regions} 个")
        en.append(f"diagnoses cover {len(found)} trauma regions ({', '.join(found)}), "
                  f"at least {m.min_trauma_regions} needed")
    return "；".join(zh), "; ".join(en)


def _condition(rules: DrgRules, a: AdrgRule, D, P, c) -> Step | None:
    """README section 3: why ADRG ``a`` matches, or None."""
    zh, en = [], []
    DX = rules.adrg_dx.get(a.adrg, frozenset())
    L = rules.adrg_proc.get(a.adrg, {})
    if a.dx_rule == "main_in":
        if D[0] not in DX:
            return None
        zh.append(f"主诊断 {_show(D[0])} 在 {a.adrg} 诊断表中")
        en.append(f"main diagnosis {_dx_en(D[0])} is in the {a.adrg} diagnosis table")
    elif a.dx_rule == "any_in":
        hit = [d for d in D if d in DX]
        if not hit:
            return None
        zh.append(f"诊断 {_show(hit[0])} 在 {a.adrg} 诊断表中")
        en.append(f"diagnosis {_show(hit[0])} is in the {a.adrg} diagnosis table")
    if a.proc_rule == "main_in":
        if not (P and P[0] in L.get(1, ())):
            return None
        zh.append(f"主手术 {_proc(rules, P[0])} 在 {a.adrg} 手术表 1 中")
        en.append(f"main procedure {_show(P[0])} is in procedure list 1 of {a.adrg}")
    elif a.proc_rule == "main_valid":
        if not (P and P[0] in rules.proc_valid):
            return None
        zh.append(f"主手术 {_proc(rules, P[0])} 是有效手术操作")
        en.append(f"main procedure {_dx_en(P[0])} is a valid operation")
    elif a.proc_rule == "lists":
        for term in a.proc_terms:
            hits = {k: next((p for p in P if p in L.get(k, ())), None) for k in term}
            if all(v is not None for v in hits.values()):
                zh.append(f"手术条件 {a.proc_expr}：" + "，".join(
                    f"{_show(p)} 在手术表 {k} 中" for k, p in hits.items()))
                en.append(f"procedure condition {a.proc_expr}: " + ", ".join(
                    f"{_show(p)} is in list {k}" for k, p in hits.items()))
                break
        else:
            return None
    elif a.proc_rule == "none_valid":
        if any(p in rules.proc_valid for p in P):
            return None
        zh.append("没有有效手术操作")
        en.append("no valid operation")
    ad, w = c["age_days"], c["birth_weight_g"]
    if a.age_days_max is not None:
        if ad is None or ad > a.age_days_max:
            return None
        zh.append(f"日龄 {ad} ≤ {a.age_days_max} 天")
        en.append(f"age {ad} days <= {a.age_days_max}")
    if a.weight_min_g is not None or a.weight_max_g is not None:
        if w is None or w == 0:
            return None
        if a.weight_min_g is not None and w < a.weight_min_g:
            return None
        if a.weight_max_g is not None and w >= a.weight_max_g:
            return None
        band = (f"[{a.weight_min_g if a.weight_min_g is not None else 0}, "
                f"{a.weight_max_g if a.weight_max_g is not None else '∞'})")
        zh.append(f"出生体重 {w} 克在 {band} 内")
        en.append(f"birth weight {w} g is in {band}")
    if not zh:
        zh.append("无条件")
        en.append("no condition")
    return "；".join(zh), "; ".join(en)


def _split(rules: DrgRules, a: AdrgRule, D, steps: list[Step]):
    """README section 4: the DRG, with each CC/MCC considered."""
    drgs = [d for d in rules.drgs if d.adrg == a.adrg]
    split = any(d.split != "none" for d in drgs)
    mcc = cc = False
    if split:
        t = rules.cce.get(D[0])
        for d in D[1:]:
            for kind, table, label_zh in (("MCC", rules.mcc, "严重并发症或合并症"),
                                          ("CC", rules.cc, "并发症或合并症")):
                if d not in table:
                    continue
                if t is not None and table[d] == t:
                    steps.append((f"其他诊断 {_dx(rules, d)} 是{label_zh}（{kind}），但在主诊断 "
                                  f"{_show(D[0])} 的排除表 {t} 中，不计",
                                  f"other diagnosis {_show(d)} is an {kind}, but the main "
                                  f"diagnosis {_show(D[0])} excludes it (exclusion table {t}): "
                                  "not counted"))
                else:
                    steps.append((f"其他诊断 {_dx(rules, d)} 是{label_zh}（{kind}），计入",
                                  f"other diagnosis {_show(d)} is an {kind}: counted"))
                    if kind == "MCC":
                        mcc = True
                    else:
                        cc = True
        if not (mcc or cc):
            steps.append(("其他诊断中没有计入的 CC/MCC", "no counted CC/MCC among the other "
                                                     "diagnoses"))
    else:
        steps.append((f"{a.adrg} 不按并发症细分", f"{a.adrg} is not split by severity"))
    for d in drgs:
        holds = (d.split == "none" or (d.split == "mcc" and mcc)
                 or (d.split == "mcc_or_cc" and (mcc or cc)))
        if holds:
            kind = None if d.split == "none" else ("mcc" if mcc else "cc")
            zh, en = _SPLIT_WORDS[d.split if split else "unsplit"]
            steps.append((f"分入 DRG {d.drg}（{d.name_zh}）：{zh}",
                          f"grouped to DRG {d.drg} ({d.name_zh}): {en}"))
            return d.drg, kind
    raise RuntimeError(f"internal error: no DRG of {a.adrg} holds")  # pragma: no cover
