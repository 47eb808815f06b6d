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
from .base import DatasetAdapter

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

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        parts = relpath.parts
        return parts[1] if len(parts) >= 3 and parts[0] in COLLECTIONS else None

    def _table(self, root: Path) -> pd.DataFrame:
        """The clinical sheet, one row per imaging id it can match: `Patient_ID` n → ISPY2-n and ACRIN-6698-n (the
        two collections number patients without overlap), plus the ancillary file's TCIA PATIENT ID → I-SPY 2
        Research ID pairs when that file is in the mirror."""
        table = pd.read_excel(self.table_path(root, "clinical"), sheet_name=0, dtype=object)
        if "Patient_ID" not in table:
            raise NativeTableError(f"{CLINICAL}: no Patient_ID column")
        table["number"] = table.Patient_ID.map(native_text)
        rows = [table.assign(native_patient_id=prefix + table.number) for prefix in PREFIXES]
        ancillary = self.table_path(root, "ancillary")
        if ancillary.exists():
            pairs = pd.read_excel(ancillary, sheet_name=0, dtype=object)
            pairs = pd.DataFrame(
                {
                    "native_patient_id": pairs["TCIA PATIENT ID"].map(native_text),
                    "number": pairs["I-SPY 2 Research ID"].map(native_text),
                }
            ).dropna()
            rows.append(pairs.merge(table.drop(columns=["native_patient_id"], errors="ignore"), on="number"))
        return pd.concat(rows, ignore_index=True).drop_duplicates("native_patient_id").reset_index(drop=True)

    def clinical(self, root: Path, codes: Codes) -> pd.DataFrame:
        """HR, HER2 and pCR as published; subtype derived (HER2+ → her2+, else HR+ → hr+her2-, else tn)."""
        table = self._table(root)
        out = pd.DataFrame({"native_patient_id": table.native_patient_id})
        out["age_years"] = pd.to_numeric(table.Age_at_Screening, errors="coerce")
        codes.map(out, "hr", table.HR, BINARY)
        codes.map(out, "her2", table.HER2, BINARY)
        out["subtype"] = [
            None if h is None or e is None else ("her2+" if e == 1 else ("hr+her2-" if h else "tn"))
            for h, e in zip(out.hr, out.her2)
        ]
        out["subtype_native"] = "HR=" + out.hr_native.fillna("") + ";HER2=" + out.her2_native.fillna("")
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
