"""``dipcore report``: the HTML report of a settlement (``dipcore.reports.html``)."""
from __future__ import annotations

import time


def cmd_report(args) -> int:
    from dipcore.reports.html import write_report
    t0 = time.perf_counter()
    out = write_report(args.results, args.out, lang=args.lang, audit=args.audit,
                       catalog=args.catalog, sweep=args.sweep)
    size = out.stat().st_size
    print(f"report written to {out} ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0
