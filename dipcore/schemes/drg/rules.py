"""CHS-DRG rule packs: loading, checking, fingerprinting, compiling to integer tables.

A pack is a directory holding ``pack.json`` and CSV tables, in the format documented by
``../shared/drg/chs-drg-1.1/README.md`` (the *pack README* below; section names refer to it).
Any table may be an Excel workbook instead (``mdc.xlsx`` for ``mdc.csv``: same columns, in
its first sheet), read as the text its CSV form would hold (``dipcore.ingest.excel``: a code
stored as a number reads as its digits; only a text cell keeps leading zeros), so one set of
rules reads both. pack.json's ``files`` lists each table under the name of the file that is
there, with that file's SHA-256 and row count; the fingerprint covers the files as they are.
Everything a grouper needs is data: a city's version in the same format loads without code
changes. Every condition kind a pack may name is listed once, in the vocabularies at the
top of this module; a new kind is a new entry there (and in the kernel), never a fork.

Loading checks the pack and stops at the first problem with one line naming the file, the
row (1-based data row, header excluded, as everywhere in dipcore; in a workbook, the sheet's
own row number, as Excel shows it) and the column.

Codes are compared after :func:`fold_code` (trim, upper-case) on both sides: the tables are
folded here, the cases in the grouper. The dagger/asterisk part (``+G01*``) is kept.

Compiled form (:class:`CompiledRules`): one vocabulary of all codes that appear in a
grouping table, each code an int32 id (``n_codes`` for a code in no table), and one row of
bits per code saying which *code lists* (an MDC's diagnosis table, an ADRG's diagnosis
table, an ADRG's procedure list k) hold it. A case then reads one 64-byte row per code it
carries instead of probing hundreds of sets.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dipcore.errors import InputError
from dipcore.ingest.excel import EXCEL_SUFFIXES, read_sheet

#: pack.json ``pack_format`` this loader reads.
PACK_FORMAT = 1

#: Integer meaning "not set" (rule limits) and "null" (case values) in compiled arrays.
UNSET = np.iinfo(np.int64).min

# -------------------------------------------------------------------------------------------
# Vocabularies: every condition kind a pack may use, and its code in the compiled tables.
# -------------------------------------------------------------------------------------------
#: README section 2 (MDC entry), ``mdc.csv`` ``dx_rule``: main diagnosis in the MDC table.
MDC_DX_RULES = {"main_in": 1}
#: README section 2, ``mdc.csv`` ``proc_rule``: a main procedure that is in proc_valid.csv.
MDC_PROC_RULES = {"main_valid": 1}

#: README section 3 (ADRG conditions), ``adrg.csv`` ``dx_rule``.
DX_NONE, DX_MAIN_IN, DX_ANY_IN = 0, 1, 2
ADRG_DX_RULES = {"main_in": DX_MAIN_IN, "any_in": DX_ANY_IN}

#: README section 3, ``adrg.csv`` ``proc_rule``.
PROC_NONE, PROC_MAIN_IN, PROC_MAIN_VALID, PROC_LISTS, PROC_NONE_VALID = 0, 1, 2, 3, 4
ADRG_PROC_RULES = {"main_in": PROC_MAIN_IN, "main_valid": PROC_MAIN_VALID,
                   "lists": PROC_LISTS, "none_valid": PROC_NONE_VALID}

#: README section 4 (DRG split), ``drg.csv`` ``split``.
SPLIT_NONE, SPLIT_MCC, SPLIT_MCC_OR_CC = 0, 1, 2
SPLITS = {"none": SPLIT_NONE, "mcc": SPLIT_MCC, "mcc_or_cc": SPLIT_MCC_OR_CC}

#: README section 1 (checks), pack.json ``checks``: the keys a pack may set.
CHECK_KEYS = ("sex_in", "age_years_required", "age_days_required_if_age_years_eq",
              "birth_weight_required_if_age_years_eq_0_and_age_days_le",
              "diagnoses_required")

#: Result status codes (README *Status codes*), in the order of their int8 code.
STATUSES = ("ok", "ungroupable", "check_failed", "invalid_dx", "invalid_proc", "ambiguous_qy")
OK, UNGROUPABLE, CHECK_FAILED, INVALID_DX, INVALID_PROC, AMBIGUOUS_QY = range(6)
#: ``cc_kind`` codes: the severity that decided the DRG split.
CC_KINDS = (None, "mcc", "cc")
CC_NONE, CC_MCC, CC_CC = 0, 1, 2

#: Tables and the columns grouping needs (extra columns are allowed and ignored).
TABLE_COLUMNS = {
    "mdc.csv": ("order", "mdc", "dx_rule", "proc_rule", "sex", "age_years",
                "min_trauma_regions", "qy_after_seq", "qy_enabled"),
    "mdc_dx.csv": ("mdc", "code"),
    "adrg.csv": ("mdc", "seq", "adrg", "dx_rule", "proc_rule", "proc_expr", "age_days_max",
                 "weight_min_g", "weight_max_g"),
    "adrg_dx.csv": ("adrg", "code"),
    "adrg_proc.csv": ("adrg", "list", "code"),
    "drg.csv": ("drg", "adrg", "seq", "split"),
    "mcc.csv": ("code", "exclusion_table"),
    "cc.csv": ("code", "exclusion_table"),
    "cce.csv": ("code", "exclusion_table"),
    "proc_valid.csv": ("code",),
}
#: Tables grouping does not need: code maps (map mode only) and code names (for traces).
OPTIONAL_TABLES = {
    "dx_map.csv": ("code", "maps_to"),
    "proc_map.csv": ("code", "maps_to"),
    "dx_codes.csv": ("code",),
    "proc_codes.csv": ("code",),
}


def fold_code(code: str | None) -> str:
    """The form in which codes are compared: trimmed, upper-cased; null is ``""``.

    The dagger/asterisk part is kept (README *What a case contributes*: normalising it away
    changes about 7 % of the results). Tables and cases are folded by this one function.
    """
    return "" if code is None else code.strip().upper()


class PackError(InputError):
    """A rule pack that cannot be read or is inconsistent (one line: file, row, column)."""


# -------------------------------------------------------------------------------------------
# The rules as read
# -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MdcRule:
    """One row of ``mdc.csv``: an MDC and its entry test (README section 2)."""

    order: int
    mdc: str
    name_zh: str
    name_en: str
    dx_rule: str
    proc_rule: str
    sex: int | None
    age_years: int | None
    min_trauma_regions: int | None
    qy_after_seq: int
    qy_enabled: bool

    @property
    def code(self) -> str:
        """Output code, ``"MDC"`` + letter."""
        return "MDC" + self.mdc


@dataclass(frozen=True)
class AdrgRule:
    """One row of ``adrg.csv``: an ADRG and its condition (README section 3)."""

    mdc: str
    seq: int
    adrg: str
    name_zh: str
    dx_rule: str
    proc_rule: str
    #: ``proc_expr`` as OR-terms of list numbers, e.g. ``((1, 2), (1, 3, 4))``.
    proc_terms: tuple[tuple[int, ...], ...]
    proc_expr: str
    age_days_max: int | None
    weight_min_g: int | None
    weight_max_g: int | None


@dataclass(frozen=True)
class DrgRule:
    """One row of ``drg.csv``: a DRG of an ADRG and its split (README section 4)."""

    drg: str
    adrg: str
    seq: int
    split: str
    name_zh: str


@dataclass
class CompiledRules:
    """The rules as integer arrays for the kernel (see the module docstring).

    Code ids index the per-code arrays, whose last row (``n_codes``) is the row of a code in
    no table. Ranges ``*_lo``/``*_hi`` index the next level's arrays.
    """

    codes: list[str]
    code_id: dict[str, int]
    bits: np.ndarray            # uint64[n_codes + 1, W]: list membership (layout: _compile)
    valid: np.ndarray           # uint8[n_codes + 1]: in proc_valid.csv
    mcc_t: np.ndarray           # int32[n_codes + 1]: MCC exclusion table id, -1 if not MCC
    cc_t: np.ndarray            # int32[n_codes + 1]: CC exclusion table id, -1 if not CC
    cce_t: np.ndarray           # int32[n_codes + 1]: exclusion table of a main dx, -1 unset
    region: np.ndarray          # int8[n_region_mdcs, n_codes + 1]: trauma region, -1 none
    checks: np.ndarray          # int64[5]: see :func:`_compile_checks`
    sex_in: np.ndarray          # int64[k]: sexes that pass check 1
    mdc_proc_rule: np.ndarray   # int8[n_mdc]
    mdc_sex: np.ndarray         # int64[n_mdc], UNSET
    mdc_age_years: np.ndarray   # int64[n_mdc], UNSET
    mdc_min_regions: np.ndarray  # int64[n_mdc], UNSET
    mdc_region_slot: np.ndarray  # int32[n_mdc]: row of ``region``, -1
    mdc_qy_pos: np.ndarray      # int32[n_mdc]: first ADRG position after the QY slot
    mdc_free: np.ndarray        # uint64[1]: MDCs whose entry does not read the main dx
    mdc_word: np.int64          # word of ``bits`` holding the MDC tables (bit = MDC position)
    not_need_dx: np.ndarray     # uint64[adrg_words]: ADRGs without dx_rule main_in
    not_need_proc: np.ndarray   # uint64[adrg_words]: ADRGs without proc_rule main_in
    mdc_qy: np.ndarray          # uint8[n_mdc]
    mdc_lo: np.ndarray          # int32[n_mdc]: ADRG range
    mdc_hi: np.ndarray
    adrg_dx_rule: np.ndarray    # int8[n_adrg]
    adrg_dx_list: np.ndarray    # int32[n_adrg]
    adrg_proc_rule: np.ndarray  # int8[n_adrg]
    adrg_lists: np.ndarray      # int32[n_adrg, K]: list id of list k+1, -1
    adrg_term_lo: np.ndarray    # int32[n_adrg]: range into ``terms``
    adrg_term_hi: np.ndarray
    terms: np.ndarray           # int64[...]: bit k-1 set for list k in the term
    adrg_age_days_max: np.ndarray  # int64[n_adrg], UNSET
    adrg_weight_min: np.ndarray    # int64[n_adrg], UNSET
    adrg_weight_max: np.ndarray    # int64[n_adrg], UNSET
    adrg_lo: np.ndarray         # int32[n_adrg]: DRG range
    adrg_hi: np.ndarray
    drg_split: np.ndarray       # int8[n_drg]

    @property
    def n_codes(self) -> int:
        """Codes in the vocabulary; also the id of a code in no table."""
        return len(self.codes)

    def kernel_args(self) -> tuple:
        """The arrays in the order ``dipcore._kernels.drg.group_cases`` takes them."""
        return (self.bits, self.valid, self.mcc_t, self.cc_t, self.cce_t, self.region,
                self.checks, self.sex_in,
                self.mdc_proc_rule, self.mdc_sex,
                self.mdc_age_years, self.mdc_min_regions, self.mdc_region_slot,
                self.mdc_qy_pos, self.mdc_qy, self.mdc_lo, self.mdc_hi,
                self.mdc_free, self.mdc_word, self.not_need_dx, self.not_need_proc,
                self.adrg_dx_rule, self.adrg_dx_list, self.adrg_proc_rule,
                self.adrg_lists, self.adrg_term_lo, self.adrg_term_hi, self.terms,
                self.adrg_age_days_max, self.adrg_weight_min, self.adrg_weight_max,
                self.adrg_lo, self.adrg_hi, self.drg_split)


@dataclass
class DrgRules:
    """A checked CHS-DRG rule pack (load it with :meth:`DrgRules.load`).

    Attributes
    ----------
    name : str
        The pack's ``name`` in pack.json, e.g. ``"chs-drg-1.1"``.
    fingerprint : str
        SHA-256 (hex) over pack.json and every table read, in file-name order: two packs
        with the same fingerprint group every case alike.
    path : pathlib.Path
        The pack directory.
    meta : dict
        pack.json as read.
    checks : dict
        The pre-grouping checks (pack.json ``checks``; README section 1).
    mdcs, adrgs, drgs : tuple
        :class:`MdcRule` in evaluation order; :class:`AdrgRule` by MDC order then ``seq``;
        :class:`DrgRule` by ADRG order then ``seq``.
    mdc_dx, adrg_dx : dict of str to frozenset
        Folded diagnosis codes of each MDC / ADRG table.
    trauma_regions : dict of str to dict
        For MDCs with ``min_trauma_regions``: folded code -> region label.
    adrg_proc : dict of str to dict of int to frozenset
        Folded procedure codes of each ADRG list, by list number.
    mcc, cc, cce : dict of str to str
        Folded code -> exclusion table id (compared as strings).
    proc_valid : frozenset
        Folded procedure codes that count as an operation.
    dx_map, proc_map : dict or None
        Folded input code -> folded grouper code (map mode); None when the pack has no map.
    dx_names, proc_names : dict
        Folded code -> name, for traces (empty when the pack has no code-name tables).
    compiled : CompiledRules
        The integer form the kernel runs on.
    """

    name: str
    fingerprint: str
    path: Path
    meta: dict
    checks: dict
    mdcs: tuple[MdcRule, ...]
    adrgs: tuple[AdrgRule, ...]
    drgs: tuple[DrgRule, ...]
    mdc_dx: dict[str, frozenset]
    trauma_regions: dict[str, dict[str, str]]
    adrg_dx: dict[str, frozenset]
    adrg_proc: dict[str, dict[int, frozenset]]
    mcc: dict[str, str]
    cc: dict[str, str]
    cce: dict[str, str]
    proc_valid: frozenset
    dx_map: dict[str, str] | None
    proc_map: dict[str, str] | None
    dx_names: dict[str, str]
    proc_names: dict[str, str]
    compiled: CompiledRules = field(repr=False)

    def __repr__(self) -> str:
        return (f"DrgRules(name={self.name!r}, fingerprint={self.fingerprint[:16]}..., "
                f"mdcs={len(self.mdcs)}, adrgs={len(self.adrgs)}, drgs={len(self.drgs)})")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DrgRules":
        """Read and check a rule pack directory.

        Parameters
        ----------
        path : str or os.PathLike
            Directory holding ``pack.json`` and the tables (format of
            ``../shared/drg/chs-drg-1.1``), each as CSV or as an ``.xlsx`` workbook of the
            same name.

        Returns
        -------
        DrgRules

        Raises
        ------
        PackError
            The pack is unreadable or inconsistent: a missing table or column, an unknown
            condition kind, a DRG whose ADRG does not exist, a duplicate code, a table that
            differs from the SHA-256 or row count pack.json declares, ... The message is one
            line naming the file, the row and the column.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"a rule pack is the path of its directory, not "
                             f"{type(path).__name__}")
        return _load(Path(path))

    @classmethod
    def of(cls, rules: "DrgRules | str | os.PathLike") -> "DrgRules":
        """A loaded rule pack as it is, or the one at a path (:meth:`load`)."""
        return rules if isinstance(rules, cls) else cls.load(rules)


