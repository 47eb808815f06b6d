"""`breastcurate release`, `pull`, `publish` and `diff-release`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry


def _release(args: argparse.Namespace) -> int:
    from ..config import load_config
    from .build import release

    config = load_config(args.config)
    include = config["release"]["include_restricted_images"]
    versions = Path(args.versions or config["splits_file"])
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


def _publish(args: argparse.Namespace) -> int:
    from .publish import publish

    counts = publish(Path(args.results), args.version, args.to, args.include_restricted_images)
    print(
        f"publish {args.version}: {counts['uploaded']} files uploaded, {counts['present']} already there and "
        f"verified; pull it with `breastcurate pull --from {args.to} --version {args.version}`"
    )
    return 0


def _diff_release(args: argparse.Namespace) -> int:
    import json

    from ..atomic import write_bytes
    from .diff import diff, summary

    result = diff(args.a, args.b)
    print(summary(result))
    if args.json:
        write_bytes(Path(args.json), json.dumps(result, indent=1, sort_keys=True).encode() + b"\n")
    return 1 if result["patients"]["moved"] and args.frozen else 0


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

    p = registry.add("publish", "upload a frozen release to a folder or s3:// so that `pull --from` works there")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--to", required=True, help="the releases root: a folder or s3://bucket/prefix")
    p.add_argument("--results", default="results")
    p.add_argument(
        "--include-restricted-images",
        action="store_true",
        help="publish images of VinDr-Mammo/EMBED too (only where your agreement allows redistribution)",
    )
    p.set_defaults(func=_publish)

    p = registry.add("diff-release", "patients, files and rows that differ between two releases")
    p.add_argument("a", metavar="A", help="a release: its folder, or an http(s):// or s3:// URL of it")
    p.add_argument("b", metavar="B")
    p.add_argument("--json", help="also write the differences as JSON here")
    p.add_argument(
        "--frozen", action="store_true", help="exit 1 if any patient moved to another split (a frozen lineage)"
    )
    p.set_defaults(func=_diff_release)
