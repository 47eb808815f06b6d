"""Apply the profile to one DICOM dataset: every element, inside every sequence; pixel data is never touched."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from .. import __version__
from ..errors import BadInput
from .keys import Keyed
from .profile import Profile

PATIENT_ID, PATIENT_NAME, ACCESSION = 0x00100020, 0x00100010, 0x00080050
PATIENT_AGE = 0x00101010
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS", "AE"}
DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "IS": "0", "DS": "0"}
PHI_LIKE = [
    re.compile(p)
    for p in (
        r"\d{5,}",
        r"\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}",
        r"\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}",
        r"(?i)\b(mrn|dob|dr\.?|ssn|tel|phone)\b",
        r"@",
    )
]
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
ULTRASOUND = ("1.2.840.10008.5.1.4.1.1.6.", "1.2.840.10008.5.1.4.1.1.3.")


@dataclass
class Outcome:
    """What happened to one dataset."""

    quarantined: str | None = None
    audit: list[tuple[str, str]] = field(default_factory=list)  # (element path of keywords/tags, action)
    native_patient_id: str = ""
    patient_id: str = ""
    native_accession: str = ""
    accession: str = ""
    date_offset_days: int = 0


def burned_in_reason(ds: Dataset, secondary_capture_reviewed: bool = False) -> str | None:
    """Why a dataset may hold burned-in text (quarantined, never released), or None. Secondary captures pass only
    where the dataset's adapter says why its own carry no burned-in text."""
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return "BurnedInAnnotation is YES"
    sop_class = str(ds.get("SOPClassUID", ""))
    is_sc = sop_class == SECONDARY_CAPTURE or sop_class.startswith(SECONDARY_CAPTURE + ".")
    if is_sc and not secondary_capture_reviewed:
        return "secondary capture image (may hold burned-in text)"
    if "SCREEN SAVE" in [str(v).upper() for v in (ds.get("ImageType") or [])]:
        return "ImageType contains SCREEN SAVE"
    if ds.get("Modality") == "US" or sop_class.startswith(ULTRASOUND):
        return "ultrasound image (burned-in annotations are common)"
    return None


def _name(elem: DataElement) -> str:
    return elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"


def _shift_da(value: str, days: int) -> str:
    try:
        return (dt.datetime.strptime(value.strip()[:8], "%Y%m%d") + dt.timedelta(days=days)).strftime("%Y%m%d")
    except ValueError:
        return ""


def _shift_dt(value: str, days: int) -> str:
    value = value.strip()
    shifted = _shift_da(value[:8], days)
    return shifted + value[8:] if shifted else ""


