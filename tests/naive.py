"""Slow, obvious reference implementations of the kernels, written from SPEC.md.

Every kernel test compares the fast implementation with the function of the same name here.
They share no code with dipcore on purpose.
"""
from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

OK, EMPTY, BAD, RANGE = 0, 1, 2, 3
_ASCII_SPACE = " \t\n\r\x0b\x0c"
_DIAG = re.compile(r"^[A-Z]\d\d\.(?:\d|[\dX]\d\d(?:X\d\d\d)?)$", re.ASCII)
_PROC = re.compile(r"^\d\d\.\d(?:\d(?:\d\d(?:X\d\d\d)?)?)?$", re.ASCII)


def normalize_code(value: str | None, kind: str) -> tuple[str, int]:
    """SPEC.md 2: trim, drop spaces, keep the dagger code, upper-case but for the x of
    extensions, insert a missing dot; then check the shape."""
    if value is None:
        return "", EMPTY
    chars = []
    for ch in value:
        o = ord(ch)
        if 0xFF01 <= o <= 0xFF5E:           # full-width ASCII forms
            ch = chr(o - 0xFEE0)
        if ch in _ASCII_SPACE or ch == "\u3000":
            continue
        if ch in "+\u2020":
            break
        if ch == "*":
            continue
        if ord(ch) >= 128:
            return "", BAD
        chars.append(ch.upper())
    code = "".join(chars)
    if not code:
        return "", EMPTY
    if len(code) > 24:
        return "", BAD
    at = 3 if kind == "diagnosis" else 2
    if "." not in code and len(code) > at:
        code = code[:at] + "." + code[at:]
    pattern = _DIAG if kind == "diagnosis" else _PROC
    if not pattern.match(code):
        return "", BAD
    if kind == "diagnosis" and len(code) >= 7 and code[4] == "X":
        code = code[:4] + "x" + code[5:]
    if len(code) == 11:
        code = code[:7] + "x" + code[8:]
    return code, OK


def split_list(value: str | None) -> list[str]:
    if value is None:
        return []
    items = [t.strip(_ASCII_SPACE) for t in re.split(r"[|,]", value)]
    return [t for t in items if t]


def _stripped(value: str | None) -> str:
    """The value without surrounding ASCII white space ('' for null)."""
    return "" if value is None else value.strip(_ASCII_SPACE)


