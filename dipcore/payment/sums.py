"""Exact partial sums behind statements and indicators (the settlement pass's per-batch step).

Per (hospital, pool): the int64 columns of ``HOSPITAL_SUMS`` (cases, points, cost, fund,
outlier and kind counts, ...); per (hospital, pool, month): points and cases. Keys are
strings (``hospital_id`` + SEP + pool), so partial sums of any batch, thread or worker
merge by plain addition (:func:`merge_sums`, which also sorts: the result does not depend
on how the cases were cut). Within a process the settlement adds its batches up by integer
code first (:class:`RunningSums`) and makes the string keys once, at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import points as P
from dipcore._kernels.aggregate import sum_by
from dipcore.ingest.codebook import Codebook
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


def split_keys(keys: pa.Array | pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """``(hospital ids, pools)`` of a column of partial-sum keys (``hospital_id + SEP +
    pool``), as string columns."""
    parts = pc.split_pattern(pa.chunked_array(keys) if isinstance(keys, pa.Array) else keys, SEP)
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


def hospital_sums(codes: np.ndarray, n_codes: int, f: CaseFeatures, s: Scored) -> np.ndarray:
    """The ``HOSPITAL_SUMS`` of the cases by code: int64 [n_codes, len(HOSPITAL_SUMS)].

    Statements and supervision (``dipcore.supervision``) both sum these, so a CMI, an
    outlier share or an operation rate means the same in both
    (``dipcore.supervision.indicators``).
    """
    return P.hospital_sums(codes, n_codes, s.kind, s.outlier, s.units, s.rw, f.cost, f.fund,
                           f.los, f.way, f.treatment_class)


def hospital_keys(codebook: Codebook, present: np.ndarray) -> pa.Array:
    """``hospital_id + SEP + pool`` of packed keys (:func:`pool_keys`): the partial states'
    key, as strings, so partials of any thread or worker merge."""
    names = codebook.hospital.canon.take(present // N_POOLS)
    return pc.binary_join_element_wise(names, _POOL_NAMES.take(pa.array(present % N_POOLS)), SEP)


@dataclass
class SumKeys:
    """Where the cases of a batch go in its partial sums: the (hospital, pool) code of each
    case and the (hospital, pool, month) code, the codes present and their string keys.
    None of it depends on how the cases are scored, so a sweep works it out once per
    batch for all its variants."""

    codes: np.ndarray          # int64 (hospital, pool) code of each case (pool_keys)
    n_codes: int
    present: np.ndarray        # codes with cases, ascending
    keys: pa.Array             # their hospital_keys
    month_codes: np.ndarray    # int64 code * 12 + month - 1 of each case
    months_present: np.ndarray  # month codes with cases, ascending
    month_keys: pa.Array       # hospital_keys of their (hospital, pool)
    month_cases: np.ndarray    # int64 cases of each present month code


def sum_keys(codebook: Codebook, f: CaseFeatures) -> SumKeys:
    """The :class:`SumKeys` of a batch; ``codebook`` is the one the features' hospital ids
    belong to."""
    codes = pool_keys(f.hospital, f.pool)
    K = int(codes.max()) + 1 if f.n else 0
    present = np.flatnonzero(np.bincount(codes, minlength=K))
    mkey = codes * 12 + (f.month.astype(np.int64) - 1)
    mcount = np.bincount(mkey, minlength=K * 12).astype(np.int64)
    nz = np.flatnonzero(mcount)
    return SumKeys(codes, K, present, hospital_keys(codebook, present), mkey, nz,
                   hospital_keys(codebook, nz // 12), mcount[nz])


def dense_sums(f: CaseFeatures, s: Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's sums by its codebook's codes, every code up to the largest present:
    ``HOSPITAL_SUMS`` int64 [K, len(HOSPITAL_SUMS)] by (hospital, pool) code
    (:func:`pool_keys`), and points and cases int64 [K x 12] by month code (code x 12 +
    month - 1). :class:`RunningSums` adds them up."""
    codes = pool_keys(f.hospital, f.pool)
    K = int(codes.max()) + 1 if f.n else 0
    mkey = codes * 12 + (f.month.astype(np.int64) - 1)
    months = sum_by(mkey, K * 12, np.stack([s.units, np.ones(f.n, np.int64)], axis=1))
    return hospital_sums(codes, K, f, s), months[:, 0].copy(), months[:, 1].copy()


