"""The summary ``dipcore validate`` prints, accumulated batch by batch.

``validate`` streams the source (``dipcore.ingest.reader.scan_cases``) and folds each batch
of kept cases and its quarantine into a :class:`CaseSummary`; no table of the kept cases is
ever built. What the summary holds, and why:

* counts, sums and per-year and per-reason counters: a few integers;
* distinct hospitals and principal diagnoses: Python sets of the values, bounded by the
  registry and the code list, not by the rows;
* distinct patients: an exact count needs every patient seen, so the summary keeps a 64-bit
  hash of each distinct patient id (8 bytes per distinct patient; pending hashes are folded
  in once they outnumber the distinct ones). The count is exact unless two of the ids share
  a hash: for ``n`` distinct ids the chance of any such pair is about ``n**2 / 2**65``
  (3e-6 for 10 million). Counting them always keeps the printed lines unchanged;
* the median cost: exact, from the kept costs as int64 fen (8 bytes per kept case: 80 MB
  for 10 million, against the ~3 GB of the whole table it replaces). An approximate
  median would change the printed figure, which users compare between runs.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels.aggregate import distinct, union_sorted
from dipcore._kernels.strings import hash_strings
from dipcore.schema import fen

#: Pending patient hashes are folded into the distinct ones when they outnumber them and
#: at least this many are pending (so small batches do not each pay a sort).
_FOLD_AT = 1 << 20


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
        self._patients = np.zeros(0, np.uint64)          # distinct hashes, sorted
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
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
        self.quarantined += quarantine.num_rows
        if quarantine.num_rows:
            for r in pc.value_counts(quarantine.column("reason")).to_pylist():
                self._reasons[r["values"]] = self._reasons.get(r["values"], 0) + r["counts"]
        if cases.num_rows == 0:
            return self
        self.kept += cases.num_rows
        for r in pc.value_counts(pc.year(cases.column("discharge_date"))).to_pylist():
            self._years[r["values"]] += r["counts"]
        cost = fen(cases.column("total_cost"))
        self._costs.append(cost)
        self._total += int(cost.sum())
        self._fund += int(fen(cases.column("fund_paid")).sum())
        self._bed_day += cases.num_rows - cases.column("bed_day_category").null_count
        self._hospitals.update(pc.unique(cases.column("hospital_id")).to_pylist())
        self._diagnoses.update(pc.unique(cases.column("primary_dx")).to_pylist())
        patients = pc.drop_null(cases.column("patient_id"))
        if len(patients):
            self._pending.append(hash_strings(patients))
            self._pending_n += len(patients)
            if self._pending_n >= max(len(self._patients), _FOLD_AT):
                self._fold_patients()
        return self

    def _fold_patients(self) -> None:
        if self._pending:       # the pending ones sorted on their own, then merged in
            self._patients = union_sorted(self._patients, distinct(np.concatenate(self._pending)))
        self._pending, self._pending_n = [], 0

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
        self._fold_patients()
        lines.append(f"hospitals: {len(self._hospitals - {None})}, "
                     f"patients: {len(self._patients):,}, "
                     f"principal diagnoses: {len(self._diagnoses - {None}):,}")
        costs = np.concatenate(self._costs)
        self._costs = [costs]
        median = np.median(costs, overwrite_input=True)   # a reordering: still the median
        lines.append(f"bed-day cases: {self._bed_day:,} ({self._bed_day / self.kept:.1%}); "
                     f"median cost {median / 100:,.2f} yuan")
        return lines
