# cython: language_level=3
"""Byte-level kernels over Arrow string buffers: ICD code normalisation and list splitting.

The one trick used throughout: a function receives the raw buffers of an Arrow string array
(``int32`` offsets and the UTF-8 bytes) and writes a new pair of buffers, so no Python string
object is created per value and the loop runs without the GIL.

Status codes returned per value (shared with ``dipcore._kernels.strings``):
``0`` ok, ``1`` empty (null or blank), ``2`` malformed.

Normalisation rules (SPEC.md section 2):

* trim and drop white space (ASCII and the ideographic space U+3000);
* full-width ASCII forms (U+FF01..U+FF5E, common in Chinese input methods) become ASCII;
* a dagger/asterisk pair ``A17.0+G01*`` (or ``A17.0\u2020G01*``) keeps the dagger code; a lone
  trailing ``*`` is dropped;
* letters are upper-cased except the ``x`` of ``.x`` categories and of extension codes
  (the lower-case ``x`` of the shapes below);
* a code given without its dot gets it (``K35900`` -> ``K35.900``, ``4701`` -> ``47.01``,
  ``016x00`` -> ``01.6x00``, ``1791100`` -> ``17.91100``).

Accepted shapes after normalisation (``L`` upper-case letter, ``D`` digit, ``x`` the
lower-case letter, whatever its case in the input):

* diagnosis (ICD-10 medical-insurance edition 2.0): ``LDD.D``, ``LDD.DDD``, ``LDD.xDD``,
  and either 7-character form followed by an extension ``xDDD``;
* procedure (ICD-9-CM-3 medical-insurance edition, as in the national CHS-DRG 1.1 code
  list): ``DD.D``, ``DD.DD``, ``DD.DDDD``, ``DD.DxDD``, either of the last two followed by
  an extension ``xDDD``, ``DD.DDDDD``, ``DD.DDDLD`` and ``DD.DDDxDDDD``.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t

cnp.import_array()

DEF MAXCODE = 24

cdef enum:
    ST_OK = 0
    ST_EMPTY = 1
    ST_MALFORMED = 2

DIAGNOSIS = 0
PROCEDURE = 1


cdef inline bint _digit(uint8_t c) noexcept nogil:
    return 48 <= c <= 57


cdef inline bint _upper(uint8_t c) noexcept nogil:
    return 65 <= c <= 90


cdef inline bint _space(uint8_t c) noexcept nogil:
    return c == 32 or (9 <= c <= 13)


cdef Py_ssize_t _clean(const uint8_t[::1] data, int64_t start, int64_t end,
                       uint8_t* buf) noexcept nogil:
    """Copy the significant bytes of one code into ``buf`` (upper-cased ASCII).

    Returns the length, or -1 when the value holds a byte that cannot be part of a code
    or is longer than any code.
    """
    cdef Py_ssize_t n = 0
    cdef int64_t i = start
    cdef uint8_t c, c2, c3
    while i < end:
        c = data[i]
        if c < 0x80:
            i += 1
            if _space(c):
                continue
            if c == 43:          # '+': dagger code ends here
                break
            if c == 42:          # '*': asterisk mark
                continue
        elif c == 0xEF and i + 2 < end:
            c2 = data[i + 1]
            c3 = data[i + 2]
            i += 3
            if c2 == 0xBC and 0x81 <= c3 <= 0xBF:
                c = c3 - 0x60        # U+FF01..U+FF3F -> '!'..'_'
            elif c2 == 0xBD and 0x80 <= c3 <= 0x9E:
                c = c3 - 0x20        # U+FF40..U+FF5E -> '`'..'~'
            else:
                return -1
            if c == 43:
                break
            if c == 42:
                continue
        elif c == 0xE3 and i + 2 < end and data[i + 1] == 0x80 and data[i + 2] == 0x80:
            i += 3               # ideographic space
            continue
        elif c == 0xE2 and i + 2 < end and data[i + 1] == 0x80 and data[i + 2] == 0xA0:
            break                # dagger sign: dagger code ends here
        else:
            return -1
        if 97 <= c <= 122:
            c -= 32
        if n >= MAXCODE:
            return -1
        buf[n] = c
        n += 1
    return n


cdef Py_ssize_t _insert_dot(uint8_t* buf, Py_ssize_t n, Py_ssize_t at) noexcept nogil:
    """Insert '.' at ``at`` when the code has no dot and is long enough to need one."""
    cdef Py_ssize_t i
    for i in range(n):
        if buf[i] == 46:
            return n
    if n <= at or n >= MAXCODE:
        return n
    i = n
    while i > at:
        buf[i] = buf[i - 1]
        i -= 1
    buf[at] = 46
    return n + 1


cdef bint _extension_ok(uint8_t* b, Py_ssize_t n) noexcept nogil:
    """``n == 11``: positions 7..10 are 'X' and three digits; lower-cases the 'X'."""
    if b[7] != 88 or not (_digit(b[8]) and _digit(b[9]) and _digit(b[10])):
        return False
    b[7] = 120
    return True


cdef int _diagnosis(uint8_t* b, Py_ssize_t n) noexcept nogil:
    if n != 5 and n != 7 and n != 11:
        return ST_MALFORMED
    if not (_upper(b[0]) and _digit(b[1]) and _digit(b[2]) and b[3] == 46):
        return ST_MALFORMED
    if n == 5:
        return ST_OK if _digit(b[4]) else ST_MALFORMED
    if not (_digit(b[5]) and _digit(b[6])):
        return ST_MALFORMED
    if b[4] == 88:
        b[4] = 120
    elif not _digit(b[4]):
        return ST_MALFORMED
    if n == 11 and not _extension_ok(b, n):
        return ST_MALFORMED
    return ST_OK


cdef inline bint _digits(uint8_t* b, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """Positions ``start..end-1`` are all digits."""
    cdef Py_ssize_t i
    for i in range(start, end):
        if not _digit(b[i]):
            return False
    return True


cdef int _procedure(uint8_t* b, Py_ssize_t n) noexcept nogil:
    if n < 4 or not (_digit(b[0]) and _digit(b[1]) and b[2] == 46 and _digit(b[3])):
        return ST_MALFORMED
    if n == 4:                                   # DD.D
        return ST_OK
    if n == 5:                                   # DD.DD
        return ST_OK if _digit(b[4]) else ST_MALFORMED
    if n == 8:                                   # DD.DDDDD, DD.DDDLD
        if _digits(b, 4, 6) and (_digit(b[6]) or _upper(b[6])) and _digit(b[7]):
            return ST_OK
        return ST_MALFORMED
    if n != 7 and n != 11:
        return ST_MALFORMED
    if b[4] == 88:                               # DD.DxDD, DD.DxDDxDDD
        if not _digits(b, 5, 7):
            return ST_MALFORMED
        b[4] = 120
    elif not _digits(b, 4, 6):
        return ST_MALFORMED
    elif n == 11 and b[6] == 88:                 # DD.DDDxDDDD
        if not _digits(b, 7, 11):
            return ST_MALFORMED
        b[6] = 120
        return ST_OK
    elif not _digit(b[6]):                       # DD.DDDD, DD.DDDDxDDD
        return ST_MALFORMED
    if n == 11 and not _extension_ok(b, n):
        return ST_MALFORMED
    return ST_OK


def normalize_codes(const int32_t[::1] offsets,   # IN  n + 1 Arrow offsets
                    const uint8_t[::1] data,      # IN  Arrow value bytes
                    const uint8_t[::1] valid,     # IN  1 where the value is not null
                    int kind):
    """Normalise and validate ICD codes.

    Returns ``(out_offsets int32[n+1], out_data uint8[:], status uint8[n])``. A value whose
    status is not ok is written as the empty string.
    """
    cdef Py_ssize_t n = valid.shape[0]
    cdef Py_ssize_t total = offsets[n] - offsets[0] if n > 0 else 0
    out_offsets_np = np.empty(n + 1, dtype=np.int32)
    out_data_np = np.empty(total + n + 1, dtype=np.uint8)
    status_np = np.empty(n, dtype=np.uint8)
    cdef int32_t[::1] out_offsets = out_offsets_np
    cdef uint8_t[::1] out = out_data_np
    cdef uint8_t[::1] status = status_np
    cdef uint8_t buf[MAXCODE + 2]
    cdef Py_ssize_t i, j, m, pos = 0
    cdef int st
    with nogil:
        out_offsets[0] = 0
        for i in range(n):
            st = ST_EMPTY
            m = 0
            if valid[i]:
                m = _clean(data, offsets[i], offsets[i + 1], buf)
                if m < 0:
                    st = ST_MALFORMED
                elif m > 0:
                    if kind == 0:
                        m = _insert_dot(buf, m, 3)
                        st = _diagnosis(buf, m)
                    else:
                        m = _insert_dot(buf, m, 2)
                        st = _procedure(buf, m)
            status[i] = st
            if st == ST_OK:
                for j in range(m):
                    out[pos + j] = buf[j]
                pos += m
            out_offsets[i + 1] = <int32_t>pos
    return out_offsets_np, out_data_np[:pos], status_np


def split_lists(const int32_t[::1] offsets,   # IN  n + 1 Arrow offsets of the joined strings
                const uint8_t[::1] data,      # IN  Arrow value bytes
                const uint8_t[::1] valid):    # IN  1 where the value is not null
    """Split strings joined by ``|`` or ``,`` into lists; trims items and drops empty ones.

    A null string becomes an empty list. Returns ``(list_offsets int32[n+1],
    value_offsets int32[k+1], value_data uint8[:])`` ready for ``pyarrow.ListArray``.
    """
    cdef Py_ssize_t n = valid.shape[0]
    cdef Py_ssize_t total = offsets[n] - offsets[0] if n > 0 else 0
    list_offsets_np = np.empty(n + 1, dtype=np.int32)
    value_offsets_np = np.empty(total // 2 + n + 2, dtype=np.int32)
    value_data_np = np.empty(total + 1, dtype=np.uint8)
    cdef int32_t[::1] lo = list_offsets_np
    cdef int32_t[::1] vo = value_offsets_np
    cdef uint8_t[::1] vd = value_data_np
    cdef Py_ssize_t i, k = 0, pos = 0
    cdef int64_t a, b, s, e, j
    cdef uint8_t c
    with nogil:
        lo[0] = 0
        vo[0] = 0
        for i in range(n):
            if valid[i]:
                a = offsets[i]
                b = offsets[i + 1]
                s = a
                while s <= b:
                    e = s
                    while e < b and data[e] != 124 and data[e] != 44:
                        e += 1
                    # trim the item [s, e)
                    j = e
                    while s < j and _space(data[s]):
                        s += 1
                    while j > s and _space(data[j - 1]):
                        j -= 1
                    if j > s:
                        while s < j:
                            vd[pos] = data[s]
                            pos += 1
                            s += 1
                        k += 1
                        vo[k] = <int32_t>pos
                    s = e + 1
            lo[i + 1] = <int32_t>k
    return list_offsets_np, value_offsets_np[:k + 1], value_data_np[:pos]
