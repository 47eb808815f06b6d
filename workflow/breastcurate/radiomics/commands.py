"""`breastcurate radiomics` and the pipeline's `radiomics-shard`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Registry
from ..errors import require


def _radiomics(args: argparse.Namespace) -> int:
    from .run import radiomics_files

    n = radiomics_files(
        require(args.image, "IMAGE"), require(args.mask, "MASK"), require(args.params, "--params"), Path(args.out)
    )
    print(f"radiomics: {n} features written to {args.out}")
    return 0


def _radiomics_shard(args: argparse.Namespace) -> int:
    from .run import radiomics_shard

    parts = {"findings": Path(args.findings), "volumes": Path(args.volumes), "images": Path(args.images)}
    rows, rejects = radiomics_shard(
        args.dataset,
        Path(args.results),
        parts,
        {"MR": Path(args.params_mr), "MG": Path(args.params_mg)},
        args.phase,
        Path(args.out),
        Path(args.rejects),
        args.threads,
    )
    print(f"{args.dataset}: {rows} feature values, {rejects} ROIs rejected")
    return 0


def register(registry: Registry) -> None:
    p = registry.add("radiomics", "pyradiomics features of IMAGE inside MASK (long table, Parquet)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("mask", metavar="MASK")
    p.add_argument("--params", required=True, help="pyradiomics parameter file (YAML)")
    p.add_argument("--out", required=True, help="FILE.parquet")
    p.set_defaults(func=_radiomics)

    p = registry.add("radiomics-shard", "features of every ROI of one shard", pipeline=True)
    p.add_argument("dataset")
    p.add_argument("--results", required=True, help="results folder (the tables' curated paths are relative to it)")
    for table in ("findings", "volumes", "images"):
        p.add_argument(f"--{table}", required=True, help=f"the shard's {table} table part")
    p.add_argument("--params-mr", required=True)
    p.add_argument("--params-mg", required=True)
    p.add_argument("--phase", action="append", required=True, help="MRI phase to use (repeatable)")
    p.add_argument("--out", required=True)
    p.add_argument("--rejects", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_radiomics_shard)
