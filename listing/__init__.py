"""Listing materials and buyer helpers. Filled in by the listing issue."""
