"""Compiled kernels of dipcore.

Cython extensions (``codes``, ``parse``) do byte-level work over Arrow string buffers; Numba
modules do the numeric work over integer-coded arrays. Importing this package checks that
the Cython extensions were built, and says how to build them when they were not: there is
no silent pure-Python fallback.
"""
try:
    from . import codes, parse  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by the build check test
    raise ImportError(
        "dipcore's compiled extensions are not built "
        f"({exc}). Build them from the project root with:\n"
        '    python -m pip install -e ".[test]"\n'
        "or, for an in-place rebuild after editing a .pyx file:\n"
        "    python setup.py build_ext --inplace"
    ) from exc
