"""Passes: every aggregation of a job, declared once (DESIGN.md section 1).

A pass is what flox calls an ``Aggregation`` and datashader a reduction. It declares

* ``chunk(item)``: the work on one batch. It runs on any thread (or worker) and depends on
  that batch alone;
* ``fold(state, batch, result)``: adds one batch's result to the partial state of a part,
  in reading order (passes over a source only);
* ``combine(states)``: merges the partial states of parts. It is associative and exact
  (integer sums, concatenation, sorting finalizers), so any tree of merges gives the same
  answer;
* ``done(state)``: closes a part's state before it is merged or sent between processes.

An executor (``dipcore.engine.local``: ordered threads in one process;
``dipcore.engine.distributed``: one Dask task per partition, tree-reduced) runs a pass and
returns the merged state. No pass knows which executor runs it; a job
(``dipcore.engine.jobs``) is a sequence of passes and the finalizers between them.

Two kinds of pass:

* :class:`SourcePass` reads the checked batches of a source (validation happens on the way
  in). It may keep each batch's prepared features (``keeps_features``) for later passes and
  may stream per-case rows to a sink (``writes_rows``).
* :class:`FeaturePass` reads the features a source pass kept.

The passes shared by every payment scheme live here (settlement sums, history points for
the budget point value, audit sums); a scheme's calibration passes live with the scheme
(``dipcore.schemes.dip.passes``).
"""
from __future__ import annotations

import abc
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Generic, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore.catalog import Catalog
from dipcore.ingest.validate import CheckedBatch
from dipcore.payment import sums as payment_sums
from dipcore.payment.point_value import history_points
from dipcore.payment.points import bed_categories, bed_rates_missing
from dipcore.policy import Policy
from dipcore.schema import label_counts, plain_labels
from dipcore.schemes import scheme_for
from dipcore.schemes.base import Scheme
from dipcore.supervision import facts as audit_facts

S = TypeVar("S")
R = TypeVar("R")


class SourcePass(abc.ABC, Generic[S, R]):
    """A pass over the checked batches of a source."""

    #: Label for progress reports.
    stage: str = ""
    #: The phase a failure of the executor names ("the Dask run failed during ...").
    what: str = "a pass"
    #: The pass prepares features that later :class:`FeaturePass` es read (``kept``).
    keeps_features: bool = False
    #: The pass produces per-case rows that an executor may stream to a sink.
    writes_rows: bool = False
    #: The pass reads the codes as recorded (``CheckedBatch.dx_raw``...; a scheme's
    #: ``raw_codes``), so the executor checks batches keeping them.
    raw_codes: bool = False

    @abc.abstractmethod
    def empty(self) -> S:
        """The partial state of a part before its first batch."""

    @abc.abstractmethod
    def chunk(self, batch: CheckedBatch) -> R:
        """The work on one checked batch (any thread)."""

    @abc.abstractmethod
    def fold(self, state: S, batch: CheckedBatch, result: R,
             write: Callable[[pa.Table], None] | None = None) -> S:
        """Add one batch's result to a part's state, in reading order; ``write`` is the
        executor's row sink for a pass that ``writes_rows`` (None: keep rows in the state)."""

    def done(self, state: S) -> S:
        """Close a part's state (before merging or sending it between processes)."""
        return state

    @abc.abstractmethod
    def combine(self, states: list[S]) -> S:
        """Merge the states of parts (associative; any tree)."""

    def kept(self, result: R) -> Any:
        """The features of a batch to keep for later passes (``keeps_features``)."""
        return None


def merged(cls: type, states: list) -> Any:
    """Partial states of dataclass ``cls`` merged field by field, in order: lists
    concatenated, sets united, numbers added (fields that are None are left as they are)."""
    out = cls()
    for state in states:
        for f in fields(cls):
            mine, theirs = getattr(out, f.name), getattr(state, f.name)
            if theirs is None:
                continue
            if isinstance(mine, list):
                mine.extend(theirs)
            elif isinstance(mine, set):
                mine |= theirs
            else:
                setattr(out, f.name, mine + theirs)
    return out


