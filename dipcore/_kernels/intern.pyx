# cython: language_level=3
"""Hash tables over byte strings and integer sequences: the codebook and the duplicate check.

The one trick: a string of at most 15 bytes is its own key. Its bytes and its length are
packed into two 64-bit words, so a probe compares two integers and never touches a side
store. Case ids, ICD codes, hospital ids and pool labels all fit. A longer string keys on
a 64-bit hash, and a hash match is confirmed against the stored bytes, so every table here
is exact: two different strings never share an entry.

Tables use open addressing with linear probing, at most half full. A slot whose second word
is 0 is empty (a packed key always has its length + 1, or the long tag, in the top byte).

* ``StringIndex``: distinct strings -> dense ids 0, 1, 2, ... in order of first sight (the
  codebook's vocabularies). Picklable: it is rebuilt from its strings.
* ``StringSet``: membership only (repeated case ids). Keys of a batch are computed first and
  the slot of the string a few rows ahead is prefetched, because a set of millions of ids
  does not fit in cache and each probe would otherwise wait on memory.

Fixed-width values are strings too: a procedure combination is the bytes of its int32 ids,
a grouping key the 8 bytes of an int64 (``dipcore.ingest.codebook.intern_rows``).
"""
import mmap

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

cnp.import_array()

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define DIP_PREFETCH(p) __builtin_prefetch((const void*)(p))
    #else
    #define DIP_PREFETCH(p) ((void)0)
    #endif
    /* a hash onto [0, n) by the high half of hash x n: any table size, not only powers
       of two, and no division */
    #if defined(__SIZEOF_INT128__)
    #define DIP_REDUCE(h, n) ((int64_t)(((unsigned __int128)(h) * (uint64_t)(n)) >> 64))
    #else
    #define DIP_REDUCE(h, n) ((int64_t)((h) % (uint64_t)(n)))
    #endif
    """
    void DIP_PREFETCH(const void* p) noexcept nogil
    int64_t DIP_REDUCE(uint64_t h, int64_t n) noexcept nogil

DEF SHORT_MAX = 15
DEF NEW = -16
DEF LONG_TAG = 0xFF
DEF PREFETCH_AHEAD = 16
# StringSet's largest load, SET_LOAD_NUM / SET_LOAD_DEN
DEF SET_LOAD_NUM = 7
DEF SET_LOAD_DEN = 10


cdef inline uint64_t _fmix(uint64_t h) noexcept nogil:
    """MurmurHash3's 64-bit finaliser: every input bit affects every output bit."""
    h ^= h >> 33
    h *= 0xff51afd7ed558ccdULL
    h ^= h >> 33
    h *= 0xc4ceb9fe1a85ec53ULL
    h ^= h >> 33
    return h


