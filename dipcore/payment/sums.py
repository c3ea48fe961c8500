"""Exact partial sums behind statements and indicators (the settlement pass's per-batch step).

Per (hospital, pool): the int64 columns of ``HOSPITAL_SUMS`` (cases, points, cost, fund,
outlier and kind counts, ...); per (hospital, pool, month): points and cases. Keys are
strings (``hospital_id`` + SEP + pool), so partial sums of any batch, thread or worker
merge by plain addition (:func:`merge_sums`, which also sorts: the result does not depend
on how the cases were cut). Within a process the settlement and the sweep add their
batches up by integer code first (:class:`RunningSums`) and make the string keys once, at
the end.
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
class BatchCodes:
    """Where the cases of a batch go in its sums: the (hospital, pool) code of each case
    (:func:`pool_keys`) and its month code (code x 12 + month - 1), and the cases of each
    month code. None of it depends on how the cases are scored, so a sweep works it out
    once per batch for all its variants."""

    codes: np.ndarray          # int64 (hospital, pool) code of each case
    n_codes: int               # the largest code + 1
    month_codes: np.ndarray    # int64 month code of each case
    month_cases: np.ndarray    # int64 [n_codes x 12] cases of each month code


def batch_codes(f: CaseFeatures) -> BatchCodes:
    """The :class:`BatchCodes` of a batch."""
    codes = pool_keys(f.hospital, f.pool)
    K = int(codes.max()) + 1 if f.n else 0
    mkey = codes * 12 + (f.month.astype(np.int64) - 1)
    return BatchCodes(codes, K, mkey, np.bincount(mkey, minlength=K * 12).astype(np.int64))


def dense_sums(f: CaseFeatures, s: Scored,
               k: BatchCodes | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's sums by its codebook's codes, every code up to the largest present:
    ``HOSPITAL_SUMS`` int64 [K, len(HOSPITAL_SUMS)] by (hospital, pool) code, and points
    and cases int64 [K x 12] by month code (``k``: the batch's :func:`batch_codes`, when
    already worked out). :class:`RunningSums` adds them up."""
    k = k or batch_codes(f)
    points = sum_by(k.month_codes, k.n_codes * 12, s.units.reshape(-1, 1))[:, 0]
    return hospital_sums(k.codes, k.n_codes, f, s), points, k.month_cases