# -------------------------------------------------------------------------------------------
# Reading
# -------------------------------------------------------------------------------------------
class _Table:
    """A table of a pack (CSV, or the first sheet of an ``.xlsx`` workbook): its rows as
    dicts of text, and where each came from."""

    def __init__(self, path: Path, rows: list[dict[str, str]], source: str | None = None,
                 row_numbers: list[int] | None = None):
        self.path = path
        self.name = path.name
        self.rows = rows
        self.source = source or str(path)
        #: The sheet row of each data row (a workbook: messages name the row Excel shows).
        self.row_numbers = row_numbers

    def error(self, message: str, row: int | None = None, column: str | None = None):
        if row is not None and self.row_numbers is not None and 1 <= row <= len(self.row_numbers):
            row = self.row_numbers[row - 1]
        return PackError(message, source=self.source, row=row, column=column)

    def __iter__(self):
        """``(row number, row)`` with 1-based data-row numbers."""
        return enumerate(self.rows, start=1)


def _logical(fname: str) -> str:
    """The table a file holds: ``mdc.xlsx`` holds the table ``mdc.csv`` (the name the
    vocabularies and messages use); any other name is itself."""
    stem, suffix = os.path.splitext(fname)
    if suffix.lower() in EXCEL_SUFFIXES and stem + ".csv" in {**TABLE_COLUMNS, **OPTIONAL_TABLES}:
        return stem + ".csv"
    return fname


