"""Inventory: list a native mirror cheaply, then read headers and hash per shard."""