def phi_terms(ds: Dataset) -> set[str]:
    """Identifying strings of this file (names and their parts, ids, institutions) for descriptor cleaning."""
    terms: set[str] = set()

    def visit(d: Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.VR == "PN" and elem.value:
                for value in elem.value if elem.VM > 1 else [elem.value]:
                    terms.update(p for p in re.split(r"[\^= ,]+", str(value)) if len(p) >= 3)
            elif (
                elem.keyword
                in (
                    "PatientID",
                    "AccessionNumber",
                    "InstitutionName",
                    "StationName",
                    "OtherPatientIDs",
                    "RequestedProcedureID",
                )
                and elem.value
            ):
                terms.add(str(elem.value))

    visit(ds)
    return {t.lower() for t in terms}


class Deidentifier:
    """De-identify datasets of one source with one key and profile."""

    def __init__(
        self,
        keyed: Keyed,
        profile: Profile,
        source: str,
        descriptor_patterns: list[str],
        known_descriptions: frozenset[str] = frozenset(),
        secondary_capture_reviewed: bool = False,
    ):
        self.keyed, self.profile, self.source = keyed, profile, source
        self.secondary_capture_reviewed = secondary_capture_reviewed
        self.descriptors = [re.compile(p) for p in descriptor_patterns]
        self.known = known_descriptions

    def __call__(self, ds: Dataset, native_patient_id: str | None = None) -> Outcome:
        """De-identify `ds` in place (unless quarantined) and return the outcome."""
        native = native_patient_id or str(ds.get("PatientID", "") or "")
        if not native.strip():
            raise BadInput(
                "no PatientID, and no dataset layout names the patient (keyed pseudonyms and date "
                "offsets are per patient)"
            )
        out = Outcome(native_patient_id=native, native_accession=str(ds.get("AccessionNumber", "") or ""))
        out.quarantined = burned_in_reason(ds, self.secondary_capture_reviewed)
        if out.quarantined:
            return out
        out.patient_id = self.keyed.patient(self.source, native)
        out.accession = self.keyed.accession(self.source, out.native_accession) if out.native_accession else ""
        out.date_offset_days = self.keyed.date_offset_days(self.source, native)
        upstream_codes = list(ds.get("DeidentificationMethodCodeSequence") or [])
        upstream_method = ds.get("DeidentificationMethod")
        self._terms = phi_terms(ds)
        self._walk(ds, out, "")
        self._finish(ds, out, upstream_codes, upstream_method)
        return out

    def _walk(self, ds: Dataset, out: Outcome, prefix: str) -> None:
        private_kept: set[tuple[int, int]] = set()
        for elem in list(ds):
            tag = int(elem.tag)
            path = prefix + _name(elem)
            if elem.tag.is_private:
                if elem.tag.is_private_creator:
                    continue
                if self._safe_private(ds, elem):
                    private_kept.add((elem.tag.group, elem.tag.element >> 8))
                    continue
                del ds[elem.tag]
                out.audit.append((path, "X"))
                continue
            if tag in (PATIENT_ID, PATIENT_NAME):
                ds[elem.tag].value = out.patient_id
                out.audit.append((path, "D"))
                continue
            if tag == ACCESSION:
                ds[elem.tag].value = self.keyed.accession(self.source, str(elem.value)) if elem.value else ""
                out.audit.append((path, "D"))
                continue
            action = self.profile.action(tag)
            if action is None or action == "K":
                if elem.VR == "SQ":
                    for item in elem.value:
                        self._walk(item, out, path + ">")
                if tag == PATIENT_AGE and elem.value:
                    ds[elem.tag].value = _cap_age(str(elem.value))
                continue
            self._apply(ds, elem, action, out, path)
        for elem in list(ds):  # private creators whose block kept nothing go too
            if elem.tag.is_private_creator and (elem.tag.group, elem.tag.element) not in private_kept:
                del ds[elem.tag]

    def _apply(self, ds: Dataset, elem: DataElement, action: str, out: Outcome, path: str) -> None:
        vr = elem.VR
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            ds[elem.tag].value = Sequence() if vr == "SQ" else (b"" if vr in ("OB", "OW", "UN") else "")
        elif action == "D":
            if vr == "SQ":
                ds[elem.tag].value = Sequence()
            elif vr == "UI":
                ds[elem.tag].value = self._uids(elem.value)
            elif vr in ("US", "SS", "UL", "SL", "FL", "FD"):
                ds[elem.tag].value = 0
            elif vr in ("OB", "OW", "UN"):
                ds[elem.tag].value = b""
            else:
                ds[elem.tag].value = DUMMY.get(vr, "ANONYMIZED")
        elif action == "U":
            if vr == "SQ":
                for item in elem.value:
                    self._walk(item, out, path + ">")
            elif elem.value:
                ds[elem.tag].value = self._uids(elem.value)
        elif action == "C":
            self._clean(ds, elem, out, path)
            return
        else:
            raise ValueError(f"unknown action {action!r} for {path}")
        out.audit.append((path, action))

    def _clean(self, ds: Dataset, elem: DataElement, out: Outcome, path: str) -> None:
        vr = elem.VR
        if vr == "SQ":
            for item in elem.value:
                self._walk(item, out, path + ">")
            return
        if not elem.value:
            return
        if vr == "DA":
            values = elem.value if elem.VM > 1 else [elem.value]
            shifted = [_shift_da(str(v), out.date_offset_days) for v in values]
            ds[elem.tag].value = shifted if elem.VM > 1 else shifted[0]
            out.audit.append((path, "C:shifted"))
        elif vr == "DT":
            ds[elem.tag].value = _shift_dt(str(elem.value), out.date_offset_days)
            out.audit.append((path, "C:shifted"))
        elif vr == "TM":
            out.audit.append((path, "C:kept"))  # whole-day shifts leave times of day (DCE timing) intact
        elif vr in TEXT_VRS:
            values = [str(v) for v in (elem.value if elem.VM > 1 else [elem.value])]
            if all(self.descriptor_is_safe(v) for v in values):
                out.audit.append((path, "C:kept"))
            else:
                del ds[elem.tag]
                out.audit.append((path, "C:removed"))
        else:
            out.audit.append((path, "C:kept"))

    def descriptor_is_safe(self, value: str) -> bool:
        """Keep a description only if it is a known protocol/description (the adapter's patterns, or a description the
        IDC index lists for the dataset's collections) and holds nothing PHI-like."""
        text = " ".join(value.split())
        if text not in self.known and not any(p.fullmatch(text) for p in self.descriptors):
            return False
        if any(p.search(text) for p in PHI_LIKE):
            return False
        words = set(re.split(r"[^\w]+", text.lower()))
        return not (words & self._terms or any(t in text.lower() for t in self._terms if " " in t))

    def _uids(self, value):
        if isinstance(value, (list, tuple, MultiValue)):
            return [self.keyed.uid(str(v)) for v in value]
        return self.keyed.uid(str(value))

    def _safe_private(self, ds: Dataset, elem: DataElement) -> bool:
        if not self.profile.safe_private or elem.tag.element < 0x1000:
            return False
        creator_tag = (elem.tag.group << 16) | (elem.tag.element >> 8)
        creator = ds.get(creator_tag)
        offset = elem.tag.element & 0xFF
        return creator is not None and any(
            (name, elem.tag.group, offset) in self.profile.safe_private for name in (str(creator.value).strip(), "*")
        )

    def _finish(self, ds: Dataset, out: Outcome, upstream_codes: list, upstream_method) -> None:
        ds.PatientIdentityRemoved = "YES"
        if upstream_method in (None, ""):
            methods = []
        elif isinstance(upstream_method, MultiValue):
            methods = [str(v) for v in upstream_method]
        else:
            methods = [str(upstream_method)]
        ours = f"breastcurate {__version__} PS3.15 Basic Profile + options (code sequence)"[:64]
        ds.DeidentificationMethod = methods + [ours] if methods else ours
        codes = Sequence(upstream_codes)
        have = {(str(c.get("CodingSchemeDesignator", "")), str(c.get("CodeValue", ""))) for c in upstream_codes}
        for value, meaning in self.profile.codes():
            if ("DCM", value) not in have:
                item = Dataset()
                item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
                codes.append(item)
        ds.DeidentificationMethodCodeSequence = codes
        if "retain_longitudinal_modified_dates" in self.profile.options:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            if "SOPInstanceUID" in ds:
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            for keyword in (
                "SourceApplicationEntityTitle",
                "SendingApplicationEntityTitle",
                "ReceivingApplicationEntityTitle",
                "PrivateInformationCreatorUID",
                "PrivateInformation",
            ):
                if keyword in meta:
                    delattr(meta, keyword)


def _cap_age(age: str) -> str:
    """Ages over 89 years are reported as 090Y (HIPAA Safe Harbor)."""
    match = re.fullmatch(r"(\d{3})Y", age.strip())
    return "090Y" if match and int(match.group(1)) > 89 else age
