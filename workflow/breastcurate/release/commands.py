"""`breastcurate release` and `pull`."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..commands import Registry


def _release(args: argparse.Namespace) -> int:
    from .build import release

    config = yaml.safe_load(Path(args.config).read_text()) or {}
    include = bool((config.get("release") or {}).get("include_restricted_images", False))
    versions = Path(args.versions or config.get("splits_file") or "config/splits.yaml")
    folder, written = release(args.version, Path(args.results), Path(args.config), versions, include)
    print(f"release {args.version}: {'written to' if written else 'already released, identical, at'} {folder}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from .pull import pull

    counts = pull(args.source, args.version, Path(args.to), args.split, args.dataset)
    print(
        f"pull {args.version}: {counts['fetched']} files fetched ({counts['bytes']} bytes), "
        f"{counts['verified']} already present and verified, into {args.to}"
    )
    return 0


def register(registry: Registry) -> None:
    p = registry.add("release", "freeze split VERSION and write results/releases/VERSION/")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--results", default="results")
    p.add_argument("--config", default="config/config.yaml", help="the pipeline config (hashed into the card)")
    p.add_argument("--versions", help="split versions file (default: the config's splits_file)")
    p.set_defaults(func=_release)

    p = registry.add("pull", "fetch a release: verified, resumable, optionally one split or dataset")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the releases root (holding VERSION/): a folder, http(s):// URL or s3:// URL",
    )
    p.add_argument("--version", required=True)
    p.add_argument("--split", choices=["train", "val", "test"])
    p.add_argument("--dataset")
    p.add_argument("--to", required=True)
    p.set_defaults(func=_pull)
