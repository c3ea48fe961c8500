"""Exact partial sums behind statements and indicators (the settlement pass's per-batch step).

Per (hospital, pool): the int64 columns of ``HOSPITAL_SUMS`` (cases, points, cost, fund,
outlier and kind counts, ...); per (hospital, pool, month): points and cases. Keys are
strings (``hospital_id`` + SEP + pool), so partial sums of any batch, thread or worker
merge by plain addition (:func:`merge_sums`, which also sorts: the result does not depend
on how the cases were cut).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment.points import Scored
from dipcore.schema import POOLS
from dipcore.schemes.base import CaseFeatures

#: int64 partial sums kept per (hospital, pool).
HOSPITAL_SUMS = P.HOSPITAL_SUMS
#: Separator of hospital id and pool in a key (a control character no id contains).
SEP = "\x1f"
N_POOLS = len(POOLS)
_POOL_NAMES = pa.array(list(POOLS))


def pool_keys(hospital: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Dense int64 key of (codebook hospital id, pool index)."""
    return hospital.astype(np.int64) * N_POOLS + pool


def split_key(key: str) -> tuple[str, str]:
    """``(hospital_id, pool)`` of a partial-sum key."""
    hospital, pool = key.split(SEP)
    return hospital, pool


def hospital_sums(codes: np.ndarray, n_codes: int, f: CaseFeatures, s: Scored) -> np.ndarray:
    """The ``HOSPITAL_SUMS`` of the cases by code: int64 [n_codes, len(HOSPITAL_SUMS)].

    Statements and supervision (``dipcore.supervision``) both sum these, so a CMI, an
    outlier share or an operation rate means the same in both
    (``dipcore.supervision.indicators``).
    """
    return P.hospital_sums(codes, n_codes, s.kind, s.outlier, s.units, s.rw, f.cost, f.fund,
                           f.los, f.way, f.treatment_class)


def hospital_keys(b: CheckedBatch, present: np.ndarray) -> pa.Array:
    """``hospital_id + SEP + pool`` of packed keys (:func:`pool_keys`): the partial states'
    key, as strings, so partials of any thread or worker merge."""
    names = b.codebook.hospital.canon.take(present // N_POOLS)
    return pc.binary_join_element_wise(names, _POOL_NAMES.take(pa.array(present % N_POOLS)), SEP)


def partial_sums(b: CheckedBatch, f: CaseFeatures, s: Scored) -> tuple[pa.Table, pa.Table]:
    """Exact int64 sums per (hospital, pool) and per (hospital, pool, month)."""
    n = f.n
    codes = pool_keys(f.hospital, f.pool)
    K = int(codes.max()) + 1 if n else 0
    sums = hospital_sums(codes, K, f, s)
    present = np.flatnonzero(sums[:, 0])
    hosp = pa.table({"key": hospital_keys(b, present),
                     **{name: sums[present, j] for j, name in enumerate(HOSPITAL_SUMS)}})
    mkey = codes * 12 + (f.month.astype(np.int64) - 1)
    msums = sum_by(mkey, K * 12, np.stack([s.units, np.ones(n, np.int64)], axis=1))
    nz = np.flatnonzero(msums[:, 1])
    monthly = pa.table({"key": hospital_keys(b, nz // 12),
                        "month": pa.array((nz % 12 + 1).astype(np.int8)),
                        "points": msums[nz, 0], "cases": msums[nz, 1]})
    return hosp, monthly


def merge_sums(parts: Iterable[pa.Table], keys: list[str]) -> pa.Table:
    t = pa.concat_tables(list(parts))
    values = [c for c in t.column_names if c not in keys]
    out = t.group_by(keys).aggregate([(c, "sum") for c in values])
    return out.rename_columns([c[:-4] if c.endswith("_sum") else c for c in out.column_names]) \
        .sort_by([(k, "ascending") for k in keys])
