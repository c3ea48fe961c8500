"""DIP grouping of prepared cases against a catalogue (SPEC.md section 3.2).

A case's group depends on its grouping key (diagnosis key, procedure combination,
treatment class) and, only to break a tie, on its cost. So each key's best groups are
worked out once per catalogue (``KeyGroups``, over the ``key_candidates`` kernel) and a
case's group is a lookup plus the tie-break (``pick_groups``): core groups by priority tier
(core surgery > therapeutic > diagnostic > conservative, then comprehensive, or the
operative-comprehensive-first variant), the most matched procedures, then the closest mean
(or the highest score).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels.group import key_candidates, pick_groups
from dipcore.catalog import Catalog
from dipcore.policy import Policy
from dipcore.schemes.dip.features import Features
from dipcore.schemes.dip.groups import GroupIndex

#: Why a case has no group (``Scored.reason``).
UNGROUPED_REASONS = ("", "unknown_diagnosis_category", "unknown_procedure_combination")


def index_for(catalog: Catalog, policy: Policy) -> GroupIndex:
    """The catalogue's lookup under ``policy``'s priority rules (cached per policy)."""
    cache = catalog.__dict__.setdefault("_indexes", {})
    key = (policy.group_priority, policy.tie_break)
    if key not in cache:
        cache[key] = GroupIndex.build(catalog.groups, policy)
    return cache[key]


class CatalogMap:
    """A codebook's ids in a catalogue's lookup (``GroupIndex``): diagnosis keys, procedure
    codes and every combination's procedures. Extended as the codebook grows, so each code
    is looked up in the catalogue once per codebook. ``state`` is replaced as a whole, so a
    thread that read it has consistent arrays."""

    def __init__(self, idx: GroupIndex, f: Features):
        self.idx = idx
        self.keys = f.codebook.diagnoses.keys[f.key_len]
        self.grouping = f.grouping
        self.lock = f.codebook.lock
        # (diagnosis key -> dx id, grouping code -> procedure id, combination CSR)
        self.state = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(1, np.int32),
                      np.zeros(0, np.int32))

    @staticmethod
    def _index_in(strings: pa.Array, vocab: pa.Array) -> np.ndarray:
        return pc.index_in(strings, value_set=vocab).fill_null(-1) \
            .to_numpy(zero_copy_only=False).astype(np.int32)

    def update(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        with self.lock:
            dx, proc, comb_off, comb_procs = self.state
            if len(dx) < len(self.keys):
                new = self.keys.strings().slice(len(dx))
                dx = np.concatenate([dx, self._index_in(new, self.idx.dx_vocab)])
            codes = self.grouping.codes
            if len(proc) < len(codes):
                new = codes.strings().slice(len(proc))
                proc = np.concatenate([proc, self._index_in(new, self.idx.proc_vocab)])
            n_comb = len(comb_off) - 1
            if n_comb < self.grouping.n_combinations():
                off, vals = self.grouping.sequences(n_comb)
                procs = proc[vals] if len(vals) else np.zeros(0, np.int32)
                comb_off = np.concatenate([comb_off, off[1:] + comb_off[-1]]).astype(np.int32)
                comb_procs = np.concatenate([comb_procs, procs]).astype(np.int32)
            self.state = (dx, proc, comb_off, comb_procs)
            return self.state


class KeyGroups:
    """Each grouping key's best groups in a catalogue (``key_candidates``), and why a key
    has none: worked out once per key and catalogue, extended as keys appear."""

    def __init__(self, idx: GroupIndex, f: Features):
        self.idx = idx
        self.codes = CatalogMap(idx, f)
        self.grouping, self.key_len = f.grouping, f.key_len
        self.categories = lambda: f.codebook.diagnoses.key_categories(f.key_len)
        self.lock = f.codebook.lock
        self.state = (np.zeros(1, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8))

    def update(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.lock:
            cand_off, cand, reason = self.state
            have = len(cand_off) - 1
            if have < self.grouping.n_keys(self.key_len):
                dx, _, comb_off, comb_procs = self.codes.update()
                facts = self.grouping.key_facts(self.key_len)
                key_dx = facts["dx_key"][have:]
                idx = self.idx
                off, new, why = key_candidates(
                    dx[key_dx], self.categories()[key_dx], facts["tclass"][have:].astype(np.int32),
                    facts["comb"][have:], comb_off,
                    comb_procs if len(comb_procs) else np.zeros(1, np.int32), idx.dx_start,
                    idx.dx_count, idx.g_off, idx.g_procs, idx.g_tier, idx.comp_group,
                    idx.comp_all, idx.cat_known, idx.comp_tier)
                self.state = (np.concatenate([cand_off, off[1:] + cand_off[-1]]).astype(np.int32),
                              np.concatenate([cand, new]).astype(np.int32),
                              np.concatenate([reason, why]).astype(np.int8))
            return self.state


def key_groups(f: Features, idx: GroupIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``f``'s grouping keys in ``idx``: (candidate offsets, candidates, reasons) by key."""
    m = f.codebook.cached((id(idx), id(f.grouping), f.key_len), lambda: KeyGroups(idx, f))
    if m.idx is not idx:         # an id reused after the catalogue it named was freed
        m = KeyGroups(idx, f)
    return m.update()


def assign_positions(f: Features, idx: GroupIndex, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """Group positions of the cases (-1: no group) and why a case has none (SPEC 3.2): the
    best groups of each case's key, the case's cost breaking any tie."""
    cand_off, cand, reason = key_groups(f, idx)
    pos = pick_groups(f.key, f.cost, cand_off, cand, idx.g_mean, idx.g_score,
                      policy.tie_break == "highest_score")
    return pos, reason[f.key]


def group_rows(f: Features, catalog: Catalog, policy: Policy) -> np.ndarray:
    """Catalogue row of each case's group (-1: none, and for bed-day cases)."""
    idx = index_for(catalog, policy)
    pos, _ = assign_positions(f, idx, policy)
    return np.where(f.bed >= 0, -1, idx.rows(pos)).astype(np.int32)
