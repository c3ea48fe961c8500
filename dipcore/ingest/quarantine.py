"""The quarantine: one row per rejected input row, with its file, row number, case id,
column, reason code, message and raw record (SPEC.md section 2; rows in = kept +
quarantined)."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dipcore import schema
from dipcore.errors import InputError
from dipcore.ingest.checks import CHECKS, ENCODING, REASONS
from dipcore.ingest.convert import display, plain_text, trimmed_text
from dipcore.ingest.sources import Piece
from dipcore.reports.files import atomic_path


def quarantine_table(piece: Piece, check: np.ndarray, cols: dict, lists: dict,
                     details: dict[int, str] | None = None) -> pa.Table:
    """The quarantine rows of a piece: each failed row (``check`` >= 0) under its first
    reason, with the value that failed (:data:`CHECKS` ``shown``, or ``details`` by row for
    checks made outside the kernel), and the raw record; then the rows the reader found
    malformed (wrong field count)."""
    bad = np.flatnonzero(check >= 0)
    parts = []
    names = list(cols)
    if bad.size:
        take = pa.array(bad)
        raw = pa.Table.from_arrays([cols[c].take(take) for c in names], names=names)
        records = [json.dumps(r, ensure_ascii=False, default=str) for r in raw.to_pylist()]
        shown: dict[int, str] = dict(details or {})
        for c in np.unique(check[bad]).tolist():
            rows = bad[check[bad] == c]
            if c >= ENCODING:
                name, kind = names[c - ENCODING], "raw"
            else:
                _, name, kind = CHECKS[c]
            if kind == "":
                continue
            if kind == "item":
                first, items = lists[name][3], lists[name][4]
                values = display(plain_text(items).take(pa.array(first[rows])))
            else:
                col = cols.get(name)
                if col is None:       # the level check without a level column
                    col, kind = cols["hospital_id"], "text"
                col = col.take(pa.array(rows))
                values = display(trimmed_text(col) if kind == "text" else col)
            shown.update(zip(rows.tolist(), values))
        reasons, columns, messages = [], [], []
        for i in bad.tolist():
            c = int(check[i])
            if c >= ENCODING:
                reason, column = "bad_encoding", names[c - ENCODING]
            else:
                reason, column, _ = CHECKS[c]
            detail = shown.get(i, "")
            text = REASONS[reason]
            reasons.append(reason)
            columns.append(column)
            messages.append(f"{text}: '{detail}'" if detail else text)
        parts.append(pa.table({
            "source": pa.array([piece.source] * bad.size, pa.string()),
            "row": pa.array(piece.rows[bad], pa.int64()),
            "case_id": pa.array(piece.case_id.take(take).cast(pa.string()).to_pylist(),
                                pa.string(), mask=piece.blank[bad].astype(bool)),
            "column": pa.array(columns, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "message": pa.array(messages, pa.string()),
            "record": pa.array(records, pa.string()),
        }, schema=schema.QUARANTINE_SCHEMA))
    if piece.malformed:
        m = len(piece.malformed)
        parts.append(pa.table({
            "source": pa.array([piece.source] * m, pa.string()),
            "row": pa.array([r for r, _ in piece.malformed], pa.int64()),
            "case_id": pa.nulls(m, pa.string()),
            "column": pa.nulls(m, pa.string()),
            "reason": pa.array(["wrong_field_count"] * m, pa.string()),
            "message": pa.array([REASONS["wrong_field_count"]] * m, pa.string()),
            "record": pa.array([t for _, t in piece.malformed], pa.string()),
        }, schema=schema.QUARANTINE_SCHEMA))
    if not parts:
        return schema.QUARANTINE_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def save_quarantine(quarantine: pa.Table, path: str | os.PathLike) -> None:
    """Write the quarantine as Parquet (``.parquet``) or UTF-8 CSV (any other suffix).

    The file is written under a temporary name and renamed, so an interrupted run leaves no
    half-written file.
    """
    if not isinstance(quarantine, pa.Table):
        raise InputError(f"the quarantine is a pyarrow.Table, not {type(quarantine).__name__}")
    path = str(path)
    with atomic_path(path) as tmp:
        if path.lower().endswith((".parquet", ".pq")):
            pq.write_table(quarantine, tmp)
        else:
            pacsv.write_csv(quarantine, tmp)
