"""I-SPY1 / ACRIN 6657 (TCIA ISPY1): sagittal DCE with all phases in one series, the central lab's SER/PE maps in the
DCE grid, DICOM SEG masks, up to four visits, and the clinical workbook (docs/sources/ispy1.md)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from ..codes import Codes, native_text
from ..errors import NativeTableError
from ..nbia_names import DEFAULT_URL
from ..roles import RoleRule
from .base import DatasetAdapter, NativeType, read_native_sheets

COLLECTION = "ISPY1"
#: The workbook circulates under three names (TCIA page; copies in public repositories, docs/sources/ispy1.md).
CLINICAL_FILES = (
    "I-SPY 1 All Patient Clinical and Outcome Data.xlsx",
    "I-SPY-1-All-Patient-Clinical-and-Outcome-Data.xlsx",
    "I-SPY_1_All_Patient_Clinical_and_Outcome_Data.xlsx",
)
CLINICAL_SHEET = "TCIA Patient Clinical Subset"
OUTCOME_SHEET = "TCIA Outcomes Subset"
CLINICAL_COLUMNS = [
    "SUBJECTID",
    "DataExtractDt",
    "age",
    "race_id",
    "ERpos",
    "PgRpos",
    "HR Pos",
    "Her2MostPos",
    "HR_HER2_CATEGORY",
    "HR_HER2_STATUS",
    "BilateralCa",
    "Laterality",
    "MRI LD Baseline",
    "MRI LD 1-3dAC",
    "MRI LD InterReg",
    "MRI LD PreSurg",
]
#: How the workbook types the columns the adapter reads (numbers: the ids and the coded columns; a SQL schema of the
#: clinical subset in a public repository, docs/sources/ispy1.md).
TYPES: dict[str, NativeType] = {
    "SUBJECTID": "int",
    "age": "float",
    "race_id": "int",
    "ERpos": "int",
    "PgRpos": "int",
    "HR Pos": "int",
    "Her2MostPos": "int",
    "HR_HER2_CATEGORY": "int",
    "PCR": "int",
}
OUTCOME_COLUMNS = ["SUBJECTID", "DataExtractDt", "sstat", "survDtD2 (tx)", "RFS", "rfs_ind", "PCR", "RCBClass"]

BINARY = {"0": 0, "1": 1}
#: Laterality of the cancer (1 left, 2 right; docs/sources/ispy1.md); BilateralCa 1 makes it both (B).
LATERALITY = {"1": "L", "2": "R"}
SUBTYPE = {"1": "hr+her2-", "2": "her2+", "3": "tn"}
RACE = {
    "1": "white",
    "3": "black",
    "4": "asian",
    "5": "native_hawaiian_pacific_islander",
    "6": "american_indian_alaska_native",
    "50": "multiple",
}


def _category(hr, her2) -> str | None:
    """HR_HER2_CATEGORY as the workbook's formula computes it (1 HR+/HER2−, 2 HER2+, 3 triple negative)."""
    if hr is None or her2 is None:
        return None
    return "2" if her2 == 1 else ("1" if hr == 1 else "3")