class RunningSums:
    """The sums of a process's batches by integer code, one account per codebook.

    Keyed by strings, each batch's partial sums cost hashing as many keys as it has
    (hospital, pool, month) combinations, which for a province of thousands of hospitals
    is a good part of the cases again; by code, adding a batch is adding arrays. The
    string-keyed tables that cross between processes are made once, by :meth:`tables`.
    The batches of one codebook share its codes; those of another thread's codebook are
    kept apart and merged by key.
    """

    def __init__(self):
        self._books: dict[int, list] = {}     # id(codebook) -> [codebook, sums, points, cases]

    def add(self, codebook: Codebook, sums: np.ndarray, points: np.ndarray,
            cases: np.ndarray) -> None:
        """Add a batch's :func:`dense_sums` (codes of ``codebook``)."""
        book = self._books.get(id(codebook))
        if book is None:
            book = self._books[id(codebook)] = [codebook, np.zeros((0, len(HOSPITAL_SUMS)),
                                                                   np.int64),
                                                np.zeros(0, np.int64), np.zeros(0, np.int64)]
        K = len(sums)
        if K > len(book[1]):                  # more codes than so far: grow, doubling
            size = max(K, 2 * len(book[1]))
            book[1] = np.concatenate([book[1], np.zeros((size - len(book[1]), len(HOSPITAL_SUMS)),
                                                        np.int64)])
            book[2], book[3] = (np.concatenate([a, np.zeros(12 * size - len(a), np.int64)])
                                for a in book[2:])
        book[1][:K] += sums
        book[2][:12 * K] += points
        book[3][:12 * K] += cases

    def tables(self) -> tuple[list[pa.Table], list[pa.Table]]:
        """Per codebook, the partial-sum tables of the codes with cases, each sorted by its
        keys (so one codebook's tables need no merging, :func:`merge_sums`)."""
        hosp, monthly = [], []
        for codebook, sums, points, cases in self._books.values():
            present = np.flatnonzero(sums[:, 0])            # column 0: cases
            keys = hospital_keys(codebook, present)
            order = pc.sort_indices(keys).to_numpy()
            present, keys = present[order], keys.take(pa.array(order))
            rank = np.empty(len(sums), np.int64)
            rank[present] = np.arange(len(present))
            months = np.flatnonzero(cases)
            months = months[np.lexsort((months % 12, rank[months // 12]))]
            k = SumKeys(np.zeros(0, np.int64), len(sums), present, keys, np.zeros(0, np.int64),
                        months, keys.take(pa.array(rank[months // 12])), cases[months])
            h, m = _tables(k, sums[present], points[months])
            hosp.append(h)
            monthly.append(m)
        return hosp, monthly


def partial_sums(codebook: Codebook, f: CaseFeatures, s: Scored,
                 keys: SumKeys | None = None) -> tuple[pa.Table, pa.Table]:
    """Exact int64 sums per (hospital, pool) and per (hospital, pool, month); ``codebook``
    is the one the features' hospital ids belong to (``keys``: the batch's
    :func:`sum_keys`, when already worked out)."""
    k = keys or sum_keys(codebook, f)
    sums = hospital_sums(k.codes, k.n_codes, f, s)
    points = sum_by(k.month_codes, k.n_codes * 12, s.units.reshape(-1, 1))[:, 0]
    return _tables(k, sums[k.present], points[k.months_present])


class RulePartials:
    """The partial sums of one batch under several sets of point rules that share the
    terms of the points (``Scheme.terms``): the sums that do not depend on the rules are
    taken once, from the first scoring; for each scoring only the ``RULE_COLUMNS`` and the
    monthly points are summed again (``dipcore._kernels.points.rule_sums``). The tables
    are those :func:`partial_sums` gives for that scoring."""

    def __init__(self, codebook: Codebook, f: CaseFeatures):
        self.f, self.keys = f, sum_keys(codebook, f)
        self.fixed: np.ndarray | None = None

    def __call__(self, s: Scored) -> tuple[pa.Table, pa.Table]:
        k = self.keys
        if self.fixed is None:
            self.fixed = hospital_sums(k.codes, k.n_codes, self.f, s)[k.present]
        rule, months = P.rule_sums(k.codes, k.month_codes, k.n_codes, s.kind, s.outlier,
                                   s.units)
        sums = self.fixed.copy()
        sums[:, P.RULE_COLUMNS] = rule[k.present]
        return _tables(k, sums, months[k.months_present])


def _tables(k: SumKeys, sums: np.ndarray, month_points: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """The partial-sum tables of a batch: ``sums`` of its present (hospital, pool) codes,
    ``month_points`` of its present month codes."""
    hosp = pa.table({"key": k.keys, **{name: sums[:, j] for j, name in enumerate(HOSPITAL_SUMS)}})
    monthly = pa.table({"key": k.month_keys,
                        "month": pa.array((k.months_present % 12 + 1).astype(np.int8)),
                        "points": month_points, "cases": k.month_cases})
    return hosp, monthly


def merge_sums(parts: Iterable[pa.Table], keys: list[str]) -> pa.Table:
    """The partial sums added up per ``keys``, sorted by them: the same table whatever the
    batches. One part already so (a part's own merge, ``SettlementSums.done``) is returned
    as it is: a province of thousands of hospitals has hundreds of thousands of monthly
    keys to group again for nothing."""
    parts = list(parts)
    if len(parts) == 1 and _strictly_increasing(parts[0], keys):
        return parts[0]
    t = pa.concat_tables(parts)
    values = [c for c in t.column_names if c not in keys]
    out = t.group_by(keys).aggregate([(c, "sum") for c in values])
    return out.rename_columns([c[:-4] if c.endswith("_sum") else c for c in out.column_names]) \
        .sort_by([(k, "ascending") for k in keys])


def _strictly_increasing(t: pa.Table, keys: list[str]) -> bool:
    """Whether the rows of ``t`` are in strictly increasing order of ``keys`` (so unique)."""
    if t.num_rows < 2:
        return True
    n = t.num_rows - 1
    later, tied = None, None          # row i+1 > row i so far; rows equal on the keys so far
    for k in keys:
        a, b = t.column(k).slice(0, n), t.column(k).slice(1, n)
        gt, eq = pc.greater(b, a), pc.equal(b, a)
        later = gt if later is None else pc.or_(later, pc.and_(tied, gt))
        tied = eq if tied is None else pc.and_(tied, eq)
    return bool(pc.all(later).as_py())