def _table_file(pack: Path, name: str, declared: dict) -> Path:
    """The file holding table ``name`` (``mdc.csv``): the CSV file, or else the workbook
    of the same stem (``mdc.xlsx``); both is ambiguous. pack.json must list the file that
    is there, not its other form."""
    stem = name[:-len(".csv")]
    present = [pack / f for f in (name, *(stem + s for s in EXCEL_SUFFIXES))
               if (pack / f).exists()]
    if len(present) > 1:
        raise PackError(f"the table is there as both {' and '.join(p.name for p in present)}: "
                        "keep one", source=str(pack / name))
    path = present[0] if present else pack / name
    listed = [f for f in declared if _logical(f) == name and f != path.name]
    if listed and path.name not in declared and path.exists():
        raise PackError(f"pack.json lists {listed[0]} but the pack holds {path.name}: list the "
                        "file that is there (its sha256 and rows)", source=str(path))
    return path


def _read_table(pack: Path, name: str, columns: tuple[str, ...], declared: dict,
                digest: "hashlib._Hash") -> _Table:
    path = _table_file(pack, name, declared)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PackError("table missing from the pack", source=str(path)) from None
    except OSError as exc:
        raise PackError(f"cannot read the table ({exc.strerror})", source=str(path)) from None
    digest.update(path.name.encode() + b"\0" + hashlib.sha256(raw).digest())
    spec = declared.get(path.name) or {}
    want = spec.get("sha256")
    if want and hashlib.sha256(raw).hexdigest() != want.lower():
        raise PackError(f"the table's SHA-256 differs from the one pack.json declares "
                        f"({want[:12]}...): update pack.json if it was changed on purpose",
                        source=str(path))
    if path.suffix.lower() in EXCEL_SUFFIXES:
        header, records, source, numbers = _sheet_records(path, raw)
    else:
        header, records = _csv_records(path, raw)
        source, numbers = str(path), None
    for col in columns:
        if col not in header:
            raise PackError("column missing from the header", source=source, column=col)
    seen = set()
    for h in header:
        if h in seen:
            raise PackError("column appears twice in the header", source=source, column=h)
        seen.add(h)
    rows = [dict(zip(header, rec)) for rec in records]
    n = spec.get("rows")
    if n is not None and n != len(rows):
        raise PackError(f"{len(rows)} rows where pack.json declares {n}", source=source)
    return _Table(path, rows, source, numbers)