class ISPY1(DatasetAdapter):
    key = "ispy1"
    title = "I-SPY1 (ACRIN 6657)"
    modality = "MR"
    visit_label = "T{visit}"  # the collection's T0 (baseline) … T3 (before surgery)
    license = "CC BY 3.0"
    #: MAMA-MIA writes ISPY1_1001, as TCIA does; so does BreastDCEDL (docs/sources/split_interop.md).
    published_ids = {
        "mama_mia": ((r"(?i)ISPY1_(\d+)", "ISPY1_{0}"),),
        "breastdcedl": ((r"(ISPY1_\d+)", "{0}"),),
    }
    redistributable = True
    idc_collections = ("ispy1",)
    image_roots = (COLLECTION,)
    downloads = {
        "idc": {"collections": list(idc_collections), "modalities": ["MR", "SEG"]},
        "nbia": {"url": DEFAULT_URL, "collections": [COLLECTION], "modalities": ["MR", "SEG"]},
    }
    supplementary = CLINICAL_FILES[:1]
    native_tables = {"clinical": CLINICAL_FILES}
    descriptor_patterns = (
        r"MRI? BREAST ?(UNI|BI)?(LATERAL)?( ?UE| LEFT| RIGHT)?",
        r"(VOI )?(PE|Breast Tissue) Segmentation( thresh=\d+)?",
    )
    role_rules = (
        RoleRule(
            r"fl3d_sag_uni|dynamic|3dfgre|IR-SPGR|FL3D_T1_SAG|6DYN|3DFatsat|PRE AND POST|SPGR PRE/POST|"
            r"Vibrant",
            "dce",
            "I-SPY1 site DCE naming",
            group=1,
        ),
    )
    lesion_masks = (r"^VOI PE Segmentation thresh=70$",)

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        parts = relpath.parts
        return parts[1] if len(parts) >= 3 and parts[0] == COLLECTION else None

    def _sheets(self, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The clinical and the outcome sheet, found by their columns (copies rename the sheets, e.g. 'predictors'
        and 'outcomes'); formulas (HR_HER2_CATEGORY) come as the values Excel cached."""
        path = self.table_path(root, "clinical")
        sheets = read_native_sheets(path, TYPES)
        clinical = next((t for t in sheets.values() if {"SUBJECTID", "HR Pos"} <= set(t.columns)), None)
        outcome = next((t for t in sheets.values() if {"SUBJECTID", "PCR"} <= set(t.columns)), None)
        if clinical is None or outcome is None:
            raise NativeTableError(
                f"{path.name}: no sheet with SUBJECTID and HR Pos (clinical) and one with SUBJECTID and "
                f"PCR (outcomes); sheets: {', '.join(sheets)}"
            )
        return clinical, outcome

    def clinical(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Both sheets joined by SUBJECTID; the DICOM patient id is `ISPY1_<SUBJECTID>`."""
        clinical, outcome = self._sheets(root)
        table = clinical.merge(outcome[["SUBJECTID", "PCR"]], on="SUBJECTID", how="left")
        out = pd.DataFrame({"native_patient_id": [f"ISPY1_{native_text(s)}" for s in table.SUBJECTID]})
        out["age_years"] = table["age"].astype("float64")
        codes.map(out, "er", table["ERpos"], BINARY)
        codes.map(out, "pr", table["PgRpos"], BINARY)
        codes.map(out, "hr", table["HR Pos"], BINARY)
        codes.map(out, "her2", table["Her2MostPos"], BINARY)
        # A workbook saved without cached formula results has empty cells: compute them as the formula does.
        category = [
            c if native_text(c) else _category(h, e) for c, h, e in zip(table["HR_HER2_CATEGORY"], out.hr, out.her2)
        ]
        codes.map(out, "subtype", pd.Series(category, dtype=object), SUBTYPE)
        codes.map(out, "pcr", table["PCR"], BINARY)
        codes.map(out, "tumor_side", table["Laterality"], LATERALITY)
        bilateral = [native_text(v) == "1" for v in table["BilateralCa"]]
        out["tumor_side"] = ["B" if b else s for b, s in zip(bilateral, out.tumor_side)]
        out["tumor_side_native"] = [
            f"Laterality={s};BilateralCa={native_text(b)}" for s, b in zip(out.tumor_side_native, table["BilateralCa"])
        ]
        return out

    def demographics(self, root: Path, codes: Codes) -> pd.DataFrame:
        clinical, _ = self._sheets(root)
        out = pd.DataFrame({"native_patient_id": [f"ISPY1_{native_text(s)}" for s in clinical.SUBJECTID]})
        codes.map(out, "race", clinical["race_id"], RACE)
        return out


ADAPTER = ISPY1()
