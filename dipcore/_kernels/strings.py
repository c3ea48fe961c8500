"""Arrow-facing wrappers of the Cython string kernels.

They take and return ``pyarrow`` arrays; the kernels themselves see only NumPy views of the
Arrow buffers (offsets, bytes, validity), so nothing is copied on the way in.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import codes as _codes
from . import intern as _intern
from . import parse as _parse

#: Status codes shared by all string kernels.
OK, EMPTY, BAD, RANGE = 0, 1, 2, 3

DIAGNOSIS = _codes.DIAGNOSIS
PROCEDURE = _codes.PROCEDURE


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-copy NumPy views ``(offsets int32[n+1], data uint8, valid uint8[n])``.

    Offsets are rebased so that ``offsets[0]`` may be non-zero (sliced arrays); large,
    view and dictionary string types are cast to plain ``string`` first.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_binary(arr.type)):
        arr = arr.cast(pa.string())
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=arr.offset + n + 1)[arr.offset:] \
        if bufs[1] is not None else np.zeros(n + 1, np.int32)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size \
        else np.zeros(1, np.uint8)
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False).view(np.uint8)
    else:
        valid = ones(n)
    return offsets, data, valid


_ONES = np.ones(0, np.uint8)


def ones(n: int) -> np.ndarray:
    """A read-only all-ones validity of length ``n`` (one shared buffer, grown as needed)."""
    global _ONES
    ones = _ONES
    if len(ones) < n:
        ones = np.ones(max(n, 2 * len(ones)), np.uint8)
        ones.flags.writeable = False
        _ONES = ones
    return ones[:n]


def _string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def normalize_codes(arr: pa.Array, kind: int) -> tuple[pa.Array, np.ndarray]:
    """Normalise ICD codes (SPEC.md section 2). Returns ``(codes, status)``; a value whose
    status is not ``OK`` becomes the empty string."""
    offsets, data, valid = string_buffers(arr)
    out_off, out_data, status = _codes.normalize_codes(offsets, data, valid, kind)
    return _string_array(out_off, out_data), status


def split_lists(arr: pa.Array) -> pa.Array:
    """Split strings joined by ``|`` or ``,`` into a ``list<string>`` array."""
    offsets, data, valid = string_buffers(arr)
    list_off, val_off, val_data = _codes.split_lists(offsets, data, valid)
    return pa.ListArray.from_arrays(pa.array(list_off, pa.int32()), _string_array(val_off, val_data))


def parse_fen(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Yuan as text -> int64 fen, rounded half away from zero. Returns ``(fen, status)``."""
    return _parse.parse_fen(*string_buffers(arr))


def parse_int(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integers as text -> int64. Returns ``(values, status)``."""
    return _parse.parse_int(*string_buffers(arr))


def parse_date(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dates as text -> int64 days since 1970-01-01. Returns ``(days, status)``."""
    return _parse.parse_date(*string_buffers(arr))


def hash_strings(arr: pa.Array) -> np.ndarray:
    """64-bit hash of every string (never 0; nulls hash as the empty string)."""
    offsets, data, _ = string_buffers(arr)
    return _intern.hash_strings(offsets, data)


StringSet = _intern.StringSet
CsvRecordScanner = _parse.CsvRecordScanner
