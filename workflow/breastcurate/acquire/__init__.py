"""Acquisition: resumable, verified downloads of the native mirrors (TCIA NBIA, PhysioNet, S3)."""
