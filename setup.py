"""Build script: compiles the Cython kernels of dipcore._kernels.

All metadata lives in pyproject.toml; this file only declares the extensions so that
``pip install .`` (or ``-e .``) compiles them with the build requirements declared there.
"""
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

COMPILER_DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
}

extensions = [
    Extension(
        f"dipcore._kernels.{name}",
        [f"dipcore/_kernels/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"],
    )
    for name in ("codes", "parse", "intern")
]

setup(ext_modules=cythonize(extensions, compiler_directives=COMPILER_DIRECTIVES))
