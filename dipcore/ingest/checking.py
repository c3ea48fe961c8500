"""Checking a source's pieces on several threads, in reading order.

Reading a source and finding repeated case ids depend on order, so one thread does them,
batch after batch (the :class:`Deduplicator`). Validation depends on a batch alone and runs
on a pool of threads, each with its own validator and codebook, so threads share no mutable
state; checked batches come back in reading order.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import pyarrow as pa

from dipcore.engine.threads import ordered_map, prefetch, threads
from dipcore.ingest import codebook
from dipcore.ingest.codelist import CodeList
from dipcore.ingest.sources import Piece
from dipcore.ingest.validate import CheckedBatch, Deduplicator, Validator, check_piece

R = TypeVar("R")


@dataclass
class Checking:
    """How the raw pieces of a source become checked batches.

    Parameters
    ----------
    hospitals : pyarrow.Table, optional
        The hospital registry.
    duplicates : dict, optional
        Rows of repeated case ids per source (a distributed pre-pass); None to find them
        here, in reading order.
    expected_rows : int, optional
        Rows of the source when known, to size the duplicate check.
    n_threads : int, optional
        Threads (default :func:`threads`).
    code_list : CodeList, optional
        Official codes to check the cases' codes against (``dipcore.ingest.codelist``).
    raw_codes : bool
        Keep the raw-string id of every code (``Validator``'s ``raw_codes``).
    """

    hospitals: pa.Table | None = None
    code_list: CodeList | None = None
    duplicates: dict[str, np.ndarray] | None = None
    expected_rows: int | None = None
    n_threads: int | None = None
    raw_codes: bool = False

    def run(self, pieces: Iterable[Piece], work: Callable[[CheckedBatch], R]) -> Iterator[R]:
        """``work(checked batch)`` for every piece, in reading order."""
        n = self.n_threads or threads()
        dedupe = Deduplicator(self.duplicates, self.expected_rows)
        local = threading.local()
        lent: list = []

        def job(piece: Piece) -> R:
            validator = getattr(local, "validator", None)
            if validator is None:      # each thread reads with a codebook of its own
                validator = local.validator = Validator(self.hospitals, codebook=codebook.borrow(),
                                                            code_list=self.code_list,
                                                            raw_codes=self.raw_codes)
                lent.append(validator.codebook)
            return work(check_piece(validator, piece))

        ordered: Iterable[Piece] = (dedupe(p) for p in pieces)
        if n > 1:
            ordered = prefetch(ordered)
        try:
            yield from ordered_map(job, ordered, n)
        finally:
            dedupe.close()
            for book in lent:
                codebook.give_back(book)
