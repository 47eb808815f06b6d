"""Duke-Breast-Cancer-MRI (TCIA): one series per DCE phase, plus the clinical and box spreadsheets
(docs/sources/duke.md)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from ..codes import Codes, native_text
from ..errors import NativeTableError
from ..nbia_names import DEFAULT_URL
from ..roles import RoleRule
from .base import VOLUME_BOX_COLUMNS, DatasetAdapter, NativeType, read_native

COLLECTION = "Duke-Breast-Cancer-MRI"
CLINICAL = "Clinical_and_Other_Features.xlsx"
BOXES = "Annotation_Boxes.xlsx"
BOX_COLUMNS = ["Patient ID", "Start Row", "End Row", "Start Column", "End Column", "Start Slice", "End Slice"]
MISSING = {"NC", "NP", "NA", "N/A"}  # tokens of the clinical sheet for 'not collected', 'not performed', 'n/a'

BINARY = {"0": 0, "1": 1}
HER2 = {"0": 0, "1": 1, "2": None}  # 2 = borderline: not positive, not negative
SUBTYPE = {"0": "hr+her2-", "1": "her2+", "2": "her2+", "3": "tn"}
# 3 (DCIS only) and 4 (LCIS only): no residual invasive disease, pCR under the ypT0/is definition.
PCR = {"1": 1, "2": 0, "3": 1, "4": 1, "5": None}
MENOPAUSE = {"0": "pre", "1": "post", "2": None}
TUMOR_SIDE = {"L": "L", "R": "R"}  # Tumor Location: the sheet's legend "L = left, R = right" (duke.md)
RACE = {
    "0": None,
    "1": "white",
    "2": "black",
    "3": "asian",
    "4": "american_indian_alaska_native",
    "5": None,
    "6": "multiple",
    "7": "native_hawaiian_pacific_islander",
    "8": "american_indian_alaska_native",
}
ETHNICITY = {str(k): ("hispanic" if k == 5 else None) for k in range(9)}


def read_clinical(path: Path) -> pd.DataFrame:
    """`Clinical_and_Other_Features.xlsx`: group row, name row, legend row, then data; names whitespace-squashed;
    NC/NP/NA are blanks."""
    book = pd.ExcelFile(path)
    sheet = "Data" if "Data" in book.sheet_names else book.sheet_names[0]
    table = pd.read_excel(book, sheet_name=sheet, header=1, dtype=object).iloc[1:].reset_index(drop=True)
    table.columns = [" ".join(str(c).split()) for c in table.columns]
    if "Patient ID" not in table:
        raise NativeTableError(f"{path.name}: no 'Patient ID' column in the second header row of sheet {sheet!r}")
    table = table.map(lambda v: None if isinstance(v, str) and v.strip().upper() in MISSING else v)
    return table.dropna(subset=["Patient ID"])


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    """A clinical column, or nulls when this version of the sheet lacks it (reported as unknown by the code map)."""
    return table[name] if name in table else pd.Series([None] * len(table), dtype=object)


class Duke(DatasetAdapter):
    key = "duke"
    title = "Duke-Breast-Cancer-MRI"
    modality = "MR"
    license = "CC BY-NC 4.0"
    #: MAMA-MIA writes DUKE_001; BreastDCEDL keeps TCIA's ids (docs/sources/split_interop.md).
    published_ids = {
        "mama_mia": ((r"(?i)DUKE_(\d+)", "Breast_MRI_{n:03d}"),),
        "breastdcedl": ((r"(Breast_MRI_\d+)", "{0}"),),
    }
    redistributable = True
    idc_collections = ("duke_breast_cancer_mri",)
    image_roots = (COLLECTION,)
    downloads = {
        "idc": {"collections": list(idc_collections), "modalities": ["MR"]},
        "nbia": {"url": DEFAULT_URL, "collections": [COLLECTION], "modalities": ["MR"]},
    }
    supplementary = (CLINICAL, BOXES)
    native_tables = {"clinical": (CLINICAL,), "boxes": (BOXES,)}
    annotation_tables = ("boxes",)
    # Every SeriesDescription of the collection in IDC v25 (docs/sources/duke.md).
    descriptor_patterns = (
        r"(Ph\d/)?(ax|Ax) (dyn|3d dyn|dynamic|Vibrant MultiPhase)( (MP|pre|\d(st|nd|rd|th) pass?))?",
        r"\d(st|nd|rd|th) ax dyn|ax 3d pre|ax 3d dyn (pre|\d(st|nd|rd|th) pass)",
        r"t1_fl3d_tra_dynVIEWS_spair[ _]+(pre|\d(st|nd|rd|th) pass)|t1fl3dtradynVIEWSspair (pre|\d(st|nd|rd|th) pass)",
        r"ax t1( tse)?( \+c| 3mm| 2mm| pre| repeat)?|Ax 3D T1 NON FS|ax 3d t1 bilateral|AX IDEAL Breast",
        r"AIMI breast-tumor (AI|radiologist \d+ corrected) segmentation|Segmentation",
        r"MRI BREAST BILATERAL W\s+WO",
        r"BREASTROUTINE DYNAMICS",
    )
    role_rules = (
        RoleRule(
            r"^(ph\d/)?ax (dyn|3d dyn|dynamic|vibrant multiphase)\b|^\d(st|nd|rd|th) ax dyn$|^ax 3d pre$|"
            r"dynVIEWS",
            "dce",
            "Duke DCE phase series (one series per phase)",
            group=0,
        ),
        RoleRule(r"^ax t1\b|t1 non fs|ax 3d t1", "t1", "non-fat-saturated T1"),
        RoleRule(r"IDEAL", "other", "IDEAL water/fat series"),
    )
    lesion_masks = (r"AIMI breast-tumor .*segmentation",)

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        parts = relpath.parts
        return parts[1] if len(parts) >= 3 and parts[0] == COLLECTION else None

    def clinical(self, root: Path, codes: Codes) -> pd.DataFrame:
        table = read_clinical(self.table_path(root, "clinical"))
        out = pd.DataFrame({"native_patient_id": table["Patient ID"].map(native_text)})
        days = pd.to_numeric(_column(table, "Date of Birth (Days)"), errors="coerce")
        out["age_years"] = (-days / 365.25).round(2)
        codes.map(out, "er", _column(table, "ER"), BINARY)
        codes.map(out, "pr", _column(table, "PR"), BINARY)
        codes.map(out, "her2", _column(table, "HER2"), HER2)
        er, pr = out.er, out.pr
        out["hr"] = [None if e is None or p is None else int(e == 1 or p == 1) for e, p in zip(er, pr)]
        out["hr_native"] = "ER=" + out.er_native.fillna("") + ";PR=" + out.pr_native.fillna("")
        codes.map(out, "subtype", _column(table, "Mol Subtype"), SUBTYPE)
        codes.map(out, "pcr", _column(table, "Pathologic Response to Neoadjuvant Therapy"), PCR)
        treated = _column(table, "Neoadjuvant Chemotherapy").map(native_text) == "1"
        out["pcr"] = out.pcr.where(treated.values, None)  # no NAC: response is not defined
        codes.map(out, "menopause", _column(table, "Menopause (at diagnosis)"), MENOPAUSE)
        codes.map(out, "tumor_side", _column(table, "Tumor Location"), TUMOR_SIDE)
        # 271 rows leave Tumor Location blank (Bilateral Information NC); their biopsy Position ("L 12": left breast,
        # 12 o'clock) names the side, and agrees with Tumor Location in 648 of the 651 rows that have both (duke.md).
        position = _column(table, "Position").map(native_text)
        side = position.map(lambda v: v[0].upper() if isinstance(v, str) and v[:1].upper() in "LR" else None)
        blank = out.tumor_side.isna().to_numpy() & side.notna().to_numpy()
        out.loc[blank, "tumor_side"] = side[blank].to_numpy()
        out.loc[blank, "tumor_side_native"] = ("Position=" + position[blank]).to_numpy()
        return out

    def demographics(self, root: Path, codes: Codes) -> pd.DataFrame:
        table = read_clinical(self.table_path(root, "clinical"))
        out = pd.DataFrame({"native_patient_id": table["Patient ID"].map(native_text)})
        codes.map(out, "race", _column(table, "Race and Ethnicity"), RACE)
        codes.map(out, "ethnicity", _column(table, "Race and Ethnicity"), ETHNICITY)
        return out

    def volume_boxes(self, root: Path) -> pd.DataFrame:
        """`Annotation_Boxes.xlsx`: 1-based inclusive rows, columns and slices; slices count the series' files in
        InstanceNumber order (the NBIA file order), which the converter maps to its position-sorted grid."""
        types: dict[str, NativeType] = {"Patient ID": "text", **{c: "int" for c in BOX_COLUMNS[1:]}}
        table = read_native(self.table_path(root, "boxes"), types)
        missing = [c for c in BOX_COLUMNS if c not in table]
        if missing:
            raise NativeTableError(f"{BOXES}: missing column(s) {', '.join(missing)}")
        table = table.dropna(subset=BOX_COLUMNS).sort_values("Patient ID", kind="stable")
        as_int = {c: table[c].astype(int) for c in BOX_COLUMNS[1:]}
        return pd.DataFrame(
            {
                "native_patient_id": table["Patient ID"].map(native_text),
                "roi": "box_0",
                "x0": as_int["Start Column"] - 1,
                "x1": as_int["End Column"],
                "y0": as_int["Start Row"] - 1,
                "y1": as_int["End Row"],
                "z0": as_int["Start Slice"] - 1,
                "z1": as_int["End Slice"],
                "z_order": "instance",
                "labels": "{}",
            },
            columns=VOLUME_BOX_COLUMNS,
        ).reset_index(drop=True)


ADAPTER = Duke()
