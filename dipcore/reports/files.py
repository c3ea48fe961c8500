"""Writing result files safely: a temporary name in the same directory, then a rename.

Temporary files and directories are created private (0600 / 0700); before the rename they
get the permissions any new file would (0666 / 0777 less the process umask), so results
are readable by whoever the site's umask lets read them.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from dipcore.errors import InputError


_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process umask (read from ``/proc`` where there is one, so no thread ever sees it
    changed; elsewhere set and restored under a lock)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def normal_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the permissions of a newly created file or directory."""
    full = 0o777 if stat.S_ISDIR(os.stat(path).st_mode) else 0o666
    os.chmod(path, full & ~umask())


def output_directory(directory: str | os.PathLike) -> Path:
    """``directory``, made if missing (with its parents); one line when it cannot be: a
    file of that name, no permission, a parent that cannot hold directories."""
    if not isinstance(directory, (str, os.PathLike)):
        raise InputError(f"an output directory is a path, not {type(directory).__name__}")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise InputError("the output directory is an existing file", source=str(d))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make the output directory ({exc.strerror})",
                         source=str(d)) from None
    return d


def output_file(path: str | os.PathLike) -> Path:
    """``path`` checked as a file to write, its directory made: one line when it is a
    directory or not a path, or its directory cannot be made (``output_directory``).
    Commands call it before their work, so a wrong ``--out`` does not wait for the end."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"an output file is a path, not {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise InputError("the output file is an existing directory", source=str(path))
    output_directory(path.parent)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On error the temporary file is removed and ``path`` is untouched, so an interrupted run
    never leaves a half-written output.
    """
    path = output_file(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        normal_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: Columns of the per-case table whose values are (nearly) all different, one per case: a
#: Parquet dictionary would only cost time (hashing every value) and space. Every other
#: column repeats a few values (codes, kinds, classes, hospitals, pools, coefficients...)
#: and is dictionary-encoded. Measured on a 1M-case DIP year: money columns 0.57 s and
#: 5.6 MB dictionary-encoded, 0.10 s and 3.7 MB plain.
PER_CASE_VALUES = frozenset({"case_id", "ratio", "total_cost", "fund_paid", "points"})


def cases_parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """The ``pyarrow.parquet`` writer options of a per-case table (``cases.parquet``) of
    ``schema``, wherever it is written.

    * zstd at level 1 (Arrow's default level, said here so that it stays): a third smaller
      than lz4 or snappy for about the same time; the cost of writing is in encoding, not
      compressing.
    * Dictionary pages for every column but the per-case values. Label columns arrive as
      dictionary arrays (``dipcore.schema.label_array``) and are written as they are.
    * The Arrow schema is not stored: a reader then gets the label columns back as plain
      strings (every other type maps to Parquet's own: ``int8``, ``date32``, decimals),
      the types of ``Settlement.cases``, not the dictionary arrays the run wrote.
    * Min/max statistics for dates and numbers only (what a reader prunes row groups
      by). On labels and ids, whose every row group spans nearly all values in a file in
      reading order, and on decimals, they cost a quarter of the writing time and prune
      nothing.
    """
    def with_statistics(t: pa.DataType) -> bool:
        return (pa.types.is_integer(t) or pa.types.is_floating(t)
                or pa.types.is_temporal(t))

    return {"compression": "zstd", "compression_level": 1, "store_schema": False,
            "use_dictionary": [n for n in schema.names if n not in PER_CASE_VALUES],
            "write_statistics": [f.name for f in schema if with_statistics(f.type)]}


#: Formats of the human-readable copies of result tables (the Parquet copies are always
#: written): a CSV file per table, or one Excel workbook.
HUMAN_FORMATS = ("csv", "xlsx")


def human_format(value: str) -> str:
    """``value`` checked against :data:`HUMAN_FORMATS` (an :class:`InputError` otherwise)."""
    if value not in HUMAN_FORMATS:
        raise InputError(f"unknown output format {value!r} (known: {', '.join(HUMAN_FORMATS)})")
    return value
