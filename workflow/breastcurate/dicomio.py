"""How the package reads DICOM: pydicom with the package's settings, the errors bad input files raise (which a
stage turns into reject rows) and `parse_all`. Every module that reads DICOM takes `dcmread` from here, so the
settings hold wherever a file is read. The package itself no longer imports pydicom, so a job whose modules neither
read DICOM nor use its types starts without it."""

from __future__ import annotations

import struct

from pydicom import config as _pydicom_config
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from .errors import BadInput, BreastcurateError

# Real files carry values that break VR rules (VinDr-Mammo's MD5-hex "UIDs"); stages check what they use themselves,
# so pydicom's per-value read warnings are noise in the job logs.
_pydicom_config.settings.reading_validation_mode = _pydicom_config.IGNORE

__all__ = ["BAD_INPUT", "DECODER_ERRORS", "dcmread", "parse_all"]

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
