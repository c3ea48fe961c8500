"""Readmission kernel (SPEC 8): a patient's stays in order, and the stay that follows a
stay of the same category within the window.

Stays are keyed by 64-bit hashes (patient, category, case id) so that the order depends
only on the stays themselves; the caller confirms hits on the strings.
"""
from __future__ import annotations

import numpy as np

from .numba_config import kernel


@kernel
def _before(a, b, category, admission, discharge, case):
    """Stay ``a`` sorts before stay ``b`` of the same patient."""
    if category[a] != category[b]:
        return category[a] < category[b]
    if admission[a] != admission[b]:
        return admission[a] < admission[b]
    if discharge[a] != discharge[b]:
        return discharge[a] < discharge[b]
    return case[a] < case[b]


@kernel
def readmission_pairs(by_patient, patient, category, admission, discharge, case, days):
    """``(readmission, previous stay)`` positions of every stay admitted within ``days``
    (0 <= gap <= days) of the discharge of the previous stay of the same patient and
    category.

    ``by_patient``: the stays ordered by ``patient`` hash (any order within a patient);
    each patient's stays (few) are insertion-sorted by (category, admission, discharge,
    case), then neighbours compared.
    """
    n = by_patient.shape[0]
    order = by_patient.copy()
    cur = np.empty(n, np.int64)
    prev = np.empty(n, np.int64)
    k = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and patient[order[end]] == patient[order[start]]:
            end += 1
        for i in range(start + 1, end):            # insertion sort of one patient's stays
            x = order[i]
            j = i - 1
            while j >= start and _before(x, order[j], category, admission, discharge, case):
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = x
        for i in range(start + 1, end):
            a, b = order[i - 1], order[i]
            gap = admission[b] - discharge[a]
            # the same case twice (last year's file overlapping this year's) is no readmission
            if category[a] == category[b] and case[a] != case[b] and gap >= 0 and gap <= days:
                cur[k] = b
                prev[k] = a
                k += 1
        start = end
    return cur[:k], prev[:k]
