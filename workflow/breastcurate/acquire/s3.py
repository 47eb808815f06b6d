"""S3 buckets (EMBED's open-data bucket, releases): the user's AWS profile or credentials, listing by prefix, ranged
resume, size and ETag verified before a file is placed."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import math
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from .status import StatusFile
from .transfer import (
    CHUNK,
    AccessRefused,
    Ledger,
    Policy,
    Progress,
    Retryable,
    TransferError,
    fetch_verified,
    transfer_all,
    with_retries,
)

MiB = 1 << 20
DENIED = {
    "AccessDenied",
    "403",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
}
CREDENTIALS = "the AWS profile in $AWS_PROFILE or config `aws_profile`, or $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY"


class Bucket:
    """One s3://bucket/prefix; errors name the credential that is missing or refused."""

    def __init__(self, url: str, policy: Policy, profile: str | None = None, region: str | None = None):
        import boto3
        from botocore.config import Config

        parsed = urlparse(url)
        self.url, self.bucket, self.prefix = url, parsed.netloc, parsed.path.strip("/")
        self.policy = policy
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        self.origin = f"AWS profile {profile!r}" if profile else CREDENTIALS
        self.client = session.client(
            "s3",
            region_name=region,
            config=Config(
                retries={"max_attempts": policy.retries + 1, "mode": "standard"},
                connect_timeout=policy.timeout,
                read_timeout=policy.timeout,
            ),
        )

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _call(self, what: str, call):
        """Run a boto3 call; turn missing or refused credentials into AccessRefused."""
        from botocore.exceptions import (
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            return call()
        except (NoCredentialsError, PartialCredentialsError):
            raise AccessRefused(f"{what}: no AWS credentials found: set {CREDENTIALS}") from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in DENIED or status in (401, 403):
                raise AccessRefused(
                    f"{what}: S3 refused access ({code or status}) for {self.origin}; check that "
                    "your AWS account was granted access to this bucket"
                ) from None
            raise TransferError(f"{what}: {code or status} {error.get('Message', '')}".rstrip()) from None

    def objects(self) -> list[dict]:
        """Every object under the prefix: rel (path below the prefix), key, size, etag; sorted by rel."""
        pages = self._call(
            self.url,
            lambda: list(
                self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""
                )
            ),
        )
        start = len(self.prefix) + 1 if self.prefix else 0
        found = [
            {"rel": o["Key"][start:], "key": o["Key"], "size": o["Size"], "etag": o["ETag"].strip('"')}
            for page in pages
            for o in page.get("Contents", [])
            if not o["Key"].endswith("/")
        ]
        return sorted(found, key=lambda o: o["rel"])

    def read(self, rel: str) -> bytes:
        return self._call(
            f"s3://{self.bucket}/{self.key(rel)}",
            lambda: self.client.get_object(Bucket=self.bucket, Key=self.key(rel))["Body"].read(),
        )

    def fetch(self, rel: str, part: Path, progress=lambda n: None) -> None:
        """Append the object to `part`, resuming from its size with a ranged GET; retry dropped streams."""
        from botocore.exceptions import (
            ConnectionClosedError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
        )

        what = f"s3://{self.bucket}/{self.key(rel)}"

        def attempt() -> None:
            offset = part.stat().st_size if part.exists() else 0
            extra = {"Range": f"bytes={offset}-"} if offset else {}
            body = self._call(
                what, lambda: self.client.get_object(Bucket=self.bucket, Key=self.key(rel), **extra)["Body"]
            )
            with open(part, "ab") as out:
                try:
                    for block in iter(lambda: body.read(CHUNK), b""):
                        out.write(block)
                        progress(len(block))
                except (IncompleteReadError, ReadTimeoutError, ResponseStreamingError, ConnectionClosedError) as exc:
                    raise Retryable(f"stream cut after {out.tell()} bytes ({exc})") from None

        part.parent.mkdir(parents=True, exist_ok=True)
        with_retries(self.policy, what, attempt)


