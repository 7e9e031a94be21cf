"""Seller-side: manifest, artifacts, image building, the publisher, and the mpkit CLI."""
