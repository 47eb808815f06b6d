"""What every transfer shares: retries with exponential backoff, HTTP with ranged resume, a download ledger, and a
bounded pool of workers behind one progress bar (files and bytes)."""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from ..errors import BreastcurateError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts after the first, first backoff in seconds (doubling), socket timeout."""

    retries: int = 5
    backoff: float = 1.0
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: dict) -> "Policy":
        return cls(settings.get("retries", 5), settings.get("backoff_seconds", 1.0),
                   settings.get("timeout_seconds", 60.0))


class AccessRefused(BreastcurateError, PermissionError):
    """Credentials are missing or refused (HTTP 401/403, S3 AccessDenied); the message names the credential."""


class TransferError(BreastcurateError, OSError):
    """A transfer failed for good (after retries, or for a reason a retry cannot fix)."""


class Retryable(OSError):
    """A failure worth another attempt (timeout, dropped connection, 429, 5xx, corrupt payload)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def with_retries(policy: Policy, what: str, attempt: Callable[[], object]):
    """Call `attempt` until it succeeds; back off exponentially (or as Retry-After says) after a Retryable."""
    for n in range(policy.retries + 1):
        try:
            return attempt()
        except Retryable as exc:
            if n == policy.retries:
                raise TransferError(f"{what}: {exc} (gave up after {n + 1} attempts)") from None
            delay = policy.backoff * 2 ** n
            time.sleep(min(exc.retry_after, 60.0) if exc.retry_after is not None else delay)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Http:
    """HTTP(S) GET/HEAD/POST with retries; 401/403 become AccessRefused carrying the caller's hint."""

    def __init__(self, policy: Policy, auth_header: str | None = None, refused: dict[int, str] | None = None):
        self.policy = policy
        self._auth = auth_header  # never logged, never part of an error message
        self.refused = refused or {}

    def _open(self, url: str, offset: int = 0, method: str = "GET", data: bytes | None = None):
        request = urllib.request.Request(url, data=data, method=method)
        if self._auth:
            request.add_unredirected_header("Authorization", self._auth)
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            return urllib.request.urlopen(request, timeout=self.policy.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (401, 403):
                hint = self.refused.get(exc.code, "access refused")
                raise AccessRefused(f"{url}: HTTP {exc.code}: {hint}") from None
            if exc.code == 429 or exc.code >= 500:
                raise Retryable(f"HTTP {exc.code}", _retry_after(exc.headers.get("Retry-After"))) from None
            raise TransferError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError) as exc:
            raise Retryable(str(getattr(exc, "reason", exc))) from None

    def read(self, url: str, method: str = "GET", data: bytes | None = None) -> bytes:
        """The whole body of a (small) response."""
        def attempt() -> bytes:
            with self._open(url, method=method, data=data) as response:
                try:
                    return response.read()
                except (http.client.IncompleteRead, TimeoutError, ConnectionError) as exc:
                    raise Retryable(f"response cut short ({exc})") from None
        return with_retries(self.policy, url, attempt)

    def size(self, url: str) -> int | None:
        """Content-Length from a HEAD request (None when the server does not say)."""
        def attempt() -> int | None:
            with self._open(url, method="HEAD") as response:
                length = response.headers.get("Content-Length")
                return int(length) if length is not None else None
        return with_retries(self.policy, url, attempt)

    def fetch(self, url: str, part: Path, progress: Callable[[int], None] = lambda n: None) -> None:
        """Append `url` to `part`, resuming from its size with a Range request; retry until complete."""
        def attempt() -> None:
            offset = part.stat().st_size if part.exists() else 0
            with self._open(url, offset) as response:
                if offset and response.status != 206:  # the server ignored the range: start over
                    progress(-offset)
                    part.unlink()
                with open(part, "ab") as out:
                    try:
                        for block in iter(lambda: response.read(CHUNK), b""):
                            out.write(block)
                            progress(len(block))
                    except (http.client.IncompleteRead, TimeoutError, ConnectionError, socket.timeout) as exc:
                        partial = getattr(exc, "partial", b"")
                        out.write(partial)
                        progress(len(partial))
                        raise Retryable(f"transfer cut after {out.tell()} bytes") from None
                    if response.length:  # closed before Content-Length bytes arrived
                        raise Retryable(f"transfer cut after {out.tell()} bytes")
        part.parent.mkdir(parents=True, exist_ok=True)
        with_retries(self.policy, url, attempt)


class Ledger:
    """Items of a download that are complete, one JSON line each, appended and fsynced as they complete.
    A torn last line (a killed run) is ignored."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self.entries: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.entries[entry["key"]] = entry

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def add(self, key: str, **entry) -> None:
        record = {"key": key, **entry}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self.entries[key] = record


@dataclass
class Progress:
    """One bar of bytes with a files counter; safe to update from worker threads."""

    label: str
    files: int
    total_bytes: int | None
    quiet: bool = False
    done_files: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        interactive = sys.stderr.isatty()
        self.bar = tqdm(total=self.total_bytes, unit="B", unit_scale=True, file=sys.stderr, disable=self.quiet,
                        desc=self.label, mininterval=0.5 if interactive else 30.0, dynamic_ncols=interactive)
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(f"{self.done_files}/{self.files} files", refresh=False)

    def bytes(self, n: int) -> None:
        with self._lock:
            self.bar.update(n)

    def file_done(self, count: int = 1) -> None:
        with self._lock:
            self.done_files += count
            self._show()

    def close(self) -> None:
        self.bar.refresh()
        self.bar.close()


def transfer_all(tasks: Iterable[tuple[str, Callable[[], None]]], workers: int, progress: Progress, total: int,
                 unit: str) -> None:
    """Run the tasks behind `progress`; if any failed, raise TransferError listing them (the others stay complete)."""
    try:
        failures = run_all(tasks, workers)
    finally:
        progress.close()
    if failures:
        raise TransferError(f"{len(failures)} of {total} {unit} failed (the others are complete; rerun to retry):"
                            "\n  " + "\n  ".join(failures[:20]))


def run_all(tasks: Iterable[tuple[str, Callable[[], None]]], workers: int) -> list[str]:
    """Run (label, task) pairs in a pool of `workers` threads; return "label: reason" for each failure.
    Refused credentials stop everything at once (every other task would be refused too)."""
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(task): label for label, task in tasks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                exc = future.exception()
                if isinstance(exc, AccessRefused):
                    for other in pending:
                        other.cancel()
                    raise exc
                if exc is not None:
                    failures.append(f"{futures[future]}: {exc}")
    return sorted(failures)


def fetch_verified(fetch: Callable[[Path], None], part: Path, target: Path, verify: Callable[[Path], str | None],
                   what: str) -> bool:
    """Unless `target` already passes `verify` (None, or the problem), fetch into `part` (resuming), check it and
    rename it onto `target`; return whether anything was fetched. A failed check deletes the part and fetches once
    more from scratch; a second failure keeps nothing."""
    if target.is_file() and verify(target) is None:  # e.g. placed by a run killed before its ledger line
        return False
    problem = None
    for _ in range(2):
        fetch(part)
        problem = verify(part)
        if problem is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, target)
            return True
        part.unlink()
    raise TransferError(f"{what}: {problem} (fetched twice; nothing kept)")
