"""Synthetic, native-layout demo mirrors of every dataset (shared building blocks; each adapter writes its own)."""
