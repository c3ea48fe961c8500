"""``drg_group``: CHS-DRG grouping of cases with a rule pack (SPEC.md section 10.1).

A pure grouper: every input row gives exactly one output row, in input order; bad values
give a status, never an exception or a dropped row; nothing goes through dipcore's DIP
validation or code normaliser (which would strip the dagger/asterisk part of a code).

How a batch is grouped:

1. codes are interned once per distinct *raw* string (the codebook's ``Vocabulary`` over the
   Cython ``StringIndex``, per thread);
   only a string seen for the first time is folded (trim, upper-case) and looked up in the
   pack's vocabulary, so the cost per code is one hash probe;
2. the Numba kernel ``dipcore._kernels.drg.group_cases`` walks MDC -> ADRG -> DRG;
3. the integer results become string columns through the pack's code dictionaries.

Batches run on :func:`dipcore.engine.threads.threads` threads; interning and the kernel release
the GIL, and each thread has its own interning tables, so threads share nothing mutable.
The result does not depend on the batch size or the number of threads.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import drg as K
from dipcore.engine.threads import ordered_map, threads
from dipcore.errors import InputError
from dipcore.ingest.codebook import Vocabulary
from dipcore.ingest.reader import reading_options
from dipcore.schemes.drg.cases import (
    INT_COLUMNS,
    as_table,
    ints,
    list_parts,
    one_chunk,
    text_column,
)
from dipcore.schemes.drg.rules import CC_KINDS, STATUSES, DrgRules, fold_code
from dipcore.schemes.drg.trace import trace_table

#: Rows per batch (the result does not depend on it).
DEFAULT_BATCH_ROWS = 1 << 16

#: Output schema without the trace.
RESULT_SCHEMA = pa.schema([
    pa.field("case_id", pa.string()),
    pa.field("status", pa.string(), nullable=False),
    pa.field("mdc", pa.string()),
    pa.field("adrg", pa.string()),
    pa.field("drg", pa.string()),
    pa.field("cc_kind", pa.string()),
])
TRACE_TYPE = pa.list_(pa.struct([pa.field("zh", pa.string()), pa.field("en", pa.string())]))


def drg_group(cases: Any, rules: DrgRules | str, *, trace: bool = False, map_codes: bool = False,
              batch_rows: int | None = None, encoding: str = "utf-8") -> pa.Table:
    """Group cases into CHS-DRG DRGs with a rule pack.

    Parameters
    ----------
    cases : pyarrow.Table, pyarrow.RecordBatch, pyarrow.RecordBatchReader, str or PathLike
        The cases, in dipcore's canonical columns (SPEC.md section 2): ``case_id``, ``sex``,
        ``age_years``, ``age_days``, ``birth_weight_g``, ``primary_dx``, ``secondary_dx``,
        ``procedures``. The two list columns may be ``list<string>`` or strings joined by
        ``,`` or ``|``. Also accepted: any object with ``__arrow_c_stream__`` (pandas,
        Polars) and a path to Parquet (file or directory), CSV (``encoding`` utf-8 or gbk)
        or Arrow IPC. Other columns are ignored.
    rules : DrgRules or path
        A rule pack, or the directory of one (:meth:`DrgRules.load`).
    trace : bool, default False
        Add a ``trace`` column: per case, the steps that decided it (MDCs entered and why,
        MDCs fallen through, the ADRG condition that matched, each CC/MCC considered and
        whether the exclusion table removed it), each step in Chinese (``zh``) and English
        (``en``). Slow (pure Python per case): meant for inspecting cases, not for runs.
    map_codes : bool, default False
        Map mode (pack README *Map mode*): translate every code through the pack's
        ``dx_map.csv`` / ``proc_map.csv`` first; a diagnosis the map lacks makes the case
        ``invalid_dx``, then a procedure the map lacks ``invalid_proc``. Off by default, as
        the README advises: the 1.1 maps lack many valid codes.
    batch_rows : int, optional
        Rows per batch (default 65,536). The result does not depend on it.

    Returns
    -------
    pyarrow.Table
        One row per input case, in input order: ``case_id``; ``status`` (``ok``,
        ``ungroupable``, ``check_failed``; ``invalid_dx``/``invalid_proc`` in map mode;
        ``ambiguous_qy`` only for packs that enable QY); ``mdc`` (e.g. ``MDCG``), ``adrg``,
        ``drg`` (null unless ``ok``; a QY case has its ``mdc`` and the ``xQY`` drg);
        ``cc_kind`` (``mcc``, ``cc`` or null: the severity that decided the DRG split);
        ``trace`` when asked for.

    Raises
    ------
    InputError
        The cases cannot be read, lack a column, or a column has a type that cannot hold
        the values (e.g. text in ``age_years``).
    """
    _, encoding, _, batch_rows = reading_options(encoding=encoding, batch_rows=batch_rows)
    rules = DrgRules.of(rules)
    table = as_table(cases, encoding)
    comp = rules.compiled
    if map_codes and (rules.dx_map is None or rules.proc_map is None):
        raise InputError("map mode needs dx_map.csv and proc_map.csv in the rule pack",
                         source=str(rules.path))
    rows = max(1, int(batch_rows or DEFAULT_BATCH_ROWS))
    n = table.num_rows
    slices = [(lo, min(n, lo + rows)) for lo in range(0, n, rows)]
    local = threading.local()
    names = result_names(rules)

    def job(bounds: tuple[int, int]) -> list[pa.Array]:
        interners = getattr(local, "interners", None)
        if interners is None:
            interners = local.interners = _interners(rules, map_codes)
        lo, hi = bounds
        status, mdc, adrg, drg, cc = _group_batch(table.slice(lo, hi - lo), comp, interners,
                                                  map_codes)
        # decoded here, on the batch threads, not serially after them
        return [_decode(status, names["status"], allow_null=False),
                _decode(mdc, names["mdc"]), _decode(adrg, names["adrg"]),
                _decode(drg, names["drg"]), _decode(cc.astype(np.int16) - 1, names["cc_kind"])]

    parts = list(ordered_map(job, slices, min(threads(), len(slices)) or 1))
    columns = [_case_ids(table.column("case_id"))]
    for k, field in enumerate(list(RESULT_SCHEMA)[1:]):
        columns.append(pa.chunked_array([p[k] for p in parts], field.type))
    out = pa.Table.from_arrays(columns, schema=RESULT_SCHEMA)
    if trace:
        out = out.append_column("trace", trace_table(table, rules, out, map_codes))
    return out


class _Interner(Vocabulary):
    """Raw code strings -> grouper code ids, each distinct raw string resolved once (the
    codebook's vocabulary mechanism; a null reads as the code ``""``)."""

    def __init__(self, resolve: Callable[[str], int]):
        self.resolve = resolve
        super().__init__(threading.RLock(), null_value=resolve(""))

    def _normalize(self, raw: pa.Array) -> np.ndarray:
        return np.fromiter((self.resolve(c) for c in raw.to_pylist()), np.int32, len(raw))

    def ids(self, arr: pa.Array) -> np.ndarray:
        """The code id of each element of a text (or dictionary) column."""
        return self.encode(arr)


def _interners(rules: DrgRules, map_codes: bool) -> tuple[_Interner, _Interner]:
    comp = rules.compiled
    code_id, unknown = comp.code_id, comp.n_codes

    def plain(s: str) -> int:
        return code_id.get(fold_code(s), unknown)

    if not map_codes:
        return _Interner(plain), _Interner(plain)

    def mapped(table: dict[str, str]):
        def resolve(s: str) -> int:
            # README *Map mode*: a code the map lacks, or one that maps to "-", is unmappable
            target = table.get(fold_code(s))
            if target is None or target in ("", "-"):
                return K.UNMAPPABLE
            return code_id.get(target, unknown)
        return resolve

    return _Interner(mapped(rules.dx_map)), _Interner(mapped(rules.proc_map))


def _group_batch(batch: pa.Table, comp, interners, map_codes: bool):
    dx, proc = interners
    n = batch.num_rows
    sex, ay, ad, w = (ints(batch.column(c), c) for c in INT_COLUMNS)
    d0 = dx.ids(text_column(one_chunk(batch.column("primary_dx")), "primary_dx"))
    s_lo, s_hi, s_vals = list_parts(batch.column("secondary_dx"), "secondary_dx")
    p_lo, p_hi, p_vals = list_parts(batch.column("procedures"), "procedures")
    s_ids = dx.ids(s_vals) if len(s_vals) else np.zeros(1, np.int32)
    p_ids = proc.ids(p_vals) if len(p_vals) else np.zeros(1, np.int32)
    status = np.empty(n, np.int8)
    mdc = np.empty(n, np.int16)
    adrg = np.empty(n, np.int16)
    drg = np.empty(n, np.int16)
    cc = np.empty(n, np.int8)
    K.group_cases(sex, ay, ad, w, d0, s_lo, s_hi, s_ids, p_lo, p_hi, p_ids, map_codes,
                  *comp.kernel_args(), status, mdc, adrg, drg, cc)
    return status, mdc, adrg, drg, cc


# -------------------------------------------------------------------------------------------
# output
# -------------------------------------------------------------------------------------------
_NAMES_CACHE: dict[str, dict[str, pa.Array]] = {}


def result_names(rules: DrgRules) -> dict[str, pa.Array]:
    """Output dictionaries of a pack: position -> code."""
    names = _NAMES_CACHE.get(rules.fingerprint)
    if names is None:
        names = {
            "status": pa.array(STATUSES, pa.string()),
            "mdc": pa.array([m.code for m in rules.mdcs], pa.string()),
            "adrg": pa.array([a.adrg for a in rules.adrgs], pa.string()),
            # a QY result's DRG (n_drg + MDC position) is the MDC letter + "QY"
            "drg": pa.array([d.drg for d in rules.drgs] + [m.mdc + "QY" for m in rules.mdcs],
                            pa.string()),
            "cc_kind": pa.array([k for k in CC_KINDS if k], pa.string()),
        }
        _NAMES_CACHE[rules.fingerprint] = names
    return names


def _decode(idx: np.ndarray, dictionary: pa.Array, allow_null: bool = True) -> pa.Array:
    """Strings of ``dictionary`` at ``idx``; -1 is null."""
    idx = idx.astype(np.int32, copy=False)
    mask = (idx < 0) if allow_null else None
    return pc.take(dictionary, pa.array(idx, pa.int32(), mask=mask))


def _case_ids(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col if pa.types.is_string(col.type) else col.cast(pa.string())