class ScoredCasesPass(SourcePass[S, R]):
    """A source pass over the cases scored by a catalogue's scheme (settlement, audit)."""

    def __init__(self, catalog: Catalog, policy: Policy, scheme: Scheme | None = None):
        self.catalog, self.policy = catalog, policy
        self.scheme = scheme or scheme_for(catalog)
        self.raw_codes = self.scheme.raw_codes

    def scored(self, b: CheckedBatch, special=None):
        """``(features, Scored)`` of a checked batch."""
        f = self.scheme.prepare(b, self.policy)
        return f, self.scheme.score(f, self.catalog, self.policy, special)


class FeaturePass(abc.ABC, Generic[S, R]):
    """A pass over the features a :class:`SourcePass` kept."""

    stage: str = ""
    what: str = "a pass"
    #: ``combine`` reduces (sums): the local executor merges chunk results as they come,
    #: so what it holds stays small. False for a pass whose combine concatenates.
    rolling: bool = True

    @abc.abstractmethod
    def chunk(self, features: Any) -> R:
        """The work on one batch of prepared features (any thread)."""

    @abc.abstractmethod
    def combine(self, parts: list) -> S:
        """Merge chunk results or the merged states of parts (associative; any tree)."""

    def combine_owned(self, parts: list) -> S:
        """:meth:`combine` of parts nothing else holds (the local executor's own, dropped
        once combined): a pass may add into their memory instead of copying it. Never for
        a distributed run, where a retried task would see inputs it had already changed."""
        return self.combine(parts)


# ---------------------------------------------------------------------------------------------
# settlement (SPEC 5-7): case rows and exact sums per (hospital, pool) and month
# ---------------------------------------------------------------------------------------------
@dataclass
class SettlementState:
    hospital_sums: list[pa.Table] = field(default_factory=list)
    monthly_sums: list[pa.Table] = field(default_factory=list)
    quarantine: list[pa.Table] = field(default_factory=list)
    cases: list[pa.Table] = field(default_factory=list)
    special_found: set[str] = field(default_factory=set)
    missing_rates: set[str] = field(default_factory=set)
    notes: set[tuple[str, str]] = field(default_factory=set)
    non_bed_day_cases: int = 0
    n_cases: int = 0
    #: rows of the per-case table by (column, label) of its :data:`COUNTED_LABELS`
    case_labels: Counter = field(default_factory=Counter)
    #: the batches' sums by code until ``done`` turns them into the tables above
    running: payment_sums.RunningSums | None = None


#: Label columns of the per-case table (DIP and DRG) whose rows are counted as the batches
#: are settled (``Settlement.case_labels``): a summary of a run that wrote 10M rows to
#: ``cases.parquet`` need not read two of its columns back.
COUNTED_LABELS = ("outlier", "group_kind", "kind")


def case_label_counts(rows: pa.Table) -> Counter:
    """Rows of a per-case table by (column, label) of its :data:`COUNTED_LABELS` (None: null)."""
    out: Counter = Counter()
    for name in COUNTED_LABELS:
        if name in rows.column_names:
            out.update({(name, label): n for label, n in label_counts(rows.column(name)).items()})
    return out


def special_review(b: CheckedBatch, special: pa.Array) -> tuple[np.ndarray | None, set[str]]:
    """The cases of a batch approved by special review (SPEC 5.5; None when no case id is
    approved at all) and the ids found."""
    if not len(special):
        return None, set()
    is_special = pc.is_in(b.case_id, value_set=special).to_numpy(zero_copy_only=False)
    found = set(b.case_id.filter(pa.array(is_special)).to_pylist()) if is_special.any() else set()
    return is_special, found


