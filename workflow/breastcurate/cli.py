"""The `breastcurate` command: one subcommand per stage; Snakemake rules call the same functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _demo_data(args: argparse.Namespace) -> int:
    from .demo.mirror import write_mirror
    from .sources import adapters

    datasets = args.dataset or sorted(adapters())
    for dataset in datasets:
        target = write_mirror(Path(args.out), dataset, args.patients, args.seed)
        print(f"{dataset}: demo mirror with {args.patients} patients at {target}")
    return 0


def _inventory(args: argparse.Namespace) -> int:
    from .inventory import build_inventory

    manifest = build_inventory(args.dataset, Path(args.root), Path(args.out), args.n_shards, args.salt,
                               args.workers)
    print(f"{args.dataset}: {manifest['files']} files in {args.n_shards} shards, {manifest['rejects']} rejected")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from .config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastcurate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"breastcurate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="write synthetic native-layout mirrors of the datasets")
    p.add_argument("--out", required=True, help="folder that receives one sub-folder per dataset")
    p.add_argument("--patients", type=int, default=6, help="patients per dataset (default 6)")
    p.add_argument("--seed", type=int, default=20261128, help="random seed (default 20261128)")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable; default all)")
    p.set_defaults(func=_demo_data)

    p = sub.add_parser("inventory", help="list a mirror's DICOM files into restricted inventory shards")
    p.add_argument("dataset")
    p.add_argument("root", help="root of the dataset's native mirror")
    p.add_argument("--out", required=True, help="inventory folder of the dataset")
    p.add_argument("--n-shards", type=int, required=True)
    p.add_argument("--salt", default="breastcurate-shard-v1")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_inventory)

    p = sub.add_parser("check-config", help="validate a config file against schemas/config.schema.yaml")
    p.add_argument("config")
    p.set_defaults(func=_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"breastcurate {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
