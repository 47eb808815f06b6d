"""VinDr-Mammo (PhysioNet): images/<study_id>/<image_id>.dicom plus three CSV tables (docs/sources/vindr_mammo.md).

The released DICOM keep only the tags of the project's tags.csv (no PatientID, SOPClassUID, StudyDate, ImageType,
SeriesDescription), and their study/series/SOP "UIDs" are MD5 hex strings of the original UIDs."""

from __future__ import annotations

import ast
import json
from pathlib import Path, PurePosixPath

import pandas as pd

from ..codes import Codes
from ..errors import NativeTableError
from .base import IMAGE_BOX_COLUMNS, DatasetAdapter, assessment_outcomes

BREAST_LEVEL = "breast-level_annotations.csv"
FINDINGS = "finding_annotations.csv"
BREAST_LEVEL_COLUMNS = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "split",
]
FINDING_COLUMNS = BREAST_LEVEL_COLUMNS[:-1] + [
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "split",
]

BIRADS = {f"BI-RADS {n}": n for n in range(7)}
DENSITY = {f"DENSITY {x}": x for x in "ABCD"}
SPLIT = {"training": "train", "test": "test"}
CATEGORY = {
    "Mass": "mass",
    "Suspicious Calcification": "calcification",
    "Asymmetry": "asymmetry",
    "Focal Asymmetry": "asymmetry",
    "Global Asymmetry": "asymmetry",
    "Architectural Distortion": "architectural_distortion",
    "Suspicious Lymph Node": "lymph_node",
    "Skin Thickening": "skin_or_nipple",
    "Skin Retraction": "skin_or_nipple",
    "Nipple Retraction": "skin_or_nipple",
}


def _read(root: Path, name: str, columns: list[str]) -> pd.DataFrame:
    table = pd.read_csv(root / name, dtype=str)
    missing = [c for c in columns if c not in table]
    if missing:
        raise NativeTableError(f"{name}: missing column(s) {', '.join(missing)}")
    return table


def _path(table: pd.DataFrame) -> pd.Series:
    return "images/" + table.study_id + "/" + table.image_id + ".dicom"


def _boxes(root: Path) -> pd.DataFrame:
    """Rows of finding_annotations.csv that carry a box ('No Finding' rows have none), numbered per image."""
    table = _read(root, FINDINGS, FINDING_COLUMNS)
    table = table.dropna(subset=["xmin", "ymin", "xmax", "ymax"]).sort_values(["image_id"], kind="stable")
    table = table.reset_index(drop=True)
    table["roi"] = "box_" + table.groupby("image_id").cumcount().astype(str)
    table["path"] = _path(table)
    return table


class VinDrMammo(DatasetAdapter):
    key = "vindr_mammo"
    title = "VinDr-Mammo 1.0.0"
    modality = "MG"
    license = "PhysioNet Restricted Health Data License 1.5.0"
    redistributable = False
    image_roots = ("images",)
    downloads = {"physionet": {"url": "https://physionet.org/files/vindr-mammo/1.0.0/"}}
    descriptor_patterns = (r"MAMMO SCREENING BILATERAL", r"[LR] (CC|MLO)", r"NORMAL|HARDER|DEMO GAMMA")
    native_tables = {"breast_level": (BREAST_LEVEL,), "findings": (FINDINGS,)}
    annotation_tables = ("findings",)

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        """VinDr publishes no patient id: the study folder (one study per woman) stands for the patient."""
        parts = relpath.parts
        return parts[1] if len(parts) >= 3 and parts[0] == "images" else None

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """`finding_annotations.csv`: float pixel-edge coordinates in the stored DICOM grid (x = column), already
        0-based and half-open; several rows per image."""
        table = _boxes(root)
        labels = [
            json.dumps({"finding_categories": c, "finding_birads": b}, sort_keys=True)
            for c, b in zip(table.finding_categories, table.finding_birads)
        ]
        return pd.DataFrame(
            {
                "path": table.path,
                "roi": table.roi,
                "xmin": table.xmin.astype(float),
                "ymin": table.ymin.astype(float),
                "xmax": table.xmax.astype(float),
                "ymax": table.ymax.astype(float),
                "frame": "dicom",
                "labels": labels,
            },
            columns=IMAGE_BOX_COLUMNS,
        )

    def image_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """`breast-level_annotations.csv`: BI-RADS and density per breast, the official training/test split."""
        table = _read(root, BREAST_LEVEL, BREAST_LEVEL_COLUMNS)
        out = pd.DataFrame({"path": _path(table), "image_type": "2d", "image_type_native": None, "spot_mag": False})
        codes.map(out, "birads", table.breast_birads, BIRADS)
        codes.map(out, "density", table.breast_density, DENSITY)
        codes.map(out, "official_split", table.split, SPLIT)
        assessment_outcomes(out, "breast_birads")  # VinDr publishes BI-RADS only, no pathology
        return out.drop(columns="official_split_native")

    def finding_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """The boxes' categories (the first of the list; the whole list stays native) and finding BI-RADS (empty for
        lymph node and skin/nipple findings, which the annotators gave no BI-RADS)."""
        table = _boxes(root)
        out = pd.DataFrame({"path": table.path, "roi": table.roi})
        first = [
            ast.literal_eval(v)[0] if isinstance(v, str) and v.startswith("[") else v for v in table.finding_categories
        ]
        codes.map(out, "category", pd.Series(first, dtype=object), CATEGORY)
        out["category_native"] = table.finding_categories
        codes.map(out, "birads", table.finding_birads, BIRADS)
        return out


ADAPTER = VinDrMammo()
