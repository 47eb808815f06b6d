"""The pipeline's `align-splits` and `splits`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry, add_scope, scope_arg


def _align_splits(args: argparse.Namespace) -> int:
    from .assign import load_external
    from .interop import map_published, source_files

    mapped = map_published(source_files(load_external(Path(args.versions))), args.linkage, Path(args.out))
    for source, group in mapped.groupby("source"):
        counts = group.status.value_counts().to_dict()
        print(
            f"align-splits {source}: {len(group)} listed, " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        )
    return 0


def _splits(args: argparse.Namespace) -> int:
    from ..layout import Layout
    from .assign import build_splits

    external = Path(args.external) if args.external else None
    built = build_splits(Layout(args.results), scope_arg(args), Path(args.versions), external)
    for version, frame in built.items():
        counts = frame.drop_duplicates("person_id").split.value_counts().to_dict()
        print(f"split {version}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("train", "val", "test")) + " people")
    return 0


def register(registry: Registry) -> None:
    p = registry.add(
        "align-splits",
        "map other curated sets' published splits to native ids and pseudonyms (restricted output)",
        pipeline=True,
    )
    p.add_argument("--versions", default="config/splits.yaml", help="names the split files (external_splits)")
    p.add_argument("--out", required=True, help="restricted/external_splits.parquet")
    p.add_argument("linkage", nargs="*", help="the de-identification shards' linkage tables")
    p.set_defaults(func=_align_splits)

    p = registry.add("splits", "assign patients to train/val/test for every split version", pipeline=True)
    p.add_argument("--results", default="results", help="where the parts of the scope and the releases are")
    add_scope(p)
    p.add_argument("--versions", default="config/splits.yaml")
    p.add_argument("--external", help="the align-splits table (default: results/restricted/external_splits.parquet)")
    p.set_defaults(func=_splits)
