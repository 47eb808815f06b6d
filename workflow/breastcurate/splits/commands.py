"""The pipeline's `splits`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry


def _splits(args: argparse.Namespace) -> int:
    from .assign import build_splits

    for version, frame in build_splits(Path(args.results), Path(args.versions)).items():
        counts = frame.drop_duplicates("person_id").split.value_counts().to_dict()
        print(f"split {version}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("train", "val", "test")) + " people")
    return 0


def register(registry: Registry) -> None:
    p = registry.add("splits", "assign patients to train/val/test for every split version", pipeline=True)
    p.add_argument("--results", default="results")
    p.add_argument("--versions", default="config/splits.yaml")
    p.set_defaults(func=_splits)
