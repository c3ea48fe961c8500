"""The codebook: every distinct code or label string becomes an integer once.

A run sees millions of rows but only thousands of distinct diagnosis and procedure codes,
hundreds of hospitals and a handful of labels. The codebook interns each *raw* string the
first time it appears (``dipcore._kernels.intern.StringIndex``), normalises and validates
it then, and from there on rows carry int32 ids: validation, grouping and aggregation never
look at a string again. Dictionary-encoded columns (Parquet read with ``read_dictionary``)
are cheaper still: only their dictionary is interned.

Ids depend on the order strings were first seen, so they never leave the process that made
them: partial states that cross partitions or threads are keyed by strings or by catalogue
rows. Every result is therefore the same whatever the batches, threads or workers.

Threads. A codebook is lent to one thread at a time for reading batches (``borrow`` /
``give_back``: a pass's threads each hold their own, so interning is never contended), and
kept for the process, so the work per distinct code is done once, not once per run. Other
threads may still read it through features made earlier (scoring passes). Every part of a
codebook therefore takes the codebook's lock around anything that changes or reads its
growing state; derived arrays are replaced when they grow, never changed in place, so an
array handed out stays valid without the lock.

Values of a vocabulary (``encode``): a canonical id (>= 0), ``EMPTY`` (null or blank) or
``BAD`` (malformed code, unknown label).
"""
from __future__ import annotations

import abc
import functools
import threading
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dipcore._kernels import strings as K
from dipcore._kernels.group import canonical_combinations, combination_hashes, order_related
from dipcore._kernels.intern import StringIndex
from dipcore.coding.facts import charlson_conditions, packed_categories, procedure_facts
from dipcore.errors import InputError
from dipcore.schema import BED_DAY_ALIASES, BED_DAY_CATEGORIES, POOL_ALIASES, POOLS, label_array

EMPTY, BAD = -1, -2
_NEW = -16             # StringIndex.encode marks strings it has just added: NEW - id
#: Catalogue lookups a codebook keeps built (``dipcore.schemes.dip.grouping.CatalogMap``).
MAPS_KEPT = 8


def as_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as a plain ``string`` (or ``dictionary<string>``) array."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        if pa.types.is_string(t.value_type):
            return arr
        arr, t = arr.dictionary_decode(), t.value_type
    if pa.types.is_string(t):
        return arr
    try:
        return arr.cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise InputError(f"values are not valid UTF-8 text ({exc})") from None


def _string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets),
                                       pa.py_buffer(data if len(data) else np.zeros(1, np.uint8)))


