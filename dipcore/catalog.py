"""The catalogue (目录库): groups with their weights, and the region-wide numbers.

A catalogue is a Parquet file: one row per group (the schema of the scheme that made it:
``dipcore.schemes.dip.groups.GROUP_SCHEMA`` for DIP) and, in the file's key-value metadata,
the all-case mean cost M, the level coefficients, the bed-day rates, the budget point
values, the calibration years, the policy it was built with (canonical JSON), a fingerprint
of its input and the dipcore version. The same input and policy give a byte-identical file.
``Catalog.load`` also reads a bureau's official table (its scheme's CSV format, or the
same columns in an Excel sheet).

The scheme is recorded as ``dipcore.scheme`` for every scheme but DIP; a catalogue
without that key is a DIP catalogue, as every catalogue written before schemes existed is.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dipcore._version import __version__
from dipcore.errors import InputError
from dipcore.ingest.excel import is_workbook
from dipcore.ingest.tables import header_of, read_parquet_file
from dipcore.policy import Policy
from dipcore.reports.files import atomic_path, output_file
from dipcore.schemes.base import get_scheme


@dataclass
class Catalog:
    """Disease groups with scores, plus the region-wide numbers settlement needs.

    Attributes
    ----------
    groups : pyarrow.Table
        One row per group (the scheme's ``group_schema``).
    mean_cost : float
        M, the year-weighted all-case mean cost (yuan) of DIP cases.
    level_coefficients : dict
        Hospital level coefficient by level (``{1: k1, 2: k2, 3: k3}``).
    bed_day_rates : dict
        Points per day by bed-day category.
    budget_point_value : dict
        Budget point value by pool (yuan per point), for monthly prepayment.
    years : list of int
        Calibration years, oldest first.
    policy : Policy
        The policy the catalogue was built with.
    fingerprint : str
        Fingerprint of the calibration input (order-independent).
    version : str
        dipcore version that built it.
    """

    groups: pa.Table
    mean_cost: float
    level_coefficients: dict[int, float]
    bed_day_rates: dict[str, float]
    budget_point_value: dict[str, float] = field(default_factory=dict)
    years: list[int] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    fingerprint: str = ""
    version: str = __version__
    warnings: list[str] = field(default_factory=list)
    #: The payment scheme that made it (``dipcore.schemes``).
    scheme: str = "dip"
    #: The CHS-DRG rule pack a DRG catalogue was made with: ``{"name", "fingerprint"}``.
    rules: dict = field(default_factory=dict)

    @property
    def group_schema(self) -> pa.Schema:
        return get_scheme(self.scheme).group_schema

    def _metadata(self) -> dict[bytes, bytes]:
        meta = {
            "dipcore.version": self.version,
            "dipcore.mean_cost": repr(float(self.mean_cost)),
            "dipcore.level_coefficients": json.dumps({str(k): v for k, v in sorted(self.level_coefficients.items())}),
            "dipcore.bed_day_rates": json.dumps(dict(sorted(self.bed_day_rates.items()))),
            "dipcore.budget_point_value": json.dumps(dict(sorted(self.budget_point_value.items()))),
            "dipcore.years": json.dumps(self.years),
            "dipcore.policy": self.policy.to_json(),
            "dipcore.fingerprint": self.fingerprint,
            "dipcore.warnings": json.dumps(self.warnings, ensure_ascii=False),
        }
        if self.scheme != "dip":
            meta["dipcore.scheme"] = self.scheme
        if self.rules:
            meta["dipcore.rules"] = json.dumps(self.rules, sort_keys=True)
        return {k.encode(): v.encode() for k, v in meta.items()}

    def save(self, path: str | os.PathLike) -> None:
        """Write the catalogue as Parquet (atomically: temporary name, then rename).

        A name ending in ``.csv`` or ``.xlsx`` is an error: :meth:`load` reads those as a
        bureau's official table, so a Parquet file under such a name could not be read back.
        """
        self.check_path(path)
        table = self.groups.cast(self.group_schema).replace_schema_metadata(self._metadata())
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd", write_statistics=False)

    @staticmethod
    def check_path(path: str | os.PathLike) -> None:
        """Stop, before any work, where :meth:`save` could not write: a name ending in
        ``.csv`` or ``.xlsx`` (which :meth:`load` reads as a bureau's official table), or a
        path ``output_file`` refuses."""
        if str(path).lower().endswith((".csv", ".xlsx")):
            raise InputError("a catalogue is saved as Parquet: name it .parquet (.csv and "
                             ".xlsx are read as a bureau's official table)", source=str(path))
        output_file(path)        # not a directory, its folder made

    @classmethod
    def load(cls, path: str | os.PathLike, *, mean_cost: float | None = None,
             level_coefficients: dict | None = None, bed_day_rates: dict | None = None,
             policy: Policy | None = None, scheme: str | None = None,
             rules=None, sheet: str | int | None = None) -> "Catalog":
        """Read a catalogue: dipcore Parquet, or a bureau's official table as CSV or as an
        Excel workbook (``.xlsx``).

        An official table is a DIP catalogue (``dipcore.schemes.dip.official``) or, when it
        has a ``drg`` column or ``scheme="drg"`` is given, a DRG weight table
        (``dipcore.schemes.drg.official``; ``rules`` checks its DRGs against a rule pack).
        A DIP catalogue has columns ``group_code``, ``dx_key`` (diagnosis), ``procedures``
        (combination joined by ``+``; empty for conservative) and ``score``; optional
        ``kind`` (core/comprehensive/basic), ``treatment_class``, ``mean_cost`` and
        ``mean_cost_level1..3``. Its region-wide numbers come from the keyword arguments or
        from a JSON file next to it with the same name (``catalog.json``).

        A workbook holds the same columns as the CSV form, in the sheet ``sheet`` (its name
        or 0-based position; the first sheet by default), header on the first non-empty
        row. Cells are read as the CSV text would be (``dipcore.ingest.excel``): a code
        stored as a number comes back as its digits (``1234``, ``12.3``), but only a text
        cell keeps leading zeros. Errors name the file, the sheet, the sheet's row and the
        column.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"a catalogue is loaded from a path, not {type(path).__name__}")
        path = Path(path)
        if not path.exists():
            raise InputError("no such catalogue file", source=str(path))
        if path.suffix.lower() == ".csv" or is_workbook(path):
            if scheme is None:
                scheme = "drg" if "drg" in header_of(path, sheet) else "dip"
            found = get_scheme(scheme)
            if rules is not None:
                found = found.bind(rules=rules)
            options = {"sheet": sheet} if sheet is not None else {}
            return found.load_official(
                path, mean_cost=mean_cost, level_coefficients=level_coefficients,
                bed_day_rates=bed_day_rates, policy=policy, **options)
        try:
            table = read_parquet_file(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"not a readable catalogue ({str(exc).splitlines()[0]})",
                             source=str(path)) from None
        meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        if "dipcore.mean_cost" not in meta:
            raise InputError("not a dipcore catalogue (no dipcore metadata)", source=str(path))
        scheme = meta.get("dipcore.scheme", "dip")
        schema = get_scheme(scheme).group_schema
        missing = [f.name for f in schema if f.name not in table.column_names]
        if missing:
            raise InputError(f"catalogue lacks columns {missing}", source=str(path))
        return cls(
            groups=table.replace_schema_metadata(None).select(schema.names).cast(schema),
            mean_cost=float(meta["dipcore.mean_cost"]),
            level_coefficients={int(k): v for k, v in json.loads(meta["dipcore.level_coefficients"]).items()},
            bed_day_rates=json.loads(meta["dipcore.bed_day_rates"]),
            budget_point_value=json.loads(meta.get("dipcore.budget_point_value", "{}")),
            years=json.loads(meta.get("dipcore.years", "[]")),
            policy=Policy.from_dict(json.loads(meta["dipcore.policy"]), source=str(path),
                                    retired="ignore"),
            fingerprint=meta.get("dipcore.fingerprint", ""),
            version=meta.get("dipcore.version", ""),
            warnings=json.loads(meta.get("dipcore.warnings", "[]")),
            scheme=scheme,
            rules=json.loads(meta.get("dipcore.rules", "{}")),
        )
