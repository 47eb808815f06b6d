"""`breastcurate inventory` (both steps at once, for a results folder) and the pipeline's `list-files` and
`inventory-shard`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry, json_arg
from ..config import section
from ..errors import require
from ..layout import Layout


def _inventory(args: argparse.Namespace) -> int:
    from .run import inventory_shard, list_files

    layout = Layout(args.results)
    d = args.dataset
    select = section("select", json_arg(args.select), d)
    manifest = list_files(
        d,
        require(args.root, "the mirror ROOT", folder=True),
        [layout.listing(d, k) for k in range(args.n_shards)],
        layout.listing_rejects(d),
        layout.manifest(d),
        args.salt,
        select,
        args.workers,
    )
    rows = sum(
        inventory_shard(
            d,
            Path(args.root),
            layout.listing(d, k),
            layout.inventory_shard(d, k),
            layout.inventory_rejects(d, k),
            args.workers,
        )
        for k in range(args.n_shards)
    )
    print(
        f"{d}: {manifest['listed']} files listed in {args.n_shards} shards, {rows} inventoried, "
        f"{manifest['excluded']} left out by select, into {layout.inventory_dir(d)}"
    )
    return 0


def _list_files(args: argparse.Namespace) -> int:
    from .run import list_files

    manifest = list_files(
        args.dataset,
        Path(args.root),
        [Path(p) for p in args.listing],
        Path(args.rejects),
        Path(args.manifest),
        args.salt,
        section("select", json_arg(args.select), args.dataset),
        args.workers,
    )
    print(
        f"{args.dataset}: {manifest['listed']} files listed, {manifest['excluded']} left out by select, "
        f"{manifest['unlisted']} with no patient"
    )
    return 0


def _inventory_shard(args: argparse.Namespace) -> int:
    from .run import inventory_shard

    rows = inventory_shard(
        args.dataset, Path(args.root), Path(args.listing), Path(args.out), Path(args.rejects), args.workers
    )
    print(f"{args.dataset}: {rows} files inventoried into {args.out}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset")
    p.add_argument("root", help="root of the dataset's native mirror")
    p.add_argument("--workers", type=int, default=1)


def register(registry: Registry) -> None:
    p = registry.add(
        "inventory", "list a mirror's DICOM files into the restricted inventory shards of a results folder"
    )
    _common(p)
    p.add_argument("--results", default="results", help="results folder (default results)")
    p.add_argument("--n-shards", type=int, required=True)
    p.add_argument("--salt", default="breastcurate-shard-v1")
    p.add_argument("--select", help="the dataset's select block as JSON (MG image types, spot views)")
    p.set_defaults(func=_inventory)

    p = registry.add(
        "list-files", "list a mirror's files into per-shard listings (paths, sizes, patients)", pipeline=True
    )
    _common(p)
    p.add_argument("--listing", nargs="+", required=True, help="one listing file per shard, in shard order")
    p.add_argument("--rejects", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--salt", required=True)
    p.add_argument("--select", help="the dataset's select block as JSON")
    p.set_defaults(func=_list_files)

    p = registry.add("inventory-shard", "read the headers and hash the files of one listing shard", pipeline=True)
    _common(p)
    p.add_argument("--listing", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rejects", required=True)
    p.set_defaults(func=_inventory_shard)
