"""The pipeline's `link-people` and `harmonize`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry
from ..deid.commands import add_key_options, secret


def _link_people(args: argparse.Namespace) -> int:
    from .people import link_people

    people = link_people([Path(f) for f in args.linkage], Path(args.out))
    print(
        f"link-people: {people.person_id.nunique()} people, {int(people.in_other_datasets.sum())} patients "
        "also in another dataset"
    )
    return 0


def _harmonize(args: argparse.Namespace) -> int:
    from .run import harmonize_dataset

    counts = harmonize_dataset(
        args.dataset,
        Path(args.results),
        Path(args.raw),
        args.n_shards,
        Path(args.people),
        secret(args),
        Path(args.idc_index) if args.idc_index else None,
    )
    print(f"{args.dataset}: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    return 0


def register(registry: Registry) -> None:
    p = registry.add("link-people", "one person id across datasets, from the linkage tables", pipeline=True)
    p.add_argument("linkage", nargs="+", help="restricted linkage.parquet files of every dataset and shard")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_link_people)

    p = registry.add("harmonize", "canonical tables of one dataset (every table part of every shard)", pipeline=True)
    p.add_argument("dataset")
    p.add_argument("--results", required=True, help="results folder (its layout names every input and part)")
    p.add_argument("--raw", required=True, help="the dataset's native mirror (label tables)")
    p.add_argument("--n-shards", type=int, required=True)
    p.add_argument("--people", required=True, help="the link-people table")
    p.add_argument(
        "--idc-index", help="IDC's series index for the series' provenance (default: the pinned idc-index-data one)"
    )
    add_key_options(p)
    p.set_defaults(func=_harmonize)
