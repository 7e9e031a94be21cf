"""Compliance checks (mpkit validate). Filled in by the validate issue."""
