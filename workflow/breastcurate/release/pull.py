"""`breastcurate pull`: fetch a release (or part of it) from a folder, an http(s):// URL or an s3:// URL, verify every
sha256, resume interrupted files, refuse unsafe manifests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from tqdm import tqdm

from ..acquire.s3 import Bucket
from ..acquire.transfer import CHUNK, Http, Policy
from ..atomic import sha256_file, write_bytes
from ..errors import BreastcurateError
from .build import make_catalog


class Source:
    """Where releases live; `fetch(rel, target, progress)` appends to `target` from its current size on."""

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def fetch(self, rel: str, target: Path, progress) -> None:
        raise NotImplementedError


class LocalSource(Source):
    def __init__(self, root: str):
        self.root = Path(root)
        if not self.root.is_dir():
            raise BreastcurateError(f"{root} is not a folder: name a releases root or a release folder")

    def read(self, rel: str) -> bytes:
        path = self.root / rel
        if not path.is_file():
            raise BreastcurateError(f"{path} does not exist: {self.root} holds no release there")
        return path.read_bytes()

    def versions(self) -> list[str]:
        """The releases below this root."""
        return sorted(p.parent.name for p in self.root.glob("*/manifest.json"))

    def fetch(self, rel: str, target: Path, progress) -> None:
        with open(self.root / rel, "rb") as src, open(target, "ab") as dst:
            src.seek(dst.tell())
            for block in iter(lambda: src.read(CHUNK), b""):
                dst.write(block)
                progress(len(block))


class HttpSource(Source):
    """http(s)://host/path: retries, and a dropped transfer resumes with a Range request."""

    def __init__(self, url: str):
        self.base = url.rstrip("/") + "/"
        self.http = Http(Policy())

    def read(self, rel: str) -> bytes:
        return self.http.read(self.base + rel)

    def fetch(self, rel: str, target: Path, progress) -> None:
        self.http.fetch(self.base + rel, target, progress)


class S3Source(Source):
    """s3://bucket/prefix with the user's AWS profile or credentials (AWS_ENDPOINT_URL for other endpoints)."""

    def __init__(self, url: str):
        self.bucket = Bucket(url, Policy())

    def read(self, rel: str) -> bytes:
        return self.bucket.read(rel)

    def fetch(self, rel: str, target: Path, progress) -> None:
        self.bucket.fetch(rel, target, progress)


def source_for(location: str) -> Source:
    scheme = urlparse(location).scheme
    if scheme in ("http", "https"):
        return HttpSource(location)
    if scheme == "s3":
        return S3Source(location)
    if scheme in ("", "file"):
        return LocalSource(urlparse(location).path if scheme == "file" else location)
    raise BreastcurateError(f"unsupported source {location!r}: use a folder, http(s):// or s3://")


def safe_path(rel: str) -> str:
    """A manifest path must stay inside the target folder."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or "\\" in rel or ".." in path.parts or rel.startswith("~"):
        raise BreastcurateError(f"unsafe path in manifest: {rel!r} (absolute paths and '..' are refused)")
    return path.as_posix()


def pull(
    location: str, version: str, to: Path, split: str | None = None, dataset: str | None = None, quiet: bool = False
) -> dict[str, int]:
    """Fetch the selected files of release `version`; return counts of fetched, skipped (already verified) files."""
    source = source_for(location)
    safe_path(version)
    if isinstance(source, LocalSource) and version not in source.versions():
        there = ", ".join(source.versions()) or "none"
        raise BreastcurateError(f"no release {version!r} in {location} (releases there: {there})")
    manifest = json.loads(source.read(f"{version}/manifest.json"))
    files = [f for f in manifest["files"] if f["included"]]
    for f in manifest["files"]:
        safe_path(f["path"])
    if dataset:
        known = sorted({f["dataset"] for f in manifest["files"] if f["dataset"]})
        if dataset not in known:
            raise BreastcurateError(f"release {version} has no dataset {dataset!r} (datasets: {', '.join(known)})")
        files = [f for f in files if f["dataset"] in (None, dataset)]
    if split:
        files = [f for f in files if f["split"] in (None, split)]
    if not files:
        raise BreastcurateError(f"release {version} has no files to pull for this selection")
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    counts = {"fetched": 0, "verified": 0, "bytes": 0}
    todo = []
    for f in files:
        target = to / f["path"]
        if target.exists() and target.stat().st_size == f["bytes"] and sha256_file(target) == f["sha256"]:
            counts["verified"] += 1
        else:
            todo.append(f)
    bar = tqdm(
        total=sum(f["bytes"] for f in todo),
        unit="B",
        unit_scale=True,
        disable=quiet,
        file=sys.stderr,
        desc=f"pull {version}: {len(todo)} files",
    )
    try:
        for f in todo:
            target = to / f["path"]
            partial = target.with_name(target.name + ".part")
            partial.parent.mkdir(parents=True, exist_ok=True)
            offset = partial.stat().st_size if partial.exists() else 0
            if offset > f["bytes"]:
                partial.unlink()
                offset = 0
            bar.update(offset)
            source.fetch(f"{version}/{f['path']}", partial, bar.update)
            if sha256_file(partial) != f["sha256"]:
                partial.unlink()
                raise BreastcurateError(f"{f['path']}: sha256 does not match the manifest (file removed; pull again)")
            os.replace(partial, target)
            counts["fetched"] += 1
            counts["bytes"] += f["bytes"]
    finally:
        bar.close()
    write_bytes(to / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n")
    if (to / "catalog.sql").exists():
        make_catalog(to)
    return counts
