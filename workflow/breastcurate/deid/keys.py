"""The pseudonymization key and everything derived from it: pseudonyms, UIDs, date offsets."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from ..errors import BreastcurateError

#: The public demo key: fine for synthetic demo data, never for real data (and said so when used).
DEMO_KEY = b"breastcurate-public-demo-key-not-secret"
SECRET_ENV = "BREASTCURATE_SECRET"


class MissingSecret(BreastcurateError):
    """No pseudonymization key was given for data that needs one."""


def load_secret(secret_file: str | Path | None = None, allow_demo: bool = False) -> bytes:
    """Key from `secret_file`, else $BREASTCURATE_SECRET, else the demo key when allowed; never logged."""
    if secret_file:
        path = Path(secret_file).expanduser()
        if not path.is_file():
            found = "is not a file" if path.exists() else "does not exist"
            raise MissingSecret(
                f"the secret file {secret_file} {found} (generate one with `openssl rand -hex 32 > key`)"
            )
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise MissingSecret(f"the secret file {secret_file} cannot be read: {exc.strerror}") from None
        if len(key) < 16:
            raise MissingSecret(f"the secret file {secret_file} holds fewer than 16 bytes")
        return key
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    if allow_demo:
        return DEMO_KEY
    raise MissingSecret(
        "no pseudonymization key: pass --secret-file FILE, set $BREASTCURATE_SECRET, or set "
        "deid.secret_file in the config (generate one with `openssl rand -hex 32 > key`)"
    )


class Keyed:
    """Deterministic keyed derivations (HMAC-SHA256)."""

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, *parts: str) -> bytes:
        return hmac.new(self._key, "\x1f".join(parts).encode(), hashlib.sha256).digest()

    def patient(self, dataset: str, native_id: str) -> str:
        """Pseudonymous patient id, e.g. P-3f9c0a1b2d4e5f60 (dataset-scoped)."""
        return "P-" + self._mac("patient", dataset, native_id)[:8].hex()

    def exam(self, dataset: str, patient_id: str, key: str) -> str:
        """Pseudonymous exam id, e.g. E-3f9c0a1b2d4e5f60, of the patient's exam with the source's key `key`."""
        return "E-" + self._mac("exam", dataset, patient_id, key)[:8].hex()

    def accession(self, dataset: str, native: str) -> str:
        """Pseudonymous accession number, 16 characters at most (VR SH)."""
        return "A" + self._mac("accession", dataset, native)[:6].hex()

    def uid(self, original: str) -> str:
        """A UID remapped as 2.25.<128-bit integer>: the same input gives the same UID in every file and shard."""
        return "2.25." + str(int.from_bytes(self._mac("uid", original.strip())[:16], "big"))

    def date_offset_days(self, dataset: str, native_patient_id: str) -> int:
        """Per-patient shift, 7300–10950 days into the past: intervals between a patient's dates are kept."""
        value = int.from_bytes(self._mac("date", dataset, native_patient_id)[:4], "big")
        return -(7300 + value % 3651)
