"""Facts of medical codes, vectorised over Arrow string arrays (SPEC.md sections 2, 3.1, 4).

The rules that give a code its meaning for payment, each in one place: the packed ICD-10
category of a diagnosis (SPEC 2), the exclusion and treatment class of a procedure
(SPEC 3.1-3.2) and the Quan (2005) Charlson condition of a diagnosis (SPEC 4). The codebook
(``dipcore.ingest.codebook``) applies them once per distinct code.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import strings as K
from dipcore._kernels.severity import cci_scores
from dipcore.coding import refdata

#: Treatment classes of SPEC 3.2, in rank order (the kernels' CONSERVATIVE..SURGERY).
CLASS_NAMES = refdata.TREATMENT_CLASSES
CLASS_RANK = {name: i for i, name in enumerate(CLASS_NAMES)}
#: Packed ICD-10 categories: letter x two digits.
N_CATEGORIES = 26 * 100


def packed_categories(codes: pa.Array) -> np.ndarray:
    """``K35.900`` -> (K - A) * 100 + 35 (the packed category); -1 unless the code starts
    letter-digit-digit."""
    off, data, _ = K.string_buffers(codes)
    out = np.full(len(codes), -1, np.int32)
    ok = np.diff(off) >= 3
    s = off[:-1][ok].astype(np.int64)
    c0, c1, c2 = (data[s + k].astype(np.int32) for k in range(3))
    good = (c0 >= 65) & (c0 <= 90) & (c1 >= 48) & (c1 <= 57) & (c2 >= 48) & (c2 <= 57)
    out[ok] = np.where(good, (c0 - 65) * 100 + (c1 - 48) * 10 + (c2 - 48), -1)
    return out


def _longest_prefix(codes: pa.Array, table: dict[str, int], default: int,
                    lengths: Iterable[int] | None = None) -> np.ndarray:
    """Value of each code's longest prefix found in ``table`` (``default`` if none)."""
    out = np.full(len(codes), default, np.int32)
    found = np.zeros(len(codes), bool)
    by_len: dict[int, dict[str, int]] = {}
    for k, v in table.items():
        by_len.setdefault(len(k), {})[k] = v
    for n in sorted(by_len if lengths is None else lengths, reverse=True):
        if n not in by_len or not len(codes):
            continue
        keys = list(by_len[n])
        idx = pc.index_in(pc.utf8_slice_codeunits(codes, 0, n), value_set=pa.array(keys, pa.string()))
        hit = idx.is_valid().to_numpy(zero_copy_only=False) & ~found
        if hit.any():
            values = np.array([by_len[n][k] for k in keys], np.int32)
            out[hit] = values[idx.to_numpy(zero_copy_only=False)[hit].astype(np.int64)]
            found |= hit
    return out


def procedure_facts(codes: pa.Array, extra: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Exclusion (SPEC 3.1: the shipped list plus the policy's extra codes, ``*`` for a
    prefix) and treatment-class rank (longest matching prefix of the class table, else
    therapeutic) of procedure codes."""
    exact, prefixes = refdata.procedure_exclusions()
    exact = exact + tuple(e for e in extra if not e.endswith("*"))
    prefixes = prefixes + tuple(e.rstrip("*") for e in extra if e.endswith("*"))
    excluded = pc.is_in(codes, value_set=pa.array(list(exact), pa.string())).to_numpy(zero_copy_only=False)
    for p in set(prefixes):
        excluded = excluded | pc.starts_with(codes, p).to_numpy(zero_copy_only=False)
    classes = {k: CLASS_RANK[v] for k, v in refdata.procedure_class_prefixes().items()}
    rank = _longest_prefix(codes, classes, CLASS_RANK["therapeutic"])
    return np.asarray(excluded, bool), rank.astype(np.int8)


def charlson_conditions(codes: pa.Array) -> np.ndarray:
    """Quan (2005) condition id of diagnosis codes by their undotted 4- or 3-character
    prefix (SPEC 4), -1 for none."""
    table = {p: cid for cid, (_, _, ps) in enumerate(refdata.charlson_conditions()) for p in ps}
    flat = pc.replace_substring(codes, ".", "")
    return _longest_prefix(flat, table, -1, lengths=(4, 3))


def category_code(packed: int) -> str:
    """Inverse of the packing: 1035 -> ``K35``."""
    return f"{chr(65 + packed // 100)}{packed % 100:02d}"


def _charlson_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of the Quan (2005) conditions and the (mild, severe) pairs of SPEC 4."""
    conditions = refdata.charlson_conditions()
    names = [c for c, _, _ in conditions]
    pairs = [("diabetes_without_complication", "diabetes_with_complication"),
             ("mild_liver_disease", "severe_liver_disease"),
             ("malignancy", "metastatic_solid_tumour")]
    return (np.array([w for _, w, _ in conditions], np.int32),
            np.array([names.index(a) for a, _ in pairs], np.int32),
            np.array([names.index(b) for _, b in pairs], np.int32))


CCI_WEIGHTS, CCI_MILD, CCI_SEVERE = _charlson_tables()


def charlson_index(b) -> np.ndarray:
    """int16 Charlson index of each case of a checked batch over its *secondary* diagnoses
    (SPEC 4), every scheme alike (severity for supervision, subtypes for DIP)."""
    facts = b.codebook.diagnoses.facts()
    cond = facts["condition"][b.sec] if len(b.sec) else np.zeros(0, np.int32)
    return cci_scores(b.sec_off, cond, CCI_WEIGHTS, CCI_MILD, CCI_SEVERE)
