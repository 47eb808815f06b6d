"""`breastcurate query` and the pipeline's `catalog`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..commands import Registry, add_scope, scope_arg
from ..errors import BreastcurateError


def _catalog(args: argparse.Namespace) -> int:
    from ..layout import Layout
    from .build import build_catalog

    print(f"catalog: {build_catalog(Layout(args.results), scope_arg(args))}")
    return 0


def _query(args: argparse.Namespace) -> int:
    import duckdb

    from .build import connect

    con = connect(args.catalog)
    try:
        relation = con.sql(args.sql)
        if args.format == "parquet":
            if not args.out:
                raise BreastcurateError("--format parquet needs --out FILE")
            relation.write_parquet(args.out, compression="zstd")
        elif args.format == "csv" and args.out:
            relation.write_csv(args.out, header=True)
        elif args.format == "csv":
            with tempfile.TemporaryDirectory() as tmp:
                relation.write_csv(f"{tmp}/out.csv", header=True)
                sys.stdout.write(Path(f"{tmp}/out.csv").read_text())
        else:
            frame = relation.df()
            for column in frame.select_dtypes(include="object").columns:
                frame[column] = [
                    list(v) if hasattr(v, "tolist") and not isinstance(v, str) else v for v in frame[column]
                ]
            text = frame.to_string(index=False) + "\n"
            Path(args.out).write_text(text) if args.out else sys.stdout.write(text)
    except duckdb.Error as exc:  # a bad query is the user's to fix
        raise BreastcurateError(str(exc)) from None
    return 0


def register(registry: Registry) -> None:
    p = registry.add("catalog", "build results/catalog.duckdb over the canonical tables", pipeline=True)
    p.add_argument("--results", default="results")
    add_scope(p, versions=True)
    p.set_defaults(func=_catalog)

    p = registry.add(
        "query",
        "run SQL against the catalog (views: patients, studies, series, images, volumes, "
        "findings, clinical, coverage, files, rejects, radiomics, splits, mammograms, mri_cases)",
    )
    p.add_argument("sql", metavar="SQL")
    p.add_argument("--catalog", default="results/catalog.duckdb")
    p.add_argument("--format", choices=["table", "csv", "parquet"], default="table")
    p.add_argument("--out", help="write here instead of standard output (required for parquet)")
    p.set_defaults(func=_query)
