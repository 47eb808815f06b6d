"""Dataset adapters, one module per dataset, discovered by name: adding a dataset adds one module."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from ..errors import BreastcurateError
from .base import DatasetAdapter


class UnknownDataset(BreastcurateError, KeyError):
    """A dataset key no adapter module answers to."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@cache
def adapters() -> dict[str, DatasetAdapter]:
    """All adapters, keyed by dataset key (every module here that defines ADAPTER)."""
    found: dict[str, DatasetAdapter] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if isinstance(adapter, DatasetAdapter):
            found[adapter.key] = adapter
    return found


def get_adapter(key: str) -> DatasetAdapter:
    """The adapter for `key`, or an UnknownDataset error listing the known datasets."""
    try:
        return adapters()[key]
    except KeyError:
        raise UnknownDataset(f"unknown dataset {key!r}; known: {', '.join(sorted(adapters()))}") from None
