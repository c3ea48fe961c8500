"""Slow, obvious reference implementations of the kernels, written from SPEC.md.

Every kernel test compares the fast implementation with the function of the same name here.
They share no code with dipcore on purpose.
"""
from __future__ import annotations

import csv
import io
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

OK, EMPTY, BAD, RANGE = 0, 1, 2, 3
_ASCII_SPACE = " \t\n\r\x0b\x0c"
_DIAG = re.compile(r"^[A-Z]\d\d\.(?:\d|[\dX]\d\d(?:X\d\d\d)?)$", re.ASCII)
#: Procedure shapes (ICD-9-CM-3 medical-insurance edition, the national CHS-DRG 1.1 list):
#: ``D`` digit, ``L`` letter, ``x`` the letter x written lower-case whatever its input case.
_PROC_SHAPES = ("DD.D", "DD.DD", "DD.DDDD", "DD.DDDDxDDD", "DD.DxDD", "DD.DxDDxDDD",
                "DD.DDDDD", "DD.DDDLD", "DD.DDDxDDDD")


def _procedure_shape(code: str) -> str | None:
    """``code`` (upper-cased, dotted) with its x written as the shape has it, or None."""
    for shape in _PROC_SHAPES:
        if len(shape) == len(code) and all(
                (s == "D" and c in "0123456789") or (s == "L" and "A" <= c <= "Z")
                or (s == "x" and c == "X") or (s == "." and c == ".")
                for s, c in zip(shape, code)):
            return "".join("x" if s == "x" else c for s, c in zip(shape, code))
    return None


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
    if kind == "procedure":
        shaped = _procedure_shape(code)
        return (shaped, OK) if shaped is not None else ("", BAD)
    if not _DIAG.match(code):
        return "", BAD
    if len(code) >= 7 and code[4] == "X":
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
    if d and d.adjusted() > 20:          # far beyond int64 fen (and beyond Decimal's context)
        return 0, RANGE
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


# ---- codebook and validation references ------------------------------------------------------
def interned(batches: list[list[str | None]]) -> list[list[int]]:
    """Dense ids in order of first sight (-1 for null)."""
    ids: dict[str, int] = {}
    return [[-1 if v is None else ids.setdefault(v, len(ids)) for v in b] for b in batches]


def text_shape(values: list[str | None]) -> tuple[bool, list[int]]:
    """(some value needs trimming: ASCII space or a non-ASCII byte at either end, blank)."""
    trim = False
    blank = []
    for v in values:
        if v is None or v == "":
            blank.append(1)
            continue
        blank.append(0)
        b = v.encode()
        edge = (b[:1], b[-1:])
        if any(e.isspace() or e[0] >= 0x80 for e in edge):
            trim = True
    return trim, blank


OK_, EMPTY_, BAD_, RANGE_, NONFINITE_ = 0, 1, 2, 3, 4


def first_failed_check(r: dict) -> tuple[int, int, int]:
    """The validation checks of one row in their documented order (dipcore.ingest.validate.CHECKS):
    the number of the first that fails (-1 if none), the row's hospital level and its sex."""
    if r["registry"]:
        if r["reg_level"] > 0:
            level = r["reg_level"]
        else:
            level = r["level"] if r["has_level"] else 0
    else:
        level = r["level"]
    sex = 9 if r["sex_st"] == EMPTY_ or r["sex"] == 0 else r["sex"]

    def money(v, st):
        return [st in (BAD_, EMPTY_), st == NONFINITE_, st == OK_ and v < 0,
                st == RANGE_ or (st == OK_ and v >= 10**11)]
    checks = [
        r["case_blank"], r["dup"], r["hosp"] < 0,
        r["registry"] and r["reg_level"] <= 0,
        not r["registry"] and r["level_st"] != OK_,
        not 1 <= level <= 3,
        r["pool"] < 0, r["adm_st"] != OK_, r["dis_st"] != OK_, r["dis"] < r["adm"],
        r["age_st"] != OK_, not 0 <= r["age"] <= 130,
        r["agd_st"] in (BAD_, RANGE_), r["agd_st"] == OK_ and not 0 <= r["agd"] <= 365,
        r["sex_st"] in (BAD_, RANGE_) or sex not in (1, 2, 9),
        r["wt_st"] in (BAD_, RANGE_), r["wt_st"] == OK_ and not 1 <= r["wt"] <= 10_000,
        r["dx"] == -1, r["dx"] == -2, r["sec_bad"], r["proc_bad"],
        *money(r["tot"], r["tot_st"]), *money(r["fund"], r["fund_st"]),
        r["tot_st"] == OK_ and r["fund_st"] == OK_ and r["fund"] > r["tot"],
        r["way_st"] != OK_ or r["way"] not in (1, 2, 3, 4, 5, 9),
        r["bed"] == -2,
        r["icu_st"] in (BAD_, RANGE_), r["icu_st"] == OK_ and not 0 <= r["icu"] <= 10_000,
    ]
    first = r["pre"] if r["pre"] >= 0 else next((i for i, c in enumerate(checks) if c), -1)
    return first, max(-1, min(127, level)), max(-1, min(127, sex))


