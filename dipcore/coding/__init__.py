"""Medical coding: the shipped reference tables and the facts of a code (SPEC.md sections 2, 3.1, 4)."""
