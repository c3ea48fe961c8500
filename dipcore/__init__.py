"""dipcore: DIP (Diagnosis-Intervention Packet) payment under a regional global budget.

Public API (see DESIGN.md section 4)::

    import dipcore as dc
    cases, quarantine = dc.read_cases("cases/", hospitals=dc.read_hospitals("hospitals.csv"))
"""
import os as _os

# Tables that crossed a process boundary (Dask) may hold unaligned buffers; let Arrow's
# execution engine realign them instead of warning on every hash aggregation.
_os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")

from dipcore._version import __version__  # noqa: E402
from dipcore import _kernels  # noqa: F401  (fails with build instructions if not compiled)
from dipcore.errors import DipcoreError, InputError
from dipcore.ingest.codelist import CodeList, UnknownCodes
from dipcore.ingest.quarantine import save_quarantine
from dipcore.ingest.reader import read_cases, read_hospitals, scan_cases
from dipcore.schema import CASE_SCHEMA, HOSPITAL_SCHEMA, QUARANTINE_SCHEMA
from dipcore.policy import Policy
from dipcore.catalog import Catalog
from dipcore.payment.settlement import Settlement
from dipcore.api import audit, calibrate, settle, sweep
from dipcore.payment.sweep import Sweep, grid
from dipcore.supervision.audit import Audit
from dipcore.engine.threads import set_threads
from dipcore.schemes.drg import DrgRules, drg_group

__all__ = [
    "__version__", "DipcoreError", "InputError", "read_cases", "read_hospitals",
    "save_quarantine", "scan_cases", "CASE_SCHEMA", "HOSPITAL_SCHEMA", "QUARANTINE_SCHEMA",
    "Policy", "Catalog", "Settlement", "calibrate", "settle", "Audit", "audit", "set_threads",
    "DrgRules", "drg_group", "CodeList", "UnknownCodes", "sweep", "Sweep", "grid", "report",
]


def __getattr__(name: str):
    # the report pulls in plotly and Jinja2: imported when first asked for, so that
    # ``import dipcore`` stays light
    if name == "report":
        from dipcore.reports.html import write_report
        return write_report
    raise AttributeError(f"module 'dipcore' has no attribute {name!r}")