class SettlementSums(ScoredCasesPass[SettlementState, tuple]):
    """Each case scored by the catalogue's scheme; per-case rows; sums behind statements.

    Parameters
    ----------
    catalog, policy : the catalogue and the policy settling with it.
    special : pyarrow.Array
        Sorted case ids approved by special review (SPEC 5.5).
    rows_out : bool
        The per-case rows go to the executor's row sink (``cases.parquet``): their labels
        stay dictionary arrays, which the writer takes as they are. Otherwise the rows are
        kept in the state, labels decoded to strings on the batch's own thread
        (``dipcore.schema.plain_labels``), not on the thread that folds the batches.
    """

    stage = "settle"
    what = "settlement"
    writes_rows = True

    def __init__(self, catalog: Catalog, policy: Policy, special: pa.Array,
                 scheme: Scheme | None = None, rows_out: bool = False):
        super().__init__(catalog, policy, scheme)
        self.special, self.rows_out = special, rows_out

    def empty(self) -> SettlementState:
        return SettlementState()

    def chunk(self, b: CheckedBatch):
        if b.n == 0:
            return None
        is_special, found = special_review(b, self.special)
        f, s = self.scored(b, is_special)
        rows = self.scheme.case_table(b, f, s, self.catalog)
        return (found, bed_rates_missing(self.catalog, bed_categories(f)), int((f.bed < 0).sum()),
                rows if self.rows_out else plain_labels(rows), case_label_counts(rows),
                payment_sums.dense_sums(f, s), s.notes)

    def fold(self, state, b, result, write=None):
        if b.quarantine.num_rows:
            state.quarantine.append(b.quarantine)
        if result is not None:
            found, missing, grouped, table, labels, sums, notes = result
            state.case_labels.update(labels)
            state.special_found |= found
            state.missing_rates |= missing
            state.notes |= notes
            state.non_bed_day_cases += grouped
            state.n_cases += table.num_rows
            if write is None:
                state.cases.append(table)
            else:
                write(table)
            if state.running is None:
                state.running = payment_sums.RunningSums()
            state.running.add(b.codebook, *sums, adopt=True)    # the batch's own arrays
        return state

    def done(self, state):
        if state.running is not None:
            h, m = state.running.tables()
            state.hospital_sums += h
            state.monthly_sums += m
            state.running = None
        # one table per part: what crosses between processes stays small
        if len(state.hospital_sums) > 1:
            state.hospital_sums = [payment_sums.merge_sums(state.hospital_sums, ["key"])]
            state.monthly_sums = [payment_sums.merge_sums(state.monthly_sums, ["key", "month"])]
        return state

    def combine(self, states):
        return self.done(merged(SettlementState, states))


# ---------------------------------------------------------------------------------------------
# what-if sweeps: cases prepared once, then the settlement sums per scoring of a variant
# ---------------------------------------------------------------------------------------------
class Marked:
    """A batch's prepared features with its special-review mask (SPEC 5.5), kept between
    the passes of a sweep (``dipcore.engine.store.KeptFeatures``)."""

    def __init__(self, features: Any, special: np.ndarray | None):
        self.features, self.special = features, special
        self.n = features.n

    @property
    def nbytes(self) -> int:
        return self.features.nbytes + (0 if self.special is None else self.special.nbytes)

    def context(self) -> tuple:
        return (type(self.features), self.features.context())

    def to_batch(self) -> pa.RecordBatch:
        batch = self.features.to_batch()
        if self.special is not None:
            batch = batch.append_column("special", pa.array(self.special))
        return batch

    @classmethod
    def from_batch(cls, batch: pa.RecordBatch, kind: type, context: tuple) -> "Marked":
        special = None
        if "special" in batch.schema.names:
            special = batch.column("special").to_numpy(zero_copy_only=False)
            batch = batch.drop_columns(["special"])
        return cls(kind.from_batch(batch, *context), special)


@dataclass
class PreparedState:
    """What a sweep's settlements share whatever the variant: the quarantine, the
    special-review ids found, the bed-day categories present and the counts."""
    quarantine: list[pa.Table] = field(default_factory=list)
    special_found: set[str] = field(default_factory=set)
    bed_categories: set[str] = field(default_factory=set)
    non_bed_day_cases: int = 0
    n_cases: int = 0


