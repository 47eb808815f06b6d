"""The one exception type for expected failures: the CLI prints its message and exits 1 (bugs keep their traceback)."""

from __future__ import annotations

from pathlib import Path


class BreastcurateError(Exception):
    """An expected failure a user can act on (bad config, missing input, refused credentials, failed check)."""


class NativeTableError(BreastcurateError):
    """A native table of a mirror cannot be read as its adapter expects (a missing column, sheet or file)."""


def require(path: str | Path, what: str, folder: bool = False) -> Path:
    """`path` as a Path if it is an existing file (or folder); else a BreastcurateError naming it and `what` it is."""
    path = Path(path)
    if not (path.is_dir() if folder else path.is_file()):
        kind = "folder" if folder else "file"
        found = "does not exist" if not path.exists() else f"is not a {kind}"
        raise BreastcurateError(f"{path} {found}: {what} must be an existing {kind}")
    return path
