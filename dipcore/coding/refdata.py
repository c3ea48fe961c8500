"""Loading the reference tables shipped in ``dipcore/data`` (see its README)."""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

TREATMENT_CLASSES = ("conservative", "diagnostic", "therapeutic", "surgery")


def _text(name: str) -> str:
    return resources.files("dipcore").joinpath("data", name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def charlson_conditions() -> tuple[tuple[str, int, tuple[str, ...]], ...]:
    """``(condition, weight, undotted prefixes)`` for the 17 Quan (2005) conditions."""
    rows = csv.DictReader(_text("charlson_quan2005.csv").splitlines())
    return tuple((r["condition"], int(r["weight"]), tuple(r["prefixes"].split())) for r in rows)


@lru_cache(maxsize=None)
def procedure_class_prefixes() -> dict[str, str]:
    """Code prefix -> treatment class (``diagnostic``, ``therapeutic``, ``surgery``)."""
    rows = csv.DictReader(_text("procedure_classes.csv").splitlines())
    return {r["prefix"]: r["class"] for r in rows}


def procedure_class(code: str, prefixes: dict[str, str] | None = None) -> str:
    """Treatment class of a normalised procedure code by its longest matching prefix."""
    prefixes = prefixes if prefixes is not None else procedure_class_prefixes()
    for end in range(len(code), 0, -1):
        cls = prefixes.get(code[:end])
        if cls is not None:
            return cls
    return "therapeutic"


@lru_cache(maxsize=None)
def procedure_exclusions() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(exact codes, prefixes)`` of the default exclusion list (SPEC.md 3.1)."""
    exact, prefixes = [], []
    for line in _text("procedure_exclusions.txt").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        (prefixes if line.endswith("*") else exact).append(line.rstrip("*"))
    return tuple(exact), tuple(prefixes)


def is_excluded_procedure(code: str) -> bool:
    """True when a normalised procedure code is on the default exclusion list."""
    exact, prefixes = procedure_exclusions()
    return code in exact or code.startswith(prefixes)
