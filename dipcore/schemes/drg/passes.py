"""The calibration pass of CHS-DRG (SPEC.md section 10.2): group the history once, keep its
features for the budget point value, and keep the compact records weights are made of."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dipcore.engine.passes import SourcePass, merged
from dipcore.ingest.validate import CheckedBatch
from dipcore.schemes.drg import calibration as cal
from dipcore.schemes.statistics import present_years


@dataclass
class HistoryState:
    """Per-case records (lists of per-batch dicts until merged), fingerprint parts, the
    years present and the rows quarantined."""

    records: list[dict] = field(default_factory=list)
    fingerprints: list[np.ndarray] = field(default_factory=list)
    years: set[int] = field(default_factory=set)
    quarantined: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """The records of every batch, concatenated (``left_out``: summed)."""
        if not self.records:
            return {}
        out = {k: np.concatenate([r[k] for r in self.records]) for k in self.records[0]
               if k != "left_out"}
        out["left_out"] = sum(r["left_out"] for r in self.records)
        return out


class DrgHistory(SourcePass[HistoryState, tuple]):
    """Pass 1: validate, group (the bound scheme) and keep the weights' records."""

    stage = "calibrate: read and group"
    what = "DRG calibration"
    keeps_features = True
    raw_codes = True

    def __init__(self, scheme, policy):
        self.scheme, self.policy = scheme, policy

    def empty(self) -> HistoryState:
        return HistoryState()

    def chunk(self, b: CheckedBatch):
        if b.n == 0:
            return None
        f = self.scheme.prepare(b, self.policy)
        return f, cal.fingerprint(b.id_hash, f), cal.history_record(f), present_years(f.year)

    def fold(self, state, b, result, write=None):
        state.quarantined += b.quarantine.num_rows
        if result is not None:
            _, fp, record, years = result
            state.fingerprints.append(fp)
            state.records.append(record)
            state.years |= set(years)
        return state

    def kept(self, result):
        return None if result is None else result[0]

    def done(self, state):
        if len(state.records) > 1:        # one record per part crosses between processes
            state.records = [state.arrays()]
        return state

    def combine(self, states):
        return self.done(merged(HistoryState, states))
