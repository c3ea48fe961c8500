"""The report as a workbook (``dipcore report --format xlsx``): the tables the HTML report
explains, one sheet each, with hospital names, money and percentages formatted
(``dipcore.reports.excel``). Inputs are found as for the HTML report
(``dipcore.reports.inputs``)."""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dipcore.reports.excel import write_tables
from dipcore.reports.inputs import load_inputs


def write_workbook(results: str | os.PathLike, out: str | os.PathLike, *,
                   audit: str | os.PathLike | None = None,
                   catalog: str | os.PathLike | None = None,
                   sweep: str | os.PathLike | None = None) -> Path:
    """Write the report's tables as one ``.xlsx`` workbook (atomically).

    Sheets: ``pools`` (budget, points, point values), ``statements`` (every line of every
    hospital's statement), ``monthly prepayments``; with an audit, ``flagged hospitals``
    (the audit's indicators of hospitals with a flag) and ``evidence``; with a sweep,
    ``sweep variants`` and ``sweep hospitals``. Hospital names come from the statements.

    Parameters
    ----------
    results, audit, catalog, sweep : path
        As for :func:`dipcore.reports.html.write_report`.
    out : path
        The workbook to write.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    inputs = load_inputs(results, audit=audit, catalog=catalog, sweep=sweep)
    sheets: dict[str, pa.Table] = {"pools": inputs.pools, "statements": inputs.statements}
    if inputs.monthly is not None:
        sheets["monthly prepayments"] = inputs.monthly
    if inputs.audit is not None:
        h = inputs.audit.hospitals
        if "flags" in h.column_names:
            h = h.filter(pc.greater(pc.list_value_length(h.column("flags")), 0))
        sheets["flagged hospitals"] = h
        sheets["evidence"] = inputs.audit.evidence
    if inputs.sweep is not None:
        sheets["sweep variants"] = inputs.sweep.variants
        sheets["sweep hospitals"] = inputs.sweep.hospitals
    return write_tables(out, sheets, names=inputs.statements)
