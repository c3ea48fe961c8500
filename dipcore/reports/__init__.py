"""Outputs: files written atomically, and the reports built on them."""
