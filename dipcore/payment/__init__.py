"""Payment: case points, point value, statements, prepayment and clearing (SPEC.md sections 5-7)."""
