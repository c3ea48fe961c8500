"""CHS-DRG grouping throughput: cases per second from memory and from Parquet.

Usage::

    python -m benchmarks.drg_throughput --cases 1000000 [--cases 10000000] [--repeat 3]

Builds N cases by resampling the pack's 3,000 public cases (new case ids ``B`` + row
number), keeps them as an Arrow table in memory and writes them to a Parquet file, then
times ``dc.drg_group``:

* *memory*: from the in-memory table; interning of every code string included;
* *parquet*: from the file path (reading and decoding the needed columns included).

The rule pack is loaded (and the kernel compiled) before timing; each measurement is the
best of ``--repeat`` runs. The pack is found as in the tests (``DIPCORE_DRG_PACK`` or
``../shared/drg/chs-drg-1.1`` beside the repository).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import dipcore as dc
from dipcore.engine.threads import threads


def pack_dir() -> Path:
    env = os.environ.get("DIPCORE_DRG_PACK")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "drg" / "chs-drg-1.1"


COLUMNS = ["case_id", "sex", "age_years", "age_days", "birth_weight_g", "primary_dx",
           "secondary_dx", "procedures"]


def resample(public: pa.Table, n: int, seed: int = 0) -> pa.Table:
    """``n`` cases drawn with replacement from ``public``, with fresh case ids."""
    rng = np.random.default_rng(seed)
    out = public.select(COLUMNS).take(rng.integers(0, public.num_rows, n))
    ids = pa.array(np.char.add("B", np.arange(n).astype(str)).astype(object), pa.string())
    return out.set_column(0, "case_id", ids)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, action="append",
                    help="number of cases (repeatable; default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-rows", type=int, default=None)
    ap.add_argument("--dir", default=None, help="where to write the Parquet files")
    args = ap.parse_args(argv)
    pack = pack_dir()
    rules = dc.DrgRules.load(pack)
    public = pq.read_table(pack / "cases-public.parquet")
    dc.drg_group(public, rules)                        # compile the kernel outside timing
    print(f"pack {rules.name} ({rules.fingerprint[:12]}), {threads()} threads, "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in args.cases or [1_000_000]:
            table = resample(public, n)
            path = Path(tmp) / f"cases-{n}.parquet"
            pq.write_table(table, path, row_group_size=1 << 20)
            out = dc.drg_group(table, rules, batch_rows=args.batch_rows)
            assert out.num_rows == n
            ok = out.column("status").to_pylist().count("ok") if n <= 1_000_000 else None
            t_mem = best(lambda t=table: dc.drg_group(t, rules, batch_rows=args.batch_rows),
                         args.repeat)
            t_pq = best(lambda: dc.drg_group(path, rules, batch_rows=args.batch_rows),
                        args.repeat)
            print(f"{n:>12,} cases  memory {n / t_mem:>12,.0f} cases/s ({t_mem:.3f} s)  "
                  f"parquet {n / t_pq:>12,.0f} cases/s ({t_pq:.3f} s)"
                  + (f"  ok {ok:,}" if ok is not None else ""))
            del table, out


if __name__ == "__main__":
    main()
