"""Repeated case ids, in reading order: the one order-dependent check of ingest."""
from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa

from dipcore._kernels import strings as K
from dipcore._kernels.intern import StringSet, hash_strings, text_shape
from dipcore.ingest.convert import as_array, plain_text, trimmed_text
from dipcore.ingest.sources import Piece

KEEP_SET_BYTES = 256 << 20
#: From this size a set's memory is written once, in order, on a thread of its own, while
#: the first batch is read (``Deduplicator``).
PREPARE_SET_BYTES = 16 << 20
_idle_sets: list[StringSet] = []
_idle_lock = threading.Lock()


def _borrow_set(items: int) -> StringSet:
    """An exact set for ``items`` strings: the kept one if it is large enough (not yet
    emptied: :class:`Deduplicator` clears it), else a new one.

    A set of millions of ids is tens of megabytes; fresh memory costs page faults on first
    touch, while clearing memory already held is a fraction of that.
    """
    with _idle_lock:
        kept = _idle_sets.pop() if _idle_sets else None
    if kept is not None and kept.fits(items):
        return kept
    return StringSet(items)


def _give_back_set(s: StringSet) -> None:
    if s.nbytes <= KEEP_SET_BYTES:
        with _idle_lock:
            _idle_sets[:] = [s]


class Deduplicator:
    """Repeated case ids, in reading order: the one order-dependent check.

    Local runs keep an exact set of every id seen (``expected_rows`` pre-sizes it; call
    :meth:`close` when done, so the next run may reuse its memory); a distributed run gives
    ``duplicates`` (source -> row numbers) found by its pre-pass. Sets ``piece.case_id``
    (trimmed), ``piece.blank``, ``piece.dup`` and ``piece.id_hash``.
    """

    def __init__(self, duplicates: dict[str, np.ndarray] | None = None,
                 expected_rows: int | None = None):
        self.duplicates = duplicates
        self.seen = _borrow_set(max(expected_rows or 0, 1 << 16)) if duplicates is None else None
        self._clearing: threading.Thread | None = None
        if self.seen is not None:
            if self.seen.nbytes < PREPARE_SET_BYTES:
                self.seen.clear()
            else:
                # A year's table is hundreds of megabytes of fresh pages. The first batch's
                # ids, spread over all of it, would fault them in at random, on the thread
                # every later batch waits for: 0.5-1.0 s for 10M ids, against 0.03-0.35 s to
                # write the table in order (``clear``, which releases the GIL), done here
                # while the first batch is read.
                self._clearing = threading.Thread(target=self.seen.clear, daemon=True,
                                                  name="dipcore-dedupe-clear")
                self._clearing.start()

    def _ready(self) -> StringSet:
        if self._clearing is not None:
            self._clearing.join()
            self._clearing = None
        return self.seen

    def close(self) -> None:
        if self.seen is not None:
            self._ready()
            _give_back_set(self.seen)
            self.seen = None

    def __call__(self, piece: Piece) -> Piece:
        ids = case_ids(piece.batch.column("case_id"))
        piece.case_id, piece.blank = ids
        off, data, _ = K.string_buffers(piece.case_id)
        piece.id_hash = np.empty(len(piece.blank), np.uint64)
        if self.duplicates is None:
            piece.dup = self._ready().add(off, data, 1 - piece.blank, piece.id_hash)
        else:
            piece.id_hash = hash_strings(off, data)
            piece.dup = np.isin(piece.rows, self.duplicates.get(piece.source,
                                                                np.zeros(0, np.int64))).view(np.uint8)
        return piece


def case_ids(col) -> tuple[pa.Array, np.ndarray]:
    """Trimmed case ids (as given when nothing needs trimming) and the blank mask."""
    arr = plain_text(as_array(col))
    off, data, valid = K.string_buffers(arr)
    needs_trim, blank = text_shape(off, data, valid)
    if needs_trim:
        arr = trimmed_text(arr)
        off, data, valid = K.string_buffers(arr)
        _, blank = text_shape(off, data, valid)
    return arr, blank
