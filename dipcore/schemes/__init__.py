"""Payment schemes: how a case is grouped and how group weights are calibrated.

``dip`` (SPEC.md sections 3-5) is built in; a scheme registers itself with
:func:`register` and is found by name (:func:`get_scheme`) or from the catalogue it made
(:func:`scheme_for`). The interface is :class:`Scheme` (``dipcore.schemes.base``).
"""
from dipcore.schemes.base import Scheme, get_scheme, register, scheme_for

__all__ = ["Scheme", "get_scheme", "register", "scheme_for"]
