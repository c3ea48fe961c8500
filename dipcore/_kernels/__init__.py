"""Compiled kernels of dipcore.

Cython extensions (``codes``, ``parse``, ``intern``) do byte-level work over Arrow string
buffers; Numba modules do the numeric work over integer-coded arrays. Importing this
package checks that the Cython extensions were built, and says how to build them when they
were not: there is no silent pure-Python fallback. The check finds the extensions without
loading them (loading them loads NumPy), so ``import dipcore`` stays light.
"""
import importlib.util

_EXTENSIONS = ("codes", "parse", "intern")


def _check_built() -> None:
    for name in _EXTENSIONS:
        try:
            found = importlib.util.find_spec(f"{__name__}.{name}")
        except ImportError as exc:
            found, why = None, exc
        else:
            why = f"no module named '{__name__}.{name}'"
        if found is None:
            raise ImportError(
                "dipcore's compiled extensions are not built "
                f"({why}). Build them from the project root with:\n"
                '    python -m pip install -e ".[test]"\n'
                "or, for an in-place rebuild after editing a .pyx file:\n"
                "    python setup.py build_ext --inplace")


_check_built()
