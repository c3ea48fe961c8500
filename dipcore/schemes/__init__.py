"""Payment schemes: how a case is grouped and how group weights are calibrated (DIP, CHS-DRG)."""
