"""`breastcurate publish VERSION --to DIR | s3://bucket/prefix`: upload a frozen release so that `pull --from`
works from there. Files go first, each verified where it landed (size and sha256); the manifest goes last, so a
half-published release is never pulled. A rerun uploads only what is missing or wrong. A different release of the
same version already there is refused, and so are images whose licence forbids redistribution."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from ..acquire.s3 import Bucket, etag_problem
from ..acquire.transfer import Policy
from ..atomic import sha256_file
from ..errors import BreastcurateError
from ..layout import Layout
from ..sources import get_adapter


class DirTarget:
    """A releases root on a file system (a shared drive, a mounted bucket)."""

    def __init__(self, root: str):
        self.root = Path(root)

    def read(self, rel: str) -> bytes | None:
        path = self.root / rel
        return path.read_bytes() if path.is_file() else None

    def holds(self, rel: str, size: int, sha256: str) -> bool:
        path = self.root / rel
        return path.is_file() and path.stat().st_size == size and sha256_file(path) == sha256

    def put(self, rel: str, source: Path, sha256: str) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        shutil.copyfile(source, partial)
        if sha256_file(partial) != sha256:
            partial.unlink()
            raise BreastcurateError(f"{rel}: the copy's sha256 differs from the release's (nothing kept)")
        os.replace(partial, target)


class S3Target:
    """s3://bucket/prefix with the user's AWS profile or credentials; each object carries its sha256 as metadata,
    and S3 checks a SHA-256 checksum of the upload on receipt."""

    def __init__(self, url: str):
        self.bucket = Bucket(url, Policy())

    def _head(self, rel: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.bucket.client.head_object(Bucket=self.bucket.bucket, Key=self.bucket.key(rel))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def read(self, rel: str) -> bytes | None:
        return self.bucket.read(rel) if self._head(rel) else None

    def holds(self, rel: str, size: int, sha256: str) -> bool:
        head = self._head(rel)
        if head is None:
            return False
        return head["ContentLength"] == size and head.get("Metadata", {}).get("sha256") == sha256

    def put(self, rel: str, source: Path, sha256: str) -> None:
        key = self.bucket.key(rel)
        self.bucket._call(
            f"s3://{self.bucket.bucket}/{key}",
            lambda: self.bucket.client.upload_file(
                str(source),
                self.bucket.bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": sha256}, "ChecksumAlgorithm": "SHA256"},
            ),
        )
        head = self._head(rel)
        problem = etag_problem(source, head["ContentLength"], head["ETag"].strip('"')) if head else "not found"
        if problem or not self.holds(rel, source.stat().st_size, sha256):
            raise BreastcurateError(f"s3://{self.bucket.bucket}/{key}: the upload does not verify ({problem})")


def target_for(location: str) -> DirTarget | S3Target:
    scheme = urlparse(location).scheme
    if scheme == "s3":
        return S3Target(location)
    if scheme in ("", "file"):
        return DirTarget(urlparse(location).path if scheme == "file" else location)
    raise BreastcurateError(f"unsupported target {location!r}: use a folder or s3://bucket/prefix")


def publish(results: Path, version: str, to: str, include_restricted_images: bool = False) -> dict[str, int]:
    """Upload release `version` of `results` to the releases root `to`; return counts of uploaded and already
    present files."""
    folder = Layout(results).release(version)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise BreastcurateError(f"no release {version} at {folder}: run `breastcurate release {version}` first")
    manifest_bytes = manifest_path.read_bytes()
    files = [f for f in json.loads(manifest_bytes)["files"] if f["included"]]
    restricted = sorted(
        {f["dataset"] for f in files if f["kind"] == "image" and not get_adapter(f["dataset"]).redistributable}
    )
    if restricted and not include_restricted_images:
        raise BreastcurateError(
            f"release {version} holds images of {', '.join(restricted)}, whose licences forbid redistribution; "
            "publish it only where your agreement allows, with --include-restricted-images"
        )
    target = target_for(to)
    there = target.read(f"{version}/manifest.json")
    if there is not None and there != manifest_bytes:
        raise BreastcurateError(
            f"{to} already holds a different release {version}; releases are immutable — publish a new version name"
        )
    counts = {"uploaded": 0, "present": 0}
    for f in files:
        rel = f"{version}/{f['path']}"
        if target.holds(rel, f["bytes"], f["sha256"]):
            counts["present"] += 1
            continue
        target.put(rel, folder / f["path"], f["sha256"])
        counts["uploaded"] += 1
    if there is None:
        target.put(f"{version}/manifest.json", manifest_path, sha256_file(manifest_path))
    return counts