def _sheet_records(path: Path, raw: bytes) -> tuple[list[str], list[list[str]], str, list[int]]:
    """A workbook table: its first sheet as text (``dipcore.ingest.excel``: a code stored
    as a number reads as its digits), so every rule below reads it as it reads CSV."""
    try:
        sheet = read_sheet(path, data=raw)
    except InputError as exc:
        raise PackError(exc.message, source=exc.source, row=exc.row, column=exc.column) from None
    return sheet.header, sheet.rows, sheet.source, sheet.row_numbers


def _csv_records(path: Path, raw: bytes) -> tuple[list[str], list[list[str]]]:
    """A CSV table: its header (trimmed) and records, each as long as the header."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PackError(f"not UTF-8 text (byte {exc.start}, line {line})",
                        source=str(path)) from None
    if text.startswith("\ufeff"):        # Excel writes a BOM; harmless, so accepted
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise PackError("empty table (no header row)", source=str(path)) from None
    except csv.Error as exc:
        raise PackError(f"unreadable header ({exc})", source=str(path)) from None
    header = [h.strip() for h in header]
    records = []
    try:
        for i, rec in enumerate(reader, start=1):
            if not rec:                  # a blank line (e.g. at the end) holds no row
                continue
            if len(rec) != len(header):
                raise PackError(f"{len(rec)} fields where the header has {len(header)}",
                                source=str(path), row=i)
            records.append(rec)
    except csv.Error as exc:
        raise PackError(f"unreadable CSV ({exc})", source=str(path),
                        row=len(records) + 1) from None
    return header, records


def _text(t: _Table, i: int, row: dict, col: str, required: bool = False) -> str:
    v = row.get(col, "").strip()
    if required and not v:
        raise t.error("value required", i, col)
    return v


def _int(t: _Table, i: int, row: dict, col: str, required: bool = False) -> int | None:
    v = _text(t, i, row, col, required)
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        raise t.error(f"{v!r} is not an integer", i, col) from None


def _kind(t: _Table, i: int, row: dict, col: str, vocabulary: dict) -> str:
    v = _text(t, i, row, col)
    if v and v not in vocabulary:
        raise t.error(f"unknown condition kind {v!r} (known: {', '.join(vocabulary)})", i, col)
    return v


def _code(t: _Table, i: int, row: dict, col: str = "code") -> str:
    v = fold_code(row.get(col))
    if not v:
        raise t.error("empty code", i, col)
    return v


def _keyed(t: _Table, col: str) -> dict[str, str]:
    """A table keyed by code (mcc, cc, cce, maps, names): one row per folded code."""
    out: dict[str, str] = {}
    for i, row in t:
        code = _code(t, i, row)
        if code in out:
            raise t.error(f"duplicate code {code!r}", i, "code")
        out[code] = row.get(col, "").strip() if col else ""
    return out


def _load(pack: Path) -> DrgRules:
    meta_path = pack / "pack.json"
    if not pack.is_dir():
        raise PackError("not a rule pack directory", source=str(pack))
    try:
        meta_raw = meta_path.read_bytes()
    except FileNotFoundError:
        raise PackError("pack.json missing", source=str(meta_path)) from None
    try:
        meta = json.loads(meta_raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackError(f"not valid JSON ({exc})", source=str(meta_path)) from None
    if not isinstance(meta, dict):
        raise PackError("not a JSON object", source=str(meta_path))
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PackError("no pack name", source=str(meta_path), column="name")
    fmt = meta.get("pack_format", PACK_FORMAT)
    if fmt != PACK_FORMAT:
        raise PackError(f"pack_format {fmt!r}; this dipcore reads format {PACK_FORMAT}",
                        source=str(meta_path), column="pack_format")
    declared = meta.get("files") or {}
    if not isinstance(declared, dict):
        raise PackError("'files' is not an object", source=str(meta_path), column="files")
    checks = _checks(meta, meta_path)

    digest = hashlib.sha256(b"pack.json\0" + hashlib.sha256(meta_raw).digest())
    tables = {}
    # every table pack.json lists must be there; the grouping tables always (each table
    # as CSV, or as a workbook of the same name: ``mdc.xlsx`` for ``mdc.csv``)
    for fname in sorted(set(TABLE_COLUMNS) | {_logical(f) for f in declared}):
        cols = TABLE_COLUMNS.get(fname) or OPTIONAL_TABLES.get(fname)
        if cols is None:                 # an extra file the pack carries (e.g. test cases)
            if not (pack / fname).exists():
                raise PackError("table missing from the pack (listed in pack.json)",
                                source=str(pack / fname))
            continue
        tables[fname] = _read_table(pack, fname, cols, declared, digest)
    for fname, cols in OPTIONAL_TABLES.items():
        if fname not in tables and _table_file(pack, fname, declared).exists():
            tables[fname] = _read_table(pack, fname, cols, declared, digest)

    mdcs = _mdcs(tables["mdc.csv"], meta, meta_path)
    mdc_dx, trauma = _mdc_dx(tables["mdc_dx.csv"], mdcs)
    adrgs, adrg_rows = _adrgs(tables["adrg.csv"], mdcs)
    adrg_dx = _adrg_dx(tables["adrg_dx.csv"], adrgs)
    adrg_proc = _adrg_proc(tables["adrg_proc.csv"], adrgs)
    _check_adrg_lists(tables["adrg.csv"], adrgs, adrg_rows, adrg_dx, adrg_proc,
                      tables["adrg_dx.csv"], tables["adrg_proc.csv"])
    drgs = _drgs(tables["drg.csv"], adrgs, tables["adrg.csv"], adrg_rows)
    _check_counts(tables["mdc.csv"], tables["adrg.csv"], mdcs, adrgs, drgs, adrg_rows)
    mcc = _keyed(tables["mcc.csv"], "exclusion_table")
    cc = _keyed(tables["cc.csv"], "exclusion_table")
    cce = _keyed(tables["cce.csv"], "exclusion_table")
    for t, d in ((tables["mcc.csv"], mcc), (tables["cc.csv"], cc), (tables["cce.csv"], cce)):
        for i, row in t:
            if not row.get("exclusion_table", "").strip():
                raise t.error("value required", i, "exclusion_table")
    proc_valid = frozenset(_keyed(tables["proc_valid.csv"], ""))
    dx_map = _map(tables.get("dx_map.csv"))
    proc_map = _map(tables.get("proc_map.csv"))
    dx_names = _keyed(tables["dx_codes.csv"], "name_zh") if "dx_codes.csv" in tables else {}
    proc_names = (_keyed(tables["proc_codes.csv"], "name_zh")
                  if "proc_codes.csv" in tables else {})

    rules = DrgRules(
        name=name.strip(), fingerprint=digest.hexdigest(), path=pack, meta=meta,
        checks=checks, mdcs=mdcs, adrgs=adrgs, drgs=drgs, mdc_dx=mdc_dx,
        trauma_regions=trauma, adrg_dx=adrg_dx, adrg_proc=adrg_proc, mcc=mcc, cc=cc,
        cce=cce, proc_valid=proc_valid, dx_map=dx_map, proc_map=proc_map,
        dx_names=dx_names, proc_names=proc_names, compiled=None)  # type: ignore[arg-type]
    rules.compiled = _compile(rules)
    return rules


def _checks(meta: dict, meta_path: Path) -> dict:
    """README section 1: pack.json ``checks``; an unknown key is an unknown check kind."""
    checks = meta.get("checks")
    if not isinstance(checks, dict):
        raise PackError("'checks' missing or not an object", source=str(meta_path),
                        column="checks")
    for key, value in checks.items():
        if key not in CHECK_KEYS:
            raise PackError(f"unknown check {key!r} (known: {', '.join(CHECK_KEYS)})",
                            source=str(meta_path), column=f"checks.{key}")
        ok = (isinstance(value, list) and all(isinstance(v, int) for v in value)
              if key == "sex_in" else
              isinstance(value, bool) if key.endswith("_required") else
              value is None or (isinstance(value, int) and not isinstance(value, bool)))
        if not ok:
            raise PackError(f"bad value {value!r}", source=str(meta_path),
                            column=f"checks.{key}")
    return dict(checks)


def _mdcs(t: _Table, meta: dict, meta_path: Path) -> tuple[MdcRule, ...]:
    out, seen_mdc, seen_order = [], {}, {}
    for i, row in t:
        order = _int(t, i, row, "order", True)
        mdc = _text(t, i, row, "mdc", True)
        if mdc in seen_mdc:
            raise t.error(f"duplicate MDC {mdc!r} (also row {seen_mdc[mdc]})", i, "mdc")
        if order in seen_order:
            raise t.error(f"duplicate order {order} (also row {seen_order[order]})", i, "order")
        seen_mdc[mdc], seen_order[order] = i, i
        dx_rule = _kind(t, i, row, "dx_rule", MDC_DX_RULES)
        proc_rule = _kind(t, i, row, "proc_rule", MDC_PROC_RULES)
        mtr = _int(t, i, row, "min_trauma_regions")
        if mtr is not None and dx_rule != "main_in":
            # the regions are read from the MDC's own diagnosis table
            raise t.error("min_trauma_regions needs dx_rule main_in", i, "min_trauma_regions")
        qy = _int(t, i, row, "qy_enabled") or 0
        if qy not in (0, 1):
            raise t.error(f"{qy} is not 0 or 1", i, "qy_enabled")
        out.append(MdcRule(order, mdc, row.get("name_zh", "").strip(),
                           row.get("name_en", "").strip(), dx_rule, proc_rule,
                           _int(t, i, row, "sex"), _int(t, i, row, "age_years"), mtr,
                           _int(t, i, row, "qy_after_seq") or 0, bool(qy)))
    if not out:
        raise t.error("no MDC")
    out.sort(key=lambda m: m.order)
    order = meta.get("mdc_order")
    if order is not None and list(order) != [m.mdc for m in out]:
        raise PackError("mdc_order differs from the order column of mdc.csv",
                        source=str(meta_path), column="mdc_order")
    return tuple(out)


def _mdc_dx(t: _Table, mdcs) -> tuple[dict, dict]:
    known = {m.mdc: m for m in mdcs}
    sets: dict[str, set] = {m.mdc: set() for m in mdcs}
    regions: dict[str, dict[str, str]] = {m.mdc: {} for m in mdcs if m.min_trauma_regions}
    for i, row in t:
        mdc = _text(t, i, row, "mdc", True)
        if mdc not in known:
            raise t.error(f"MDC {mdc!r} is not in mdc.csv", i, "mdc")
        code = _code(t, i, row)
        if code in sets[mdc]:
            raise t.error(f"duplicate code {code!r} in MDC {mdc}", i, "code")
        sets[mdc].add(code)
        region = row.get("trauma_region", "").strip()
        if region and mdc in regions:
            regions[mdc][code] = region
    for m in mdcs:
        if m.dx_rule and not sets[m.mdc]:
            raise t.error(f"MDC {m.mdc} has dx_rule {m.dx_rule} but no rows here", None, "mdc")
        if m.min_trauma_regions and len(set(regions[m.mdc].values())) > 63:
            raise t.error(f"MDC {m.mdc} has more than 63 trauma regions", None, "trauma_region")
    return {k: frozenset(v) for k, v in sets.items()}, regions


def _parse_expr(t: _Table, i: int, expr: str) -> tuple[tuple[int, ...], ...]:
    """``1&2|1&3&4`` -> ((1, 2), (1, 3, 4)) (README section 3, ``proc_expr``)."""
    terms = []
    for term in expr.split("|"):
        ks = []
        for k in term.split("&"):
            k = k.strip()
            if not k.isdigit() or not 1 <= int(k) <= 62:
                raise t.error(f"bad proc_expr {expr!r}: {k!r} is not a list number 1..62",
                              i, "proc_expr")
            ks.append(int(k))
        terms.append(tuple(sorted(set(ks))))
    return tuple(terms)


def _adrgs(t: _Table, mdcs) -> tuple[tuple[AdrgRule, ...], dict[str, int]]:
    order = {m.mdc: m.order for m in mdcs}
    out, rows, seqs = [], {}, {}
    for i, row in t:
        adrg = _text(t, i, row, "adrg", True)
        if adrg in rows:
            raise t.error(f"duplicate ADRG {adrg!r} (also row {rows[adrg]})", i, "adrg")
        mdc = _text(t, i, row, "mdc", True)
        if mdc not in order:
            raise t.error(f"MDC {mdc!r} is not in mdc.csv", i, "mdc")
        seq = _int(t, i, row, "seq", True)
        if (mdc, seq) in seqs:
            raise t.error(f"seq {seq} of MDC {mdc} repeated (also row {seqs[mdc, seq]})",
                          i, "seq")
        rows[adrg], seqs[mdc, seq] = i, i
        dx_rule = _kind(t, i, row, "dx_rule", ADRG_DX_RULES)
        proc_rule = _kind(t, i, row, "proc_rule", ADRG_PROC_RULES)
        expr = _text(t, i, row, "proc_expr")
        if proc_rule == "lists":
            if not expr:
                raise t.error("proc_rule lists needs a proc_expr", i, "proc_expr")
            terms = _parse_expr(t, i, expr)
        elif proc_rule == "main_in":
            # README section 3: ``main_in`` rows carry ``1`` for reference; L1 is the list
            if expr not in ("", "1"):
                raise t.error(f"proc_rule main_in tests list 1; proc_expr {expr!r} "
                              "contradicts it", i, "proc_expr")
            terms = ((1,),)
        else:
            if expr:
                raise t.error(f"proc_expr is only read with proc_rule lists or main_in, "
                              f"not {proc_rule or 'unset'}", i, "proc_expr")
            terms = ()
        out.append(AdrgRule(mdc, seq, adrg, row.get("name_zh", "").strip(), dx_rule,
                            proc_rule, terms, expr, _int(t, i, row, "age_days_max"),
                            _int(t, i, row, "weight_min_g"), _int(t, i, row, "weight_max_g")))
    out.sort(key=lambda a: (order[a.mdc], a.seq))
    return tuple(out), rows


def _adrg_dx(t: _Table, adrgs) -> dict[str, frozenset]:
    sets: dict[str, set] = {a.adrg: set() for a in adrgs}
    for i, row in t:
        adrg = _text(t, i, row, "adrg", True)
        if adrg not in sets:
            raise t.error(f"ADRG {adrg!r} is not in adrg.csv", i, "adrg")
        code = _code(t, i, row)
        if code in sets[adrg]:
            raise t.error(f"duplicate code {code!r} in ADRG {adrg}", i, "code")
        sets[adrg].add(code)
    return {k: frozenset(v) for k, v in sets.items()}


def _adrg_proc(t: _Table, adrgs) -> dict[str, dict[int, frozenset]]:
    lists: dict[str, dict[int, set]] = {a.adrg: {} for a in adrgs}
    for i, row in t:
        adrg = _text(t, i, row, "adrg", True)
        if adrg not in lists:
            raise t.error(f"ADRG {adrg!r} is not in adrg.csv", i, "adrg")
        k = _int(t, i, row, "list", True)
        if not 1 <= k <= 62:
            raise t.error(f"list number {k} is not in 1..62", i, "list")
        code = _code(t, i, row)
        s = lists[adrg].setdefault(k, set())
        if code in s:
            raise t.error(f"duplicate code {code!r} in list {k} of ADRG {adrg}", i, "code")
        s.add(code)
    return {a: {k: frozenset(v) for k, v in sorted(d.items())} for a, d in lists.items()}


def _check_adrg_lists(t: _Table, adrgs, adrg_rows, adrg_dx, adrg_proc, t_dx, t_proc) -> None:
    """Every list a condition reads exists, and every list given is read by a condition:
    an unread list is a table row that silently does nothing."""
    for a in adrgs:
        i = adrg_rows[a.adrg]
        if a.dx_rule and not adrg_dx[a.adrg]:
            raise t.error(f"ADRG {a.adrg} has dx_rule {a.dx_rule} but no rows in adrg_dx.csv",
                          i, "dx_rule")
        if not a.dx_rule and adrg_dx[a.adrg]:
            first = next(j for j, row in t_dx if row.get("adrg", "").strip() == a.adrg)
            raise t_dx.error(f"ADRG {a.adrg} has rows here but no dx_rule in adrg.csv",
                             first, "adrg")
        used = {k for term in a.proc_terms for k in term}
        for k in sorted(used):
            if k not in adrg_proc[a.adrg]:
                raise t.error(f"ADRG {a.adrg} reads procedure list {k}, which has no rows "
                              "in adrg_proc.csv", i, "proc_expr")
        for k in adrg_proc[a.adrg]:
            if k not in used:
                first = next(j for j, row in t_proc if row.get("adrg", "").strip() == a.adrg
                             and row.get("list", "").strip() == str(k))
                raise t_proc.error(f"list {k} of ADRG {a.adrg} is read by no condition in "
                                   "adrg.csv", first, "list")


def _drgs(t: _Table, adrgs, t_adrg: _Table, adrg_rows) -> tuple[DrgRule, ...]:
    pos = {a.adrg: n for n, a in enumerate(adrgs)}
    out, rows, seqs = [], {}, {}
    for i, row in t:
        drg = _text(t, i, row, "drg", True)
        if drg in rows:
            raise t.error(f"duplicate DRG {drg!r} (also row {rows[drg]})", i, "drg")
        adrg = _text(t, i, row, "adrg", True)
        if adrg not in pos:
            raise t.error(f"DRG {drg}: ADRG {adrg!r} is not in adrg.csv", i, "adrg")
        seq = _int(t, i, row, "seq", True)
        if (adrg, seq) in seqs:
            raise t.error(f"seq {seq} of ADRG {adrg} repeated (also row {seqs[adrg, seq]})",
                          i, "seq")
        rows[drg], seqs[adrg, seq] = i, i
        split = _text(t, i, row, "split", True)
        if split not in SPLITS:
            raise t.error(f"unknown condition kind {split!r} (known: {', '.join(SPLITS)})",
                          i, "split")
        out.append((DrgRule(drg, adrg, seq, split, row.get("name_zh", "").strip()), i))
    out.sort(key=lambda d: (pos[d[0].adrg], d[0].seq))
    last: dict[str, tuple[DrgRule, int]] = {}
    for d, i in out:
        last[d.adrg] = (d, i)
    for a in adrgs:
        if a.adrg not in last:
            raise t_adrg.error(f"ADRG {a.adrg} has no DRG in drg.csv", adrg_rows[a.adrg], "adrg")
        d, i = last[a.adrg]
        # README section 4: the last DRG has split none, so a matching ADRG always yields one
        if d.split != "none":
            raise t.error(f"DRG {d.drg} is the last of ADRG {a.adrg} and must have split "
                          f"none, not {d.split}", i, "split")
    return tuple(d for d, _ in out)


def _check_counts(t_mdc, t_adrg, mdcs, adrgs, drgs, adrg_rows) -> None:
    """``adrg_count`` / ``drg_count`` are optional cross-checks: when set they must agree."""
    n_adrg: dict[str, int] = {}
    for a in adrgs:
        n_adrg[a.mdc] = n_adrg.get(a.mdc, 0) + 1
    n_drg: dict[str, int] = {}
    for d in drgs:
        n_drg[d.adrg] = n_drg.get(d.adrg, 0) + 1
    for i, row in t_mdc:
        want = _int(t_mdc, i, row, "adrg_count")
        mdc = row["mdc"].strip()
        if want is not None and want != n_adrg.get(mdc, 0):
            raise t_mdc.error(f"MDC {mdc} has {n_adrg.get(mdc, 0)} ADRGs in adrg.csv",
                              i, "adrg_count")
    for i, row in t_adrg:
        want = _int(t_adrg, i, row, "drg_count")
        adrg = row["adrg"].strip()
        if want is not None and want != n_drg.get(adrg, 0):
            raise t_adrg.error(f"ADRG {adrg} has {n_drg.get(adrg, 0)} DRGs in drg.csv",
                               i, "drg_count")


def _map(t: _Table | None) -> dict[str, str] | None:
    """Map mode tables (README *Map mode*): input code -> grouper code, both folded; a
    target ``-`` or empty means the code cannot be mapped."""
    if t is None:
        return None
    out: dict[str, str] = {}
    for i, row in t:
        code = _code(t, i, row)
        if code in out:
            raise t.error(f"duplicate code {code!r}", i, "code")
        out[code] = fold_code(row.get("maps_to"))
    return out


# -------------------------------------------------------------------------------------------
# Compiling
# -------------------------------------------------------------------------------------------
def _opt(v: int | None) -> int:
    return UNSET if v is None else int(v)


def _compile_checks(checks: dict) -> tuple[np.ndarray, np.ndarray]:
    """README section 1 as ``checks`` int64[5]:
    [0] 1 if ``sex_in`` is set; [1] age_years required; [2] the age_years at which
    age_days is required (UNSET); [3] the age_days at or below which birth weight is
    required when age_years is 0 (UNSET); [4] diagnoses required."""
    out = np.array([0, 0, UNSET, UNSET, 0], np.int64)
    sex_in = checks.get("sex_in")
    if sex_in is not None:
        out[0] = 1
    out[1] = int(bool(checks.get("age_years_required")))
    out[2] = _opt(checks.get("age_days_required_if_age_years_eq"))
    out[3] = _opt(checks.get("birth_weight_required_if_age_years_eq_0_and_age_days_le"))
    out[4] = int(bool(checks.get("diagnoses_required")))
    return out, np.array(sex_in or [], np.int64)


def _compile(r: DrgRules) -> CompiledRules:
    vocab = set(r.proc_valid) | set(r.mcc) | set(r.cc) | set(r.cce)
    for s in r.mdc_dx.values():
        vocab |= s
    for s in r.adrg_dx.values():
        vocab |= s
    for d in r.adrg_proc.values():
        for s in d.values():
            vocab |= s
    codes = sorted(vocab)
    code_id = {c: i for i, c in enumerate(codes)}
    n = len(codes)

    # List ids, laid out so that a case finds its candidate ADRGs with a few word ANDs:
    # ADRG a's diagnosis table is list a, its procedure list 1 is list A + a (A: ADRGs
    # rounded up to a whole word), the MDC tables fill the word at 2A (hence <= 64 MDCs),
    # and the other procedure lists (2, 3, ...) follow.
    n_adrg, n_mdc = len(r.adrgs), len(r.mdcs)
    if n_mdc > 64:
        raise PackError(f"{n_mdc} MDCs; at most 64 are supported", source=str(r.path / "mdc.csv"))
    adrg_words = max(1, (n_adrg + 63) // 64)
    base = 64 * adrg_words
    members: list[tuple[int, frozenset]] = []
    mdc_free = 0                         # MDCs whose entry does not read the main diagnosis
    for m_i, m in enumerate(r.mdcs):
        if m.dx_rule:
            members.append((2 * base + m_i, r.mdc_dx[m.mdc]))
        else:
            mdc_free |= 1 << m_i
    k_max = max([k for d in r.adrg_proc.values() for k in d] + [1])
    adrg_dx_list = np.full(n_adrg, -1, np.int32)
    adrg_lists = np.full((n_adrg, k_max), -1, np.int32)
    # ADRGs a case can only match with its main diagnosis / main procedure in a table
    need_dx = np.zeros(adrg_words, np.uint64)
    need_proc = np.zeros(adrg_words, np.uint64)
    extra = 2 * base + 64
    for a_i, a in enumerate(r.adrgs):
        bit = np.uint64(1) << np.uint64(a_i & 63)
        if a.dx_rule:
            adrg_dx_list[a_i] = a_i
            members.append((a_i, r.adrg_dx[a.adrg]))
            if a.dx_rule == "main_in":
                need_dx[a_i >> 6] |= bit
        if a.proc_rule == "main_in":
            need_proc[a_i >> 6] |= bit
        for k, s in r.adrg_proc[a.adrg].items():
            lid = base + a_i if k == 1 else extra
            if k != 1:
                extra += 1
            adrg_lists[a_i, k - 1] = lid
            members.append((lid, s))
    all_adrg = np.zeros(adrg_words, np.uint64)
    for a_i in range(n_adrg):
        all_adrg[a_i >> 6] |= np.uint64(1) << np.uint64(a_i & 63)
    words = (extra + 63) // 64
    bits = np.zeros((n + 1, words), np.uint64)
    for lid, s in members:
        ids = np.fromiter((code_id[c] for c in s), np.int64, len(s))
        bits[ids, lid >> 6] |= np.uint64(1) << np.uint64(lid & 63)

    valid = np.zeros(n + 1, np.uint8)
    valid[[code_id[c] for c in r.proc_valid]] = 1
    tables: dict[str, int] = {}          # exclusion table ids compared as strings (README 4)

    def excl(d: dict[str, str]) -> np.ndarray:
        out = np.full(n + 1, -1, np.int32)
        for c, t in d.items():
            out[code_id[c]] = tables.setdefault(t, len(tables))
        return out

    mcc_t, cc_t, cce_t = excl(r.mcc), excl(r.cc), excl(r.cce)

    region_mdcs = [m for m in r.mdcs if m.min_trauma_regions]
    region = np.full((max(1, len(region_mdcs)), n + 1), -1, np.int8)
    mdc_region_slot = np.full(len(r.mdcs), -1, np.int32)
    for slot, m in enumerate(region_mdcs):
        mdc_region_slot[r.mdcs.index(m)] = slot
        labels: dict[str, int] = {}
        for c, label in r.trauma_regions[m.mdc].items():
            region[slot, code_id[c]] = labels.setdefault(label, len(labels))

    mdc_lo = np.zeros(len(r.mdcs), np.int32)
    mdc_hi = np.zeros(len(r.mdcs), np.int32)
    mdc_qy_pos = np.zeros(len(r.mdcs), np.int32)   # README *QY*: first ADRG after the slot
    pos = 0
    for m_i, m in enumerate(r.mdcs):
        mdc_lo[m_i] = pos
        while pos < len(r.adrgs) and r.adrgs[pos].mdc == m.mdc:
            pos += 1
        mdc_hi[m_i] = pos
        mdc_qy_pos[m_i] = next((a for a in range(mdc_lo[m_i], pos)
                                if r.adrgs[a].seq > m.qy_after_seq), pos)

    terms: list[int] = []
    term_lo = np.zeros(len(r.adrgs), np.int32)
    term_hi = np.zeros(len(r.adrgs), np.int32)
    adrg_lo = np.zeros(len(r.adrgs), np.int32)
    adrg_hi = np.zeros(len(r.adrgs), np.int32)
    pos = 0
    for a_i, a in enumerate(r.adrgs):
        term_lo[a_i] = len(terms)
        for term in a.proc_terms:
            terms.append(sum(1 << (k - 1) for k in term))
        term_hi[a_i] = len(terms)
        adrg_lo[a_i] = pos
        while pos < len(r.drgs) and r.drgs[pos].adrg == a.adrg:
            pos += 1
        adrg_hi[a_i] = pos

    checks, sex_in = _compile_checks(r.checks)
    i8 = np.int8
    return CompiledRules(
        codes=codes, code_id=code_id, bits=bits, valid=valid, mcc_t=mcc_t, cc_t=cc_t,
        cce_t=cce_t, region=region, checks=checks, sex_in=sex_in,
        mdc_proc_rule=np.array([MDC_PROC_RULES.get(m.proc_rule, 0) for m in r.mdcs], i8),
        mdc_sex=np.array([_opt(m.sex) for m in r.mdcs], np.int64),
        mdc_age_years=np.array([_opt(m.age_years) for m in r.mdcs], np.int64),
        mdc_min_regions=np.array([_opt(m.min_trauma_regions) for m in r.mdcs], np.int64),
        mdc_region_slot=mdc_region_slot,
        mdc_qy_pos=mdc_qy_pos, mdc_free=np.array([mdc_free], np.uint64),
        mdc_word=np.int64(2 * adrg_words), not_need_dx=all_adrg & ~need_dx,
        not_need_proc=all_adrg & ~need_proc,
        mdc_qy=np.array([m.qy_enabled for m in r.mdcs], np.uint8),
        mdc_lo=mdc_lo, mdc_hi=mdc_hi,
        adrg_dx_rule=np.array([ADRG_DX_RULES.get(a.dx_rule, 0) for a in r.adrgs], i8),
        adrg_dx_list=adrg_dx_list,
        adrg_proc_rule=np.array([ADRG_PROC_RULES.get(a.proc_rule, 0) for a in r.adrgs], i8),
        adrg_lists=adrg_lists, adrg_term_lo=term_lo, adrg_term_hi=term_hi,
        terms=np.array(terms or [0], np.int64),
        adrg_age_days_max=np.array([_opt(a.age_days_max) for a in r.adrgs], np.int64),
        adrg_weight_min=np.array([_opt(a.weight_min_g) for a in r.adrgs], np.int64),
        adrg_weight_max=np.array([_opt(a.weight_max_g) for a in r.adrgs], np.int64),
        adrg_lo=adrg_lo, adrg_hi=adrg_hi,
        drg_split=np.array([SPLITS[d.split] for d in r.drgs], i8),
    )
