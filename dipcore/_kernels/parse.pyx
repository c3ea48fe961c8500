# cython: language_level=3
"""Byte-level parsing kernels for ingest: money, integers, dates, CSV record shape.

All functions read the raw buffers of an Arrow string array (``int32`` offsets, UTF-8 bytes,
a validity mask) and return NumPy arrays plus a status per value, so that ingest can send a
bad value to the quarantine instead of failing the whole column, as Arrow's own casts do.

Status codes: ``0`` ok, ``1`` empty (null or blank), ``2`` unparsable, ``3`` out of range.

Why our own parsers: money must become integer fen exactly (no float round trip), and
``pyarrow.compute.strptime`` accepts impossible dates such as 2024-02-30 by rolling them over.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t

cnp.import_array()

cdef enum:
    ST_OK = 0
    ST_EMPTY = 1
    ST_BAD = 2
    ST_RANGE = 3

cdef int64_t[19] POW10
POW10[0] = 1
for _k in range(1, 19):
    POW10[_k] = POW10[_k - 1] * 10


cdef inline bint _digit(uint8_t c) noexcept nogil:
    return 48 <= c <= 57


cdef inline bint _space(uint8_t c) noexcept nogil:
    return c == 32 or (9 <= c <= 13)


cdef inline bint _trim(const uint8_t[::1] d, int64_t* a, int64_t* b) noexcept nogil:
    """Narrow [a, b) to the value without surrounding white space; False if nothing is left."""
    while a[0] < b[0] and _space(d[a[0]]):
        a[0] += 1
    while b[0] > a[0] and _space(d[b[0] - 1]):
        b[0] -= 1
    return a[0] < b[0]


cdef inline bint _sign(const uint8_t[::1] d, int64_t* a) noexcept nogil:
    """Consume an optional sign at a; True when it is a minus."""
    cdef uint8_t c = d[a[0]]
    if c == 45 or c == 43:
        a[0] += 1
        return c == 45
    return False


cdef int _fen(const uint8_t[::1] d, int64_t a, int64_t b, int64_t* out) noexcept nogil:
    """Parse a decimal number of yuan into fen, rounding half away from zero past 2 decimals."""
    if not _trim(d, &a, &b):
        return ST_EMPTY
    cdef bint neg = _sign(d, &a)
    cdef int64_t mant = 0
    cdef int ndig = 0, frac = 0, exp = 0, esign = 1, expdig = 0
    cdef bint seen_dot = False, any_digit = False
    cdef int dropped = 0, first_dropped = 0
    cdef uint8_t c
    while a < b:
        c = d[a]
        if _digit(c):
            any_digit = True
            if ndig < 18:
                if mant > 0 or c != 48:
                    ndig += 1
                mant = mant * 10 + (c - 48)
                if seen_dot:
                    frac += 1
            else:
                # more than 18 significant digits: beyond int64 before the point; after
                # it, digits below the kept ones (see the rounding note further down)
                if not seen_dot:
                    return ST_RANGE
                if dropped == 0:
                    first_dropped = c - 48
                dropped += 1
        elif c == 46 and not seen_dot:
            seen_dot = True
        elif (c == 101 or c == 69) and any_digit:
            a += 1
            if a < b and (d[a] == 45 or d[a] == 43):
                esign = -1 if d[a] == 45 else 1
                a += 1
            while a < b and _digit(d[a]):
                if exp < 100000:      # larger exponents all round to 0 or overflow
                    exp = exp * 10 + (d[a] - 48)
                expdig += 1
                a += 1
            if expdig == 0 or a != b:
                return ST_BAD
            break
        else:
            return ST_BAD
        a += 1
    if not any_digit:
        return ST_BAD
    if mant == 0 and dropped == 0:
        out[0] = 0
        return ST_OK
    cdef int scale = esign * exp - frac + 2
    # Rounding with dropped digits: when the fen lie above the kept digits (scale < 0) the
    # remainder r of the division is an integer and the true remainder is r + delta with
    # 0 <= delta < 1, so "r + delta >= half" equals "r >= half": truncating the dropped
    # digits is exact. At scale 0 the dropped digits are the fraction of a fen. Above
    # that, they would be whole fen we no longer have.
    if dropped > 0:
        if scale > 0:
            return ST_RANGE
        if scale == 0 and first_dropped >= 5:
            mant += 1
    cdef int64_t q, r
    if scale >= 0:
        if scale > 18 or (mant > 0 and mant > (<int64_t>9223372036854775807) // POW10[scale]):
            return ST_RANGE
        mant = mant * POW10[scale]
    else:
        if -scale > 18:
            mant = 0
        else:
            q = mant // POW10[-scale]
            r = mant - q * POW10[-scale]
            if 2 * r >= POW10[-scale]:
                q += 1
            mant = q
    out[0] = -mant if neg else mant
    return ST_OK


cdef int _int(const uint8_t[::1] d, int64_t a, int64_t b, int64_t* out) noexcept nogil:
    """Parse an integer; a fraction of zeros (``3.0``, as spreadsheets write) is accepted."""
    if not _trim(d, &a, &b):
        return ST_EMPTY
    cdef bint neg = _sign(d, &a)
    cdef int64_t v = 0
    cdef int nd = 0
    while a < b and _digit(d[a]):
        v = v * 10 + (d[a] - 48)
        nd += 1
        if nd > 15:
            return ST_RANGE
        a += 1
    if nd == 0:
        return ST_BAD
    if a < b:
        if d[a] != 46:
            return ST_BAD
        a += 1
        while a < b:
            if d[a] != 48:
                return ST_BAD
            a += 1
    out[0] = -v if neg else v
    return ST_OK


cdef inline bint _leap(int64_t y) noexcept nogil:
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


cdef int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    cdef int64_t era = (y if y >= 0 else y - 399) // 400
    cdef int64_t yoe = y - era * 400
    cdef int64_t mp = (m + 9) % 12
    cdef int64_t doy = (153 * mp + 2) // 5 + d - 1
    cdef int64_t doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef int _read_num(const uint8_t[::1] d, int64_t* a, int64_t b, int maxd, int64_t* out) noexcept nogil:
    cdef int nd = 0
    cdef int64_t v = 0
    while a[0] < b and _digit(d[a[0]]) and nd < maxd:
        v = v * 10 + (d[a[0]] - 48)
        a[0] += 1
        nd += 1
    out[0] = v
    return nd


cdef int _date(const uint8_t[::1] d, int64_t a, int64_t b, int64_t* out) noexcept nogil:
    """Parse ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD`` (1- or 2-digit month and day) or
    ``YYYYMMDD``, optionally followed by a time of day after a space or ``T``."""
    if not _trim(d, &a, &b):
        return ST_EMPTY
    cdef int64_t y, m, dd
    cdef int nd
    cdef uint8_t sep
    nd = _read_num(d, &a, b, 8, &y)
    if nd == 8:
        dd = y % 100
        m = (y // 100) % 100
        y = y // 10000
    elif nd == 4:
        if a >= b:
            return ST_BAD
        sep = d[a]
        if sep != 45 and sep != 47 and sep != 46:
            return ST_BAD
        a += 1
        if _read_num(d, &a, b, 2, &m) == 0 or a >= b or d[a] != sep:
            return ST_BAD
        a += 1
        if _read_num(d, &a, b, 2, &dd) == 0:
            return ST_BAD
    else:
        return ST_BAD
    if a < b:
        # a time of day may follow; it does not change the date
        if d[a] != 32 and d[a] != 84:
            return ST_BAD
        a += 1
        while a < b:
            if not (_digit(d[a]) or d[a] == 58 or d[a] == 46 or d[a] == 32):
                return ST_BAD
            a += 1
    if m < 1 or m > 12 or dd < 1:
        return ST_BAD
    cdef int mdays = 31
    if m == 4 or m == 6 or m == 9 or m == 11:
        mdays = 30
    elif m == 2:
        mdays = 29 if _leap(y) else 28
    if dd > mdays:
        return ST_BAD
    if y < 1900 or y > 2200:
        return ST_RANGE
    out[0] = _days_from_civil(y, m, dd)
    return ST_OK


cdef object _run(int which, const int32_t[::1] offsets, const uint8_t[::1] data,
                 const uint8_t[::1] valid):
    cdef Py_ssize_t n = valid.shape[0], i
    values_np = np.zeros(n, dtype=np.int64)
    status_np = np.empty(n, dtype=np.uint8)
    cdef int64_t[::1] values = values_np
    cdef uint8_t[::1] status = status_np
    with nogil:
        for i in range(n):
            if not valid[i]:
                status[i] = ST_EMPTY
            elif which == 0:
                status[i] = _fen(data, offsets[i], offsets[i + 1], &values[i])
            elif which == 1:
                status[i] = _int(data, offsets[i], offsets[i + 1], &values[i])
            else:
                status[i] = _date(data, offsets[i], offsets[i + 1], &values[i])
    return values_np, status_np


def parse_fen(const int32_t[::1] offsets, const uint8_t[::1] data, const uint8_t[::1] valid):
    """Yuan strings -> int64 fen. Returns ``(values int64[n], status uint8[n])``."""
    return _run(0, offsets, data, valid)


def parse_int(const int32_t[::1] offsets, const uint8_t[::1] data, const uint8_t[::1] valid):
    """Integer strings -> int64. Returns ``(values int64[n], status uint8[n])``."""
    return _run(1, offsets, data, valid)


def parse_date(const int32_t[::1] offsets, const uint8_t[::1] data, const uint8_t[::1] valid):
    """Date strings -> int64 days since 1970-01-01. Returns ``(values, status)``."""
    return _run(2, offsets, data, valid)


cdef class CsvRecordScanner:
    """Counts the fields of every CSV record, streaming, with Arrow's quoting rules.

    Arrow's CSV reader can skip a record with the wrong number of fields but does not say
    where it was; this scanner finds the data-row ordinals (1-based, header and empty lines
    excluded) of such records, so every row of a file keeps its row number in the
    quarantine. GBK and UTF-8 never use the bytes of ``,``, ``"``, CR or LF inside a
    multi-byte character, so the raw bytes can be scanned before any transcoding.
    """
    cdef uint8_t delim, quote
    cdef int state          # 0 field start, 1 unquoted, 2 quoted, 3 quote seen in quoted
    cdef int64_t fields     # fields of the current record so far (delimiters + 1)
    cdef bint record_open   # the current record has at least one byte
    cdef bint after_cr
    cdef bint truncated
    cdef public int64_t expected
    cdef public int64_t records   # data records seen (header excluded)
    cdef list _bad

    def __cinit__(self, delimiter=b",", quote=b'"'):
        self.delim = delimiter[0]
        self.quote = quote[0]
        self.state = 0
        self.fields = 1
        self.record_open = False
        self.after_cr = False
        self.truncated = False
        self.expected = -1
        self.records = 0
        self._bad = []

    cdef void _end_record(self):
        if self.record_open:
            if self.expected < 0:
                self.expected = self.fields
            else:
                self.records += 1
                if self.fields != self.expected:
                    self._bad.append(self.records)
        self.state = 0
        self.fields = 1
        self.record_open = False

    def feed(self, const uint8_t[::1] chunk):
        cdef Py_ssize_t i, n = chunk.shape[0]
        cdef uint8_t c
        for i in range(n):
            c = chunk[i]
            if self.after_cr:
                self.after_cr = False
                if c == 10:
                    continue
            if self.state == 2:
                if c == self.quote:
                    self.state = 3
                continue
            if self.state == 3:
                if c == self.quote:     # doubled quote: a literal quote, still quoted
                    self.state = 2
                    continue
                self.state = 1
            if c == 10 or c == 13:
                self._end_record()
                self.after_cr = c == 13
                continue
            self.record_open = True
            if c == self.delim:
                self.fields += 1
                self.state = 0
            elif c == self.quote and self.state == 0:
                self.state = 2
            else:
                self.state = 1

    def bad_so_far(self):
        """Sorted ordinals of the malformed records scanned so far."""
        return np.asarray(self._bad, dtype=np.int64)

    def finish(self):
        """End of input: closes the last record. Returns the sorted bad ordinals."""
        self.truncated = self.state == 2
        self._end_record()
        return np.asarray(self._bad, dtype=np.int64)

    @property
    def unterminated_quote(self):
        """True when the input ended inside a quoted field (a truncated file); set by
        ``finish``."""
        return self.truncated
