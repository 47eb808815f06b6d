"""Frozen, checksummed releases of a split version, and pulling them."""
