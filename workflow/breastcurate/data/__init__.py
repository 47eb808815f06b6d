"""Training access to a split of a results folder or a pulled release: `items` (MONAI-style dicts of paths and
labels), and, with the optional extra `[torch]`, `MammogramDataset`, `ExamDataset`, `DCEDataset` and `collate`."""

from __future__ import annotations

from typing import Any

from .records import dce_records, exam_records, items, mammogram_records

__all__ = [
    "DCEDataset",
    "ExamDataset",
    "MammogramDataset",
    "collate",
    "dce_records",
    "exam_records",
    "items",
    "load_transform",
    "mammogram_records",
]


def __getattr__(name: str) -> Any:
    """The PyTorch datasets, imported on first use (torch is an optional extra)."""
    if name in ("MammogramDataset", "DCEDataset", "ExamDataset", "collate"):
        from . import torch_datasets

        return getattr(torch_datasets, name)
    if name == "load_transform":
        from .monai_load import load_transform

        return load_transform
    raise AttributeError(name)
