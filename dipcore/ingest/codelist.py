"""Code lists as a check: codes outside the official insurance edition (SPEC.md section 2).

A well-formed code may still not exist in the medical-insurance edition a region uses (a
typo that happens to look like a code, a local extension nobody filed). With a
:class:`CodeList` (a CHS-DRG pack's ``dx_codes.csv`` / ``proc_codes.csv``, or a bureau's own
lists: CSV files with a ``code`` column), ingest either quarantines such rows under
``unknown_code`` (``action="quarantine"``) or keeps them and counts them
(``action="warn"``: :class:`UnknownCodes` warnings from ``read_cases``).

Codes are compared in their canonical form: the list goes through the same normaliser as
the cases (``dipcore.ingest.codebook``), so ``k35.9``, ``K35.900`` and a dagger/asterisk
pair compare as the cases' codes do. A row's codes are checked in the order primary
diagnosis, secondary diagnoses, procedures; the first unknown one is reported. Rows that
already failed another check keep that reason.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dipcore._kernels.aggregate import distinct
from dipcore.errors import InputError
from dipcore.ingest.codebook import Codebook

#: What to do with a row that carries a code outside the list.
ACTIONS = ("warn", "quarantine")
#: Column order of the check (the first unknown code of a row is reported).
COLUMNS = ("primary_dx", "secondary_dx", "procedures")


class UnknownCodes(UserWarning):
    """Rows kept although a code is outside the code list (``action="warn"``)."""


def _read_codes(path: Path) -> pa.Array:
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={"code": pa.string()}, include_columns=["code"]))
    except (pa.ArrowException, OSError) as exc:
        message = str(exc).splitlines()[0]
        if "code" in message and ("not found" in message or "No match" in message):
            raise InputError("code list lacks a column", source=str(path), column="code") from None
        raise InputError(f"cannot read the code list ({message})", source=str(path)) from None
    codes = table.column("code").combine_chunks()
    if len(codes) - codes.null_count == 0:
        # an empty list would make every case's code unknown: a truncated export, not a rule
        raise InputError("the code list has no codes", source=str(path), column="code")
    return codes


def _canonical(codes: pa.Array, procedures: bool) -> pa.Array:
    """The canonical forms of a list's codes (malformed and blank entries left out)."""
    book = Codebook()
    vocab = book.proc if procedures else book.dx
    ids = vocab.encode(codes)
    return vocab.canon.take(distinct(ids[ids >= 0]))


@dataclass
class CodeList:
    """Official diagnosis and procedure codes; either list may be absent (not checked).

    Parameters
    ----------
    diagnoses, procedures : pyarrow.Array of str, optional
        The codes as listed (normalised here).
    action : {"warn", "quarantine"}
        What ingest does with a row carrying a code outside the lists.
    source : str
        Where the lists came from (named in messages).
    """

    diagnoses: pa.Array | None = None
    procedures: pa.Array | None = None
    action: str = "quarantine"
    source: str = "<code list>"
    _known: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InputError(f"unknown-code action must be one of {', '.join(ACTIONS)}, "
                             f"not {self.action!r}")
        if self.diagnoses is not None:
            self.diagnoses = _canonical(self.diagnoses, procedures=False)
        if self.procedures is not None:
            self.procedures = _canonical(self.procedures, procedures=True)

    @classmethod
    def load(cls, path: str | os.PathLike, action: str = "quarantine") -> "CodeList":
        """A directory holding ``dx_codes.csv`` and/or ``proc_codes.csv`` (a CHS-DRG rule
        pack, or a bureau's lists), each with a ``code`` column."""
        path = Path(path)
        if not path.is_dir():
            raise InputError("a code list is a directory with dx_codes.csv and/or "
                             "proc_codes.csv", source=str(path))
        dx, proc = path / "dx_codes.csv", path / "proc_codes.csv"
        if not dx.exists() and not proc.exists():
            raise InputError("no dx_codes.csv or proc_codes.csv in the code list directory",
                             source=str(path))
        return cls(diagnoses=_read_codes(dx) if dx.exists() else None,
                   procedures=_read_codes(proc) if proc.exists() else None,
                   action=action, source=str(path))

    def __getstate__(self):          # the lock and the per-codebook cache stay behind
        state = dict(self.__dict__)
        state["_known"], state["_lock"] = {}, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _known_ids(self, canon, listed: pa.Array) -> np.ndarray:
        """Per canonical id of a codebook vocabulary: in the list. Worked out once per
        id (extended as the codebook grows)."""
        with self._lock:
            have = self._known.get(id(canon))
            if have is None or have[0] is not canon:
                have = (canon, np.zeros(0, bool))
            known = have[1]
            if len(known) < len(canon):
                new = canon.strings().slice(len(known))
                more = pc.is_in(new, value_set=listed).to_numpy(zero_copy_only=False)
                known = np.concatenate([known, more])
                self._known[id(canon)] = (canon, known)
            return known

    def first_unknown(self, book: Codebook, dx: np.ndarray, lists: dict
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the first column (index into :data:`COLUMNS`, -1 none) holding a code
        outside the list, and the canonical id of that code."""
        n = len(dx)
        column = np.full(n, -1, np.int8)
        code = np.full(n, -1, np.int64)
        checks = []
        if self.diagnoses is not None:
            known = self._known_ids(book.dx.canon, self.diagnoses)
            checks += [(0, None, dx, known)]
            checks += [(1, lists["secondary_dx"][0], lists["secondary_dx"][1], known)]
        if self.procedures is not None:
            known = self._known_ids(book.proc.canon, self.procedures)
            checks += [(2, lists["procedures"][0], lists["procedures"][1], known)]
        for j, offsets, ids, known in checks:
            safe = np.maximum(ids, 0)
            unknown = (ids >= 0) & ~known[safe] if len(known) else ids >= 0
            if offsets is None:
                rows, first = np.flatnonzero(unknown), np.flatnonzero(unknown)
            else:
                items = np.flatnonzero(unknown)
                row_of = np.repeat(np.arange(n), np.diff(offsets))[items]
                rows, at = np.unique(row_of, return_index=True)   # first item of each row
                first = items[at]
            fresh = column[rows] < 0
            column[rows[fresh]] = j
            code[rows[fresh]] = ids[first[fresh]]
        return column, code

    def code_strings(self, book: Codebook, column: np.ndarray, code: np.ndarray,
                     rows: np.ndarray) -> list[str]:
        """The canonical strings of the unknown codes of ``rows``."""
        out = []
        for r in rows.tolist():
            vocab = book.proc if column[r] == 2 else book.dx
            out.append(vocab.canon.take(np.array([code[r]])).to_pylist()[0])
        return out
