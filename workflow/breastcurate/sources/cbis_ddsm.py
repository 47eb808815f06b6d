"""CBIS-DDSM (TCIA, CC BY 3.0): digitized-film mammograms with ROI mask and cropped ROI images, all DICOM secondary
captures, plus four description CSVs (docs/sources/cbis_ddsm.md).

Each TCIA "patient" is one image folder, `<Mass|Calc>-<Training|Test>_P_<5 digits>_<LEFT|RIGHT>_<CC|MLO>`, with
`_<abnormality id>` appended for the ROI folders; the person is the `P_<5 digits>` part. The CSVs name the three files
of each abnormality as `<folder>/<study uid>/<series uid>/<file>.dcm`."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from ..codes import Codes
from ..errors import NativeTableError
from ..nbia_names import DEFAULT_URL
from .base import IMAGE_BOX_COLUMNS, MASK_COLUMN, DatasetAdapter

COLLECTION = "CBIS-DDSM"
TABLES = {
    "mass_train": "mass_case_description_train_set.csv",
    "mass_test": "mass_case_description_test_set.csv",
    "calc_train": "calc_case_description_train_set.csv",
    "calc_test": "calc_case_description_test_set.csv",
}
#: Columns of all four CSVs; the density column is `breast_density` in the mass CSVs and `breast density` in the calc
#: CSVs (both spellings are accepted).
COLUMNS = [
    "patient_id",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
DENSITY_COLUMNS = ("breast_density", "breast density")
DESCRIPTORS = {"mass": ("mass shape", "mass margins"), "calcification": ("calc type", "calc distribution")}
#: Image folders; 396 of IDC's ids (added in IDC v22) lack the set prefix and end in `.dcm`, e.g. `P_00038_LEFT_CC.dcm`.
FOLDER = re.compile(r"^(?:(?:Mass|Calc)-(?:Training|Test)_)?(P_\d{5})_(LEFT|RIGHT)_(CC|MLO)(?:_\d+)?(?:\.dcm)?$")

DENSITY = {"1": "A", "2": "B", "3": "C", "4": "D"}
BIRADS = {str(n): n for n in range(6)}
CATEGORY = {"mass": "mass", "calcification": "calcification"}
PATHOLOGY = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}


def _mirror_path(value: object) -> str | None:
    """A CSV file path as a mirror path (the published values carry stray whitespace and line breaks)."""
    return f"{COLLECTION}/{value.strip()}" if isinstance(value, str) and value.strip() else None


def _folder(relpath: PurePosixPath) -> re.Match | None:
    """The image folder's name, matched (None outside CBIS-DDSM's folders)."""
    parts = relpath.parts
    return FOLDER.match(parts[1]) if len(parts) >= 3 and parts[0] == COLLECTION else None


def read_descriptions(root: Path) -> pd.DataFrame:
    """The four description CSVs as one table: one row per abnormality, with `density`, `split` (train/test),
    `roi` and mirror paths `image`, `crop`, `mask`."""
    frames = []
    for name, file_name in TABLES.items():
        table = pd.read_csv(root / file_name, dtype=str)
        table.columns = [c.strip() for c in table.columns]
        missing = [c for c in COLUMNS if c not in table]
        density = next((c for c in DENSITY_COLUMNS if c in table), None)
        if missing or density is None:
            raise NativeTableError(f"{file_name}: missing column(s) {', '.join(missing or list(DENSITY_COLUMNS))}")
        table["density"] = table[density]
        table["split"] = name.split("_")[1]
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    table["image"] = table["image file path"].map(_mirror_path)
    table["crop"] = table["cropped image file path"].map(_mirror_path)
    table["mask"] = table["ROI mask file path"].map(_mirror_path)
    table["roi"] = "abnormality_" + table["abnormality id"].str.strip()
    return table.sort_values(["image", "roi"], kind="stable").reset_index(drop=True)


def _outcome(pathologies: list[str]) -> tuple[str | None, str | None]:
    """A breast's outcome from its abnormalities' pathology: any MALIGNANT is malignant, else BENIGN (biopsied) is
    benign by pathology, else BENIGN_WITHOUT_CALLBACK is benign by assessment (the reader saw no need to recall)."""
    if "MALIGNANT" in pathologies:
        return "malignant", "pathology"
    if "BENIGN" in pathologies:
        return "benign", "pathology"
    if "BENIGN_WITHOUT_CALLBACK" in pathologies:
        return "benign", "assessment"
    return None, None


class CbisDdsm(DatasetAdapter):
    key = "cbis_ddsm"
    title = "CBIS-DDSM"
    modality = "MG"
    license = "CC BY 3.0"
    redistributable = True
    idc_collections = ("cbis_ddsm",)
    image_roots = (COLLECTION,)
    downloads = {
        "nbia": {"url": DEFAULT_URL, "collections": [COLLECTION], "modalities": ["MG"]},
        "idc": {"collections": list(idc_collections), "modalities": ["MG"]},
    }
    supplementary = tuple(TABLES.values())
    native_tables = {name: (file_name,) for name, file_name in TABLES.items()}
    annotation_tables = tuple(TABLES)
    descriptor_patterns = (r"full mammogram images|cropped images|ROI mask images",)
    secondary_capture_reviewed = (
        "DDSM film scans that the curators decompressed, converted and published as secondary captures after "
        "TCIA's de-identification review (Lee et al. 2017, Sci Data 4:170177); BurnedInAnnotation YES is still "
        "quarantined"
    )

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        """The person (`P_00001`) from the image folder; every image folder is a TCIA patient of its own."""
        match = _folder(relpath)
        return match.group(1) if match else None

    def path_view(self, relpath: PurePosixPath) -> tuple[str | None, str | None]:
        """Laterality and view from the image folder (the released headers carry neither)."""
        match = _folder(relpath)
        return (match.group(2)[0], match.group(3)) if match else (None, None)

    def select(self, root: Path, options) -> dict[str, str]:
        """The cropped ROI images: each is a crop of its full mammogram (the ROI mask is kept as the mask)."""
        table = read_descriptions(root)
        crops = table[table.crop.notna() & (table.crop != table["mask"])]
        return {p: "cropped ROI image (a crop of its full mammogram; the ROI mask is kept)" for p in crops.crop}

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """One ROI per abnormality, given as a binary ROI mask image in the full mammogram's pixel grid."""
        table = read_descriptions(root)
        labels = [
            json.dumps(
                {
                    "abnormality type": row["abnormality type"],
                    "subtlety": row["subtlety"],
                    **{
                        k: row[k]
                        for k in DESCRIPTORS.get(str(row["abnormality type"]), ())
                        if isinstance(row.get(k), str)
                    },
                },
                sort_keys=True,
            )
            for row in table.to_dict("records")
        ]
        return pd.DataFrame(
            {
                "path": table.image,
                "roi": table.roi,
                "xmin": float("nan"),
                "ymin": float("nan"),
                "xmax": float("nan"),
                "ymax": float("nan"),
                "frame": "dicom",
                "labels": labels,
                MASK_COLUMN: table["mask"],
            },
            columns=[*IMAGE_BOX_COLUMNS, MASK_COLUMN],
        )

    def image_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Per full mammogram: density, the highest assessment of its abnormalities as BI-RADS, the official split
        (from the CSV's train/test set)."""
        table = read_descriptions(root)
        table["rank"] = pd.to_numeric(table.assessment, errors="coerce")
        per_image = table.sort_values(["image", "rank"], kind="stable").groupby("image", sort=True).last()
        out = pd.DataFrame(
            {"path": per_image.index, "image_type": "2d", "image_type_native": None, "spot_mag": False}
        ).reset_index(drop=True)
        codes.map(out, "birads", per_image.assessment.reset_index(drop=True), BIRADS)
        codes.map(out, "density", per_image.density.reset_index(drop=True), DENSITY)
        out["official_split"] = per_image.split.to_numpy()
        # The DDSM case is the exam: its CC and MLO views, which TCIA filed as separate studies (cbis_ddsm.md).
        cases = [_folder(PurePosixPath(p)) for p in out.path]
        out["exam_native"] = [case.group(1) if case else None for case in cases]
        pathology = table.groupby("image", sort=True).pathology.agg(lambda s: sorted({str(v).strip() for v in s}))
        decided = [_outcome(values) for values in pathology.reindex(out.path)]
        out["outcome"] = [d[0] for d in decided]
        out["outcome_evidence"] = [d[1] for d in decided]
        out["outcome_native"] = ["pathology=" + ",".join(values) for values in pathology.reindex(out.path)]
        return out

    def finding_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Per abnormality: its type, assessment (BI-RADS) and pathology (BENIGN_WITHOUT_CALLBACK is benign; the
        native value stays)."""
        table = read_descriptions(root)
        out = pd.DataFrame({"path": table.image, "roi": table.roi})
        codes.map(out, "category", table["abnormality type"], CATEGORY)
        codes.map(out, "birads", table.assessment, BIRADS)
        codes.map(out, "pathology", table.pathology, PATHOLOGY)
        return out


ADAPTER = CbisDdsm()
