"""The Numba kernels compile once: what one run compiles, the next loads from the cache.

``pip install`` runs ``dipcore compile`` (``setup.py``) so that the first run after
installing already finds every kernel compiled; that only holds if every kernel a command
uses is cacheable and the workload drives every command.
"""
import os
import subprocess
import sys

from dipcore.cli.main import build_parser
from dipcore.cli.precompile import workload

#: Commands that run no Numba kernel of their own (``report`` reads finished tables).
WITHOUT_KERNELS = {"compile", "report"}

SCRIPT = r"""
import sys
from dipcore.cli.main import main
prov, work = sys.argv[1], sys.argv[2]
for argv in (
    ["calibrate", f"{prov}/cases", "--years", "2021-2023", "--out", f"{work}/catalog.parquet"],
    ["settle", f"{prov}/cases/year=2024", "--catalog", f"{work}/catalog.parquet",
     "--budget", "employee=2e7,resident=2e7", "--out", f"{work}/settlement"],
):
    assert main([*argv, "--quiet"]) == 0, argv
"""


def _cache_events(prov, work, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBA_DEBUG_CACHE="1")
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(prov), str(work)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    return (sum(line.startswith("[cache] data saved") for line in lines),
            sum(line.startswith("[cache] data loaded") for line in lines))


def test_a_second_run_compiles_nothing(four_year_province, tmp_path):
    prov, _ = four_year_province
    saved, _ = _cache_events(prov, tmp_path / "first", tmp_path / "cache")
    assert saved > 10   # an empty cache: calibrate and settle compiled their kernels
    saved_again, loaded = _cache_events(prov, tmp_path / "second", tmp_path / "cache")
    assert saved_again == 0
    # fewer loads than saves: a kernel's callees are compiled (and saved) on their own too,
    # but a caller loaded from the cache carries their code with it
    assert 0 < loaded <= saved


def test_the_install_workload_drives_every_command(tmp_path):
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    driven = {argv[0] for argv in workload(tmp_path)}
    assert driven == commands - WITHOUT_KERNELS
    assert {"dip", "drg"} <= {"drg" if "national_drg" in argv else "dip"
                              for argv in workload(tmp_path) if argv[0] == "settle"}


def test_numba_is_loaded_once_on_a_thread_of_its_own():
    """A run starts loading Numba's machinery beside its first read (``start_loading``):
    one thread per process, whatever the number of runs, and kernels work meanwhile."""
    import numpy as np

    from dipcore._kernels import numba_config
    from dipcore._kernels.aggregate import count_by

    numba_config.start_loading()
    first = numba_config._loading
    numba_config.start_loading()
    assert numba_config._loading is first
    assert count_by(np.array([0, 2, 2, -1], np.int64), 3).tolist() == [1, 0, 2]
    first.join(timeout=600)
    assert not first.is_alive()
    assert numba_config._first_call(41) == 42
