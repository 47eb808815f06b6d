"""What every transfer shares: retries with exponential backoff, HTTP with ranged resume, a download ledger, and a
bounded pool of workers behind one progress bar (files and bytes)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from tqdm import tqdm

from ..errors import BreastcurateError
from .status import INTERVAL, StatusFile, describe, record, write_status

CHUNK = 1 << 20
#: Statuses worth another attempt: too many requests, and the server's own failures.
RETRY_STATUS = (429, 500, 502, 503, 504)
#: What a body cut short raises (urllib3 enforces Content-Length).
CUT = (
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.IncompleteRead,
    TimeoutError,
    ConnectionError,
)


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts after the first, first backoff in seconds (doubling), socket timeout."""

    retries: int = 5
    backoff: float = 1.0
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: dict) -> Policy:
        return cls(
            settings.get("retries", 5), settings.get("backoff_seconds", 1.0), settings.get("timeout_seconds", 60.0)
        )


class AccessRefused(BreastcurateError, PermissionError):
    """Credentials are missing or refused (HTTP 401/403, S3 AccessDenied); the message names the credential."""


class TransferError(BreastcurateError, OSError):
    """A transfer failed for good (after retries, or for a reason a retry cannot fix)."""


class Retryable(OSError):
    """A failure worth another attempt (a transfer cut short, a corrupt payload); statuses and refused connections
    are retried inside urllib3."""


def with_retries(policy: Policy, what: str, attempt: Callable[[], object]):
    """Call `attempt` until it succeeds; back off exponentially after a Retryable."""
    for n in range(policy.retries + 1):
        try:
            return attempt()
        except Retryable as exc:
            if n == policy.retries:
                raise TransferError(f"{what}: {exc} (gave up after {n + 1} attempts)") from None
            delay = policy.backoff * 2**n
            time.sleep(delay)


