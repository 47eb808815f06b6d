"""`breastcurate download`, `plan-download` and `download-status`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..commands import Registry
from ..errors import BreastcurateError


def _target(args: argparse.Namespace) -> tuple[dict, Path]:
    """The dataset's config block and the results folder, from --settings/--results (pipeline) or --config."""
    from ..config import load_config

    if args.settings:
        return json.loads(args.settings), Path(args.results or "results")
    config = load_config(args.config)
    if args.dataset not in config["datasets"]:
        raise BreastcurateError(f"{args.dataset} is not configured in {args.config or 'config/config.yaml'}")
    return config["datasets"][args.dataset], Path(args.results or config["results_dir"])


def _download(args: argparse.Namespace) -> int:
    from .run import download

    block, results = _target(args)
    counts = download(args.dataset, block, results, args.quiet)
    print(
        f"{args.dataset}: {counts['items']} {counts['unit']} complete ({counts['fetched']} fetched, "
        + (f"{counts['revised']} of them revised upstream, " if counts.get("revised") else "")
        + f"{counts['skipped']} already verified), {counts['files']} files; "
        f"{counts['supplementary_fetched']} supplementary files fetched"
    )
    return 0


def _plan_download(args: argparse.Namespace) -> int:
    from .run import plan

    block, results = _target(args)
    p = plan(args.dataset, block, results)
    print(
        f"{args.dataset}: {p['items']} {p['unit']}, {p['files']} files, {p['bytes']} bytes "
        f"({p['bytes'] / 1e9:.2f} GB) in total"
    )
    print(
        f"to fetch: {p['todo_items']} {p['unit']}, {p['todo_files']} files, {p['todo_bytes']} bytes "
        f"({p['todo_bytes'] / 1e9:.2f} GB), and {p['todo_supplementary']} of {p['supplementary']} supplementary files"
    )
    if "collections" in p:
        print(f"IDC release {p['idc_release']} (bytes: the index's series_size_MB × 10^6)")
        print(f"{'collection':<24} {'':<8} {'patients':>9} {'studies':>8} {'series':>8} {'files':>10} {'GB':>10}")
        for collection, counts in p["collections"].items():
            for what, c in counts.items():
                print(
                    f"{collection:<24} {what:<8} {c['patients']:>9} {c['studies']:>8} {c['series']:>8} "
                    f"{c['files']:>10} {c['bytes'] / 1e9:>10.2f}"
                )
    return 0


def _download_status(args: argparse.Namespace) -> int:
    from .run import status_line

    results = Path(args.results) if args.results else _target(args)[1]
    line, record = status_line(args.dataset, results)
    print(json.dumps(record, indent=1, sort_keys=True) if args.json else line)
    return 0


def register(registry: Registry) -> None:
    for name, func, text in (
        ("download", _download, "fetch a dataset's native mirror (resumable, verified)"),
        ("plan-download", _plan_download, "print the series, files and bytes a download would fetch, fetching nothing"),
        ("download-status", _download_status, "print a download's progress: files and bytes done, rate, ETA"),
    ):
        p = registry.add(name, text)
        p.add_argument("dataset")
        p.add_argument("--config", help="pipeline config (default config/config.yaml)")
        p.add_argument("--results", help="results folder (default: the config's results_dir)")
        p.add_argument("--settings", help=argparse.SUPPRESS)  # (pipeline) the dataset's config block as JSON
        p.set_defaults(func=func)
        if name == "download":
            p.add_argument(
                "--quiet", action="store_true", help="no progress bar (the one-line summary at the end stays)"
            )
        if name == "download-status":
            p.add_argument("--json", action="store_true", help="print the whole progress record")
