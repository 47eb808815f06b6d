"""`breastcurate pull`: fetch a release (or part of it) from a folder, an http(s):// URL or an s3:// URL, verify every
sha256, resume interrupted files, refuse unsafe manifests."""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from tqdm import tqdm

from ..atomic import sha256_file, write_bytes
from .build import make_catalog

CHUNK = 1 << 20
RETRIES = 4


class Source:
    """Where releases live; `fetch(rel, target, offset)` appends bytes from `offset` on to `target`."""

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def fetch(self, rel: str, target: Path, offset: int, progress) -> None:
        raise NotImplementedError


class LocalSource(Source):
    def __init__(self, root: str):
        self.root = Path(root)

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def fetch(self, rel: str, target: Path, offset: int, progress) -> None:
        with open(self.root / rel, "rb") as src, open(target, "ab") as dst:
            src.seek(offset)
            for block in iter(lambda: src.read(CHUNK), b""):
                dst.write(block)
                progress(len(block))


class HttpSource(Source):
    def __init__(self, url: str):
        self.base = url.rstrip("/") + "/"

    def _open(self, rel: str, offset: int = 0):
        request = urllib.request.Request(self.base + rel)
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        for attempt in range(RETRIES):
            try:
                return urllib.request.urlopen(request, timeout=60)
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    raise PermissionError(f"{self.base + rel}: HTTP {exc.code} (access refused)") from None
                if exc.code != 429 and exc.code < 500 or attempt == RETRIES - 1:
                    raise OSError(f"{self.base + rel}: HTTP {exc.code}") from None
            except (urllib.error.URLError, TimeoutError) as exc:
                if attempt == RETRIES - 1:
                    raise OSError(f"{self.base + rel}: {exc}") from None
            time.sleep(0.5 * 2 ** attempt)

    def read(self, rel: str) -> bytes:
        with self._open(rel) as response:
            return response.read()

    def fetch(self, rel: str, target: Path, offset: int, progress) -> None:
        with self._open(rel, offset) as response:
            if offset and response.status != 206:  # the server ignored the range: start over
                target.unlink()
            with open(target, "ab") as dst:
                try:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        dst.write(block)
                        progress(len(block))
                except http.client.IncompleteRead as exc:
                    dst.write(exc.partial)
                    response.length = 1
            if response.length:  # the connection closed before Content-Length bytes arrived
                raise OSError(f"{self.base + rel}: transfer interrupted after {target.stat().st_size} bytes; "
                              "run the same pull again to resume")


class S3Source(Source):
    """s3://bucket/prefix with the user's AWS profile or credentials (AWS_ENDPOINT_URL for other endpoints)."""

    def __init__(self, url: str):
        import boto3

        parsed = urlparse(url)
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self.client = boto3.client("s3")

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def read(self, rel: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"].read()

    def fetch(self, rel: str, target: Path, offset: int, progress) -> None:
        extra = {"Range": f"bytes={offset}-"} if offset else {}
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(rel), **extra)["Body"]
        with open(target, "ab") as dst:
            for block in iter(lambda: body.read(CHUNK), b""):
                dst.write(block)
                progress(len(block))


def source_for(location: str) -> Source:
    scheme = urlparse(location).scheme
    if scheme in ("http", "https"):
        return HttpSource(location)
    if scheme == "s3":
        return S3Source(location)
    if scheme in ("", "file"):
        return LocalSource(urlparse(location).path if scheme == "file" else location)
    raise ValueError(f"unsupported source {location!r}: use a folder, http(s):// or s3://")


def safe_path(rel: str) -> str:
    """A manifest path must stay inside the target folder."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or "\\" in rel or ".." in path.parts or rel.startswith("~"):
        raise ValueError(f"unsafe path in manifest: {rel!r} (absolute paths and '..' are refused)")
    return path.as_posix()


def pull(location: str, version: str, to: Path, split: str | None = None, dataset: str | None = None,
         quiet: bool = False) -> dict[str, int]:
    """Fetch the selected files of release `version`; return counts of fetched, skipped (already verified) files."""
    source = source_for(location)
    safe_path(version)
    manifest = json.loads(source.read(f"{version}/manifest.json"))
    files = [f for f in manifest["files"] if f["included"]]
    for f in manifest["files"]:
        safe_path(f["path"])
    if split:
        files = [f for f in files if f["split"] in (None, split)]
    if dataset:
        files = [f for f in files if f["dataset"] in (None, dataset)]
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
    bar = tqdm(total=sum(f["bytes"] for f in todo), unit="B", unit_scale=True, disable=quiet, file=sys.stderr,
               desc=f"pull {version}: {len(todo)} files")
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
            source.fetch(f"{version}/{f['path']}", partial, offset, bar.update)
            if sha256_file(partial) != f["sha256"]:
                partial.unlink()
                raise ValueError(f"{f['path']}: sha256 does not match the manifest (file removed; pull again)")
            os.replace(partial, target)
            counts["fetched"] += 1
            counts["bytes"] += f["bytes"]
    finally:
        bar.close()
    write_bytes(to / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n")
    if (to / "catalog.sql").exists():
        make_catalog(to)
    return counts

