"""`breastcurate download` and `plan-download`: a dataset's transport settings (the adapter's defaults overlaid by
the config's `download` block), its supplementary files, and the report that marks a mirror complete."""

from __future__ import annotations

import functools
import json
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from ..atomic import sha256_file, write_bytes
from ..errors import BreastcurateError
from ..layout import Layout
from ..sources import get_adapter
from . import nbia, physionet, s3
from .transfer import Http, Policy, fetch_verified

TRANSPORTS = {"nbia": nbia, "physionet": physionet, "s3": s3}


def settings_for(dataset: str, block: dict) -> dict:
    """The adapter's download defaults overlaid by the dataset's `download` block; checked for what is required."""
    adapter = get_adapter(dataset)
    settings = {**adapter.download, **(block.get("download") or {})}
    if settings.get("transport") not in TRANSPORTS:
        raise BreastcurateError(
            f"{dataset}: no download transport; set datasets.{dataset}.download.transport to one of "
            f"{', '.join(TRANSPORTS)}"
        )
    given = {f["path"] for f in settings.get("files", [])}
    missing = [name for name in adapter.supplementary if name not in given]
    if missing:
        raise BreastcurateError(
            f"{dataset}: datasets.{dataset}.download.files must give the url and sha256 of "
            f"{', '.join(missing)} (published on the collection's page, not through the image API)"
        )
    return settings


def _supplementary(settings: dict, mirror: Path, state: Path) -> int:
    """Fetch the supplementary files (clinical sheets, boxes, mappings) and check each against its sha256."""
    http = Http(Policy.from_settings(settings))
    fetched = 0
    for item in settings.get("files", []):
        rel = PurePosixPath(item["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise BreastcurateError(f"download.files: unsafe path {item['path']!r}")
        digest = item["sha256"].lower()
        if urlparse(item["url"]).scheme not in ("http", "https"):
            raise BreastcurateError(f"download.files: {item['url']!r} is not an http(s) URL")
        fetched += fetch_verified(
            functools.partial(http.fetch, item["url"]),
            state / "parts" / f"{rel}.part",
            mirror / rel,
            functools.partial(_sha256_problem, digest),
            item["url"],
        )
    return fetched


def _sha256_problem(digest: str, path: Path) -> str | None:
    return None if sha256_file(path) == digest else "sha256 differs from the config"


def plan(dataset: str, block: dict, results: Path) -> dict:
    """What a download of `dataset` would fetch (nothing is fetched but listings and sizes)."""
    settings = settings_for(dataset, block)
    mirror, state = Layout(results).raw(dataset), Layout(results).downloads(dataset)
    counts = TRANSPORTS[settings["transport"]].plan(settings, mirror, state)
    files = settings.get("files", [])
    counts["supplementary"] = len(files)
    counts["todo_supplementary"] = sum(
        1
        for f in files
        if not ((mirror / f["path"]).is_file() and sha256_file(mirror / f["path"]) == f["sha256"].lower())
    )
    return counts


def download(dataset: str, block: dict, results: Path, quiet: bool = False) -> dict:
    """Bring the dataset's native mirror up to date; write `complete.json` when every file is verified."""
    settings = settings_for(dataset, block)
    mirror, state = Layout(results).raw(dataset), Layout(results).downloads(dataset)
    mirror.mkdir(parents=True, exist_ok=True)
    supplementary = _supplementary(settings, mirror, state)
    counts = TRANSPORTS[settings["transport"]].download(settings, mirror, state, quiet)
    counts["supplementary_fetched"] = supplementary
    report = {
        "dataset": dataset,
        "transport": settings["transport"],
        "mirror": str(mirror),
        "items": counts["items"],
        "unit": counts["unit"],
        "files": counts["files"],
        "supplementary": len(settings.get("files", [])),
    }
    write_bytes(state / "complete.json", json.dumps(report, indent=1, sort_keys=True).encode() + b"\n")
    return counts
