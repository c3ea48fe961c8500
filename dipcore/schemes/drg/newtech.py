"""New technology (新技术, SPEC.md section 10.4): the filed procedures and their window.

The input table lists filed new-technology procedures: ``procedure_code`` (or ``code``) and
``filing_date``. A case with such a procedure, discharged within ``new_technology_days``
(policy, default 365) of the filing date, is paid by cost and left out of weight
calibration; afterwards its DRG's weight is calibrated with those cases in.

Choices SPEC 10.4 leaves open, made here:

* the window is inclusive at both ends: ``filing <= discharge <= filing + days`` (a case
  discharged before the filing date is not a new-technology case);
* a code listed twice keeps its earliest filing date (a later filing of the same
  procedure does not reopen the window);
* codes are compared as the rule pack compares them (trimmed, upper-cased, ``fold_code``),
  against every procedure of the case, the main one and the others.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from dipcore.errors import InputError
from dipcore.ingest.convert import to_days
from dipcore.schemes.drg.rules import fold_code

#: Filing day of a code that is not new technology.
NOT_FILED = np.iinfo(np.int32).min


@dataclass(frozen=True)
class NewTechnology:
    """Filed new-technology procedures: folded code -> filing date (days since 1970-01-01).

    Build it with :meth:`load`.
    """

    filed: dict[str, int]
    source: str = "<table>"

    @property
    def fingerprint(self) -> str:
        text = ";".join(f"{c}={d}" for c, d in sorted(self.filed.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.filed)

    @classmethod
    def load(cls, source: Any) -> "NewTechnology":
        """The table from a CSV path, a ``pyarrow.Table`` or a mapping ``{code: date}``.

        Raises
        ------
        InputError
            A missing column, an empty code or a date that cannot be read, naming the file,
            the row and the column.
        """
        if source is None:
            return cls({})
        if isinstance(source, NewTechnology):
            return source
        if isinstance(source, dict):
            source = pa.table({"procedure_code": list(source),
                               "filing_date": [str(v) for v in source.values()]})
        where = "<table>"
        if isinstance(source, (str, os.PathLike)):
            where = str(source)
            if not Path(source).exists():
                raise InputError("no such new-technology file", source=where)
            try:
                source = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(
                    column_types={"procedure_code": pa.string(), "code": pa.string(),
                                  "filing_date": pa.string()}))
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"cannot read the new-technology table "
                                 f"({str(exc).splitlines()[0]})", source=where) from None
        if not isinstance(source, pa.Table):
            raise InputError(f"new technology: give a CSV path or a table, not "
                             f"{type(source).__name__}")
        code_col = "code" if "code" in source.column_names else "procedure_code"
        for col in (code_col, "filing_date"):
            if col not in source.column_names:
                raise InputError("the new-technology table needs columns procedure_code and "
                                 "filing_date", source=where, column=col)
        days, status = to_days(source.column("filing_date").combine_chunks())
        codes = source.column(code_col).to_pylist()
        filed: dict[str, int] = {}
        for i, (code, day, st) in enumerate(zip(codes, days.tolist(), status.tolist())):
            if st != 0:
                raise InputError("filing date is not a date", source=where, row=i + 1,
                                 column="filing_date")
            if code is not None and not isinstance(code, str):
                raise InputError(f"procedure code is not a text: {code!r}", source=where,
                                 row=i + 1, column=code_col)
            folded = fold_code(code)
            if not folded:
                raise InputError("empty procedure code", source=where, row=i + 1,
                                 column=code_col)
            filed[folded] = min(day, filed.get(folded, day))
        return cls(filed, where)
