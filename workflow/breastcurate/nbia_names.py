"""TCIA's NBIA naming: the API base and the 'descriptive' folder layout the NBIA Data Retriever writes, which the
TCIA adapters read and the demo mirrors and the downloaders write."""

from __future__ import annotations

import datetime as dt
import re

DEFAULT_URL = "https://nbia.cancerimagingarchive.net/nbia-api/services/v4"


def _five(uid: str) -> str:
    return re.sub(r"\D", "", uid)[-5:].rjust(5, "0")


def _clean(text: str) -> str:
    """A description made safe as one folder name: ":" dropped, slashes become spaces."""
    return text.replace(":", "").replace("\x00", "").replace("/", " ").replace("\\", " ")


def study_dir(collection: str, patient_id: str, study_date: dt.date | None, description: str, study_uid: str) -> str:
    """NBIA 'descriptive' study folder: <collection>/<patient>/<MM-DD-YYYY>-<description>-<last 5 UID digits>."""
    day = f"{study_date:%m-%d-%Y}" if study_date else "NA"
    return f"{collection}/{_clean(patient_id)}/{day}-{_clean(description)}-{_five(study_uid)}"


def series_dir(series_number: int | None, description: str, series_uid: str) -> str:
    """NBIA 'descriptive' series folder: <number>.000000-<description>-<last 5 UID digits>."""
    number = f"{series_number}.000000" if series_number is not None else "NA"
    return f"{number}-{_clean(description)}-{_five(series_uid)}"
