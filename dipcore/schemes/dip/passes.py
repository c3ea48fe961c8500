"""The passes of DIP calibration (SPEC.md section 4), declared once for every executor.

1. :class:`PrepareKeys` reads the history once: validates and prepares each batch, keeps
   its features for the later passes, and counts cases and costs per grouping key and year
   (``KeyCounts``), with an order-free fingerprint of the input.
2. :class:`GroupAssignments` groups every kept case against the provisional groups
   (``assignments``); the merged per-case records give trimmed means, CVs and subtypes.
3. The budget point value is the shared ``dipcore.engine.passes.HistoryPoints``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dipcore.catalog import Catalog
from dipcore.engine.passes import FeaturePass, SourcePass, merged
from dipcore.ingest.validate import CheckedBatch
from dipcore.policy import Policy
from dipcore.schemes.dip import calibration as cal
from dipcore.schemes.dip.features import features


@dataclass
class KeysState:
    """Pass 1's partial state: key counts (as an accumulator until ``done``, then one
    table), fingerprint parts, the years present and the rows quarantined."""

    counts: list[pa.Table] = field(default_factory=list)
    fingerprints: list[np.ndarray] = field(default_factory=list)
    years: set[int] = field(default_factory=set)
    quarantined: int = 0
    accumulator: cal.KeyCounts | None = None


class PrepareKeys(SourcePass[KeysState, tuple]):
    """Pass 1: validate and prepare once; count keys (``calibration.KeyCounts``)."""

    stage = "calibrate: read and prepare"
    what = "calibration pass 1"
    keeps_features = True

    def __init__(self, policy: Policy):
        self.policy = policy

    def empty(self) -> KeysState:
        return KeysState(accumulator=cal.KeyCounts())

    def chunk(self, b: CheckedBatch):
        if b.n == 0:
            return None
        f = features(b, self.policy)
        return f, cal.fingerprint(b.id_hash, f), cal.KeyCounts.count(f), cal.present_years(f.year)

    def fold(self, state, b, result, write=None):
        state.quarantined += b.quarantine.num_rows
        if result is not None:
            f, fp, counted, years = result
            state.fingerprints.append(fp)
            state.years |= set(years)
            state.accumulator.add(f, counted)
        return state

    def kept(self, result):
        return None if result is None else result[0]

    def done(self, state):
        if state.accumulator is not None:
            state.counts = [state.accumulator.table()]
            state.accumulator = None
        return state

    def combine(self, states):
        out = merged(KeysState, states)
        if out.counts:
            out.counts = [cal.merge_key_counts(out.counts)]
        return out


class GroupAssignments(FeaturePass[dict, dict]):
    """Pass 2: each kept case grouped against the provisional groups of ``draft``."""

    rolling = False      # its combine concatenates the cases' assignments

    stage = "calibrate: group statistics"
    what = "calibration pass 2"

    def __init__(self, draft: Catalog, years: list[int]):
        self.draft, self.years = draft, years

    def chunk(self, f) -> dict:
        return cal.assignments(f, self.draft, self.years)

    def combine(self, parts):
        parts = [p for p in parts if p is not None]
        return cal.merge_assignments(parts) if parts else None
