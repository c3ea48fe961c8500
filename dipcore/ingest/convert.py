"""Column conversions: any Arrow type -> (int64 values, status per value), and code lists.

Statuses are the parsers' (``dipcore._kernels.strings``: OK, EMPTY, BAD, RANGE) plus
NONFINITE for NaN or infinite money. Text is parsed by the Cython parsers, exactly
(money to integer fen with no float round trip).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import strings as K
from dipcore._kernels.validate import encode_lists
from dipcore.errors import InputError
from dipcore.ingest.codebook import as_text

_NONFINITE = 4
_NONFINITE_TEXT = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
                   "-infinity"}


def as_array(col) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def is_text(arr: pa.Array) -> bool:
    t = arr.type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
        or pa.types.is_large_binary(t) or pa.types.is_string_view(t) \
        or (pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type)
                                           or pa.types.is_large_string(t.value_type)))


def trimmed_text(arr: pa.Array) -> pa.Array:
    """Trimmed text, blanks as null."""
    arr = as_text(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr).cast(pa.string())


def plain_text(arr: pa.Array) -> pa.Array:
    """A text column as plain ``string`` (dictionaries decoded, other types cast)."""
    arr = as_text(arr)
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def display(arr: pa.Array) -> list[str]:
    """Values as Python strings for messages (only called for few rows)."""
    return ["" if v is None else str(v) for v in arr.to_pylist()]


def _primitive(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A fixed-width column as a zero-copy NumPy view and its status (``EMPTY`` where
    null). Null slots hold whatever the buffer holds: every use of a value is gated by its
    status."""
    n = len(arr)
    dtype = np.int32 if pa.types.is_date32(arr.type) else arr.type.to_pandas_dtype()
    values = np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + n)[arr.offset:]
    if arr.null_count == 0:
        return values, np.zeros(n, np.uint8)
    return values, (~arr.is_valid().to_numpy(zero_copy_only=False)).view(np.uint8)


def to_int(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Any column -> (integer values, status) with the string-kernel status codes.

    Integer columns come back in their own type, without a copy."""
    t = arr.type
    if is_text(arr):
        return K.parse_int(plain_text(arr))
    if pa.types.is_integer(t):
        return _primitive(arr)
    if pa.types.is_boolean(t):
        values = arr.cast(pa.int64()).fill_null(0).to_numpy()
        return values, arr.is_null().to_numpy(zero_copy_only=False).view(np.uint8)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        x = arr.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        null = arr.is_null().to_numpy(zero_copy_only=False)
        ok = np.isfinite(x) & (np.abs(x) < 1e15)
        ok[ok] = x[ok] == np.round(x[ok])
        values = np.where(ok, x, 0).astype(np.int64)
        status = np.where(null, K.EMPTY, np.where(ok, K.OK, K.BAD)).astype(np.uint8)
        return values, status
    return to_int(arr.cast(pa.string()))


def to_days(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dates -> (int64 days since 1970-01-01, status)."""
    t = arr.type
    if is_text(arr):
        return K.parse_date(plain_text(arr))
    if pa.types.is_integer(t):               # yyyymmdd as a number
        return K.parse_date(arr.cast(pa.string()))
    if pa.types.is_timestamp(t) or pa.types.is_date64(t) or pa.types.is_date32(t):
        d = arr.cast(pa.date32()) if not pa.types.is_date32(t) else arr
        return _primitive(d)
    raise InputError(f"a date column cannot have type {t}")


def to_fen(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Money -> (int64 fen, status); status 4 marks NaN or infinite values."""
    t = arr.type
    if is_text(arr):
        text = plain_text(arr)
        values, status = K.parse_fen(text)
        bad = np.flatnonzero(status == K.BAD)
        if bad.size:
            words = pc.utf8_lower(pc.utf8_trim_whitespace(text.take(pa.array(bad))))
            nonfinite = np.isin(np.array(words.to_pylist(), dtype=object), list(_NONFINITE_TEXT))
            status[bad[nonfinite]] = _NONFINITE
        return values, status
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    if pa.types.is_decimal(t):
        if t.scale != 2 or not pa.types.is_decimal128(t) or t.precision > 18:
            rounded = pc.round(arr, ndigits=2, round_mode="half_towards_infinity") if t.scale > 2 else arr
            try:
                arr = rounded.cast(pa.decimal128(38, 2))
            except pa.ArrowInvalid:
                return to_fen(rounded.cast(pa.float64()))
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64,
                              count=2 * (arr.offset + len(arr)))[2 * arr.offset:]
        lo, hi = words[0::2].copy(), words[1::2]
        fits = hi == (lo >> 63)
        if null is None and fits.all():
            return lo, np.zeros(len(arr), np.uint8)
        null = np.zeros(len(arr), bool) if null is None else null
        status = np.where(null, K.EMPTY, np.where(fits, K.OK, K.RANGE)).astype(np.uint8)
        lo[~fits | null] = 0
        return lo, status
    null = np.zeros(len(arr), bool) if null is None else null
    if pa.types.is_integer(t):
        x = arr.cast(pa.int64()).fill_null(0).to_numpy()
        big = np.abs(x) >= 10**15
        status = np.where(null, K.EMPTY, np.where(big, K.RANGE, K.OK)).astype(np.uint8)
        return np.where(big, 0, x * 100), status
    if pa.types.is_floating(t):
        x = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        finite = np.isfinite(x)
        small = finite & (np.abs(x) < 1e13)
        # half away from zero at the fen, as for text input
        values = np.where(small, np.sign(x) * np.floor(np.abs(np.where(small, x, 0)) * 100 + 0.5), 0)
        status = np.where(null, K.EMPTY, np.where(~finite, _NONFINITE,
                                                  np.where(small, K.OK, K.RANGE))).astype(np.uint8)
        return values.astype(np.int64), status
    raise InputError(f"a money column cannot have type {t}")


def _list_column(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """A list column (or a text column of ``|``/``,``-joined items) -> (int32 offsets from
    0, the items)."""
    t = arr.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) \
            or pa.types.is_large_list_view(t) or pa.types.is_fixed_size_list(t):
        if not pa.types.is_list(t):
            arr = arr.cast(pa.list_(t.value_type))
        if arr.null_count:
            arr = arr.fill_null(pa.scalar([], arr.type))
    else:
        arr = K.split_lists(plain_text(arr))
    off = np.asarray(arr.offsets)
    values = arr.values.slice(int(off[0]), int(off[-1] - off[0]))
    return (off - off[0]).astype(np.int32), values


def code_lists(arr: pa.Array, vocab, raw: bool = False) -> tuple:
    """A list column of codes (or ``|``/``,``-joined text) through a code vocabulary.

    Returns ``(offsets, ids, row_bad, first_bad, items)``: each row's well-formed codes as
    canonical ids (CSR; blank items dropped), whether it holds a malformed code, the index
    in ``items`` (the flattened raw items) of the first one, and ``items``. With ``raw``, a
    sixth element: the raw-string id of each kept code, aligned with ``ids``.
    """
    off, items = _list_column(arr)
    if not raw:
        new_off, ids, bad, first = encode_lists(off, vocab.encode(items))
        return new_off, ids, bad, first, items
    values, raw_ids = vocab.encode_raw(items)
    new_off, ids, bad, first = encode_lists(off, values)
    return new_off, ids, bad, first, items, raw_ids[values >= 0]
