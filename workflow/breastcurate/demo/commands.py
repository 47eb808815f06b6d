"""`breastcurate demo-data`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry


def _demo_data(args: argparse.Namespace) -> int:
    from ..sources import adapters, get_adapter
    from .mirror import write_mirror

    datasets = args.dataset or sorted(adapters())
    for dataset in datasets:
        get_adapter(dataset)  # every name known before anything is written
    for dataset in datasets:
        target = write_mirror(Path(args.out), dataset, args.patients, args.seed, args.full_size)
        print(f"{dataset}: demo mirror with {args.patients} patients at {target}")
    return 0


def register(registry: Registry) -> None:
    p = registry.add("demo-data", "write synthetic native-layout mirrors of the datasets")
    p.add_argument("--out", required=True, help="folder that receives one sub-folder per dataset")
    p.add_argument("--patients", type=int, default=6, help="patients per dataset (default 6)")
    p.add_argument("--seed", type=int, default=20261128, help="random seed (default 20261128)")
    p.add_argument("--dataset", action="append", help="only this dataset (repeatable; default all)")
    p.add_argument(
        "--full-size",
        action="store_true",
        help="images at real sizes: 4096×3328 mammograms, 512×512 MRI with real slice counts",
    )
    p.set_defaults(func=_demo_data)
