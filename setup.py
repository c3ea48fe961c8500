"""Build script: compiles the Cython kernels of dipcore._kernels, then the Numba kernels.

All metadata lives in pyproject.toml; this file only declares the extensions so that
``pip install .`` (or ``-e .``) compiles them with the build requirements declared there,
and runs ``dipcore compile`` (``dipcore/cli/precompile.py``) over the built package so that
the Numba kernels' on-disk cache ships with it: the first run after installing loads
machine code instead of compiling for tens of seconds. ``DIPCORE_NO_PRECOMPILE=1`` skips
that step; a failure of it is a warning, never a failed install (the kernels then compile
on first use, as Numba does without a cache).
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

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


class build_ext_and_kernels(build_ext):
    """``build_ext``, then the Numba kernels compiled into the cache of the built package."""

    def run(self):
        super().run()
        if os.environ.get("DIPCORE_NO_PRECOMPILE"):
            return
        # in place (``-e``, ``--inplace``) the package is the source tree; otherwise the copy
        # in build_lib that goes into the wheel, cache files included (Numba keys them by
        # the kernels' source, not by path or time, so they hold after installing)
        root = HERE if (self.inplace or self.editable_mode) else Path(self.build_lib).resolve()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]))
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as cwd:   # nothing of the workload lands in root
            done = subprocess.run([sys.executable, "-m", "dipcore.cli.precompile"], env=env,
                                  cwd=cwd, capture_output=True, text=True)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"warning: dipcore's Numba kernels were not compiled at install ({tail[0]}); "
                  "they compile on first use, or run `dipcore compile`", file=sys.stderr)
        else:
            print(f"dipcore: Numba kernels compiled into {root} in "
                  f"{time.perf_counter() - t0:.0f} s")


setup(ext_modules=cythonize(extensions, compiler_directives=COMPILER_DIRECTIVES),
      cmdclass={"build_ext": build_ext_and_kernels})
