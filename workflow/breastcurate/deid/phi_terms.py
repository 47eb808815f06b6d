"""The PHI values of raw DICOM headers, collected where the headers are read anyway (the de-identification job), so
the PHI scan never reads raw headers again.

Each value gets a scope. `patient` values (names, ids, dates, UIDs) belong to the file's patient: a shard's scan
searches for those of its own patients. `dataset` values are not tied to one patient — institution, department and
station names, the names of physicians and operators, addresses, phone numbers, device serials — and every shard of
the dataset is searched for all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import Dataset

from ..dicomio import BAD_INPUT, dcmread, parse_all
from ..tables import read_parts, write_table

ID_KEYWORDS = {
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "RequestedProcedureID",
    "ScheduledProcedureStepID",
    "StudyID",
    "IssuerOfPatientID",
    "MedicalRecordLocator",
}
DATASET_KEYWORDS = {
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "DeviceSerialNumber",
    "InstitutionTelephoneNumbers",
}
#: Person names that name the patient; every other PN (physicians, operators, readers) is dataset-wide.
PATIENT_NAMES = {"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName", "ResponsiblePerson"}
#: Values that describe the equipment, not a person or place: de-identification keeps them, so a PHI value equal to
#: one of them (an institution field that holds the scanner vendor's name) would match every kept header.
PUBLIC_KEYWORDS = {"Manufacturer", "ManufacturerModelName", "Modality", "BodyPartExamined", "SoftwareVersions"}
UID_ROOT_STANDARD = "1.2.840.10008."
MIN_LENGTH = 4

Term = tuple[str, str, str]  # (value, kind, scope)


def _values(elem) -> Iterable[str]:
    values = elem.value if elem.VM > 1 else [elem.value]
    for value in values:
        if value is not None and not isinstance(value, bytes):
            yield str(value)


def terms_of(ds: Dataset) -> dict[str, tuple[str, str]]:
    """PHI values of one header (sequences included): value → (kind, scope)."""
    terms: dict[str, tuple[str, str]] = {}

    def add(value: str, kind: str, scope: str) -> None:
        value = value.strip()
        if len(value) >= MIN_LENGTH and (value not in terms or terms[value][1] == "patient" and scope == "dataset"):
            terms[value] = (kind, scope)

    def visit(data: Dataset) -> None:
        for elem in data:
            if elem.VR == "SQ":
                for item in elem.value or []:
                    visit(item)
                continue
            for text in _values(elem):
                if elem.VR == "PN":
                    scope = "patient" if elem.keyword in PATIENT_NAMES else "dataset"
                    add(text, "person name", scope)
                    for part in re.split(r"[\^=]+", text):
                        add(part, "person name", scope)
                        for word in part.split():
                            add(word, "person name", scope)
                elif elem.keyword in DATASET_KEYWORDS:
                    add(text, "address, phone or place", "dataset")
                elif elem.VR == "DA":
                    add(text, "date", "patient")
                    if len(text) == 8 and text.isdigit():
                        add(f"{text[:4]}-{text[4:6]}-{text[6:]}", "date", "patient")
                elif elem.VR == "UI" and not text.startswith(UID_ROOT_STANDARD):
                    add(text, "UID", "patient")
                elif elem.keyword in ID_KEYWORDS:
                    add(text, "identifier", "patient")

    visit(ds)
    return terms


def public_values(ds: Dataset) -> set[str]:
    """Lower-cased values of the header's equipment attributes (PUBLIC_KEYWORDS), and each word of them
    ("TOSHIBA_MEC" also gives "toshiba", which the scan would find as a token)."""
    values = {str(v).strip().lower() for k in PUBLIC_KEYWORDS for v in (ds.get(k),) if v not in (None, "")}
    return values | {w for v in values for w in re.findall(r"[^\W_]+", v)}


class TermLog:
    """The PHI values of a shard (or of any set of headers), gathered header by header."""

    def __init__(self) -> None:
        self.terms: dict[str, tuple[str, str]] = {}
        self.public: set[str] = set()

    def add(self, ds: Dataset) -> None:
        self.public |= public_values(ds)
        for value, (kind, scope) in terms_of(ds).items():
            known = self.terms.get(value)
            if known is None or known[1] == "patient" and scope == "dataset":
                self.terms[value] = (kind, scope)

    def add_file(self, path: Path) -> None:
        """A raw file's header (a file that is not DICOM adds nothing: native tables hold the same ids)."""
        try:
            self.add(parse_all(dcmread(path, stop_before_pixels=True)))
        except BAD_INPUT:
            pass

    def rows(self) -> list[dict[str, str]]:
        return [
            {"term": t, "kind": k, "scope": s}
            for t, (k, s) in sorted(self.terms.items())
            if t.lower() not in self.public
        ]


def merge_dataset_terms(shard_terms: Iterable[Path], out: Path) -> int:
    """The dataset-wide values of every shard's term table → `out` (rewritten only on change). Returns the count."""
    frame = read_parts(list(shard_terms), "phi_terms")
    frame = frame[frame.scope == "dataset"].drop_duplicates("term")
    write_table(out, "phi_terms", frame, private=True)
    return len(frame)