def etag_problem(path: Path, size: int, etag: str) -> str | None:
    """Check a file against an object's size and ETag: the MD5 of a single-part upload, or the MD5 of the part
    MD5s ("-N") of a multipart one (part sizes tried: the common 8 and 16 MiB, 5 MiB, and size/N rounded up to MiB).
    SSE-KMS ETags are not MD5s; those files are checked by size only."""
    actual = path.stat().st_size
    if actual != size:
        return f"{actual} bytes, the bucket lists {size}"
    if "-" not in etag:
        if len(etag) != 32:
            return None
        digest = hashlib.md5()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                digest.update(block)
        return None if digest.hexdigest() == etag else "MD5 differs from the ETag"
    parts = int(etag.rsplit("-", 1)[1])
    for part_size in sorted({8 * MiB, 16 * MiB, 5 * MiB, math.ceil(size / parts / MiB) * MiB}):
        if math.ceil(size / part_size) != parts:
            continue
        digests = []
        with open(path, "rb") as fh:
            for block in iter(functools.partial(fh.read, part_size), b""):
                digests.append(hashlib.md5(block).digest())
        if f"{hashlib.md5(b''.join(digests)).hexdigest()}-{parts}" == etag:
            return None
    return f"multipart ETag {etag} matches no usual part size"


def _pending(settings: dict, mirror: Path, state: Path) -> tuple[Bucket, list[dict], Ledger, list[dict]]:
    bucket = Bucket(
        settings["url"], Policy.from_settings(settings), settings.get("aws_profile"), settings.get("region")
    )
    found = bucket.objects()
    include = settings.get("include")
    if include:
        found = [o for o in found if any(fnmatch.fnmatch(o["rel"], p) for p in include)]
    for o in found:
        path = PurePosixPath(o["rel"])
        if path.is_absolute() or ".." in path.parts:
            raise TransferError(f"unsafe object key {o['key']!r}")
    ledger = Ledger(state / "ledger.jsonl")

    def complete(o: dict) -> bool:
        entry, target = ledger.get(o["rel"]), mirror / o["rel"]
        return (
            entry is not None and entry["etag"] == o["etag"] and target.is_file() and target.stat().st_size == o["size"]
        )

    return bucket, found, ledger, [o for o in found if not complete(o)]


def plan(settings: dict, mirror: Path, state: Path) -> dict:
    """Objects and bytes under the prefix and how many a download would fetch."""
    _, found, _, todo = _pending(settings, mirror, state)
    return {
        "unit": "files",
        "items": len(found),
        "files": len(found),
        "bytes": sum(o["size"] for o in found),
        "todo_items": len(todo),
        "todo_files": len(todo),
        "todo_bytes": sum(o["size"] for o in todo),
    }


def download(settings: dict, mirror: Path, state: Path, quiet: bool = False, status: StatusFile | None = None) -> dict:
    """Fetch every object not yet verified in the mirror; raise TransferError listing those that failed."""
    bucket, found, ledger, todo = _pending(settings, mirror, state)
    todo_bytes, all_bytes = sum(o["size"] for o in todo), sum(o["size"] for o in found)
    progress = Progress(
        f"{settings['url']}: {len(todo)} files",
        len(todo),
        todo_bytes,
        quiet,
        status,
        before=(len(found) - len(todo), all_bytes - todo_bytes),
        total=(len(found), all_bytes),
    )

    def fetch(o: dict) -> None:
        fetch_verified(
            lambda part: bucket.fetch(o["rel"], part, progress.bytes),
            state / "parts" / f"{o['rel']}.part",
            mirror / o["rel"],
            lambda path: etag_problem(path, o["size"], o["etag"]),
            o["key"],
        )
        ledger.add(o["rel"], etag=o["etag"], bytes=o["size"])
        progress.file_done()

    transfer_all(
        ((o["key"], functools.partial(fetch, o)) for o in todo),
        settings.get("concurrency", 4),
        progress,
        len(found),
        "objects",
    )
    return {
        "unit": "files",
        "items": len(found),
        "fetched": len(todo),
        "skipped": len(found) - len(todo),
        "files": len(found),
    }