def parse_fen(value: str | None) -> tuple[int, int]:
    """Yuan text -> fen, half away from zero (Decimal arithmetic)."""
    s = _stripped(value)
    if not s:
        return 0, EMPTY
    if not re.match(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", s, re.ASCII):
        return 0, BAD
    try:
        d = Decimal(s)
    except InvalidOperation:
        return 0, BAD
    if abs(d * 100) >= 2**63:
        return 0, RANGE
    with localcontext() as ctx:
        ctx.prec = 60
        fen = (d * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if abs(fen) >= 2**63:
        return 0, RANGE
    return int(fen), OK


def parse_int(value: str | None) -> tuple[int, int]:
    s = _stripped(value)
    if not s:
        return 0, EMPTY
    m = re.match(r"^([+-]?)(\d+)(?:\.0*)?$", s, re.ASCII)
    if not m:
        if re.match(r"^[+-]?\d{16,}", s, re.ASCII):
            return 0, RANGE
        return 0, BAD
    if len(m.group(2)) > 15:
        return 0, RANGE
    return int(m.group(1) + m.group(2)), OK


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_date(value: str | None) -> tuple[int, int]:
    """Date text -> days since 1970-01-01."""
    import datetime as dt
    s = _stripped(value)
    if not s:
        return 0, EMPTY
    m = re.match(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[ T][\d:. ]*)?$", s, re.ASCII) \
        or re.match(r"^(\d{4})()(\d{2})(\d{2})(?:[ T][\d:. ]*)?$", s, re.ASCII)
    if not m:
        return 0, BAD
    y, mo, d = int(m.group(1)), int(m.group(3)), int(m.group(4))
    if not (1 <= mo <= 12) or not (1 <= d <= _days_in_month(y, mo)):
        return 0, BAD
    if not 1900 <= y <= 2200:
        return 0, RANGE
    return (dt.date(y, mo, d) - dt.date(1970, 1, 1)).days, OK


def malformed_records(text: str) -> tuple[list[int], int]:
    """1-based data-row ordinals whose field count differs from the header's, by csv."""
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r != []]
    if not rows:
        return [], 0
    expected = len(rows[0])
    data = rows[1:]
    return [i + 1 for i, r in enumerate(data) if len(r) != expected], len(data)


def duplicates(batches: list[list[str | None]]) -> list[list[int]]:
    """For each value: 1 if an equal non-null value came before it (across batches)."""
    seen: set[str] = set()
    out = []
    for batch in batches:
        flags = []
        for v in batch:
            if v is None:
                flags.append(0)
                continue
            flags.append(1 if v in seen else 0)
            seen.add(v)
        out.append(flags)
    return out


# ---- engine references -----------------------------------------------------------------------
def canonical(procs: list[str], excluded: set[str]) -> list[str]:
    """SPEC 3.1: drop excluded, main first, related sorted and de-duplicated."""
    kept = [p for p in procs if p not in excluded]
    if not kept:
        return []
    main = kept[0]
    return [main] + sorted({p for p in kept[1:] if p != main})


def charlson(codes: list[str], table: list[tuple[str, int, tuple[str, ...]]]) -> int:
    """Charlson index by Quan prefixes with the three hierarchies (SPEC 4)."""
    present = set()
    for code in codes:
        flat = code.replace(".", "")
        for name, _, prefixes in table:
            if any(flat.startswith(p) for p in prefixes):
                present.add(name)
    for mild, severe in (("diabetes_without_complication", "diabetes_with_complication"),
                         ("mild_liver_disease", "severe_liver_disease"),
                         ("malignancy", "metastatic_solid_tumour")):
        if severe in present:
            present.discard(mild)
    weight = {name: w for name, w, _ in table}
    return sum(weight[n] for n in present)


def choose_group(case_dx, case_procs, case_cat, case_class, cost, groups, tie_highest):
    """SPEC 3.2 priorities. ``groups``: list of dicts with kind, dx, procs (list), cat,
    cls, tier, mean, score. Returns the chosen index or -1."""
    cands = []
    for i, g in enumerate(groups):
        if g["kind"] == "core":
            if g["dx"] == case_dx and all(p in case_procs for p in g["procs"]):
                cands.append(i)
    comp = [i for i, g in enumerate(groups) if g["kind"] == "comp" and g["cat"] == case_cat
            and g["cls"] == case_class]
    if not comp:
        comp = [i for i, g in enumerate(groups) if g["kind"] == "comp" and g["cat"] == case_cat
                and g["cls"] is None]
    cands += comp[:1]
    if not cands:
        return -1

    def key(i):
        g = groups[i]
        tie = -g["score"] if tie_highest else abs(g["mean"] - cost)
        return (g["tier"], -len(g["procs"]), tie, i)
    return min(cands, key=key)


def points(kind, rw, k, a, base, cost, M, policy, bed_rate=0.0, los=0):
    """SPEC 5 formulas, written out one by one."""
    scale = policy["scale"]
    if kind == "ungrouped":
        return cost / M * scale * policy["ungrouped_discount"], ""
    if kind == "special":
        return cost / M * scale, ""
    if kind == "bed_day":
        days = los if policy["cap"] is None else min(los, policy["cap"])
        t = policy["taper_after"]
        if t is not None and days > t:
            return bed_rate * (t + (days - t) * policy["taper_factor"]), ""
        return bed_rate * days, ""
    r = cost / base
    low = r <= policy["low_ratio"] if policy["low_inclusive"] else r < policy["low_ratio"]
    if low:
        if policy["low_rule"] == "actual_cost":
            return rw * k * a * min(1.0, cost / (base * k * a)), "low"
        return rw * r, "low"
    extreme = r > policy["extreme_ratio"]
    if r > policy["high_ratio"] and not (extreme and policy["extreme_pay"] == "normal"):
        h = policy["high_ratio"]
        if policy["high_rule"] == "national_2020":
            p = rw * k * a * ((r - h) + 1)
        elif policy["high_rule"] == "shandong":
            p = rw * (r - h + k)
        else:
            p = rw * k * a * (r - 1)
        return p, "extreme" if extreme else "high"
    return rw * k * a, "extreme" if extreme else "normal"


def round4_units(x: float) -> int:
    """Half away from zero at 4 decimals, via Decimal of the float's shortest repr."""
    d = Decimal(repr(x)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return int(d * 10000)
