"""`breastcurate demo-data`: write native-layout demo mirrors, each dataset complete or not at all."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from ..sources import get_adapter
from .dicomgen import full_size as full_size_images
from .idc_index import write_index


def write_mirror(out: Path, dataset: str, patients: int, seed: int, full_size: bool = False) -> Path:
    """Write the demo mirror of one dataset (module `breastcurate.demo.<dataset>`) to `out/<dataset>`, via a temporary
    folder renamed at the end. Patient k depends only on the seed and k. `full_size`: images at real sizes (for the
    cost benchmark)."""
    adapter = get_adapter(dataset)
    module = importlib.import_module(f"{__package__}.{dataset}")
    target = Path(out) / dataset
    partial = Path(out) / f".{dataset}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with full_size_images(full_size):
            module.write(partial, patients, seed)
        if adapter.idc_collections:
            write_index(partial, adapter)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
