"""Importing dipcore without its compiled extensions fails with build instructions."""
import subprocess
import sys

SCRIPT = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("dipcore._kernels.codes", "dipcore._kernels.parse"):
            raise ImportError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Block())
try:
    import dipcore
except ImportError as exc:
    print(exc)
    sys.exit(3)
"""


def test_missing_extension_says_how_to_build():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert r.returncode == 3
    assert "not built" in r.stdout and 'pip install -e ".[test]"' in r.stdout
    assert "build_ext --inplace" in r.stdout
