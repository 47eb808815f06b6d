"""The package's exception types for expected failures (the CLI prints their message and exits 1; bugs keep their
traceback), and BAD_INPUT: the errors that bad input files raise, which a stage turns into reject rows."""

from __future__ import annotations

import struct
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError


class BreastcurateError(Exception):
    """An expected failure a user can act on (bad config, missing input, refused credentials, failed check)."""


class NativeTableError(BreastcurateError):
    """A native table of a mirror cannot be read as its adapter expects (a missing column, sheet or file)."""


class BadInput(BreastcurateError):
    """One input file cannot be used as what it claims to be (a missing or inconsistent attribute, an element that
    does not parse): the stage writes a reject row with this message and goes on."""


#: What bad input raises, and all a stage catches around one file: the package's own errors, pydicom's parse errors,
#: `OSError` on a file (pydicom raises it for a header cut short), and `ValueError` from decoders and from numpy on
#: wrong-length pixel data. Anything else (a `TypeError`, an `AttributeError`, ...) is a bug: it fails the job.
BAD_INPUT: tuple[type[Exception], ...] = (
    BreastcurateError,
    InvalidDicomError,
    BytesLengthException,
    OSError,
    EOFError,
    ValueError,
    struct.error,
)
#: What pydicom's decoders (with pylibjpeg's plugins) and nibabel's DICOM wrappers raise on pixel data they cannot
#: decode: a wrong length or value (ValueError), a missing or inconsistent attribute (AttributeError, KeyError,
#: IndexError, TypeError on a None value), an unsupported encoding (NotImplementedError), a codec failure
#: (RuntimeError). Caught around the decoder call only, where none of them can be a bug of ours.
DECODER_ERRORS: tuple[type[Exception], ...] = (
    *BAD_INPUT,
    AttributeError,
    KeyError,
    IndexError,
    TypeError,
    NotImplementedError,
    RuntimeError,
)
#: What pydicom raises while it converts a raw element's bytes: a wrong VR or length, an unknown VR
#: (NotImplementedError), and a TypeError when `Dataset.walk` re-raises an error type that takes more than a message
#: (UnicodeDecodeError). Caught around that one library call only.
_PARSE_ERRORS: tuple[type[Exception], ...] = (
    *BAD_INPUT,
    NotImplementedError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
)


def parse_all(ds: Dataset) -> Dataset:
    """Convert every element of `ds` (nested sequences included) now: pydicom parses values on first access, so a
    value it cannot parse raises `BadInput` here, at the file's reading, instead of deep inside a stage."""
    try:
        ds.walk(lambda _ds, _elem: None)
    except _PARSE_ERRORS as exc:
        raise BadInput(f"an element does not parse: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return ds


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
