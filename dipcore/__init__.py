"""dipcore: DIP (Diagnosis-Intervention Packet) payment under a regional global budget.

Public API (see DESIGN.md section 4)::

    import dipcore as dc
    cases, quarantine = dc.read_cases("cases/", hospitals=dc.read_hospitals("hospitals.csv"))
"""
import os as _os

# Tables that crossed a process boundary (Dask) may hold unaligned buffers; let Arrow's
# execution engine realign them instead of warning on every hash aggregation.
_os.environ.setdefault("ACERO_ALIGNMENT_HANDLING", "reallocate")

from ._version import __version__  # noqa: E402
from . import _kernels  # noqa: F401  (fails with build instructions if not compiled)
from .errors import DipcoreError, InputError
from .io import read_cases, read_hospitals, save_quarantine, scan_cases
from .schema import CASE_SCHEMA, HOSPITAL_SCHEMA, QUARANTINE_SCHEMA
from .policy import Policy
from .catalog import Catalog
from .settlement import Settlement
from .api import calibrate, settle
from .audit import Audit, audit
from .pipeline import set_threads
from .schemes.drg import DrgRules
from .schemes.drg import drg_group

__all__ = [
    "__version__", "DipcoreError", "InputError", "read_cases", "read_hospitals",
    "save_quarantine", "scan_cases", "CASE_SCHEMA", "HOSPITAL_SCHEMA", "QUARANTINE_SCHEMA",
    "Policy", "Catalog", "Settlement", "calibrate", "settle", "Audit", "audit", "set_threads",
]
