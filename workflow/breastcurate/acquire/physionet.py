"""PhysioNet projects over HTTPS: Basic auth from $PHYSIONET_USERNAME/$PHYSIONET_PASSWORD or ~/.netrc, the file list
and checksums from the project's SHA256SUMS.txt, ranged resume, every file verified before it is placed."""

from __future__ import annotations

import base64
import fnmatch
import functools
import netrc
import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlparse

from ..atomic import sha256_file
from .status import StatusFile
from .transfer import (
    AccessRefused,
    Http,
    Ledger,
    Policy,
    Progress,
    TransferError,
    fetch_verified,
    run_all,
    transfer_all,
)

SUMS = "SHA256SUMS.txt"
USER_VAR, PASSWORD_VAR = "PHYSIONET_USERNAME", "PHYSIONET_PASSWORD"


def credentials(url: str) -> tuple[str, str, str]:
    """(user, password, where they came from): the environment first, then the netrc file ($NETRC or ~/.netrc)."""
    user, password = os.environ.get(USER_VAR), os.environ.get(PASSWORD_VAR)
    if user and password:
        return user, password, f"${USER_VAR} and ${PASSWORD_VAR}"
    host = urlparse(url).hostname or ""
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if path.exists():
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as exc:
            raise AccessRefused(f"cannot read {path}: {exc}") from None
        if entry and entry[0] and entry[2]:
            return entry[0], entry[2], f"the 'machine {host}' entry of {path}"
    raise AccessRefused(
        f"no PhysioNet credentials: set ${USER_VAR} and ${PASSWORD_VAR}, or add "
        f"'machine {host} login <user> password <password>' to ~/.netrc"
    )


def client(settings: dict) -> Http:
    """An authenticated client whose 401/403 errors say which credential was refused and why."""
    user, password, origin = credentials(settings["url"])
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return Http(
        Policy.from_settings(settings),
        f"Basic {token}",
        {
            401: f"PhysioNet refused the username and password from {origin}",
            403: f"the PhysioNet account from {origin} may not download this project: sign its data use agreement "
            "(and complete credentialing if the project asks for it)",
        },
    )


def checksums(http: Http, url: str) -> dict[str, str]:
    """Relative path → sha256, from the project's SHA256SUMS.txt (`<hex>  <path>` per line)."""
    table = {}
    for line in http.read(url + SUMS).decode().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        name = name.strip().lstrip("*")
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise TransferError(f"{SUMS} lists an unsafe path {name!r}")
        table[path.as_posix()] = digest.lower()
    return table


def _selected(sums: dict[str, str], include: list[str] | None) -> list[str]:
    names = sorted(n for n in sums if n != SUMS)
    return [n for n in names if any(fnmatch.fnmatch(n, p) for p in include)] if include else names


def _complete(mirror: Path, name: str, digest: str, ledger: Ledger) -> bool:
    entry = ledger.get(name)
    target = mirror / name
    return (
        entry is not None and entry["sha256"] == digest and target.is_file() and target.stat().st_size == entry["bytes"]
    )


def _pending(settings: dict, mirror: Path, state: Path) -> tuple[Http, dict[str, str], list[str], Ledger, list[str]]:
    url = settings["url"].rstrip("/") + "/"
    http = client({**settings, "url": url})
    sums = checksums(http, url)
    names = _selected(sums, settings.get("include"))
    ledger = Ledger(state / "ledger.jsonl")
    return http, sums, names, ledger, [n for n in names if not _complete(mirror, n, sums[n], ledger)]


def _size_of(http: Http, url: str, name: str, sizes: dict[str, int]) -> None:
    sizes[name] = http.size(url + quote(name)) or 0


def plan(settings: dict, mirror: Path, state: Path) -> dict:
    """Files and bytes of the project (sizes from HEAD requests, for the files still to fetch)."""
    http, _, names, _, todo = _pending(settings, mirror, state)
    url = settings["url"].rstrip("/") + "/"
    sizes: dict[str, int] = {}
    failures = run_all(
        ((n, functools.partial(_size_of, http, url, n, sizes)) for n in todo),
        settings.get("concurrency", 4),
    )
    if failures:
        raise TransferError("could not size: " + "; ".join(failures[:5]))
    todo_bytes = sum(sizes.values())
    done_bytes = sum((mirror / n).stat().st_size for n in names if n not in sizes)
    return {
        "unit": "files",
        "items": len(names),
        "files": len(names),
        "bytes": todo_bytes + done_bytes,
        "todo_items": len(todo),
        "todo_files": len(todo),
        "todo_bytes": todo_bytes,
    }


def download(settings: dict, mirror: Path, state: Path, quiet: bool = False, status: StatusFile | None = None) -> dict:
    """Fetch every listed file not yet verified in the mirror; raise TransferError listing those that failed.
    SHA256SUMS.txt lists no sizes, so the progress counts bytes done but gives no byte total."""
    http, sums, names, ledger, todo = _pending(settings, mirror, state)
    url = settings["url"].rstrip("/") + "/"
    pending = set(todo)
    progress = Progress(
        f"PhysioNet: {len(todo)} files",
        len(todo),
        None,
        quiet,
        status,
        before=(len(names) - len(todo), sum(ledger.entries[n]["bytes"] for n in names if n not in pending)),
        total=(len(names), None),
    )

    def fetch(name: str) -> None:
        target = mirror / name
        fetch_verified(
            lambda part: http.fetch(url + quote(name), part, progress.bytes),
            state / "parts" / f"{name}.part",
            target,
            lambda path: None if sha256_file(path) == sums[name] else "sha256 differs from " + SUMS,
            name,
        )
        ledger.add(name, sha256=sums[name], bytes=target.stat().st_size)
        progress.file_done()

    transfer_all(
        ((n, functools.partial(fetch, n)) for n in todo), settings.get("concurrency", 4), progress, len(names), "files"
    )
    return {
        "unit": "files",
        "items": len(names),
        "fetched": len(todo),
        "skipped": len(names) - len(todo),
        "files": len(names),
    }
