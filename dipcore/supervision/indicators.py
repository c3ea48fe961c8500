"""Appraisal indicators per hospital (SPEC.md section 8), computed once for statements and
supervision alike.

Every indicator is a ratio of exact int64 sums (``dipcore.payment.sums.HOSPITAL_SUMS`` plus
supervision's own counts), finalised once; NaN where it is undefined (no grouped case for
CMI, outlier share and operation rate). A statement and an audit therefore report the same
CMI, outlier share or operation rate for the same cases.
"""
from __future__ import annotations

import numpy as np

from dipcore.payment.points import UNITS


def hospital_indicators(sums: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    """The indicators of SPEC 8 that statements carry, per row of ``sums``.

    * ``cmi``: mean score of the grouped cases over the scale (case-mix index);
    * ``mean_cost`` (yuan) and ``mean_los`` per case;
    * ``outlier_share``: low-, high- and extreme-cost cases over grouped cases;
    * ``operation_rate``: grouped cases in a surgery-class key over grouped cases;
    * ``patient_paid_share``: (cost - fund) over cost;
    * ``death_rate``: deaths (discharge way 5) per case.
    """
    n = np.maximum(sums["cases"], 1).astype(float)
    grouped = sums["dip_cases"].astype(float)
    some = grouped > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "cmi": np.where(some, sums["rw"] / UNITS / grouped / scale, np.nan),
            "mean_cost": sums["cost"] / 100.0 / n,
            "mean_los": sums["los"] / n,
            "outlier_share": np.where(some, (sums["low"] + sums["high"] + sums["extreme"]) / grouped,
                                      np.nan),
            "operation_rate": np.where(some, sums["surgery"] / grouped, np.nan),
            "patient_paid_share": (sums["cost"] - sums["fund"]) / np.maximum(sums["cost"], 1),
            "death_rate": sums["deaths"] / n,
        }
