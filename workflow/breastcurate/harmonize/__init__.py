"""Harmonization: per-shard conversion tables + native tables → canonical tables (schemas/tables)."""
