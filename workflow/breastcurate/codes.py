"""Map native codes to canonical values, keeping the native value beside the mapped one.

A code that the mapping does not know becomes null and a `rejects` row — never a crash, never a silent guess.
"""

from __future__ import annotations

import hashlib
import math

import pandas as pd

_UNKNOWN = object()


def native_text(value) -> str | None:
    """A native cell as text: None for blanks, `3` for 3.0 (Excel), whitespace squashed."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():  # "3.0" from a CSV column pandas made float
        text = text[:-2]
    return text or None


class Codes:
    """Applies code maps for one dataset and collects the unknown codes as reject rows."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.rejects: list[dict] = []

    def map(self, frame: pd.DataFrame, target: str, native: str | pd.Series, mapping: dict) -> None:
        """Set `frame[target]` from the native column through `mapping`, and `frame[target + '_native']`."""
        values = frame[native] if isinstance(native, str) else native
        texts = [native_text(v) for v in values]
        mapped = [None if t is None else mapping.get(t, _UNKNOWN) for t in texts]
        for t, m in zip(texts, mapped):
            if m is _UNKNOWN and t is not None:
                self.unknown(target, t)
        frame[f"{target}_native"] = texts
        frame[target] = [None if m is _UNKNOWN else m for m in mapped]

    def unknown(self, target: str, code: str) -> None:
        item = "sha256:" + hashlib.sha256(f"{self.dataset}/{target}/{code}".encode()).hexdigest()
        row = {
            "dataset": self.dataset,
            "stage": "harmonize",
            "item": item,
            "reason": f"unknown code {code!r} for {target}; mapped to null",
        }
        if row not in self.rejects:
            self.rejects.append(row)