cdef inline uint64_t _hash_long(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """FNV-1a over the bytes, then the finaliser (long strings only)."""
    cdef uint64_t h = 14695981039346656037ULL
    cdef Py_ssize_t i
    for i in range(n):
        h ^= p[i]
        h *= 1099511628211ULL
    return _fmix(h ^ <uint64_t>n)


cdef inline void _key(const uint8_t* p, Py_ssize_t n, uint64_t* k0, uint64_t* k1) noexcept nogil:
    """Short strings: their bytes (little-endian words), length + 1 in the top byte.
    Long strings: their hash and the long tag."""
    cdef uint64_t a = 0, b = 0
    cdef Py_ssize_t i
    if n <= SHORT_MAX:
        for i in range(n if n < 8 else 8):
            a |= (<uint64_t>p[i]) << (8 * i)
        for i in range(8, n):
            b |= (<uint64_t>p[i]) << (8 * (i - 8))
        b |= (<uint64_t>(n + 1)) << 56
    else:
        a = _hash_long(p, n)
        b = (<uint64_t>LONG_TAG) << 56
    k0[0] = a
    k1[0] = b


cdef inline uint64_t _slot_hash(uint64_t k0, uint64_t k1) noexcept nogil:
    return _fmix(k0 ^ _fmix(k1 + 0x9E3779B97F4A7C15ULL))


cdef inline bint _is_long(uint64_t k1) noexcept nogil:
    return (k1 >> 56) == LONG_TAG


cdef inline uint64_t _probe_k1(uint64_t k1) noexcept nogil:
    """The key word a stored slot was placed by (a long entry keeps its index in k1)."""
    return ((<uint64_t>LONG_TAG) << 56) if _is_long(k1) else k1


def hash_strings(const int32_t[::1] offsets, const uint8_t[::1] data):
    """64-bit hash of every string (never 0); the same hash the tables place strings by."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, i
    out_np = np.empty(max(n, 0), dtype=np.uint64)
    cdef uint64_t[::1] out = out_np
    cdef const uint8_t* base = &data[0] if data.shape[0] > 0 else NULL
    cdef uint64_t k0, k1
    with nogil:
        for i in range(n):
            _key(base + offsets[i], offsets[i + 1] - offsets[i], &k0, &k1)
            out[i] = _slot_hash(k0, k1) | 1
    return out_np


def text_shape(const int32_t[::1] offsets,   # IN  n + 1 Arrow offsets
               const uint8_t[::1] data,      # IN  Arrow value bytes
               const uint8_t[::1] valid):    # IN  1 where the value is not null
    """Whether a text column needs trimming, and which of its values are blank.

    Returns ``(needs_trim, blank uint8[n])``: ``needs_trim`` when some value starts or ends
    with ASCII white space or with a non-ASCII byte (possibly Unicode white space, which
    only Arrow's trim knows); ``blank`` where the value is null or empty.
    """
    cdef Py_ssize_t n = valid.shape[0], i
    cdef int64_t a, b
    cdef uint8_t c0, c1
    cdef bint trim = False
    blank_np = np.zeros(n, dtype=np.uint8)
    cdef uint8_t[::1] blank = blank_np
    with nogil:
        for i in range(n):
            a = offsets[i]
            b = offsets[i + 1]
            if not valid[i] or b == a:
                blank[i] = 1
                continue
            c0 = data[a]
            c1 = data[b - 1]
            if (c0 == 32 or (9 <= c0 <= 13) or c0 >= 0x80
                    or c1 == 32 or (9 <= c1 <= 13) or c1 >= 0x80):
                trim = True
    return trim, blank_np


# -------------------------------------------------------------------------------------------
cdef class StringIndex:
    """Distinct byte strings -> dense int32 ids in order of first sight.

    Fed by Arrow string buffers; ``intern`` adds unseen strings, ``lookup`` only reads.
    The table grows when an insertion needs room, never ahead of need, so a vocabulary of a
    few thousand codes stays a few pages however large the batches that feed it.
    """
    cdef object _k0_np, _k1_np, _id_np, _store_np, _starts_np
    cdef uint64_t* k0s
    cdef uint64_t* k1s
    cdef int32_t* ids
    cdef uint8_t* store
    cdef int64_t* starts
    cdef int64_t mask, used, store_cap, starts_cap
    cdef public int32_t n

    def __cinit__(self, int64_t capacity=256):
        cdef int64_t size = 64
        while size < 2 * capacity:
            size <<= 1
        self._alloc(size)
        self._store_np = np.empty(1024, dtype=np.uint8)
        self._starts_np = np.zeros(257, dtype=np.int64)
        self._bind_store()
        self.n = 0
        self.used = 0

    cdef void _alloc(self, int64_t size):
        self._k0_np = np.zeros(size, dtype=np.uint64)
        self._k1_np = np.zeros(size, dtype=np.uint64)
        self._id_np = np.zeros(size, dtype=np.int32)
        self.k0s = <uint64_t*>cnp.PyArray_DATA(self._k0_np)
        self.k1s = <uint64_t*>cnp.PyArray_DATA(self._k1_np)
        self.ids = <int32_t*>cnp.PyArray_DATA(self._id_np)
        self.mask = size - 1

    cdef void _bind_store(self):
        self.store = <uint8_t*>cnp.PyArray_DATA(self._store_np)
        self.store_cap = self._store_np.shape[0]
        self.starts = <int64_t*>cnp.PyArray_DATA(self._starts_np)
        self.starts_cap = self._starts_np.shape[0]

    def __len__(self):
        return self.n

    def __reduce__(self):
        offsets, data = self.strings()
        return (_string_index_from, (offsets, data))

    cdef void _grow(self):
        o0 = self._k0_np
        o1 = self._k1_np
        oid = self._id_np
        cdef uint64_t* p0 = <uint64_t*>cnp.PyArray_DATA(o0)
        cdef uint64_t* p1 = <uint64_t*>cnp.PyArray_DATA(o1)
        cdef int32_t* pid = <int32_t*>cnp.PyArray_DATA(oid)
        cdef int64_t old = self.mask + 1, i, j
        self._alloc(old * 2)
        for i in range(old):
            if p1[i] != 0:
                j = <int64_t>(_slot_hash(p0[i], _probe_k1(p1[i])) & <uint64_t>self.mask)
                while self.k1s[j] != 0:
                    j = (j + 1) & self.mask
                self.k0s[j] = p0[i]
                self.k1s[j] = p1[i]
                self.ids[j] = pid[i]

    cdef void _make_room(self, int64_t nbytes):
        """Room for one more entry of ``nbytes`` bytes."""
        if 2 * (self.n + 1) > self.mask + 1:
            self._grow()
        if self.used + nbytes > self.store_cap:
            self._store_np = np.resize(self._store_np, max(self.used + nbytes, 2 * self.store_cap))
        if self.n + 2 > self.starts_cap:
            self._starts_np = np.resize(self._starts_np, 2 * self.starts_cap)
        self._bind_store()

    cdef inline int64_t _find(self, const uint8_t* p, int64_t ln, uint64_t a, uint64_t b,
                              int64_t* slot) noexcept nogil:
        """Entry id of the string, or -1 with ``slot`` set to the empty slot it would take."""
        cdef int64_t j = <int64_t>(_slot_hash(a, b) & <uint64_t>self.mask), e
        while self.k1s[j] != 0:
            if self.k0s[j] == a:
                if ln <= SHORT_MAX:
                    if self.k1s[j] == b:
                        return self.ids[j]
                elif _is_long(self.k1s[j]):
                    e = self.ids[j]
                    if (self.starts[e + 1] - self.starts[e] == ln
                            and memcmp(self.store + self.starts[e], p, ln) == 0):
                        return e
            j = (j + 1) & self.mask
        slot[0] = j
        return -1

    cdef Py_ssize_t _run(self, const int32_t* offsets, const uint8_t* base, const uint8_t* valid,
                         int32_t* out, Py_ssize_t i, Py_ssize_t m, bint add, bint use_lut,
                         const int32_t* lut, int64_t lut_len) noexcept nogil:
        """Process values from ``i`` on; stop (returning the index) where an insertion needs
        room the table does not have. With ``use_lut``, write ``lut[id]`` for ids below
        ``lut_len`` and ``NEW - id`` for the others."""
        cdef uint64_t a, b
        cdef int64_t s, ln, e, slot = 0
        while i < m:
            if not valid[i]:
                out[i] = -1
                i += 1
                continue
            s = offsets[i]
            ln = offsets[i + 1] - s
            _key(base + s, ln, &a, &b)
            e = self._find(base + s, ln, a, b, &slot)
            if e < 0:
                if not add:
                    out[i] = -2
                    i += 1
                    continue
                if (2 * (self.n + 1) > self.mask + 1 or self.used + ln > self.store_cap
                        or self.n + 2 > self.starts_cap):
                    return i
                e = self.n
                self.k0s[slot] = a
                self.k1s[slot] = (b | <uint64_t>e) if ln > SHORT_MAX else b
                self.ids[slot] = <int32_t>e
                if ln > 0:
                    memcpy(self.store + self.used, base + s, ln)
                self.used += ln
                self.n += 1
                self.starts[self.n] = self.used
            if not use_lut:
                out[i] = <int32_t>e
            elif e < lut_len:
                out[i] = lut[e]
            else:
                out[i] = <int32_t>(NEW - e)
            i += 1
        return i

    cdef _apply(self, const int32_t[::1] offsets, const uint8_t[::1] data,
                const uint8_t[::1] valid, int32_t[::1] out, bint add,
                bint use_lut=False, const int32_t* lut=NULL, int64_t lut_len=0):
        cdef Py_ssize_t m = valid.shape[0], i = 0
        if m == 0:
            return
        cdef const uint8_t* base = &data[0] if data.shape[0] > 0 else NULL
        while True:
            with nogil:
                i = self._run(&offsets[0], base, &valid[0], &out[0], i, m, add, use_lut, lut,
                              lut_len)
            if i >= m:
                return
            self._make_room(offsets[i + 1] - offsets[i])

    def encode(self, const int32_t[::1] offsets,   # IN  n + 1 Arrow offsets
               const uint8_t[::1] data,            # IN  Arrow value bytes
               const uint8_t[::1] valid,           # IN  1 where not null
               const int32_t[::1] lut,             # IN  value of each entry seen so far
               int32_t[::1] out):                  # OUT value per string, -1 for null
        """``lut[id]`` of the strings in one pass, adding unseen ones, whose value is not
        known yet: they get ``NEW - id`` (``NEW`` is -16, below any value). Returns the
        count of entries before."""
        cdef int32_t before = self.n
        self._apply(offsets, data, valid, out, True, True,
                    &lut[0] if lut.shape[0] else NULL, lut.shape[0])
        return before

    def intern(self, const int32_t[::1] offsets,   # IN  n + 1 Arrow offsets
               const uint8_t[::1] data,            # IN  Arrow value bytes
               const uint8_t[::1] valid,           # IN  1 where not null
               int32_t[::1] out):                  # OUT id per value, -1 for null
        """Ids of the strings, adding unseen ones. Returns the count of entries before."""
        cdef int32_t before = self.n
        self._apply(offsets, data, valid, out, True)
        return before

    def lookup(self, const int32_t[::1] offsets, const uint8_t[::1] data,
               const uint8_t[::1] valid, int32_t[::1] out):
        """Ids of the strings without adding any: -1 for null, -2 for unseen."""
        self._apply(offsets, data, valid, out, False)

    def strings(self, int32_t start=0):
        """Entries ``start..n-1`` as Arrow string buffers ``(offsets int32, data uint8)``."""
        starts = self._starts_np[start:self.n + 1]
        first = int(starts[0])
        offsets = (starts - first).astype(np.int32)
        data = self._store_np[first:int(starts[-1])].copy()
        return offsets, data


def _string_index_from(offsets, data):
    """Rebuild a pickled ``StringIndex`` (same strings, same ids)."""
    n = len(offsets) - 1
    t = StringIndex(max(n, 1))
    if n > 0:
        out = np.empty(n, dtype=np.int32)
        t.intern(np.ascontiguousarray(offsets, dtype=np.int32),
                 np.ascontiguousarray(data, dtype=np.uint8) if len(data) else np.zeros(1, np.uint8),
                 np.ones(n, dtype=np.uint8), out)
    return t


# -------------------------------------------------------------------------------------------

#: Tables at least this large are asked for huge pages (``_zeroed_table``).
HUGE_TABLE_BYTES = 32 << 20


def _zeroed_table(Py_ssize_t rows, Py_ssize_t cols=2):
    """A zeroed uint64[rows, cols] table; a large one on huge pages where the OS offers them.

    A probe of a hash table lands on a random row: on 4 KiB pages every probe of a table of
    hundreds of megabytes misses the TLB and, the first time, faults a page in. On Linux an
    anonymous mapping advised ``MADV_HUGEPAGE`` is backed by 2 MiB pages when the system
    allows it (``transparent_hugepage`` ``always`` or ``madvise``); elsewhere, or when
    refused, the mapping works with small pages as before.
    """
    cdef Py_ssize_t nbytes = rows * cols * 8
    if nbytes < HUGE_TABLE_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.zeros((rows, cols), dtype=np.uint64)
    # private and anonymous: zero-filled, page-aligned (a shared mapping is shmem, whose huge
    # pages follow another switch, usually off)
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        region.madvise(mmap.MADV_HUGEPAGE)
    except OSError:
        pass
    return np.frombuffer(region, dtype=np.uint64).reshape(rows, cols)


cdef class StringSet:
    """An exact set of byte strings, fed batch after batch (repeated case ids).

    Short strings live in the table itself, their two key words side by side so a probe
    reads one cache line; long ones are kept in a side store and compared byte for byte on
    a hash match, so a collision never reports a false duplicate. ``capacity`` pre-sizes
    the table when the number of strings is known, which spares the rehashing of growth.

    The table is filled to at most 7/10 (``SET_LOAD``) and may have any size (a hash is
    mapped onto it by multiplication): the set of a year's case ids is the largest table
    of a run, and a power-of-two size at most half full would take up to twice the memory
    (2 GiB for 60M ids instead of 1.3).
    """
    cdef object _slots_np, _store_np, _starts_np
    cdef int64_t n_slots, n_items, n_long, used

    def __cinit__(self, int64_t capacity=1 << 16):
        self.n_slots = max(1024, capacity * SET_LOAD_DEN // SET_LOAD_NUM + 1)
        self._slots_np = _zeroed_table(self.n_slots)
        self._store_np = np.empty(1024, dtype=np.uint8)
        self._starts_np = np.zeros(64, dtype=np.int64)
        self.n_items = 0
        self.n_long = 0
        self.used = 0

    def __len__(self):
        return self.n_items

    @property
    def nbytes(self):
        """Bytes held by the table and the store of long strings."""
        return self._slots_np.nbytes + self._store_np.nbytes + self._starts_np.nbytes

    def fits(self, int64_t items):
        """Whether ``items`` strings fit without the table growing."""
        return items * SET_LOAD_DEN <= self.n_slots * SET_LOAD_NUM

    def clear(self):
        """Empty the set, keeping its memory (cheaper than fresh pages for a large table)."""
        cdef uint64_t[:, ::1] slots = self._slots_np
        with nogil:
            memset(&slots[0, 0], 0, slots.shape[0] * 2 * sizeof(uint64_t))
        self.n_items = 0
        self.n_long = 0
        self.used = 0

    cdef void _grow(self):
        cdef uint64_t[:, ::1] old = self._slots_np
        cdef int64_t size = self.n_slots * 2, i, j
        self._slots_np = _zeroed_table(size)
        self.n_slots = size
        cdef uint64_t[:, ::1] new = self._slots_np
        with nogil:
            for i in range(old.shape[0]):
                if old[i, 1] != 0:
                    j = DIP_REDUCE(_slot_hash(old[i, 0], _probe_k1(old[i, 1])), size)
                    while new[j, 1] != 0:
                        j += 1
                        if j == size:
                            j = 0
                    new[j, 0] = old[i, 0]
                    new[j, 1] = old[i, 1]

    def add(self, const int32_t[::1] offsets,   # IN  n + 1 Arrow offsets
            const uint8_t[::1] data,            # IN  Arrow value bytes
            const uint8_t[::1] valid,           # IN  1 where not null (nulls are skipped)
            uint64_t[::1] hashes=None):         # OUT optional: ``hash_strings`` of each string
        """Adds the strings; returns uint8[n], 1 where the string was already in the set."""
        cdef Py_ssize_t m = valid.shape[0], i
        seen_np = np.zeros(m, dtype=np.uint8)
        if m == 0:
            return seen_np
        cdef bint want_hash = hashes is not None
        cdef uint64_t h
        cdef uint8_t[::1] seen = seen_np
        while (self.n_items + m) * SET_LOAD_DEN > self.n_slots * SET_LOAD_NUM:
            self._grow()
        cdef int64_t long_bytes = 0, long_count = 0
        keys_np = np.empty((m, 2), dtype=np.uint64)
        pos_np = np.empty(m, dtype=np.int64)
        cdef uint64_t[:, ::1] keys = keys_np
        cdef int64_t[::1] pos = pos_np
        cdef const uint8_t* base = &data[0] if data.shape[0] > 0 else NULL
        cdef int64_t s, ln
        with nogil:
            for i in range(m):
                if not valid[i]:
                    pos[i] = -1
                    continue
                s = offsets[i]
                ln = offsets[i + 1] - s
                _key(base + s, ln, &keys[i, 0], &keys[i, 1])
                h = _slot_hash(keys[i, 0], keys[i, 1])
                pos[i] = DIP_REDUCE(h, self.n_slots)
                if want_hash:
                    hashes[i] = h | 1
                if ln > SHORT_MAX:
                    long_bytes += ln
                    long_count += 1
        if long_count:
            if self.used + long_bytes > self._store_np.shape[0]:
                self._store_np = np.resize(self._store_np, max(self.used + long_bytes,
                                                               2 * self._store_np.shape[0]))
            if self.n_long + long_count + 1 > self._starts_np.shape[0]:
                self._starts_np = np.resize(self._starts_np, max(self.n_long + long_count + 1,
                                                                 2 * self._starts_np.shape[0]))
        cdef uint64_t[:, ::1] slots = self._slots_np
        cdef uint8_t[::1] store = self._store_np
        cdef int64_t[::1] starts = self._starts_np
        cdef uint8_t* sbase = &store[0]
        cdef uint64_t a, b
        cdef int64_t j, e
        with nogil:
            for i in range(m):
                if i + PREFETCH_AHEAD < m and pos[i + PREFETCH_AHEAD] >= 0:
                    DIP_PREFETCH(&slots[pos[i + PREFETCH_AHEAD], 0])
                j = pos[i]
                if j < 0:
                    continue
                a = keys[i, 0]
                b = keys[i, 1]
                s = offsets[i]
                ln = offsets[i + 1] - s
                while True:
                    if slots[j, 1] == 0:
                        slots[j, 0] = a
                        if ln > SHORT_MAX:
                            e = self.n_long
                            memcpy(sbase + self.used, base + s, ln)
                            self.used += ln
                            self.n_long += 1
                            starts[self.n_long] = self.used
                            slots[j, 1] = b | <uint64_t>e
                        else:
                            slots[j, 1] = b
                        self.n_items += 1
                        break
                    if slots[j, 0] == a:
                        if ln <= SHORT_MAX:
                            if slots[j, 1] == b:
                                seen[i] = 1
                                break
                        elif _is_long(slots[j, 1]):
                            e = <int64_t>(slots[j, 1] & 0x00FFFFFFFFFFFFFFULL)
                            if (starts[e + 1] - starts[e] == ln
                                    and memcmp(sbase + starts[e], base + s, ln) == 0):
                                seen[i] = 1
                                break
                    j += 1
                    if j == self.n_slots:
                        j = 0
        return seen_np
