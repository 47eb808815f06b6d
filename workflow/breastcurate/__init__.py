"""breastcurate: a de-identified, harmonized, versioned catalog of public breast-imaging collections."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("breastcurate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
