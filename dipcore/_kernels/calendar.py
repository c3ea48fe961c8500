"""Calendar kernels: dates as days since 1970-01-01, the civil calendar, length of stay."""
from __future__ import annotations

import numpy as np

from .numba_config import kernel


@kernel
def civil(days):
    """Year and month of a day (days since 1970-01-01), H. Hinnant's days-to-civil."""
    z = np.int64(days) + 719468
    era = z // 146097                 # floor division: right for dates before 0000-03-01 too
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m


#: Widest span of discharge days worked out through a table (about 270 years).
TABLE_SPAN = 100_000


@kernel
def year_month_los(admission, discharge):
    """Discharge year and month (civil calendar) and length of stay (at least 1 day) from
    days since 1970-01-01.

    A batch's discharges span a few hundred days: the calendar is worked out once per day
    of that span, then looked up per case.
    """
    n = discharge.shape[0]
    year = np.empty(n, np.int16)
    month = np.empty(n, np.int8)
    los = np.empty(n, np.int32)
    if n == 0:
        return year, month, los
    lo = discharge[0]
    hi = discharge[0]
    for i in range(n):
        lo = min(lo, discharge[i])
        hi = max(hi, discharge[i])
    span = np.int64(hi) - np.int64(lo) + 1
    if span <= TABLE_SPAN:
        t_year = np.empty(span, np.int16)
        t_month = np.empty(span, np.int8)
        for d in range(span):
            y, m = civil(np.int64(lo) + d)
            t_year[d] = y
            t_month[d] = m
        for i in range(n):
            k = np.int64(discharge[i]) - np.int64(lo)
            year[i] = t_year[k]
            month[i] = t_month[k]
    else:
        for i in range(n):
            y, m = civil(discharge[i])
            year[i] = y
            month[i] = m
    for i in range(n):
        d = discharge[i] - admission[i]
        los[i] = d if d > 1 else 1
    return year, month, los
