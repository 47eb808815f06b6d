"""breastcurate: a de-identified, harmonized, versioned catalog of public breast-imaging collections."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("breastcurate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

# Real files carry values that break VR rules (VinDr-Mammo's MD5-hex "UIDs"); stages check what they use themselves,
# so pydicom's per-value read warnings are noise in the job logs.
from pydicom import config as _pydicom_config  # noqa: E402

_pydicom_config.settings.reading_validation_mode = _pydicom_config.IGNORE
