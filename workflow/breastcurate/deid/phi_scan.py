"""`breastcurate scan-phi --raw RAW CURATED`: find any PHI value of the raw files in curated outputs."""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
from pydicom.dataset import Dataset

ID_KEYWORDS = {"PatientID", "OtherPatientIDs", "AccessionNumber", "RequestedProcedureID", "ScheduledProcedureStepID",
               "StudyID", "IssuerOfPatientID", "MedicalRecordLocator", "DeviceSerialNumber"}
PLACE_KEYWORDS = {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
                  "PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation"}
UID_ROOT_STANDARD = "1.2.840.10008."
MIN_LENGTH = 4


@dataclass(frozen=True)
class Hit:
    """One PHI value found in a curated file (the value itself is masked in reports)."""

    path: str
    kind: str
    masked: str


def _mask(value: str) -> str:
    return value[0] + "*" * (len(value) - 2) + value[-1] if len(value) > 2 else "**"


def collect_phi(raw: Path) -> dict[str, str]:
    """PHI values in the raw DICOM files under `raw`: term → kind."""
    terms: dict[str, str] = {}

    def add(value: str, kind: str) -> None:
        value = value.strip()
        if len(value) >= MIN_LENGTH and not value.isspace():
            terms.setdefault(value, kind)

    def visit(ds: Dataset) -> None:
        for elem in ds:
            if elem.VR == "SQ":
                for item in elem.value or []:
                    visit(item)
                continue
            values = elem.value if elem.VM > 1 else [elem.value]
            for value in values:
                if value is None or isinstance(value, bytes):
                    continue
                text = str(value)
                if elem.VR == "PN":
                    add(text, "person name")
                    for part in re.split(r"[\^=]+", text):
                        add(part, "person name")
                        for word in part.split():
                            add(word, "person name")
                elif elem.VR == "DA":
                    add(text, "date")
                    if len(text) == 8 and text.isdigit():
                        add(f"{text[:4]}-{text[4:6]}-{text[6:]}", "date")
                elif elem.VR == "UI" and not text.startswith(UID_ROOT_STANDARD):
                    add(text, "UID")
                elif elem.keyword in ID_KEYWORDS:
                    add(text, "identifier")
                elif elem.keyword in PLACE_KEYWORDS:
                    add(text, "address, phone or place")

    for path in sorted(p for p in Path(raw).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue  # not DICOM: native tables hold the same ids as the DICOM files
        visit(ds)
    return terms


TOKEN = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*")
WORD = re.compile(r"[^\W_]+")


def _tokens(text: str) -> set[str]:
    """Tokens of `text` (runs of letters/digits, joined by . or -) and every contiguous piece of them."""
    found: set[str] = set()
    for match in TOKEN.finditer(text):
        token = match.group(0)
        found.add(token)
        pieces = re.split(r"([.\-])", token)
        n = (len(pieces) + 1) // 2
        if 1 < n <= 12:
            for i in range(n):
                for j in range(i, n):
                    found.add("".join(pieces[2 * i:2 * j + 1]))
    return found


class Matcher:
    """Whole-token, case-insensitive matching of many terms: a set look-up per token, a find per phrase."""

    def __init__(self, terms: dict[str, str]):
        self.single: dict[str, tuple[str, str]] = {}
        self.phrases: dict[str, tuple[str, str]] = {}
        for term, kind in terms.items():
            low = term.lower()
            if TOKEN.fullmatch(low):
                self.single.setdefault(low, (term, kind))
            else:
                words = WORD.findall(low)
                if words:
                    self.phrases.setdefault(" " + " ".join(words) + " ", (term, kind))

    def find(self, text: str) -> list[tuple[str, str]]:
        low = text.lower()
        hits = [self.single[t] for t in _tokens(low) if t in self.single]
        if self.phrases:
            normal = " " + " ".join(WORD.findall(low)) + " "
            hits += [v for phrase, v in self.phrases.items() if phrase in normal]
        return hits


def _contents(path: Path) -> list[bytes]:
    """The bytes to search for one file: raw bytes, plus decoded forms of compressed containers."""
    data = path.read_bytes()
    forms = [data]
    name = path.name.lower()
    if name.endswith(".gz"):
        forms.append(gzip.decompress(data))
    elif name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        forms.append("\n".join(str(v) for column in table.columns for v in column.to_pylist()).encode())
        metadata = table.schema.metadata or {}
        forms.append(b"\n".join(k + b"=" + v for k, v in metadata.items()))
    elif name.endswith(".png"):
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            forms.append("\n".join(f"{k}={v}" for k, v in image.info.items() if isinstance(v, str)).encode())
    return forms


def scan(raw: Path, curated: Path) -> list[Hit]:
    """Every raw PHI value found in the contents or path names of files under `curated` (UTF-8 and Latin-1)."""
    matcher = Matcher(collect_phi(raw))
    hits: list[Hit] = []
    for path in sorted(Path(curated).rglob("*")):
        rel = path.relative_to(curated).as_posix()
        forms = [rel.encode()] + (_contents(path) if path.is_file() else [])
        found: dict[str, str] = {}
        for form in forms:
            for encoding in ("utf-8", "latin-1"):
                for term, kind in matcher.find(form.decode(encoding, errors="ignore")):
                    found.setdefault(term, kind)
        shown = rel
        for term in found:  # the report must not repeat the PHI it found, not even in a path
            shown = re.sub(re.escape(term), _mask(term), shown, flags=re.IGNORECASE)
        hits += [Hit(shown, kind, _mask(term)) for term, kind in sorted(found.items())]
    return hits
