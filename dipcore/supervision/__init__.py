"""Supervision: indicators, signals and flags (SPEC.md sections 8 and 11)."""
