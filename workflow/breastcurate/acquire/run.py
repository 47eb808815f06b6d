"""`breastcurate download` and `plan-download`: a dataset's transport settings (the adapter's defaults overlaid by
the config's `download` block), its supplementary files, and the report that marks a mirror complete."""

from __future__ import annotations

import functools
import json
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from .. import idc
from ..atomic import sha256_file, write_bytes
from ..errors import BreastcurateError
from ..layout import Layout
from ..sources import get_adapter
from . import idc_buckets, nbia, physionet, s3
from .status import StatusFile, describe, read
from .transfer import Http, Policy, fetch_verified

TRANSPORTS = {"idc": idc_buckets, "nbia": nbia, "physionet": physionet, "s3": s3}


def settings_for(dataset: str, block: dict, need_files: bool = True) -> dict:
    """The chosen transport's defaults from the adapter (the first it offers, unless `download.transport` names
    another) overlaid by the dataset's `download` block; checked for what is required (the supplementary files'
    url and sha256 only when `need_files`)."""
    adapter = get_adapter(dataset)
    given = block.get("download") or {}
    offered = list(adapter.downloads)
    transport = given.get("transport") or (offered[0] if offered else None)
    if transport not in offered or transport not in TRANSPORTS:
        raise BreastcurateError(
            f"{dataset}: no download transport {transport or ''}; set datasets.{dataset}.download.transport to one "
            f"of {', '.join(offered) or '(none: this dataset is not downloadable)'}"
        )
    settings = {**adapter.downloads[transport], **given, "transport": transport}
    if transport == "idc":
        settings["collection_folders"] = adapter.idc_folders()
        unknown = sorted(set(settings["collections"]) - set(adapter.idc_collections))
        if unknown:
            raise BreastcurateError(
                f"{dataset}: download.collections {unknown} are not {adapter.title}'s IDC collections "
                f"({', '.join(adapter.idc_collections)})"
            )
    files = {f["path"] for f in settings.get("files", [])}
    missing = [name for name in adapter.supplementary if name not in files]
    if missing and need_files:
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
    settings = settings_for(dataset, block, need_files=False)
    mirror, state = Layout(results).raw(dataset), Layout(results).downloads(dataset)
    counts = TRANSPORTS[settings["transport"]].plan(settings, mirror, state)
    files = settings.get("files", [])
    counts["supplementary"] = len(get_adapter(dataset).supplementary)
    counts["todo_supplementary"] = counts["supplementary"] - sum(
        1 for f in files if (mirror / f["path"]).is_file() and sha256_file(mirror / f["path"]) == f["sha256"].lower()
    )
    return counts


def upstream_state(dataset: str, block: dict) -> str:
    """What a download reads that says which upstream version it fetches, for the rule's params: the IDC index's
    idc-index-data version and size (a newer index re-runs the download, which fetches the series it revised);
    empty for the other transports, whose ledgers compare each file with the server's listing on every run."""
    settings = settings_for(dataset, block, need_files=False)
    if settings["transport"] != "idc":
        return ""
    index = idc_buckets.index_of(settings)  # a given one exists: the preflight checks it before any planning
    return f"{idc.data_version(index)}:{index.stat().st_size}"


def download(dataset: str, block: dict, results: Path, quiet: bool = False) -> dict:
    """Bring the dataset's native mirror up to date; write `complete.json` when every file is verified."""
    settings = settings_for(dataset, block)
    mirror, state = Layout(results).raw(dataset), Layout(results).downloads(dataset)
    mirror.mkdir(parents=True, exist_ok=True)
    Layout(results).download_report(dataset).unlink(missing_ok=True)  # complete again only when this run succeeds
    supplementary = _supplementary(settings, mirror, state)
    status = StatusFile(Layout(results).download_progress(dataset), dataset, settings["transport"])
    counts = TRANSPORTS[settings["transport"]].download(settings, mirror, state, quiet, status)
    counts["supplementary_fetched"] = supplementary
    report = {
        "dataset": dataset,
        "transport": settings["transport"],
        "mirror": str(mirror),
        "items": counts["items"],
        "unit": counts["unit"],
        "files": counts["files"],
        "supplementary": len(settings.get("files", [])),
        **counts.get("report", {}),
    }
    write_bytes(Layout(results).download_report(dataset), json.dumps(report, indent=1, sort_keys=True).encode() + b"\n")
    return counts


def status_line(dataset: str, results: Path) -> tuple[str, dict]:
    """The one-line summary of the dataset's download progress, and the progress record it describes."""
    record = read(Layout(results).download_progress(dataset), dataset)
    return describe(record), record
