"""Progress of long steps on standard error: rows done, rate and time left.

On a terminal each stage is one line redrawn in place; in a log (standard error not a
terminal) it is a plain line every ~10 %. ``--quiet`` (:func:`set_quiet`) turns both off;
results and warnings still go to standard output.
"""
from __future__ import annotations

import sys
import time

_quiet = False


def set_quiet(quiet: bool) -> None:
    """No progress lines at all (``--quiet``)."""
    global _quiet
    _quiet = bool(quiet)


def quiet() -> bool:
    """Whether progress is switched off."""
    return _quiet


class Progress:
    """Rows done, rate and ETA on standard error; redrawn in place on a terminal, every
    ~10 % as plain lines otherwise (logs stay short)."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.last_share = -1.0

    def __call__(self, done: int, total: int) -> None:
        if _quiet:
            return
        now = time.perf_counter()
        if not total:   # size unknown in advance (CSV): rows and rate only, on a terminal
            if self.tty and now - self.last >= 0.2:
                self.last = now
                rate = done / max(now - self.t0, 1e-9)
                self.stream.write(f"\r{self.label}: {done:,} rows, {rate:,.0f} rows/s")
                self.stream.flush()
            return
        share = done / total
        if self.tty and now - self.last < 0.2 and done < total:
            return
        if not self.tty and share - self.last_share < 0.1 and done < total:
            return
        self.last, self.last_share = now, share
        elapsed = now - self.t0
        # a stage counted in other units than rows says so: "settle (partitions)"
        label, unit = self.label, "rows"
        if label.endswith(")") and " (" in label:
            label, unit = label[:-1].rsplit(" (", 1)
        text = f"{label}: {done:,}/{total:,} {unit} ({share:.0%})"
        if elapsed >= 0.5:   # too early, the rate says nothing
            rate = done / elapsed
            text += f", {rate:,.0f} {unit}/s, ETA {(total - done) / rate:,.0f} s"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class StagedProgress:
    """Adapts ``progress(stage, done, total)`` callbacks to one :class:`Progress` per stage."""

    def __init__(self):
        self.bars: dict[str, Progress] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = Progress(stage)
        bar(done, total)
