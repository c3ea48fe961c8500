"""A slow, obvious CHS-DRG grouper written from the pack README alone.

It reads the pack's CSV tables itself (no dipcore code), keeps every list as a Python set,
and follows ``README.md`` *The algorithm* line by line. The tests check that dipcore's
kernel gives the same answer on every case. Codes are compared after trimming and
upper-casing both sides (the product's rule; it changes no result on real codes).

A case is a dict with the canonical columns: ``sex``, ``age_years``, ``age_days``,
``birth_weight_g``, ``primary_dx``, ``secondary_dx`` and ``procedures`` (lists or None).
The result is ``(status, mdc, adrg, drg, cc_kind)`` with None for what is not set.

The end of the file holds the references of the DRG payment (SPEC.md sections 10.2-10.4),
written from SPEC.md alone: the points of a case in exact rational arithmetic (each
decimal parameter taken as the decimal it is written as), the new-technology window and
the trimming limits.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import statistics
from collections import defaultdict
from fractions import Fraction
from pathlib import Path


def fold(code):
    return "" if code is None else code.strip().upper()


def _rows(pack: Path, name: str):
    with open(pack / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _num(v):
    return int(v) if v.strip() else None


class NaiveGrouper:
    """The pack as plain sets and dicts."""

    def __init__(self, pack):
        pack = Path(pack)
        self.meta = json.loads((pack / "pack.json").read_text(encoding="utf-8"))
        self.mdcs = sorted(_rows(pack, "mdc.csv"), key=lambda r: int(r["order"]))
        self.mdc_dx = defaultdict(set)
        self.region = defaultdict(dict)
        for r in _rows(pack, "mdc_dx.csv"):
            self.mdc_dx[r["mdc"]].add(fold(r["code"]))
            if r["trauma_region"]:
                self.region[r["mdc"]][fold(r["code"])] = r["trauma_region"]
        self.adrgs = defaultdict(list)
        for r in _rows(pack, "adrg.csv"):
            self.adrgs[r["mdc"]].append(r)
        for v in self.adrgs.values():
            v.sort(key=lambda r: int(r["seq"]))
        self.adrg_dx = defaultdict(set)
        for r in _rows(pack, "adrg_dx.csv"):
            self.adrg_dx[r["adrg"]].add(fold(r["code"]))
        self.adrg_proc = defaultdict(lambda: defaultdict(set))
        for r in _rows(pack, "adrg_proc.csv"):
            self.adrg_proc[r["adrg"]][int(r["list"])].add(fold(r["code"]))
        self.drgs = defaultdict(list)
        for r in _rows(pack, "drg.csv"):
            self.drgs[r["adrg"]].append(r)
        for v in self.drgs.values():
            v.sort(key=lambda r: int(r["seq"]))
        self.mcc = {fold(r["code"]): r["exclusion_table"] for r in _rows(pack, "mcc.csv")}
        self.cc = {fold(r["code"]): r["exclusion_table"] for r in _rows(pack, "cc.csv")}
        self.cce = {fold(r["code"]): r["exclusion_table"] for r in _rows(pack, "cce.csv")}
        self.valid = {fold(r["code"]) for r in _rows(pack, "proc_valid.csv")}
        # the code maps are optional (README *Map mode*); without them map mode is unavailable
        self.dx_map = ({fold(r["code"]): fold(r["maps_to"]) for r in _rows(pack, "dx_map.csv")}
                       if (pack / "dx_map.csv").exists() else None)
        self.proc_map = ({fold(r["code"]): fold(r["maps_to"])
                          for r in _rows(pack, "proc_map.csv")}
                         if (pack / "proc_map.csv").exists() else None)

    # README section 1
    def check_fails(self, c) -> bool:
        checks = self.meta["checks"]
        sex, ay, ad, w = c["sex"], c["age_years"], c["age_days"], c["birth_weight_g"]
        if "sex_in" in checks and (sex is None or sex not in checks["sex_in"]):
            return True
        if checks.get("age_years_required") and ay is None:
            return True
        eq = checks.get("age_days_required_if_age_years_eq")
        if eq is not None and ay == eq and ad is None:
            return True
        le = checks.get("birth_weight_required_if_age_years_eq_0_and_age_days_le")
        if le is not None and ay == 0 and ad is not None and ad <= le and w is None:
            return True
        return False

    # README section 2
    def entry(self, m, D, P, c) -> bool:
        if m["dx_rule"] == "main_in" and D[0] not in self.mdc_dx[m["mdc"]]:
            return False
        if m["proc_rule"] == "main_valid" and not (P and P[0] in self.valid):
            return False
        if m["sex"] and c["sex"] != int(m["sex"]):
            return False
        if m["age_years"] and c["age_years"] != int(m["age_years"]):
            return False
        if m["min_trauma_regions"]:
            regions = {self.region[m["mdc"]][d] for d in D if d in self.region[m["mdc"]]}
            if len(regions) < int(m["min_trauma_regions"]):
                return False
        return True

    # README section 3
    def condition(self, a, D, P, c) -> bool:
        DX = self.adrg_dx[a["adrg"]]
        L = self.adrg_proc[a["adrg"]]
        if a["dx_rule"] == "main_in" and D[0] not in DX:
            return False
        if a["dx_rule"] == "any_in" and not any(d in DX for d in D):
            return False
        pr = a["proc_rule"]
        if pr == "main_in" and not (P and P[0] in L[1]):
            return False
        if pr == "main_valid" and not (P and P[0] in self.valid):
            return False
        if pr == "lists":
            terms = [[int(k) for k in t.split("&")] for t in a["proc_expr"].split("|")]
            if not any(all(any(p in L[k] for p in P) for k in t) for t in terms):
                return False
        if pr == "none_valid" and any(p in self.valid for p in P):
            return False
        ad, w = c["age_days"], c["birth_weight_g"]
        if a["age_days_max"] and not (ad is not None and ad <= int(a["age_days_max"])):
            return False
        if a["weight_min_g"] and not (w is not None and w != 0 and w >= int(a["weight_min_g"])):
            return False
        if a["weight_max_g"] and not (w is not None and w != 0 and w < int(a["weight_max_g"])):
            return False
        return True

    # README section 4
    def severity(self, D):
        t = self.cce.get(D[0])
        mcc = any(d in self.mcc and not (t is not None and self.mcc[d] == t) for d in D[1:])
        cc = any(d in self.cc and not (t is not None and self.cc[d] == t) for d in D[1:])
        return mcc, cc

    def group(self, c, map_codes: bool = False):
        D = [fold(c["primary_dx"])] + [fold(x) for x in (c["secondary_dx"] or [])]
        P = [fold(x) for x in (c["procedures"] or [])]
        if map_codes:                     # README *Map mode* (each code mapped on its own)
            if any(self.dx_map.get(d) in (None, "", "-") for d in D):
                return ("invalid_dx", None, None, None, None)
            if any(self.proc_map.get(p) in (None, "", "-") for p in P):
                return ("invalid_proc", None, None, None, None)
            D = [self.dx_map[d] for d in D]
            P = [self.proc_map[p] for p in P]
        if self.check_fails(c):
            return ("check_failed", None, None, None, None)
        for m in self.mdcs:
            if not self.entry(m, D, P, c):
                continue
            qy_after = _num(m["qy_after_seq"]) or 0
            qy_on = m["qy_enabled"].strip() == "1"
            for a in self.adrgs[m["mdc"]]:
                if qy_on and int(a["seq"]) > qy_after:       # README *QY*
                    qy_on = False
                    if any(p in self.valid for p in P):
                        return ("ambiguous_qy", "MDC" + m["mdc"], None, m["mdc"] + "QY", None)
                if self.condition(a, D, P, c):
                    mcc, cc = self.severity(D)
                    for d in self.drgs[a["adrg"]]:
                        if d["split"] == "none":
                            return ("ok", "MDC" + m["mdc"], a["adrg"], d["drg"], None)
                        if d["split"] == "mcc" and mcc:
                            return ("ok", "MDC" + m["mdc"], a["adrg"], d["drg"], "mcc")
                        if d["split"] == "mcc_or_cc" and (mcc or cc):
                            return ("ok", "MDC" + m["mdc"], a["adrg"], d["drg"],
                                    "mcc" if mcc else "cc")
                    raise AssertionError("the last DRG of an ADRG has split none")
            if qy_on and any(p in self.valid for p in P):
                return ("ambiguous_qy", "MDC" + m["mdc"], None, m["mdc"] + "QY", None)
        return ("ungroupable", None, None, None, None)


# -------------------------------------------------------------------------------------------
# where the pack is, and broken or altered copies of it for tests
# -------------------------------------------------------------------------------------------
def pack_dir() -> Path:
    """The CHS-DRG 1.1 pack: ``$DIPCORE_DRG_PACK``, else ``../shared/drg/chs-drg-1.1``
    beside the repository (outside data: never copied into the repository)."""
    env = os.environ.get("DIPCORE_DRG_PACK")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "drg" / "chs-drg-1.1"


def copy_pack(src: Path, dst: Path, edits: dict | None = None, reseal: bool = True) -> Path:
    """Copy the pack's tables to ``dst`` (a test's tmp dir), applying ``edits``:
    file name -> function(text) -> text, or None to delete the file. With ``reseal``,
    pack.json's SHA-256 and row count of every edited table are updated, as a bureau's
    tooling would, so that the loader reaches the edit itself."""
    dst.mkdir(parents=True, exist_ok=True)
    edits = edits or {}
    meta = json.loads((src / "pack.json").read_text(encoding="utf-8"))
    for f in sorted(src.iterdir()):
        if f.name in ("pack.json", "cases-public.parquet", "expected-public.csv", "README.md"):
            continue
        fn = edits.get(f.name, lambda t: t)
        if fn is None:
            continue
        text = fn(f.read_text(encoding="utf-8"))
        (dst / f.name).write_bytes(text.encode("utf-8"))
        if reseal and f.name in edits and f.name in meta["files"]:
            meta["files"][f.name]["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            meta["files"][f.name]["rows"] = len(list(csv.reader(io.StringIO(text)))) - 1
    if "pack.json" in edits:
        meta = edits["pack.json"](meta)
    if meta is not None:
        (dst / "pack.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1),
                                       encoding="utf-8")
    return dst


# -------------------------------------------------------------------------------------------
# DRG payment (SPEC.md 10.2-10.4)
# -------------------------------------------------------------------------------------------
def dec(x) -> Fraction:
    """The decimal a number is written as (``0.7`` is 7/10, not the binary double)."""
    return Fraction(repr(float(x))) if isinstance(x, float) else Fraction(int(x))


def half_up_units(x: Fraction) -> int:
    """An exact value rounded half up (away from zero) to 4 decimals, in units of 1e-4."""
    v = abs(x) * 10_000
    u = math.floor(v)
    if v - u >= Fraction(1, 2):
        u += 1
    return u if x >= 0 else -u


def drg_threshold(b, bands, above):
    """SPEC 10.3: t(B), the first band [upto, t] with B <= upto, else ``above``."""
    for upto, t in bands:
        if dec(b) <= dec(upto):
            return dec(t)
    return dec(above)


def drg_points(kind, b, k, m, cost, pol, bed_rate=0.0, los=0):
    """SPEC 10.3, one case: ``(exact points, outlier class)`` with the class "" when the
    case is not paid by its DRG's weight.

    ``kind``: "drg" (a stable DRG), "unstable", "new_technology", "special", "ungrouped" or
    "bed_day"; ``b`` base points, ``k`` hospital coefficient, ``m`` the DRG's mean cost at
    the case's level (fen), ``cost`` (fen); amounts in fen are taken as the exact values they
    hold, every other number as the decimal it is written as. ``pol``: ``M`` (fen),
    ``scale``, ``bands``, ``above``, ``high_rule`` ("additive" or "multiplicative"),
    ``low_ratio``, ``ungrouped_discount``, ``cap``, ``taper_after``, ``taper_factor`` (None:
    none).
    """
    by_cost = Fraction(float(cost)) / Fraction(float(pol["M"])) * dec(pol["scale"])
    if kind in ("unstable", "new_technology", "special"):
        return by_cost, ""
    if kind == "ungrouped":
        return by_cost * dec(pol["ungrouped_discount"]), ""
    if kind == "bed_day":
        days = los if not pol["cap"] else min(los, pol["cap"])
        t = pol["taper_after"]
        rate = dec(bed_rate)
        if t and days > t:
            return rate * t + rate * (days - t) * dec(pol["taper_factor"]), ""
        return rate * days, ""
    B, K = dec(b), dec(k)
    r = Fraction(float(cost)) / Fraction(float(m))
    t = drg_threshold(b, pol["bands"], pol["above"])
    if r >= t:
        if pol["high_rule"] == "additive":
            return B * K + B * (r - t), "high"
        return B * K * (1 + r - t), "high"
    if r <= dec(pol["low_ratio"]):
        return min(B * K * r, B * K), "low"
    return B * K, "normal"


def new_technology(procedure_filings, discharge, days):
    """SPEC 10.4 as ``dipcore.schemes.drg.newtech`` reads it: a case is new technology when
    one of its procedures was filed (``None``: not filed) on day f with
    f <= discharge <= f + days."""
    return any(f is not None and f <= discharge <= f + days for f in procedure_filings)


def sd_limits(costs, k):
    """Mean -+ k population standard deviations of a list of costs."""
    mu = statistics.fmean(costs)
    sd = statistics.pstdev(costs)
    return mu - k * sd, mu + k * sd
