"""``dipcore report``: the HTML report of a settlement (``dipcore.reports.html``), or its
tables as a workbook (``--format xlsx``, ``dipcore.reports.workbook``)."""
from __future__ import annotations

import time


def cmd_report(args) -> int:
    t0 = time.perf_counter()
    if args.format == "xlsx":
        from dipcore.reports.workbook import write_workbook
        out = write_workbook(args.results, args.out, audit=args.audit, catalog=args.catalog,
                             sweep=args.sweep)
    else:
        from dipcore.reports.html import write_report
        out = write_report(args.results, args.out, lang=args.lang, audit=args.audit,
                           catalog=args.catalog, sweep=args.sweep)
    size = out.stat().st_size
    print(f"report written to {out} ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0
