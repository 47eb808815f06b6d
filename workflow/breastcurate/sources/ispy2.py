"""I-SPY2 (TCIA ISPY2 and ACRIN-6698): cropped multi-phase DCE series with VOLSER SER/PE maps and a DICOM SEG
analysis mask, DWI, four visits, and the clinical sheet keyed by the bare numeric Patient_ID
(docs/sources/ispy2.md)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from ..codes import Codes, native_text
from ..errors import NativeTableError
from ..nbia_names import DEFAULT_URL
from ..roles import RoleRule
from .base import BitFlagSeg, DatasetAdapter, NativeType, read_native

COLLECTIONS = ("ISPY2", "ACRIN-6698")
#: Imaging patient ids: ISPY2-<n> or ACRIN-6698-<n>; the clinical sheet lists the bare number n.
PREFIXES = ("ISPY2-", "ACRIN-6698-")
CLINICAL = "ISPY2-Imaging-Cohort-1-Clinical-Data.xlsx"
ANCILLARY = "Full-Collection-Ancillary-Patient-Information-file.xlsx"
CLINICAL_COLUMNS = [
    "Patient_ID",
    "Arm",
    "HR",
    "HER2",
    "MP",
    "pCR",
    "Age_at_Screening",
    "Race",
    "ethnicity",
    "menopausal_status",
]
#: The columns as the published sheet types them: numbers for the id and the 0/1 receptor and outcome columns, text
#: for the names (docs/sources/ispy2.md; tests/data/ispy2/README.md). MP's coding is not public: read as text.
CLINICAL_TYPES: dict[str, NativeType] = {
    "Patient_ID": "int",
    "Arm": "text",
    "HR": "int",
    "HER2": "int",
    "MP": "text",
    "pCR": "int",
    "Age_at_Screening": "float",
    "Race": "text",
    "ethnicity": "text",
    "menopausal_status": "text",
}
ANCILLARY_TYPES: dict[str, NativeType] = {"TCIA PATIENT ID": "text", "I-SPY 2 Research ID": "text"}
#: The analysis mask's bit flags (docs/sources/ispy2.md): the legend in private element (0117,10D3) as dcmjs PR #309
#: shows it (bits 1, 2 and 16; the text after "automatic b" is cut off there, and bit 32's entry is not shown but
#: its values are); the lesion (the FTV) is the voxels with no flag set: their count is that of BreastDCEDL's
#: published mask of the same study (42,423).
ANALYSIS_MASK = BitFlagSeg(
    legend_tag=0x011710D3,
    flags={1: "PE threshold", 2: "other SER filter", 16: "automatic b", 32: ""},
    rule="FTV lesion = voxels with no flag set (stored value 0) among flags 1, 2, 16, 32",
)

BINARY = {"0": 0, "1": 1}
MENOPAUSE = {"Pre": "pre", "Post": "post", "Peri": "peri", "N/A": None}
RACE = {
    "White": "white",
    "Black": "black",
    "Asian": "asian",
    "Native Hawaiian or Pacific Islander": "native_hawaiian_pacific_islander",
    "American Indian or Alaska Native": "american_indian_alaska_native",
    "Multiple": "multiple",
    "Unknown": None,
}
ETHNICITY = {"Not Hispanic or Latino": "not_hispanic", "Hispanic or Latino": "hispanic", "Unknown": None}


class ISPY2(DatasetAdapter):
    key = "ispy2"
    title = "I-SPY2 (ISPY2 and ACRIN-6698)"
    modality = "MR"
    visit_label = "T{visit}"  # the collection's T0 (baseline) … T3 (before surgery)
    license = "CC BY 4.0"
    #: MAMA-MIA writes ISPY2_<n> over one numbering space that TCIA files under two collections (ISPY2-<n> and
    #: ACRIN-6698-<n>; the linkage decides); BreastDCEDL keeps TCIA's ids (docs/sources/split_interop.md).
    published_ids = {
        "mama_mia": ((r"(?i)ISPY2_(\d+)", "ISPY2-{0}"), (r"(?i)ISPY2_(\d+)", "ACRIN-6698-{0}")),
        "breastdcedl": ((r"((?:ISPY2|ACRIN-6698)-\d+)", "{0}"),),
    }
    redistributable = True
    idc_collections = ("ispy2", "acrin_6698")
    image_roots = COLLECTIONS
    downloads = {
        "idc": {"collections": list(idc_collections), "modalities": ["MR", "SEG"]},
        "nbia": {"url": DEFAULT_URL, "collections": list(COLLECTIONS), "modalities": ["MR", "SEG"]},
    }
    supplementary = (CLINICAL,)
    native_tables = {"clinical": (CLINICAL,), "ancillary": (ANCILLARY,)}
    optional_tables = frozenset({"ancillary"})
    descriptor_patterns = (r"(ACRIN-6698_)?ISPY2_MRI_T[0-3]", r"VOLSER( Analysis Mask)?")
    role_rules = (
        RoleRule(
            r"VOLSER: uni-lateral cropped: original DCE", "dce", "cropped DCE that the analysis mask refers to", group=0
        ),
        RoleRule(r"VOLSER: bi-lateral: original DCE", "dce", "bilateral VOLSER DCE", group=1),
    )
    lesion_masks = (r"VOLSER: uni-lateral cropped: Analysis Mask",)
    bit_flag_seg = ANALYSIS_MASK

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        parts = relpath.parts
        return parts[1] if len(parts) >= 3 and parts[0] in COLLECTIONS else None

    def _table(self, root: Path) -> pd.DataFrame:
        """The clinical sheet, one row per imaging id it can match: `Patient_ID` n → ISPY2-n and ACRIN-6698-n (the
        two collections number patients without overlap), plus the ancillary file's TCIA PATIENT ID → I-SPY 2
        Research ID pairs when that file is in the mirror."""
        table = read_native(self.table_path(root, "clinical"), CLINICAL_TYPES)
        if "Patient_ID" not in table:
            raise NativeTableError(f"{CLINICAL}: no Patient_ID column")
        table["number"] = [native_text(v) for v in table.Patient_ID]
        table = table[table.number.notna()]
        rows = [table.assign(native_patient_id=[prefix + n for n in table.number]) for prefix in PREFIXES]
        ancillary = self.table_path(root, "ancillary")
        if ancillary.exists():
            pairs = read_native(ancillary, ANCILLARY_TYPES)
            pairs = pd.DataFrame(
                {
                    "native_patient_id": [native_text(v) for v in pairs["TCIA PATIENT ID"]],
                    "number": [native_text(v) for v in pairs["I-SPY 2 Research ID"]],
                }
            ).dropna()
            rows.append(pairs.merge(table.drop(columns=["native_patient_id"], errors="ignore"), on="number"))
        return pd.concat(rows, ignore_index=True).drop_duplicates("native_patient_id").reset_index(drop=True)

    def clinical(self, root: Path, codes: Codes) -> pd.DataFrame:
        """HR, HER2 and pCR as published; subtype derived (HER2+ → her2+, else HR+ → hr+her2-, else tn)."""
        table = self._table(root)
        out = pd.DataFrame({"native_patient_id": table.native_patient_id})
        out["age_years"] = table.Age_at_Screening.astype("float64")
        codes.map(out, "hr", table.HR, BINARY)
        codes.map(out, "her2", table.HER2, BINARY)
        out["subtype"] = [
            None if h is None or e is None else ("her2+" if e == 1 else ("hr+her2-" if h else "tn"))
            for h, e in zip(out.hr, out.her2)
        ]
        out["subtype_native"] = [
            f"HR={native_text(h) or ''};HER2={native_text(e) or ''}" for h, e in zip(out.hr_native, out.her2_native)
        ]
        codes.map(out, "pcr", table.pCR, BINARY)
        codes.map(out, "menopause", table.menopausal_status, MENOPAUSE)
        return out

    def demographics(self, root: Path, codes: Codes) -> pd.DataFrame:
        table = self._table(root)
        out = pd.DataFrame({"native_patient_id": table.native_patient_id})
        codes.map(out, "race", table.Race, RACE)
        codes.map(out, "ethnicity", table.ethnicity, ETHNICITY)
        return out


ADAPTER = ISPY2()
