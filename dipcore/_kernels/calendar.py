"""Calendar kernels: dates as days since 1970-01-01, the civil calendar, length of stay."""
from __future__ import annotations

import numpy as np

from .numba_config import kernel


@kernel
def year_month_los(admission, discharge):
    """Discharge year and month (civil calendar) and length of stay (at least 1 day) from
    days since 1970-01-01 (H. Hinnant's days-to-civil algorithm)."""
    n = discharge.shape[0]
    year = np.empty(n, np.int16)
    month = np.empty(n, np.int8)
    los = np.empty(n, np.int32)
    for i in range(n):
        z = np.int64(discharge[i]) + 719468
        era = z // 146097                 # floor division: right for dates before 0000-03-01 too
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        m = mp + 3 if mp < 10 else mp - 9
        y = yoe + era * 400 + (1 if m <= 2 else 0)
        year[i] = y
        month[i] = m
        d = discharge[i] - admission[i]
        los[i] = d if d > 1 else 1
    return year, month, los
