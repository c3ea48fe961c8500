"""The engine: passes over batches of cases, and the executors that run them (local threads, Dask)."""
