"""The summary ``dipcore validate`` prints, accumulated batch by batch.

``validate`` streams the source and turns each checked batch (codes, fen and days, as the
validator left them; no table of the kept cases is built) into a :class:`SummaryPart` on
the batch's own thread; the parts are folded into a :class:`CaseSummary` in reading order.
A table of kept cases (``dipcore.read_cases``) gives the same part
(:meth:`SummaryPart.of_table`). What the summary holds, and why:

* counts, sums and per-year and per-reason counters: a few integers;
* distinct hospitals and principal diagnoses: Python sets of the values, bounded by the
  registry and the code list, not by the rows;
* distinct patients: an exact count needs every patient seen, so the summary keeps a 64-bit
  hash of each distinct patient id (8 bytes per distinct patient). Each part brings its
  batch's distinct hashes sorted; the summary keeps sorted runs and merges two when the
  older is not more than twice the newer, so a hash is merged a logarithmic number of
  times and the sorting is done on the batches' threads. The count is exact unless two of
  the ids share a hash: for ``n`` distinct ids the chance of any such pair is about
  ``n**2 / 2**65`` (3e-6 for 10 million). Counting them always keeps the printed lines
  unchanged;
* the median cost: exact, from the kept costs as int64 fen (8 bytes per kept case: 80 MB
  for 10 million, against the ~3 GB of the whole table it replaces). An approximate
  median would change the printed figure, which users compare between runs.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels.aggregate import distinct, union_sorted
from dipcore._kernels.calendar import year_month_los
from dipcore._kernels.strings import hash_strings
from dipcore.ingest.validate import CheckedBatch
from dipcore.schema import fen

@dataclass
class SummaryPart:
    """What one batch adds to a :class:`CaseSummary`.

    Attributes
    ----------
    quarantined : int
        Rows of the batch quarantined.
    reasons : list of (str, int)
        Quarantined rows by reason, in order of first appearance.
    kept : int
        Rows kept.
    years : dict
        Kept cases by discharge year.
    total, fund : int
        Sums of the kept cases' total cost and fund payment, fen.
    bed_day : int
        Kept cases paid by bed day (with a bed-day category).
    hospitals, diagnoses : set of str
        Distinct hospital ids and principal diagnoses (canonical codes).
    patients : numpy.ndarray
        The distinct 64-bit hashes of the patient ids (``hash_strings``), ascending.
    costs : numpy.ndarray
        The kept cases' total cost, int64 fen.
    """

    quarantined: int
    reasons: list[tuple[str, int]]
    kept: int = 0
    years: dict[int, int] | None = None
    total: int = 0
    fund: int = 0
    bed_day: int = 0
    hospitals: set[str] | None = None
    diagnoses: set[str] | None = None
    patients: np.ndarray | None = None
    costs: np.ndarray | None = None

    @staticmethod
    def _reasons(quarantine: pa.Table) -> list[tuple[str, int]]:
        if not quarantine.num_rows:
            return []
        return [(r["values"], r["counts"])
                for r in pc.value_counts(quarantine.column("reason")).to_pylist()]

    @classmethod
    def of_table(cls, cases: pa.Table, quarantine: pa.Table) -> "SummaryPart":
        """The part of a batch of kept cases (canonical schema) and its quarantine."""
        part = cls(quarantine.num_rows, cls._reasons(quarantine), cases.num_rows)
        if not cases.num_rows:
            return part
        part.years = {r["values"]: r["counts"] for r in
                      pc.value_counts(pc.year(cases.column("discharge_date"))).to_pylist()}
        part.costs = fen(cases.column("total_cost"))
        part.total = int(part.costs.sum())
        part.fund = int(fen(cases.column("fund_paid")).sum())
        part.bed_day = cases.num_rows - cases.column("bed_day_category").null_count
        part.hospitals = set(pc.unique(cases.column("hospital_id")).to_pylist()) - {None}
        part.diagnoses = set(pc.unique(cases.column("primary_dx")).to_pylist()) - {None}
        part.patients = _patients(cases.column("patient_id"))
        return part

    @classmethod
    def of_batch(cls, b: CheckedBatch) -> "SummaryPart":
        """The part of a checked batch, from its codes: what :meth:`of_table` gives for
        ``b.table()`` and ``b.quarantine``, without building the table."""
        part = cls(b.quarantine.num_rows, cls._reasons(b.quarantine), b.n)
        if not b.n:
            return part
        found, counts = np.unique(year_month_los(b.admission, b.discharge)[0], return_counts=True)
        part.years = dict(zip(found.tolist(), counts.tolist()))
        part.costs = b.cost
        part.total = int(b.cost.sum())
        part.fund = int(b.fund.sum())
        part.bed_day = int((b.bed >= 0).sum())
        cb = b.codebook
        part.hospitals = _names(cb.hospital.canon, b.hospital)
        part.diagnoses = _names(cb.dx.canon, b.dx)
        part.patients = _patients(b.patient_id())
        return part


def _names(canon, ids: np.ndarray) -> set[str]:
    """The distinct strings of codebook ids (negative ids: none)."""
    found = np.unique(ids)
    return set(canon.take(found[found >= 0]).to_pylist())


def _patients(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The distinct hashes of the non-null patient ids, ascending."""
    ids = pc.drop_null(ids)
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    return distinct(hash_strings(ids)) if len(ids) else np.zeros(0, np.uint64)


