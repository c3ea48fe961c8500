"""Synthetic province generator: the test bed of dipcore (DESIGN.md section 7).

``generate(out, cases_per_year, years, hospitals, seed)`` writes hive-partitioned Parquet
cases, a hospital registry and ground-truth labels of injected anomalies. The command line
is ``dipcore generate``.
"""
from .generator import LABEL_SCHEMA, Province, generate, month_bounds

__all__ = ["generate", "Province", "month_bounds", "LABEL_SCHEMA"]