class RulePartials:
    """The :func:`dense_sums` of one batch under several sets of point rules that share the
    terms of the points (``Scheme.terms``): the sums that do not depend on the rules are
    taken once, from the first scoring; for each scoring only the ``RULE_COLUMNS`` and the
    monthly points are summed again (``dipcore._kernels.points.rule_sums``)."""

    def __init__(self, f: CaseFeatures):
        self.f, self.k = f, batch_codes(f)
        self.fixed: np.ndarray | None = None

    def __call__(self, s: Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The batch's :func:`dense_sums` under ``s``."""
        k = self.k
        if self.fixed is None:
            self.fixed = hospital_sums(k.codes, k.n_codes, self.f, s)
        rule, months = self.rules(s)
        sums = self.fixed.copy()
        sums[:, P.RULE_COLUMNS] = rule
        return sums, months, k.month_cases

    def rules(self, s: Scored) -> tuple[np.ndarray, np.ndarray]:
        """Only what the rules change: the ``RULE_COLUMNS`` of the sums, int64 [K, 6], and
        the points by month code."""
        k = self.k
        return P.rule_sums(k.codes, k.month_codes, k.n_codes, s.kind, s.outlier, s.units)


class RunningSums:
    """The sums of a process's batches by integer code, one account per codebook.

    Keyed by strings, each batch's partial sums cost hashing as many keys as it has
    (hospital, pool, month) combinations, which for a province of thousands of hospitals
    is a good part of the cases again; by code, adding a batch is adding arrays. The
    string-keyed tables (``key`` = hospital id + SEP + pool; and ``month``) are made once,
    by :meth:`tables`, for the codes with cases. The batches of one codebook share its
    codes; each thread's codebook has an account of its own, and the accounts are added up
    by key when the tables are made. Pickled (to another process), the sums travel as
    those tables.
    """

    def __init__(self):
        self._books: dict[int, list] = {}     # id(codebook) -> [codebook, sums, points, cases]
        self._made: tuple[list[pa.Table], list[pa.Table]] = ([], [])   # tables received

    def add(self, codebook: Codebook, sums: np.ndarray, points: np.ndarray,
            cases: np.ndarray | None, adopt: bool = False) -> None:
        """Add a batch's :func:`dense_sums` (codes of ``codebook``). With ``adopt``, the
        arrays are the caller's to give: the first of a codebook's become its account as
        they are (fresh memory costs more to fault in than to add up).

        Without ``cases``, the sums are a sweep's rule sums (``RulePartials.rules``: the
        ``RULE_COLUMNS`` and points by month), which only :meth:`with_rules` reads."""
        book = self._books.get(id(codebook))
        if book is None:
            self._books[id(codebook)] = [codebook, *(a if adopt or a is None else a.copy()
                                                     for a in (sums, points, cases))]
            return
        K = len(sums)
        if K > len(book[1]):                  # more codes than so far: grow, doubling
            size = max(K, 2 * len(book[1]))
            book[1:] = [_grown(book[1], size), _grown(book[2], 12 * size),
                        None if book[3] is None else _grown(book[3], 12 * size)]
        book[1][:K] += sums
        book[2][:12 * K] += points
        if cases is not None:
            book[3][:12 * K] += cases

    def with_rules(self, rules: "RunningSums") -> "RunningSums":
        """These sums with the ``RULE_COLUMNS`` and the points by month of ``rules`` (rule
        sums of the same batches under other point rules, :meth:`add` without cases): the
        sums of those batches under those rules, as new accounts."""
        if self._made[0] or rules._made[0]:
            raise ValueError("rule sums are put together before any is made into tables")
        out = RunningSums()
        for key, (codebook, sums, _, cases) in self._books.items():
            _, rule, points, _ = rules._books[key]
            rows = max(len(sums), len(rule))
            whole = _grown(sums, rows)
            whole[:, P.RULE_COLUMNS] = _grown(rule, rows)
            out._books[key] = [codebook, whole, _grown(points, 12 * rows),
                               _grown(cases, 12 * rows)]
        return out

    def merge(self, other: "RunningSums", adopt: bool = False) -> None:
        """Add ``other``'s sums to these (with ``adopt``, ``other`` is given up: its
        accounts may become these)."""
        for codebook, sums, points, cases in other._books.values():
            self.add(codebook, sums, points, cases, adopt=adopt)
        for mine, theirs in zip(self._made, other._made):
            mine.extend(theirs)

    def tables(self, layout: "AccountLayout | None" = None) -> tuple[list[pa.Table], list[pa.Table]]:
        """The partial-sum tables (per (hospital, pool); per (hospital, pool, month)): those
        received, then one pair for the accounts, sorted by its keys (so that, alone, it
        needs no merging, :func:`merge_sums`).

        ``layout`` (:meth:`layout`) may come from other sums of the same cases, such as
        another variant's of a sweep: where the accounts' rows go depends only on the
        codebooks and the cases by month, so the string keys are made once for all the
        variants. A layout that does not fit these accounts is not used."""
        hosp, monthly = list(self._made[0]), list(self._made[1])
        if self._books:
            if layout is None or not layout.fits(self):
                layout = self.layout()
            h, m = layout.tables(self)
            hosp.append(h)
            monthly.append(m)
        return hosp, monthly

    def layout(self) -> "AccountLayout":
        """Where each account's rows go in the tables of :meth:`tables`."""
        return AccountLayout(self)

    def __getstate__(self):
        return {"made": self.tables()}

    def __setstate__(self, state):
        self._books, self._made = {}, state["made"]


class AccountLayout:
    """The rows of :class:`RunningSums`' tables for its accounts: the keys (sorted) and,
    per account, the rows of its codes with cases and of its month codes with cases.

    The codebooks' codes are renumbered by key: strings are touched once per (hospital,
    pool) of each codebook, not once per month row, and not at all for sums of the same
    cases under other rules (:meth:`fits`).
    """

    def __init__(self, running: RunningSums):
        self._books = []          # per account: codebook, present, rows, months, month rows, cases
        names = []
        for codebook, sums, _, cases in running._books.values():
            present = np.flatnonzero(sums[:, 0])            # column 0: cases
            names.append(hospital_keys(codebook, present))
            # a copy: the layout must not change with accounts that go on adding
            self._books.append([codebook, present, None, np.flatnonzero(cases), None,
                                cases.copy()])
        keys = pc.unique(pa.chunked_array(names, pa.string()))
        self.keys = keys.take(pc.sort_indices(keys))
        month_cases = np.zeros(12 * len(self.keys), np.int64)
        for book, book_keys in zip(self._books, names):
            _, present, _, months, _, cases = book
            at = np.full(len(cases) // 12, -1, np.int64)
            at[present] = pc.index_in(book_keys, value_set=self.keys).to_numpy()
            book[2] = at[present]
            book[4] = at[months // 12] * 12 + months % 12
            month_cases[book[4]] += cases[months]
        self.months = np.flatnonzero(month_cases)
        self.month_cases = month_cases[self.months]
        self.month_keys = self.keys.take(pa.array(self.months // 12))
        self.month_numbers = pa.array((self.months % 12 + 1).astype(np.int8))

    def fits(self, running: RunningSums) -> bool:
        """Whether the accounts of ``running`` are of the same codebooks and cases as those
        this layout was made from (their rows then go to the same places)."""
        books = running._books
        if len(books) != len(self._books):
            return False
        for (codebook, sums, _, cases), mine in zip(books.values(), self._books):
            if codebook is not mine[0] or len(cases) != len(mine[5]) \
                    or not np.array_equal(cases, mine[5]) \
                    or not np.array_equal(np.flatnonzero(sums[:, 0]), mine[1]):
                return False
        return True

    def tables(self, running: RunningSums) -> tuple[pa.Table, pa.Table]:
        """The (hospital, pool) and (hospital, pool, month) tables of the accounts of
        ``running``, which the layout :meth:`fits`."""
        total = np.zeros((len(self.keys), len(HOSPITAL_SUMS)), np.int64)
        month_points = np.zeros(12 * len(self.keys), np.int64)
        for (_, sums, points, _), (_, present, rows, months, month_rows, _) in zip(
                running._books.values(), self._books):
            total[rows] += sums[present]                    # distinct rows within a book
            month_points[month_rows] += points[months]
        hosp = pa.table({"key": self.keys,
                         **{name: total[:, j] for j, name in enumerate(HOSPITAL_SUMS)}})
        monthly = pa.table({"key": self.month_keys, "month": self.month_numbers,
                            "points": month_points[self.months], "cases": self.month_cases})
        return hosp, monthly


def _grown(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` with zero rows added up to ``rows``."""
    out = np.zeros((rows, *a.shape[1:]), a.dtype)
    out[:len(a)] = a
    return out


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
