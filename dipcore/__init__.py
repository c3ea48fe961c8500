"""dipcore: DIP (Diagnosis-Intervention Packet) payment under a regional global budget.

Public API (see DESIGN.md section 4)::

    import dipcore as dc
    cases, quarantine = dc.read_cases("cases/", hospitals=dc.read_hospitals("hospitals.csv"))
"""
import importlib
import os as _os
from typing import TYPE_CHECKING

# Tables that crossed a process boundary (Dask) may hold unaligned buffers; let Arrow's
# execution engine realign them instead of warning on every hash aggregation.
_os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")

from dipcore._version import __version__  # noqa: E402
from dipcore import _kernels  # noqa: E402,F401  (fails with build instructions if not compiled)
from dipcore.errors import DipcoreError, InputError  # noqa: E402

#: The public API, imported when first used (PEP 562): ``import dipcore`` loads neither
#: NumPy, Arrow nor Numba, so the command line and a script that imports dipcore start at
#: once; the first call of ``dc.settle`` loads what it needs.
_LAZY = {
    "CodeList": "dipcore.ingest.codelist", "UnknownCodes": "dipcore.ingest.codelist",
    "save_quarantine": "dipcore.ingest.quarantine",
    "read_cases": "dipcore.ingest.reader", "read_hospitals": "dipcore.ingest.reader",
    "scan_cases": "dipcore.ingest.reader",
    "CASE_SCHEMA": "dipcore.schema", "HOSPITAL_SCHEMA": "dipcore.schema",
    "QUARANTINE_SCHEMA": "dipcore.schema",
    "Policy": "dipcore.policy", "Catalog": "dipcore.catalog",
    "Settlement": "dipcore.payment.settlement",
    "audit": "dipcore.api", "calibrate": "dipcore.api", "settle": "dipcore.api",
    "sweep": "dipcore.api",
    "Sweep": "dipcore.payment.sweep", "grid": "dipcore.payment.sweep",
    "Audit": "dipcore.supervision.audit", "set_threads": "dipcore.engine.threads",
    "DrgRules": "dipcore.schemes.drg", "drg_group": "dipcore.schemes.drg",
    "report": "dipcore.reports.html",
}
_RENAMED = {"report": "write_report"}

__all__ = ["__version__", "DipcoreError", "InputError", *_LAZY]

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from dipcore.api import audit, calibrate, settle, sweep  # noqa: F401
    from dipcore.catalog import Catalog  # noqa: F401
    from dipcore.engine.threads import set_threads  # noqa: F401
    from dipcore.ingest.codelist import CodeList, UnknownCodes  # noqa: F401
    from dipcore.ingest.quarantine import save_quarantine  # noqa: F401
    from dipcore.ingest.reader import read_cases, read_hospitals, scan_cases  # noqa: F401
    from dipcore.payment.settlement import Settlement  # noqa: F401
    from dipcore.payment.sweep import Sweep, grid  # noqa: F401
    from dipcore.policy import Policy  # noqa: F401
    from dipcore.reports.html import write_report as report  # noqa: F401
    from dipcore.schema import CASE_SCHEMA, HOSPITAL_SCHEMA, QUARANTINE_SCHEMA  # noqa: F401
    from dipcore.schemes.drg import DrgRules, drg_group  # noqa: F401
    from dipcore.supervision.audit import Audit  # noqa: F401


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:     # a subpackage used as an attribute (``dc.schema.POOLS``)
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module 'dipcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value          # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
