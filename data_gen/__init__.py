"""Synthetic province generator: the test bed of dipcore (DESIGN.md section 7).

``generate(out, cases_per_year, years, hospitals, seed, gaming=...)`` writes hive-partitioned
Parquet cases, a hospital registry, ground-truth labels of the cases that gaming hospitals
changed and a manifest naming those hospitals; ``data_gen.gaming`` describes the
behaviours. The command line is ``dipcore generate``.
"""
from .gaming import BEHAVIOURS, STRENGTHS, default_gaming
from .generator import LABEL_SCHEMA, Province, generate, month_bounds

__all__ = ["generate", "Province", "month_bounds", "LABEL_SCHEMA", "BEHAVIOURS", "STRENGTHS",
           "default_gaming"]