def intern_rows(index: StringIndex, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Ids of the rows of a CSR of fixed-width values (``offsets`` in values), each row's
    bytes as one string: combinations of procedure ids, packed keys."""
    n = len(offsets) - 1
    out = np.empty(n, np.int32)
    if n:
        width = values.dtype.itemsize
        data = np.ascontiguousarray(values).view(np.uint8) if len(values) else np.zeros(1, np.uint8)
        index.intern((offsets * width).astype(np.int32), data, K.ones(n), out)
    return out


def index_rows(index: StringIndex, dtype, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Entries ``start..`` of an index of ``intern_rows`` as (offsets in values, values)."""
    off, data = index.strings(start)
    width = np.dtype(dtype).itemsize
    return (off // width).astype(np.int32), data.view(dtype) if len(data) else np.zeros(0, dtype)


def _locked(method):
    """Run a method under its object's (codebook's) lock."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)
    return run


class _Part:
    """A part of a codebook: shares the codebook's lock, which is not pickled."""

    lock: threading.RLock

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "lock" and not k.startswith("_c_")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.RLock()      # the codebook puts its own back (Codebook.__setstate__)


# ---------------------------------------------------------------------------------------------
# vocabularies: raw strings -> values
# ---------------------------------------------------------------------------------------------
class Vocabulary(_Part, abc.ABC):
    """Raw strings -> values, each raw string normalised once (``_normalize``, given the
    raw strings seen for the first time); nulls encode as ``null_value`` (``EMPTY``)."""

    _c_dict = None

    def __init__(self, lock: threading.RLock, null_value: int = EMPTY):
        self.lock = lock
        self._raw = StringIndex()
        # value of each raw entry, then the null value: index -1 (a null) reads the last
        self._lut = np.array([null_value], np.int32)
        self._c_dict = None           # the last dictionary interned (not pickled)

    @abc.abstractmethod
    def _normalize(self, raw: pa.Array) -> np.ndarray:
        """int32 value of each of these raw strings (seen for the first time)."""

    def encode(self, arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """int32 value per element of a text column (or of a dictionary's indices)."""
        arr = as_text(arr)
        if pa.types.is_dictionary(arr.type):
            return self._encode_dictionary(arr)
        n = len(arr)
        if n == 0:
            return np.zeros(0, np.int32)
        off, data, valid = K.string_buffers(arr)
        out = np.empty(n, np.int32)
        with self.lock:
            # one pass: the value of every string seen before; new strings marked
            before = self._raw.encode(off, data, valid, self._lut[:-1], out)
            if len(self._raw) > before:
                roff, rdata = self._raw.strings(before)
                new = self._normalize(_string_array(roff, rdata)).astype(np.int32)
                self._lut = np.concatenate([self._lut[:-1], new, self._lut[-1:]]).astype(np.int32)
                marked = out <= _NEW
                out[marked] = self._lut[_NEW - out[marked]]
            if arr.null_count and self._lut[-1] != EMPTY:     # the interner writes -1
                out[~arr.is_valid().to_numpy(zero_copy_only=False)] = self._lut[-1]
        return out

    def encode_raw(self, arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """``(values, raw ids)`` per element: the values of :meth:`encode` and the id of
        each element's raw string (-1 for null; :meth:`raw_strings`), for a scheme that
        reads codes as recorded (CHS-DRG keeps the ``+...*`` part a DIP code drops)."""
        arr = as_text(arr)
        if pa.types.is_dictionary(arr.type):
            values, raw = self.encode_raw(arr.dictionary)
            idx = arr.indices.fill_null(-1).to_numpy() if arr.indices.null_count \
                else arr.indices.to_numpy()
            return (np.append(values, self._lut[-1])[idx],
                    np.append(raw, np.int32(-1))[idx].astype(np.int32, copy=False))
        n = len(arr)
        raw = np.empty(n, np.int32)
        if n == 0:
            return raw, raw
        off, data, valid = K.string_buffers(arr)
        with self.lock:
            before = self._raw.intern(off, data, valid, raw)
            if len(self._raw) > before:
                roff, rdata = self._raw.strings(before)
                new = self._normalize(_string_array(roff, rdata)).astype(np.int32)
                self._lut = np.concatenate([self._lut[:-1], new, self._lut[-1:]]).astype(np.int32)
            return self._lut[raw], raw          # raw -1 (null) reads the null value

    @_locked
    def raw_strings(self, start: int = 0) -> pa.Array:
        """The raw strings seen, from id ``start`` on (as recorded, untrimmed)."""
        return _string_array(*self._raw.strings(start))

    def _encode_dictionary(self, arr: pa.DictionaryArray) -> np.ndarray:
        d = arr.dictionary
        where = (d.offset, len(d), *(b.address if b is not None else 0 for b in d.buffers()))
        cached = self._c_dict
        # batches of one Parquet column chunk share their dictionary: encode it once. The
        # cached dictionary is held, so memory at the same address is the same dictionary.
        if cached is not None and cached[1] == where:
            values = cached[2]
        else:
            values = self.encode(d)
            self._c_dict = (d, where, values)
        idx = arr.indices
        if idx.null_count:
            return np.append(values, self._lut[-1])[idx.fill_null(-1).to_numpy()]
        return values[idx.to_numpy()]

    @_locked
    def __len__(self) -> int:
        return len(self._raw)


class Canon(_Part):
    """A growing list of canonical strings with an id each, and their string array."""

    _c_strings = None

    def __init__(self, lock: threading.RLock):
        self.lock = lock
        self.index = StringIndex()
        self._c_strings: pa.Array | None = None

    @_locked
    def intern(self, arr: pa.Array) -> np.ndarray:
        out = np.empty(len(arr), np.int32)
        if len(arr):
            self.index.intern(*K.string_buffers(arr), out)
        return out

    @_locked
    def __len__(self) -> int:
        return len(self.index)

    @_locked
    def strings(self) -> pa.Array:
        if self._c_strings is None or len(self._c_strings) != len(self.index):
            self._c_strings = _string_array(*self.index.strings())
        return self._c_strings

    def take(self, ids: np.ndarray) -> pa.Array:
        """Canonical strings of ids; negative ids give null."""
        ids = np.asarray(ids)
        if len(ids) and ids.min() < 0:
            return self.strings().take(pa.array(ids, mask=ids < 0))
        return self.strings().take(pa.array(ids))

    def labels(self, ids: np.ndarray) -> pa.DictionaryArray:
        """``take`` as a dictionary array over the strings interned so far
        (``dipcore.schema.label_array``)."""
        return label_array(self.strings(), ids)


class CodeVocabulary(Vocabulary):
    """ICD codes: raw -> canonical code id (``canon``), ``EMPTY`` or ``BAD`` (SPEC 2)."""

    def __init__(self, kind: int, lock: threading.RLock):
        super().__init__(lock)
        self.kind = kind
        self.canon = Canon(lock)

    def _normalize(self, raw: pa.Array) -> np.ndarray:
        codes, status = K.normalize_codes(raw, self.kind)
        out = np.where(status == K.BAD, BAD, EMPTY).astype(np.int32)
        ok = status == K.OK
        if ok.any():
            out[ok] = self.canon.intern(codes.filter(pa.array(ok)))
        return out


def _trimmed(raw: pa.Array) -> pa.Array:
    """Trimmed text, blanks as null (the rule for every free-text field)."""
    arr = pc.utf8_trim_whitespace(raw)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


class TextVocabulary(Vocabulary):
    """Free text (hospital ids): raw -> id of the trimmed text, ``EMPTY`` when blank."""

    def __init__(self, lock: threading.RLock):
        super().__init__(lock)
        self.canon = Canon(lock)

    def _normalize(self, raw: pa.Array) -> np.ndarray:
        text = _trimmed(raw)
        out = np.full(len(raw), EMPTY, np.int32)
        valid = text.is_valid().to_numpy(zero_copy_only=False)
        if valid.any():
            out[valid] = self.canon.intern(text.filter(pa.array(valid)))
        return out


class LabelVocabulary(Vocabulary):
    """A closed set of labels with aliases (pools, bed-day categories): raw -> index of the
    label in ``names``, ``EMPTY`` when blank, ``BAD`` when not a known alias."""

    def __init__(self, aliases: dict[str, str], names: tuple[str, ...], lock: threading.RLock):
        super().__init__(lock)
        self.aliases, self.names = aliases, names

    def _normalize(self, raw: pa.Array) -> np.ndarray:
        lower = {k.lower(): self.names.index(v) for k, v in self.aliases.items()}
        return np.array([EMPTY if v is None else lower.get(v.lower(), BAD)
                         for v in _trimmed(raw).to_pylist()], np.int32)

    @functools.cached_property
    def _c_names(self) -> pa.Array:      # a cache (``_c_``: not pickled)
        return pa.array(list(self.names), pa.string())

    def take(self, values: np.ndarray) -> pa.Array:
        """Label strings of values (null where negative)."""
        values = np.asarray(values)
        return self._c_names.take(pa.array(values, mask=values < 0))

    def labels(self, values: np.ndarray) -> pa.DictionaryArray:
        """``take`` as a dictionary array over ``names`` (``dipcore.schema.label_array``)."""
        return label_array(self._c_names, values)


class _Grown(_Part):
    """Per-id facts derived from a growing list of ids (``derive(start)`` gives those of
    ids ``start..``), extended when it grew. Arrays are replaced, never changed."""

    def __init__(self, derive: Callable[[int], dict[str, np.ndarray]], size: Callable[[], int],
                 lock: threading.RLock):
        self.lock = lock
        self._derive, self._size = derive, size
        self.n = 0
        self.arrays: dict[str, np.ndarray] = {}

    def __getstate__(self):
        raise TypeError("derived facts are rebuilt, not pickled")

    @_locked
    def get(self) -> dict[str, np.ndarray]:
        n = self._size()
        if n > self.n or not self.arrays:
            new = self._derive(self.n)
            self.arrays = {k: np.concatenate([self.arrays[k], v]) if k in self.arrays else v
                           for k, v in new.items()}
            self.n = n
        return self.arrays


class Diagnoses(_Part):
    """Facts of canonical diagnosis codes: key (subcategory or category) ids, packed
    category, Charlson condition and a hash, derived once per code."""

    def __init__(self, vocab: CodeVocabulary, lock: threading.RLock):
        self.lock = lock
        self.vocab = vocab
        self.keys = {3: Canon(lock), 5: Canon(lock)}
        self._init_derived()

    def _init_derived(self):
        self._c_facts = _Grown(self._derive, lambda: len(self.vocab.canon), self.lock)
        self._c_key_categories = {n: _Grown(
            lambda start, n=n: {"category": packed_categories(self.keys[n].strings().slice(start))},
            lambda n=n: len(self.keys[n]), self.lock) for n in self.keys}

    def __setstate__(self, state):
        super().__setstate__(state)
        self._init_derived()

    def _derive(self, start: int) -> dict[str, np.ndarray]:
        codes = self.vocab.canon.strings().slice(start)
        return {"key3": self.keys[3].intern(pc.utf8_slice_codeunits(codes, 0, 3)),
                "key5": self.keys[5].intern(pc.utf8_slice_codeunits(codes, 0, 5)),
                "category": packed_categories(codes),
                "condition": charlson_conditions(codes),
                "hash": K.hash_strings(codes)}

    def facts(self) -> dict[str, np.ndarray]:
        return self._c_facts.get()

    @_locked
    def key_categories(self, key_len: int) -> np.ndarray:
        """Packed category of every diagnosis key id of that length."""
        self.facts()
        return self._c_key_categories[key_len].get()["category"]


class Grouping(_Part):
    """Procedures as grouping sees them under one policy: the grouping code (the canonical
    code, or its prefix), exclusion and treatment class per code; canonical combinations
    (SPEC 3.1) interned as ids, with their main procedure, classes, strings and hashes."""

    def __init__(self, vocab: CodeVocabulary, prefix: int | None,
                 extra_exclusions: tuple[str, ...], lock: threading.RLock):
        self.lock = lock
        self.vocab = vocab
        self.prefix = prefix
        self.extra = tuple(extra_exclusions)
        self.codes = Canon(lock)                    # grouping codes
        # combinations: the canonical procedure ids of each, as bytes; id 0 is the empty one
        self.combinations = StringIndex()
        intern_rows(self.combinations, np.zeros(2, np.int32), np.zeros(0, np.int32))
        self.keys = {3: StringIndex(), 5: StringIndex()}  # grouping keys (packed int64), by dx key length
        self._init_derived()

    def _init_derived(self):
        self._c_gid = _Grown(self._derive_gid, lambda: len(self.vocab.canon), self.lock)
        self._c_code = _Grown(self._derive_code, lambda: len(self.codes), self.lock)
        self._c_comb = _Grown(self._derive_comb, lambda: len(self.combinations), self.lock)
        self._c_keys = {n: _Grown(lambda start, n=n: _unpack_keys(index_rows(self.keys[n], np.int64, start)[1]),
                                  lambda n=n: len(self.keys[n]), self.lock) for n in self.keys}
        self._c_strings = None

    def __setstate__(self, state):
        super().__setstate__(state)
        self._init_derived()

    def _derive_gid(self, start: int) -> dict[str, np.ndarray]:
        codes = self.vocab.canon.strings().slice(start)
        if self.prefix:
            codes = pc.utf8_slice_codeunits(codes, 0, self.prefix)
        return {"gid": self.codes.intern(codes)}

    def _derive_code(self, start: int) -> dict[str, np.ndarray]:
        codes = self.codes.strings().slice(start)
        excluded, rank = procedure_facts(codes, self.extra)
        return {"excluded": excluded, "rank": rank, "hash": K.hash_strings(codes)}

    def _derive_comb(self, start: int) -> dict[str, np.ndarray]:
        off, vals = index_rows(self.combinations, np.int32, start)
        code = self.code_facts()
        rank = code["rank"]
        n = len(off) - 1
        counts = np.diff(off)
        has = counts > 0
        main = np.full(n, -1, np.int32)
        main[has] = vals[off[:-1][has]]
        main_rank = np.zeros(n, np.int8)
        main_rank[has] = rank[main[has]]
        top = np.zeros(n, np.int8)
        if len(vals):
            np.maximum.at(top, np.repeat(np.arange(n), counts), rank[vals])
        return {"main": main, "main_rank": main_rank, "top_rank": top,
                "hash": combination_hashes(off, vals, code["hash"])}

    def _render(self, off: np.ndarray, vals: np.ndarray) -> pa.Array:
        """'+'-joined codes: main first, then the related ones in code order."""
        strings = self.codes.strings()
        order = pc.sort_indices(strings).to_numpy(zero_copy_only=False)
        rank = np.empty(len(strings), np.int64)
        rank[order] = np.arange(len(strings))
        ordered = order_related(off, vals, rank) if len(vals) else vals
        lists = pa.ListArray.from_arrays(pa.array(off, pa.int32()), strings.take(pa.array(ordered)))
        return pc.binary_join(lists, "+")

    def gid(self) -> np.ndarray:
        return self._c_gid.get()["gid"]

    @_locked
    def code_facts(self) -> dict[str, np.ndarray]:
        self.gid()
        return self._c_code.get()

    @_locked
    def comb_facts(self) -> dict[str, np.ndarray]:
        self.code_facts()
        return self._c_comb.get()

    @_locked
    def sequences(self, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Procedures of combinations ``start..`` (grouping code ids, CSR)."""
        return index_rows(self.combinations, np.int32, start)

    @_locked
    def n_combinations(self) -> int:
        return len(self.combinations)

    @_locked
    def combination_strings(self) -> pa.Array:
        """'+'-joined string of every combination id (cached, extended as it grows)."""
        n = len(self.combinations)
        cached = self._c_strings
        if cached is None or len(cached) < n:
            start = 0 if cached is None else len(cached)
            self.code_facts()
            new = self._render(*index_rows(self.combinations, np.int32, start))
            self._c_strings = new if cached is None else pa.concat_arrays([cached, new])
        return self._c_strings

    def case_keys(self, key_len: int, dx_key: np.ndarray, comb: np.ndarray,
                  tclass: np.ndarray) -> np.ndarray:
        """Grouping key id of each case: (diagnosis key, combination, treatment class),
        interned. A case's group depends on its key, and on its cost only to break ties."""
        packed = pack_key(dx_key, comb, tclass)
        with self.lock:
            return intern_rows(self.keys[key_len], np.arange(len(packed) + 1, dtype=np.int32), packed)

    @_locked
    def n_keys(self, key_len: int) -> int:
        return len(self.keys[key_len])

    @_locked
    def key_facts(self, key_len: int) -> dict[str, np.ndarray]:
        """Diagnosis key, combination and class of every grouping key id."""
        return self._c_keys[key_len].get()

    def main_strings(self) -> pa.Array:
        """Main procedure of every combination id (null for the empty one)."""
        return self.codes.take(self.comb_facts()["main"])

    def encode_cases(self, proc_off: np.ndarray, proc: np.ndarray,
                     class_from: str) -> tuple[np.ndarray, np.ndarray]:
        """Combination id and treatment class of each case from its recorded procedures
        (canonical code ids, CSR)."""
        gid = self.gid()[proc] if len(proc) else np.zeros(0, np.int32)
        facts = self.code_facts()
        keep = ~facts["excluded"][gid] if len(gid) else np.zeros(0, bool)
        c_off, c_ids = canonical_combinations(proc_off, gid.astype(np.int32), keep)
        n = len(proc_off) - 1
        with self.lock:
            comb = intern_rows(self.combinations, c_off, c_ids)
        comb_facts = self.comb_facts()
        if class_from == "main":
            tclass = comb_facts["main_rank"][comb]
        elif class_from == "highest":
            tclass = comb_facts["top_rank"][comb]
        else:   # the first recorded procedure, excluded or not
            tclass = np.zeros(n, np.int8)
            rec = np.diff(proc_off) > 0
            tclass[rec] = facts["rank"][gid[proc_off[:-1][rec]]]
        return comb, tclass.astype(np.int8)


def pack_key(dx_key: np.ndarray, comb: np.ndarray, tclass: np.ndarray) -> np.ndarray:
    """(diagnosis key id, combination id, class) -> one int64: 15 + 31 + 2 bits. A
    codebook has at most 26,000 diagnosis keys (letter, two digits, one more digit)."""
    if len(dx_key) and int(dx_key.max()) >= 1 << 15:
        raise InputError("more than 32,767 distinct diagnosis keys in one run")
    k = dx_key.astype(np.int64) << 33
    k |= comb.astype(np.int64) << 2
    k |= tclass.astype(np.int64)
    return k


def _unpack_keys(keys: np.ndarray) -> dict[str, np.ndarray]:
    return {"dx_key": (keys >> 33).astype(np.int32),
            "comb": ((keys >> 2) & 0x7FFFFFFF).astype(np.int32),
            "tclass": (keys & 3).astype(np.int8)}


class Codebook:
    """The vocabularies of a process: diagnoses, procedures, hospitals, pools and bed-day
    categories, plus the policy-dependent procedure groupings (see the module's notes on
    threads)."""

    def __init__(self):
        self.lock = threading.RLock()
        lock = self.lock
        self.dx = CodeVocabulary(K.DIAGNOSIS, lock)
        self.proc = CodeVocabulary(K.PROCEDURE, lock)
        self.hospital = TextVocabulary(lock)
        self.pool = LabelVocabulary(POOL_ALIASES, POOLS, lock)
        self.bed = LabelVocabulary(BED_DAY_ALIASES, BED_DAY_CATEGORIES, lock)
        self.diagnoses = Diagnoses(self.dx, lock)
        self._groupings: dict[tuple, Grouping] = {}
        self.cache: dict = {}          # lookups built against this codebook (catalogue maps)

    def __getstate__(self):
        with self.lock:
            return {"dx": self.dx, "proc": self.proc, "hospital": self.hospital,
                    "pool": self.pool, "bed": self.bed, "diagnoses": self.diagnoses,
                    "groupings": dict(self._groupings)}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._groupings = state["groupings"]
        del self.__dict__["groupings"]
        self.lock = threading.RLock()
        self.cache = {}
        parts = [self.dx, self.proc, self.hospital, self.pool, self.bed, self.diagnoses,
                 self.dx.canon, self.proc.canon, self.hospital.canon, *self.diagnoses.keys.values()]
        for g in self._groupings.values():
            parts += [g, g.codes]
        for p in parts:
            p.lock = self.lock
        self.diagnoses._init_derived()
        for g in self._groupings.values():
            g._init_derived()

    def grouping(self, policy) -> Grouping:
        key = (policy.procedure_prefix, tuple(policy.extra_exclusions))
        with self.lock:
            g = self._groupings.get(key)
            if g is None:
                g = self._groupings[key] = Grouping(self.proc, policy.procedure_prefix,
                                                    tuple(policy.extra_exclusions), self.lock)
            return g

    def cached(self, key, build: Callable[[], object]):
        """A lookup kept with this codebook (the most recent ``MAPS_KEPT``)."""
        with self.lock:
            value = self.cache.get(key)
            if value is None:
                value = self.cache[key] = build()
                while len(self.cache) > MAPS_KEPT:
                    del self.cache[next(iter(self.cache))]
            return value


# ---------------------------------------------------------------------------------------------
# the process's codebooks
# ---------------------------------------------------------------------------------------------
_idle: list[Codebook] = []
_idle_lock = threading.Lock()


def borrow() -> Codebook:
    """A codebook for one thread's reading of batches (returned with :func:`give_back`)."""
    with _idle_lock:
        return _idle.pop() if _idle else Codebook()


def give_back(codebook: Codebook) -> None:
    with _idle_lock:
        _idle.append(codebook)