class PreparedCases(ScoredCasesPass[PreparedState, tuple]):
    """Every case checked and prepared once (kept with its special-review mask); the
    scoring is left to :class:`VariantSums`, once per variant's scoring (the base class
    gives the catalogue, policy, scheme and the scheme's ``raw_codes``)."""

    stage = "sweep: prepare"
    what = "the sweep"
    keeps_features = True

    def __init__(self, catalog: Catalog, policy: Policy, special: pa.Array,
                 scheme: Scheme | None = None):
        super().__init__(catalog, policy, scheme)
        self.special = special

    def empty(self) -> PreparedState:
        return PreparedState()

    def chunk(self, b: CheckedBatch):
        if b.n == 0:
            return None
        is_special, found = special_review(b, self.special)
        f = self.scheme.prepare(b, self.policy)
        return found, bed_categories(f), int((f.bed < 0).sum()), Marked(f, is_special)

    def kept(self, result):
        return None if result is None else result[3]

    def fold(self, state, b, result, write=None):
        if b.quarantine.num_rows:
            state.quarantine.append(b.quarantine)
        if result is not None:
            found, beds, grouped, marked = result
            state.special_found |= found
            state.bed_categories |= beds
            state.non_bed_day_cases += grouped
            state.n_cases += marked.n
        return state

    def combine(self, states):
        return merged(PreparedState, states)


class VariantSumsState:
    """The state of :class:`VariantSums`: the first policy's sums whole and, of each other
    policy, only what its point rules change (``RULE_COLUMNS`` and the points by month,
    ``RulePartials.rules``). The other sums and the cases by month are the same under
    every policy that shares the terms, so each batch adds them once, not once per
    variant: for thousands of hospitals that was most of the scoring. Pickled (a
    distributed run), each policy's sums travel whole, and states merged with such a
    state are made whole too."""

    def __init__(self, n_policies: int):
        self.first = payment_sums.RunningSums()
        self.rules = [payment_sums.RunningSums() for _ in range(n_policies - 1)]
        self.whole: list[payment_sums.RunningSums] | None = None
        self.notes: list[set[tuple[str, str]]] = [set() for _ in range(n_policies)]

    def sums(self, i: int) -> payment_sums.RunningSums:
        """Policy ``i``'s sums, whole (for a policy after the first, new accounts each
        call: a sweep puts each together on the thread that settles it)."""
        if self.whole is not None:
            return self.whole[i]
        return self.first if i == 0 else self.first.with_rules(self.rules[i - 1])

    def merge(self, other: "VariantSumsState", adopt: bool) -> None:
        """Add ``other``'s sums to these (with ``adopt``, ``other`` is given up)."""
        if self.whole is None and other.whole is None:
            for mine, theirs in zip([self.first, *self.rules], [other.first, *other.rules]):
                mine.merge(theirs, adopt=adopt)
        else:
            if self.whole is None:
                self.whole = [self.sums(i) for i in range(len(self.notes))]
                self.first, self.rules = None, []
            for i, mine in enumerate(self.whole):
                mine.merge(other.sums(i), adopt=adopt)
        for mine, theirs in zip(self.notes, other.notes):
            mine |= theirs

    def __getstate__(self):
        return {"whole": [self.sums(i) for i in range(len(self.notes))], "notes": self.notes}

    def __setstate__(self, state):
        self.first, self.rules = None, []
        self.whole, self.notes = state["whole"], state["notes"]


