"""Ingest: sources, conversion, validation, quarantine and the codebook (SPEC.md section 2)."""
