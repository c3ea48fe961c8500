"""Prepared features kept between the passes of a job (calibration passes 2 and 3).

Pass 1 validates and prepares every case once; later passes read the features back instead
of reading, parsing and validating the input again.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Protocol

import pyarrow as pa



class KeptFeatures(Protocol):
    """What a scheme's features give to be kept: their numeric columns as one record batch
    and back, the objects their ids refer to (kept in memory), and their size."""

    n: int
    nbytes: int

    def to_batch(self) -> pa.RecordBatch: ...

    def context(self) -> tuple: ...

    @classmethod
    def from_batch(cls, batch: pa.RecordBatch, *context: Any) -> "KeptFeatures": ...

#: Prepared features kept in memory before the rest spill to disk (local executor).
FEATURE_MEMORY = 1 << 30


class FeatureStore:
    """Prepared features of a calibration input, made once in pass 1, read by passes 2-3.

    Kept in memory up to ``memory`` bytes, the rest spilled to an Arrow IPC file in
    ``directory`` and read back memory-mapped, so the local engine's memory does not grow
    with the history and no pass parses or validates the input twice. ``compress`` keeps
    every batch as zstd-compressed Arrow IPC in memory instead (a Dask worker's partition,
    which Dask itself may spill). The codebooks the ids refer to stay in memory.
    """

    def __init__(self, directory: str | os.PathLike | None = None, compress: bool = False,
                 memory: int = FEATURE_MEMORY):
        self._directory = directory
        self._compress = compress
        self._memory = memory if directory is not None else None
        self._items: list = []            # ("mem", Features) | ("zip", ctx, buf) | ("file", ctx, i)
        self._held = 0
        self._path = None
        self._sink = self._writer = self._schema = None
        self._spilled = 0
        #: Cases kept (for progress over them).
        self.rows = 0

    @staticmethod
    def _ctx(f: KeptFeatures) -> tuple:
        return (type(f), f.context())

    def append(self, f: KeptFeatures) -> None:
        self.rows += f.n
        if self._compress:
            # zstd-compressed Arrow IPC: a partition's features take a fraction of their
            # in-memory size while they wait on a worker between passes
            sink = pa.BufferOutputStream()
            batch = f.to_batch()
            with pa.ipc.new_stream(sink, batch.schema,
                                   options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
                w.write_batch(batch)
            self._items.append(("zip", self._ctx(f), sink.getvalue()))
            return
        size = f.nbytes
        if self._memory is None or self._held + size <= self._memory:
            self._items.append(("mem", f))
            self._held += size
            return
        batch = f.to_batch()
        if self._writer is None:
            self._path = Path(tempfile.mkstemp(prefix="features-", suffix=".arrow",
                                               dir=self._directory)[1])
            self._schema = batch.schema
            self._sink = pa.OSFile(str(self._path), "wb")
            self._writer = pa.ipc.new_file(self._sink, self._schema)
        self._writer.write_batch(batch)
        self._items.append(("file", self._ctx(f), self._spilled))
        self._spilled += 1

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None

    def __iter__(self) -> Iterator[KeptFeatures]:
        reader = None
        source = None
        try:
            for item in self._items:
                if item[0] == "mem":
                    yield item[1]
                elif item[0] == "zip":
                    kind, context = item[1]
                    for batch in pa.ipc.open_stream(item[2]):
                        yield kind.from_batch(batch, *context)
                else:
                    if reader is None:
                        source = pa.memory_map(str(self._path))
                        reader = pa.ipc.open_file(source)
                    kind, context = item[1]
                    yield kind.from_batch(reader.get_batch(item[2]), *context)
        finally:
            if source is not None:
                source.close()
