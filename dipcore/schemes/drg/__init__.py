"""CHS-DRG by the point method (SPEC.md section 10).

* :class:`DrgRules` loads and checks a rule pack (format of ``../shared/drg/chs-drg-1.1``);
* :func:`drg_group` groups cases with it (a pure grouper);
* :class:`DrgScheme` pays with it: features, scoring (SPEC 10.3), calibration of weights
  (SPEC 10.2), new technology (SPEC 10.4), official weight tables; registered as ``"drg"``.
"""
from dipcore.schemes.base import register
from dipcore.schemes.drg.grouper import drg_group
from dipcore.schemes.drg.newtech import NewTechnology
from dipcore.schemes.drg.rules import DrgRules, PackError
from dipcore.schemes.drg.scheme import DrgScheme

DRG = register(DrgScheme())

__all__ = ["DrgRules", "DrgScheme", "NewTechnology", "PackError", "drg_group"]