def encode_lists(lists: list[list[int]]) -> tuple[list[list[int]], list[int], list[int]]:
    """Kept items (ids >= 0), row has a malformed item (-2), index of the first one."""
    kept, bad, first = [], [], []
    pos = 0
    for items in lists:
        kept.append([v for v in items if v >= 0])
        where = [pos + j for j, v in enumerate(items) if v == -2]
        bad.append(1 if where else 0)
        first.append(where[0] if where else -1)
        pos += len(items)
    return kept, bad, first


# ---- aggregation, calendar, severity, points references --------------------------------------
def order_by_group_cost(group: list[int], cost: list[int]) -> list[int]:
    """Rows with a group, by (group, cost), ties in input order."""
    return sorted((i for i, g in enumerate(group) if g >= 0), key=lambda i: (group[i], cost[i], i))


def year_month_los(admission: list[int], discharge: list[int]) -> list[tuple[int, int, int]]:
    import datetime as dt
    epoch = dt.date(1970, 1, 1)
    out = []
    for a, d in zip(admission, discharge):
        day = epoch + dt.timedelta(days=d)
        out.append((day.year, day.month, max(d - a, 1)))
    return out


def subtype_slots(cci, age, age_days, way, icu, dims, bands) -> list[list[int]]:
    """SPEC 4 auxiliary subtype slots per dimension (cci, age, death, icu); -1 none."""
    out = []
    for c, a, ad, w, d in zip(cci, age, age_days, way, icu):
        row = [-1, -1, -1, -1]
        if "cci" in dims:
            row[0] = 0 if c == 0 else 1 if c <= 2 else 2 if c <= 4 else 3
        if "age" in dims:
            if a == 0:
                row[1] = 4 if 0 <= ad <= 28 else 5
            elif 1 <= a <= 6:
                row[1] = 6
            elif 7 <= a <= 17:
                row[1] = 7
            elif a >= 65:
                row[1] = 8
        if "death" in dims and w == 5:
            row[2] = 9
        if "icu" in dims:
            row[3] = 12 if d >= bands[2] else 11 if d >= bands[1] else 10 if d >= bands[0] else -1
        out.append(row)
    return out


def case_terms(pos, perm, bed, special, level, slots, score, basic, level_mean, aux, lc, rates):
    """SPEC 5: per case (row, kind, RW, k, a, aux slot, m_L, bed-day rate)."""
    out = []
    for i in range(len(pos)):
        row = perm[pos[i]] if bed[i] < 0 and pos[i] >= 0 else -1
        kind = ("special" if special[i] else "bed_day" if bed[i] >= 0 else
                "dip" if row >= 0 else "ungrouped")
        rate = rates[bed[i]] if bed[i] >= 0 and not special[i] else 0.0
        if row < 0:
            out.append((row, kind, 0.0, lc[level[i]], 1.0, -1, 1.0, rate))
            continue
        k = 1.0 if basic[row] else lc[level[i]]
        cands = [(aux[row][s], -j, s) for j, s in enumerate(slots[i]) if s >= 0 and aux[row][s] > 0]
        if cands:
            a, _, slot = max(cands)
        else:
            a, slot = 1.0, -1
        out.append((row, kind, score[row], k, a, slot, level_mean[row][level[i]], rate))
    return out


def hospital_sums(codes, kind, outlier, units, rw, cost, fund, los, way, tclass):
    """Statement figures per code: cases, DIP cases, points, cost, fund, RW (1e-4, half
    up), low/normal/high/extreme, ungrouped/special/bed-day, LOS, deaths, operations,
    unstable (DRG), new-technology cases and their points."""
    out: dict[int, list[int]] = {}
    for i, c in enumerate(codes):
        if c < 0:
            continue
        r = out.setdefault(c, [0] * 19)
        dip = kind[i] == "dip"
        r[0] += 1
        r[1] += dip
        r[2] += units[i]
        r[3] += cost[i]
        r[4] += fund[i]
        r[5] += math.floor(rw[i] * 10_000 + 0.5) if dip else 0     # scores have 4 decimals
        for j, name in enumerate(("low", "normal", "high", "extreme")):
            r[6 + j] += outlier[i] == name
        for j, name in enumerate(("ungrouped", "special", "bed_day")):
            r[10 + j] += kind[i] == name
        r[13] += los[i]
        r[14] += way[i] == 5
        r[15] += dip and tclass[i] == 3
        r[16] += kind[i] == "unstable"
        r[17] += kind[i] == "new_technology"
        r[18] += units[i] if kind[i] == "new_technology" else 0
    return out


def cv_by(codes: list[int], n_codes: int, values: list[float], mask: list[bool] | None):
    """Population CV per code, two passes in list order (NaN for an empty or zero-mean code)."""
    use = [mask is None or m for m in (mask or [True] * len(codes))]
    n, s = [0.0] * n_codes, [0.0] * n_codes
    for c, v, u in zip(codes, values, use):
        if u:
            n[c] += 1.0
            s[c] += float(v)
    mean = [s[k] / max(n[k], 1.0) for k in range(n_codes)]
    dev = [0.0] * n_codes
    for c, v, u in zip(codes, values, use):
        if u:
            d = float(v) - mean[c]
            dev[c] += d * d
    cv = [math.sqrt(dev[k] / n[k]) / mean[k] if n[k] > 0 and mean[k] != 0 else math.nan
          for k in range(n_codes)]
    return cv, n
