"""DIP (按病种分值付费): grouping, features and calibration (SPEC.md sections 3 and 4)."""
