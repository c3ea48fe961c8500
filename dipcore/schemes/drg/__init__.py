"""CHS-DRG grouping (SPEC.md section 10.1): rule packs and the grouper.

* :class:`DrgRules` loads and checks a rule pack (format of ``../shared/drg/chs-drg-1.1``);
* :func:`drg_group` groups cases with it.
"""
from dipcore.schemes.drg.grouper import drg_group
from dipcore.schemes.drg.rules import DrgRules, PackError

__all__ = ["DrgRules", "PackError", "drg_group"]