class Http:
    """HTTP(S) over one urllib3 connection pool, so connections are reused across 10⁵ requests. urllib3's Retry
    retries refused connections, 429 and 5xx with exponential backoff and jitter, honouring Retry-After; a body cut
    short is resumed with a Range request (`with_retries`). 401/403 become AccessRefused carrying the caller's hint;
    the Authorization header is never logged and is dropped on a redirect to another host."""

    def __init__(
        self, policy: Policy, auth_header: str | None = None, refused: dict[int, str] | None = None, pool_size: int = 16
    ):
        self.policy = policy
        self._auth = auth_header  # never logged, never part of an error message
        self.refused = refused or {}
        retry = urllib3.Retry(
            total=policy.retries,
            backoff_factor=policy.backoff,
            backoff_jitter=policy.backoff / 2,
            backoff_max=60.0,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.pool = urllib3.PoolManager(
            maxsize=pool_size,
            block=False,
            retries=retry,
            timeout=urllib3.Timeout(connect=policy.timeout, read=policy.timeout),
        )

    def _open(self, url: str, offset: int = 0, method: str = "GET", data: bytes | None = None):
        headers = {"Authorization": self._auth} if self._auth else {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = self.pool.request(method, url, body=data, headers=headers, preload_content=False)
        except urllib3.exceptions.MaxRetryError as exc:
            raise TransferError(f"{url}: {exc.reason} (gave up after {self.policy.retries + 1} attempts)") from None
        except urllib3.exceptions.HTTPError as exc:
            raise Retryable(str(exc)) from None
        if response.status < 400:
            return response
        response.drain_conn()
        response.release_conn()
        if response.status in (401, 403):
            hint = self.refused.get(response.status, "access refused")
            raise AccessRefused(f"{url}: HTTP {response.status}: {hint}")
        if response.status in RETRY_STATUS:
            raise TransferError(f"{url}: HTTP {response.status} (gave up after {self.policy.retries + 1} attempts)")
        raise TransferError(f"{url}: HTTP {response.status} {response.reason}")

    def read(self, url: str, method: str = "GET", data: bytes | None = None) -> bytes:
        """The whole body of a (small) response."""

        def attempt() -> bytes:
            response = self._open(url, method=method, data=data)
            try:
                return response.read()
            except CUT as exc:
                raise Retryable(f"response cut short ({exc})") from None
            finally:
                response.release_conn()

        return with_retries(self.policy, url, attempt)

    def size(self, url: str) -> int | None:
        """Content-Length from a HEAD request (None when the server does not say)."""

        def attempt() -> int | None:
            response = self._open(url, method="HEAD")
            response.release_conn()
            length = response.headers.get("Content-Length")
            return int(length) if length is not None else None

        return with_retries(self.policy, url, attempt)

    def fetch(self, url: str, part: Path, progress: Callable[[int], None] = lambda n: None) -> None:
        """Append `url` to `part`, resuming from its size with a Range request; retry until complete."""

        def attempt() -> None:
            offset = part.stat().st_size if part.exists() else 0
            response = self._open(url, offset)
            try:
                if offset and response.status != 206:  # the server ignored the range: start over
                    progress(-offset)
                    part.unlink()
                with open(part, "ab") as out:
                    try:
                        while block := response.read1(CHUNK):  # what arrived is kept, even if the body is cut
                            out.write(block)
                            progress(len(block))
                    except CUT:
                        raise Retryable(f"transfer cut after {out.tell()} bytes") from None
            finally:
                response.release_conn()

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
    """One bar of this run's bytes with a files counter; safe to update from worker threads. With `status`, the
    dataset's whole progress is also written there (`before`: the files and bytes earlier runs completed; `total`:
    the dataset's files and bytes, None when the listing gives no sizes), at most every `INTERVAL` seconds
    and when the run ends, and the run ends with its one-line summary on stderr (even when quiet)."""

    label: str
    files: int
    total_bytes: int | None
    quiet: bool = False
    status: StatusFile | None = None
    before: tuple[int, int] = (0, 0)
    total: tuple[int, int | None] = (0, None)
    done_files: int = 0
    done_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        interactive = sys.stderr.isatty()
        self.bar = tqdm(
            total=self.total_bytes,
            unit="B",
            unit_scale=True,
            file=sys.stderr,
            disable=self.quiet,
            desc=self.label,
            mininterval=0.5 if interactive else 30.0,
            dynamic_ncols=interactive,
        )
        self._started = time.time()
        self._written = 0.0
        self._show()
        self._write("running", force=True)

    def _show(self) -> None:
        self.bar.set_postfix_str(f"{self.done_files}/{self.files} files", refresh=False)

    def _write(self, state: str, force: bool = False) -> dict | None:
        """Write the status file (under the lock, or once the workers are done); return what was written."""
        if self.status is None or not (force or time.monotonic() - self._written >= INTERVAL):
            return None
        self._written = time.monotonic()
        done = (self.before[0] + self.done_files, self.before[1] + self.done_bytes)
        written = record(self.status, state, done, self.total, self._started, self.done_bytes, self.done_files)
        write_status(self.status, written)
        return written

    def bytes(self, n: int) -> None:
        with self._lock:
            self.done_bytes += n
            self.bar.update(n)
            self._write("running")

    def file_done(self, count: int = 1) -> None:
        with self._lock:
            self.done_files += count
            self._show()
            self._write("running")

    def close(self, complete: bool = True) -> None:
        """End the bar; write the final status ("complete", or "incomplete" after failures) and print its line."""
        self.bar.refresh()
        self.bar.close()
        final = self._write("complete" if complete else "incomplete", force=True)
        if final is not None:
            print(describe(final), file=sys.stderr)


def transfer_all(
    tasks: Iterable[tuple[str, Callable[[], None]]], workers: int, progress: Progress, total: int, unit: str
) -> None:
    """Run the tasks behind `progress`; if any failed, raise TransferError listing them (the others stay complete)."""
    failures: list[str] | None = None
    try:
        failures = run_all(tasks, workers)
    finally:
        progress.close(complete=failures == [])
    if failures:
        raise TransferError(
            f"{len(failures)} of {total} {unit} failed (the others are complete; rerun to retry):"
            "\n  " + "\n  ".join(failures[:20])
        )


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


def fetch_verified(
    fetch: Callable[[Path], None], part: Path, target: Path, verify: Callable[[Path], str | None], what: str
) -> bool:
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
