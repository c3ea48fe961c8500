"""Errors that dipcore raises for bad input.

Every message is one line and names what a user needs to find the problem (the file, and
the row or column), so the command line can print it without a traceback.
"""
from __future__ import annotations

import numbers


class DipcoreError(Exception):
    """Base class of the errors dipcore raises on purpose."""


class InputError(DipcoreError, ValueError):
    """An input cannot be used at all: unreadable file, missing column, bad parameter.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    source : str, optional
        The file (or a description of the in-memory source) concerned.
    row : int, optional
        1-based data-row number in the source, when one row is at fault.
    column : str, optional
        The column concerned.
    """

    def __init__(self, message: str, *, source: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.source, self.row, self.column = source, row, column
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column '{column}'")
        text = " ".join(message.split())
        #: The message without the location (to restate it, e.g. as a subclass).
        self.message = text
        super().__init__(f"{', '.join(where)}: {text}" if where else text)


def positive_whole(value: object, name: str) -> int | None:
    """``value`` as an int when it is a positive whole number (NumPy's integers too; not a
    boolean, not a float), ``None`` as it is; an :class:`InputError` naming ``name``
    otherwise. The one check of counts given to the API (threads, workers, batch rows)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{name} must be a positive whole number, not {value!r}")
    return int(value)