class VariantSums(FeaturePass[VariantSumsState, VariantSumsState]):
    """The settlement sums of prepared cases under several policies that share a
    catalogue and the terms of the points (``Scheme.terms``): the terms worked out once
    per batch, then each policy's point rules and the same sums as
    :class:`SettlementSums` (no per-case rows), kept as :class:`VariantSumsState`."""

    stage = "sweep: score"
    what = "the sweep"

    def __init__(self, catalog: Catalog, policies: list[Policy], scheme: Scheme):
        self.catalog, self.policies, self.scheme = catalog, policies, scheme

    def chunk(self, m: Marked) -> VariantSumsState:
        f = m.features
        terms = self.scheme.terms(f, self.catalog, self.policies[0], m.special)
        partials = payment_sums.RulePartials(f)
        state = VariantSumsState(len(self.policies))
        for i, policy in enumerate(self.policies):
            s = self.scheme.points(terms, f, self.catalog, policy)
            state.notes[i] |= set(s.notes)
            if i == 0:
                sums, months, cases = partials(s)     # the cases by month are the batch's
                state.first.add(f.codebook, sums, months, cases.copy(), adopt=True)
            else:
                state.rules[i - 1].add(f.codebook, *partials.rules(s), None, adopt=True)
        return state

    def combine(self, parts):
        return _merged_into(VariantSumsState(len(self.policies)), parts, adopt=False)

    def combine_owned(self, parts):
        # into the first part's accounts, the others' adopted where a codebook is new to
        # it: the accounts of thousands of hospitals are megabytes, and copying them into
        # fresh memory was most of the merging
        if not parts:
            return self.combine(parts)
        return _merged_into(parts[0], parts[1:], adopt=True)


def _merged_into(state: VariantSumsState, parts: list, adopt: bool) -> VariantSumsState:
    """``state`` with the parts' sums added (by code: as small whatever the number of
    batches); with ``adopt`` the parts are given up."""
    for part in parts:
        state.merge(part, adopt=adopt)
    return state


# ---------------------------------------------------------------------------------------------
# history points: the budget point value (SPEC 6)
# ---------------------------------------------------------------------------------------------
class HistoryPoints(FeaturePass[dict, dict]):
    """Cost and points of the history by (pool, year), scored with the new catalogue."""

    stage = "calibrate: history points"
    what = "calibration pass 3"

    def __init__(self, catalog: Catalog, years: list[int], scheme: Scheme | None = None):
        self.catalog, self.years = catalog, years
        self.scheme = scheme or scheme_for(catalog)

    def chunk(self, f) -> dict:
        return history_points(self.scheme.score(f, self.catalog, self.catalog.policy), f,
                              self.catalog.policy, self.years)

    def combine(self, parts):
        total: dict = {}
        for p in parts:
            for k, v in p.items():
                total[k] = total.get(k, 0) + v
        return total


# ---------------------------------------------------------------------------------------------
# supervision (SPEC 8): stays, low-standard cases and sums per hospital
# ---------------------------------------------------------------------------------------------
@dataclass
class AuditState:
    stays: list[pa.Table] = field(default_factory=list)
    low_standard: list[pa.Table] = field(default_factory=list)
    sums: list[pa.Table] = field(default_factory=list)
    strata: list[dict] = field(default_factory=list)
    candidates: list[pa.Table] = field(default_factory=list)


class AuditSums(ScoredCasesPass[AuditState, tuple]):
    """The facts supervision needs from each case (``dipcore.supervision.facts``)."""

    what = "the audit"

    def __init__(self, catalog: Catalog, policy: Policy, stage: str = "audit",
                 scheme: Scheme | None = None, candidates: bool = True):
        super().__init__(catalog, policy, scheme)
        self.stage = stage
        self.candidates = candidates

    def empty(self) -> AuditState:
        return AuditState()

    def chunk(self, b: CheckedBatch):
        if b.n == 0:
            return None
        f, s = self.scored(b)
        return audit_facts.batch_facts(b, f, s, self.catalog, self.policy, self.scheme,
                                       self.candidates)

    def fold(self, state, b, result, write=None):
        if result is not None:
            stays, lows, sums, strata, candidates = result
            state.stays.append(stays)
            if lows is not None:
                state.low_standard.append(lows)
            state.sums.append(sums)
            state.strata.append(strata)
            if len(state.strata) >= audit_facts.COMPACT_EVERY:
                state.strata = [audit_facts.merge_strata(state.strata)]
            if candidates is not None:
                state.candidates.append(candidates)
        return state

    def combine(self, states):
        return merged(AuditState, states)