class CaseSummary:
    """Summary statistics of validated cases, added batch by batch in bounded memory.

    Attributes
    ----------
    kept, quarantined : int
        Rows kept and quarantined so far.
    """

    def __init__(self) -> None:
        self.kept = 0
        self.quarantined = 0
        # insertion order is first appearance: it breaks ties between equal counts
        self._reasons: dict[str, int] = {}
        self._years: Counter[int] = Counter()
        self._total = 0
        self._fund = 0
        self._bed_day = 0
        self._hospitals: set[str] = set()
        self._diagnoses: set[str] = set()
        # distinct patient hashes: sorted runs, each more than twice the size of the next
        self._patients: list[np.ndarray] = []
        self._costs: list[np.ndarray] = []

    def add(self, cases: pa.Table, quarantine: pa.Table) -> "CaseSummary":
        """Fold in one batch of kept cases (canonical schema) and its quarantine.

        Parameters
        ----------
        cases : pyarrow.Table
            Kept cases (:data:`dipcore.schema.CASE_SCHEMA`).
        quarantine : pyarrow.Table
            Quarantined rows (:data:`dipcore.schema.QUARANTINE_SCHEMA`).

        Returns
        -------
        CaseSummary
            ``self``, so that a whole table summarises as ``CaseSummary().add(c, q)``.
        """
        return self.add_part(SummaryPart.of_table(cases, quarantine))

    def add_part(self, part: SummaryPart) -> "CaseSummary":
        """Fold in the part of the next batch (:class:`SummaryPart`), in reading order.

        Returns
        -------
        CaseSummary
            ``self``.
        """
        self.quarantined += part.quarantined
        for reason, n in part.reasons:
            self._reasons[reason] = self._reasons.get(reason, 0) + n
        if not part.kept:
            return self
        self.kept += part.kept
        self._years.update(part.years)
        self._costs.append(part.costs)
        self._total += part.total
        self._fund += part.fund
        self._bed_day += part.bed_day
        self._hospitals |= part.hospitals
        self._diagnoses |= part.diagnoses
        if len(part.patients):
            self._patients.append(part.patients)
            self._merge_runs(whole=False)
        return self

    def _merge_runs(self, whole: bool) -> None:
        """Merge the newest patient runs while the older is not more than twice the newer
        (``whole``: down to one run)."""
        runs = self._patients
        while len(runs) > 1 and (whole or len(runs[-2]) <= 2 * len(runs[-1])):
            runs[-2:] = [union_sorted(runs[-2], runs[-1])]

    def _distinct_patients(self) -> int:
        self._merge_runs(whole=True)
        return len(self._patients[0]) if self._patients else 0

    def lines(self) -> list[str]:
        """The summary as printed by ``dipcore validate``."""
        lines = [f"cases kept: {self.kept:,}   quarantined: {self.quarantined:,}"]
        # most frequent first; equal counts in order of first appearance
        for reason, n in sorted(self._reasons.items(), key=lambda r: -r[1]):
            lines.append(f"  quarantine {reason}: {n:,}")
        if not self.kept:
            return lines
        lines.append("cases by discharge year: "
                     + ", ".join(f"{y}: {n:,}" for y, n in sorted(self._years.items())))
        # float() before dividing, as NumPy divides its int64 sums
        total, fund = float(self._total), float(self._fund)
        lines.append(f"total cost: {total / 100:,.2f} yuan, fund paid {fund / 100:,.2f} "
                     f"yuan (fund share {fund / max(total, 1):.3f})")
        lines.append(f"hospitals: {len(self._hospitals)}, "
                     f"patients: {self._distinct_patients():,}, "
                     f"principal diagnoses: {len(self._diagnoses):,}")
        costs = np.concatenate(self._costs)
        self._costs = [costs]
        median = np.median(costs, overwrite_input=True)   # a reordering: still the median
        lines.append(f"bed-day cases: {self._bed_day:,} ({self._bed_day / self.kept:.1%}); "
                     f"median cost {median / 100:,.2f} yuan")
        return lines
