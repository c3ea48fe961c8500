"""Payment schemes: the rules of one scheme (DIP, CHS-DRG) each in its own package."""
