"""The package's exception types for expected failures (the CLI prints their message and exits 1; bugs keep their
traceback). What bad input files raise (`BAD_INPUT`) is in `dicomio`, beside the reader that raises it."""

from __future__ import annotations

from pathlib import Path


class BreastcurateError(Exception):
    """An expected failure a user can act on (bad config, missing input, refused credentials, failed check)."""


class NativeTableError(BreastcurateError):
    """A native table of a mirror cannot be read as its adapter expects (a missing column, sheet or file)."""


class BadInput(BreastcurateError):
    """One input file cannot be used as what it claims to be (a missing or inconsistent attribute, an element that
    does not parse): the stage writes a reject row with this message and goes on."""


def reason(exc: Exception, what: str) -> str:
    """A reject row's reason for one of BAD_INPUT: the package's own message, else `<what>: <type>: <message>`."""
    if isinstance(exc, BreastcurateError):
        return str(exc)
    return f"{what}: {type(exc).__name__}: {str(exc)[:200]}"


def require(path: str | Path, what: str, folder: bool = False) -> Path:
    """`path` as a Path if it is an existing file (or folder); else a BreastcurateError naming it and `what` it is."""
    path = Path(path)
    if not (path.is_dir() if folder else path.is_file()):
        kind = "folder" if folder else "file"
        found = "does not exist" if not path.exists() else f"is not a {kind}"
        raise BreastcurateError(f"{path} {found}: {what} must be an existing {kind}")
    return path
