"""`breastcurate scan-phi --raw RAW [--raw RAW…] CURATED`: find any PHI value of the raw files in curated outputs."""

from __future__ import annotations

import gzip
import io
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pydicom
from pydicom.dataset import Dataset

ID_KEYWORDS = {"PatientID", "OtherPatientIDs", "AccessionNumber", "RequestedProcedureID", "ScheduledProcedureStepID",
               "StudyID", "IssuerOfPatientID", "MedicalRecordLocator", "DeviceSerialNumber"}
PLACE_KEYWORDS = {"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
                  "PatientAddress", "PatientTelephoneNumbers", "PatientTelecomInformation"}
UID_ROOT_STANDARD = "1.2.840.10008."
MIN_LENGTH = 4
#: In binary payloads (compressed streams, voxels, pixels) a short name turns up by chance ("TRAN" in random bytes),
#: so there only values of this length or more count; headers, text and table values are searched for every value.
MIN_LENGTH_BINARY = 8


@dataclass(frozen=True)
class Hit:
    """One PHI value found in a curated file (the value itself is masked in reports)."""

    path: str
    kind: str
    masked: str


def _mask(value: str) -> str:
    return value[0] + "*" * (len(value) - 2) + value[-1] if len(value) > 2 else "**"


def _file_phi(path: Path) -> dict[str, str]:
    """PHI values in one raw DICOM file: term → kind (nothing for a file that is not DICOM)."""
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

    try:
        visit(pydicom.dcmread(path, stop_before_pixels=True))
    except Exception:
        pass  # not DICOM: native tables hold the same ids as the DICOM files
    return terms


def collect_phi(raw: Path, workers: int = 1) -> dict[str, str]:
    """PHI values in the raw DICOM files under `raw`: term → kind."""
    paths = sorted(p for p in Path(raw).rglob("*") if p.is_file())
    if workers > 1 and len(paths) > 1:
        with ProcessPoolExecutor(workers) as pool:
            per_file = list(pool.map(_file_phi, paths, chunksize=max(1, len(paths) // (workers * 8))))
    else:
        per_file = [_file_phi(p) for p in paths]
    terms: dict[str, str] = {}
    for found in per_file:
        for term, kind in found.items():
            terms.setdefault(term, kind)
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

    def find(self, text: str, min_length: int = MIN_LENGTH) -> list[tuple[str, str]]:
        low = text.lower()
        hits = [self.single[t] for t in _tokens(low) if t in self.single]
        if self.phrases:
            normal = " " + " ".join(WORD.findall(low)) + " "
            hits += [v for phrase, v in self.phrases.items() if phrase in normal]
        return [h for h in hits if len(h[0]) >= min_length]


def _contents(path: Path) -> list[tuple[bytes, bool]]:
    """The bytes to search for one file, each with whether it is a binary payload: the file itself, plus the
    decoded forms of compressed containers (NIfTI header and voxels, Parquet values, PNG text chunks)."""
    data = path.read_bytes()
    name = path.name.lower()
    binary = name.endswith((".gz", ".png", ".parquet", ".nii", ".dcm", ".duckdb"))
    forms = [(data, binary)]
    if name.endswith(".gz"):
        inner = gzip.decompress(data)
        header = 352 if name.endswith(".nii.gz") else 0  # NIfTI-1 header + extension flag: text-like fields
        if header:
            offset = int(np.frombuffer(inner[108:112], dtype="<f4")[0]) if len(inner) >= 112 else header
            forms += [(inner[:max(offset, header)], False), (inner[max(offset, header):], True)]
        else:
            forms.append((inner, True))
    elif name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        forms.append(("\n".join(str(v) for column in table.columns for v in column.to_pylist()).encode(), False))
        metadata = table.schema.metadata or {}
        forms.append((b"\n".join(k + b"=" + v for k, v in metadata.items()), False))
    elif name.endswith(".png"):
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            text = "\n".join(f"{k}={v}" for k, v in image.info.items() if isinstance(v, str))
            forms += [(text.encode(), False), (image.tobytes(), True)]
    return forms


_MATCHER: "Matcher | None" = None


def _init_worker(matcher: "Matcher") -> None:
    global _MATCHER
    _MATCHER = matcher


VENDORED = Path(__file__).resolve().parents[1] / "checks" / "datadocs_assets"


def _vendored(path: Path) -> bool:
    """A byte-identical copy of a third-party asset this package ships (Data Docs scripts): not data."""
    parts = path.parts
    if "vendor" not in parts:
        return False
    shipped = VENDORED.joinpath(*parts[parts.index("vendor") + 1:])
    return shipped.is_file() and shipped.read_bytes() == path.read_bytes()


def _scan_path(args: tuple[Path, Path]) -> list[Hit]:
    path, curated = args
    rel = path.relative_to(curated).as_posix()
    contents = _contents(path) if path.is_file() and not _vendored(path) else []
    forms = [(rel.encode(), False)] + contents
    found: dict[str, str] = {}
    for form, binary in forms:
        for encoding in ("utf-8", "latin-1"):
            text = form.decode(encoding, errors="ignore")
            for term, kind in _MATCHER.find(text, MIN_LENGTH_BINARY if binary else MIN_LENGTH):
                found.setdefault(term, kind)
    shown = rel
    for term in found:  # the report must not repeat the PHI it found, not even in a path
        shown = re.sub(re.escape(term), _mask(term), shown, flags=re.IGNORECASE)
    return [Hit(shown, kind, _mask(term)) for term, kind in sorted(found.items())]


def scan(raws: list[Path], curated: Path, workers: int = 1) -> tuple[list[Hit], int, int]:
    """Every PHI value of the `raws` folders found in the contents or path names of files under `curated`
    (UTF-8 and Latin-1); also the number of terms searched and of paths scanned."""
    terms: dict[str, str] = {}
    for raw in raws:
        for term, kind in collect_phi(raw, workers).items():
            terms.setdefault(term, kind)
    matcher = Matcher(terms)
    paths = sorted(Path(curated).rglob("*"))
    jobs = [(p, Path(curated)) for p in paths]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(matcher,)) as pool:
            results = list(pool.map(_scan_path, jobs, chunksize=max(1, len(jobs) // (workers * 8))))
    else:
        _init_worker(matcher)
        results = [_scan_path(job) for job in jobs]
    return [hit for found in results for hit in found], len(terms), len(paths)
