"""Stable keyed patient → shard assignment."""

from __future__ import annotations

import hashlib
import hmac


def shard_of(dataset: str, native_patient_id: str, n_shards: int, salt: str) -> int:
    """Shard of a patient: HMAC-SHA256(salt, dataset/native id) modulo `n_shards`.

    It depends only on these four values, so all files of a patient meet in one shard, and a patient
    never moves when other patients are added.
    """
    if n_shards < 1:
        raise ValueError("n_shards must be >= 1")
    message = f"{dataset}\x1f{native_patient_id}".encode()
    digest = hmac.new(salt.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % n_shards
