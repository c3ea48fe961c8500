"""dipcore: DIP (Diagnosis-Intervention Packet) payment under a regional global budget.

Public API (see DESIGN.md section 4)::

    import dipcore as dc
    cases, quarantine = dc.read_cases("cases/", hospitals=dc.read_hospitals("hospitals.csv"))
"""
from ._version import __version__
from . import _kernels  # noqa: F401  (fails with build instructions if not compiled)
from .errors import DipcoreError, InputError
from .io import read_cases, read_hospitals, save_quarantine, scan_cases
from .schema import CASE_SCHEMA, HOSPITAL_SCHEMA, QUARANTINE_SCHEMA
from .policy import Policy
from .catalog import Catalog
from .settle import Settlement
from .api import calibrate, settle

__all__ = [
    "__version__", "DipcoreError", "InputError", "read_cases", "read_hospitals",
    "save_quarantine", "scan_cases", "CASE_SCHEMA", "HOSPITAL_SCHEMA", "QUARANTINE_SCHEMA",
    "Policy", "Catalog", "Settlement", "calibrate", "settle",
]
