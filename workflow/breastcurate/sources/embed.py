"""EMBED open data (AWS S3): images/cohort_k/<empi_anon>/<study>/<series>/<sop>.dcm plus the clinical and metadata
CSVs (docs/sources/embed.md). Every join here is a vectorized merge: the real tables have 81,776 and 480,323 rows."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..codes import Codes, native_text
from ..errors import NativeTableError
from .base import IMAGE_BOX_COLUMNS, DatasetAdapter, assessment_outcomes

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

CLINICAL = "tables/EMBED_OpenData_clinical.csv"
METADATA = "tables/EMBED_OpenData_metadata.csv"
CLINICAL_USED = [
    "empi_anon",
    "acc_anon",
    "desc",
    "tissueden",
    "asses",
    "side",
    "numfind",
    "massshape",
    "massmargin",
    "massdens",
    "calcfind",
    "calcdistri",
    "path_severity",
    "age_at_study",
    "GENDER_DESC",
    "ETHNICITY_DESC",
    "ETHNIC_GROUP_DESC",
    "MARITAL_STATUS_DESC",
]
CLINICAL_REQUIRED = ["empi_anon", "acc_anon", "tissueden", "asses", "side"]
METADATA_USED = [
    "empi_anon",
    "acc_anon",
    "anon_dicom_path",
    "FinalImageType",
    "ImageLateralityFinal",
    "ViewPosition",
    "spot_mag",
    "num_roi",
    "ROI_coords",
    "match_level",
]
METADATA_REQUIRED = ["acc_anon", "anon_dicom_path", "FinalImageType", "ImageLateralityFinal"]

#: FinalImageType (case, dashes and underscores ignored) → images.image_type.
IMAGE_TYPE = {"2d": "2d", "cview": "synthetic2d", "3d": "dbt", "roiss": "roi_screenshot", "roissc": "roi_screenshot"}
DENSITY = {"1": "A", "2": "B", "3": "C", "4": "D", "5": None}  # 5 = normal male breast: no density category
ASSES = {"A": 0, "N": 1, "B": 2, "P": 3, "S": 4, "M": 5, "K": 6, "X": None}
#: How urgent an assessment is, for the worst one of several findings (EMBED-toolkit's aggregate_birads order:
#: K > M > S > P > A > B > N; X, no assessment, never wins).
URGENCY = {"N": 0, "B": 1, "A": 2, "P": 3, "S": 4, "M": 5, "K": 6, "X": -1}
PATHOLOGY = {
    "0": "malignant",
    "1": "malignant",
    "2": "high_risk",
    "3": "high_risk",
    "4": "benign",
    "5": "benign",
    "6": "other",
}
#: massshape codes of the legend, plus D and L, which the official Sample_Notebook counts as masses.
MASS_SHAPE = {
    "G": "mass",
    "R": "mass",
    "O": "mass",
    "X": "mass",
    "D": "mass",
    "L": "mass",
    "Q": "architectural_distortion",
    "A": "architectural_distortion",
    "T": "asymmetry",
    "N": "lymph_node",
    "Y": "lymph_node",
    "B": "asymmetry",
    "F": "asymmetry",
    "S": "asymmetry",
    "V": "asymmetry",
}
MASS_MARGIN = {c: "mass" for c in "DUMIS"}
MASS_DENSITY = {c: "mass" for c in "+=-0"}
CALC_FIND = {c: "calcification" for c in "A9HCDEFBGILMJKPRSOUVQ"}
CALC_DISTRIBUTION = {c: "calcification" for c in "GSRDLC"}
#: ETHNICITY_DESC holds race (the official notebook maps it so); other values are unknown codes until seen.
RACE = {
    "African American or Black": "black",
    "Caucasian or White": "white",
    "Asian": "asian",
    "Native Hawaiian or Other Pacific Islander": "native_hawaiian_pacific_islander",
    "American Indian or Alaskan Native": "american_indian_alaska_native",
    "Multiple": "multiple",
    "Other": "other",
    "Unknown, Unavailable or Unreported": None,
    "Unknown": None,
}
#: ETHNIC_GROUP_DESC: compound values as the official screening_label_assignment notebook groups them.
ETHNICITY = {
    "Hispanic or Latino": "hispanic",
    "Unknown~Hispanic": "hispanic",
    "Non-Hispanic or Latino": "not_hispanic",
    "Non-Hispanic~Unknown": "not_hispanic",
    "Unknown~Non-Hispanic": "not_hispanic",
    "Unknown": None,
    "Unknown~Unknown": None,
}


def _read(path: Path, used: list[str], required: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str, usecols=lambda c: c in used, keep_default_na=True)
    missing = [c for c in required if c not in table]
    if missing:
        raise NativeTableError(f"{path.name}: missing column(s) {', '.join(missing)}")
    for column in used:
        if column not in table:
            table[column] = None
    return table


def _text(series: pd.Series) -> pd.Series:
    """Cells as stripped text (the legend pads codes with spaces; '3.0' from a float column is '3'), NaN for blanks."""
    text = series.astype("string").str.strip().str.replace(r"^(-?\d+)\.0$", r"\1", regex=True)
    keep = (text.notna() & (text != "")).astype(bool)
    return text.astype(object).where(keep, None)


def _image_type_key(value: Any) -> str | None:
    text = native_text(value)
    return re.sub(r"[-_ ]", "", text).lower() if text else None


class Embed(DatasetAdapter):
    key = "embed"
    title = "EMBED Open Data"
    modality = "MG"
    license = "EMBED Research Use Agreement (non-commercial, no redistribution)"
    redistributable = False
    image_roots = ("images",)
    downloads = {"s3": {"url": "s3://embed-dataset-open/", "region": "us-west-2"}}
    descriptor_patterns = (
        r"MG (Screening|Diagnostic) (Bilateral|Unilateral|Left|Right)( w/ ?(Tomo|CAD))*",
        r"[LR] (CC|MLO|XCCL|XCCM|ML|LM|LMO|FB|SIO|AT)( C-View)?( (SPOT|MAG|SPOT MAG))?",
        r"NORMAL|HARDER|ROI SCREEN SAVE",
    )
    native_tables = {"clinical": (CLINICAL,), "metadata": (METADATA,)}
    annotation_tables = ("metadata",)

    def box_mirrored(self, frame: str, ds: Dataset) -> bool:
        """EMBED's boxes are in its PNG frame: its own conversion (DCM_to_PNG.ipynb, `check_dcm`) mirrors an image
        left-right so the chest wall is on the left — CC, MLO and ML views whose PatientOrientation row direction is
        P; without a PatientOrientation, right-breast CC/ML/MLO images (docs/sources/embed.md)."""
        if frame != "embed_png":
            return False
        orientation = ds.get("PatientOrientation")
        view = str(ds.get("ViewPosition", "") or "").upper()
        if orientation:
            values = list(orientation) if not isinstance(orientation, str) else orientation.split("\\")
            return view in ("CC", "MLO", "ML") and str(values[0]).upper().startswith("P")
        side = str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").upper()
        return side == "R" and view in ("CC", "MLO", "ML")

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        """`empi_anon`: the folder under the cohort (images/cohort_k/<empi_anon>/…)."""
        parts = relpath.parts
        return parts[2] if len(parts) >= 4 and parts[1].startswith("cohort_") else None

    @staticmethod
    def mirror_paths(anon_dicom_path: pd.Series) -> pd.Series:
        """`anon_dicom_path` → the file's path in the mirror (everything from the `cohort_k` folder on, under images/);
        the prefix before the cohort varies between table versions."""
        tail = anon_dicom_path.astype("string").str.extract(r"(cohort_[^/]+/.+)$", expand=False)
        return ("images/" + tail).astype(object)

    def _clinical(self, root: Path) -> pd.DataFrame:
        table = _read(self.table_path(root, "clinical"), CLINICAL_USED, CLINICAL_REQUIRED)
        return table.apply(_text)

    def _metadata(self, root: Path) -> pd.DataFrame:
        table = _read(self.table_path(root, "metadata"), METADATA_USED, METADATA_REQUIRED)
        table = table.apply(_text)
        table["path"] = self.mirror_paths(table.anon_dicom_path)
        return table.dropna(subset=["path"])

    def select(self, root: Path, options: Mapping[str, Any]) -> dict[str, str]:
        """FinalImageType outside `select.image_types`, and spot/magnification views unless `select.spot_mag`."""
        meta = self._metadata(root)
        kinds = meta.FinalImageType.map(lambda v: IMAGE_TYPE.get(_image_type_key(v) or "", "unknown"))
        keep_types = set(options["image_types"])
        spot = meta.spot_mag.map(_truthy)
        reasons: dict[str, str] = {}
        for path, kind, native, is_spot in zip(meta.path, kinds, meta.FinalImageType, spot):
            if kind not in keep_types:
                reasons[path] = f"FinalImageType {native!r} ({kind}) is not in select.image_types"
            elif is_spot and not options["spot_mag"]:
                reasons[path] = "spot compression or magnification view (select.spot_mag is false)"
        return reasons

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """`ROI_coords`, printed like `((1951, 347, 2244, 626),)` or `()`: boxes [ymin, xmin, ymax, xmax] drawn as
        half-open edges (the official Sample_Notebook draws width x2 − x1) in EMBED's PNG frame."""
        meta = self._metadata(root)
        meta = meta[meta.ROI_coords.notna()]
        rows = []
        for path, coords, level in zip(meta.path, meta.ROI_coords, meta.match_level):
            numbers = [int(n) for n in re.findall(r"-?\d+", coords)]
            levels = [int(n) for n in re.findall(r"\d+", level or "")]
            for k in range(len(numbers) // 4):
                ymin, xmin, ymax, xmax = numbers[4 * k : 4 * k + 4]
                labels: dict[str, int | list[int]] = {"ROI_coords": [ymin, xmin, ymax, xmax]}
                if k < len(levels):
                    labels["match_level"] = levels[k]
                rows.append(
                    [
                        path,
                        f"box_{k}",
                        float(xmin),
                        float(ymin),
                        float(xmax),
                        float(ymax),
                        "embed_png",
                        json.dumps(labels, sort_keys=True),
                    ]
                )
        return (
            pd.DataFrame(rows, columns=IMAGE_BOX_COLUMNS)
            .sort_values(["path", "roi"], kind="stable")
            .reset_index(drop=True)
        )

    def image_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Image type and spot/mag from the metadata; density per exam (tissueden); BI-RADS = the most urgent `asses`
        of the exam's findings on this image's side (findings with side B or no side count for both breasts)."""
        clinical, meta = self._clinical(root), self._metadata(root)
        out = pd.DataFrame({"path": meta.path.values, "spot_mag": meta.spot_mag.map(_truthy).values})
        codes.map(out, "image_type", meta.FinalImageType.map(_image_type_key).reset_index(drop=True), IMAGE_TYPE)
        out["image_type_native"] = meta.FinalImageType.values
        exams = clinical.drop_duplicates("acc_anon").set_index("acc_anon").tissueden
        codes.map(out, "density", meta.acc_anon.map(exams).reset_index(drop=True), DENSITY)
        worst = _worst_per_side(clinical, codes)
        keyed = (
            meta[["acc_anon", "ImageLateralityFinal"]]
            .reset_index(drop=True)
            .merge(worst, how="left", left_on=["acc_anon", "ImageLateralityFinal"], right_on=["acc_anon", "side"])
        )
        out["birads"] = keyed.birads.astype(object).where(keyed.birads.notna(), None).values
        out["birads_native"] = keyed.birads_native.values
        out["exam_native"] = meta.acc_anon.values  # the exam: one accession (docs/sources/embed.md)
        sides = meta[["acc_anon", "ImageLateralityFinal"]].reset_index(drop=True)
        pathology = sides.merge(
            _pathology_per_side(clinical),
            how="left",
            left_on=["acc_anon", "ImageLateralityFinal"],
            right_on=["acc_anon", "side"],
        )
        out["outcome"] = pathology.outcome.astype(object).where(pathology.outcome.notna(), None).values
        out["outcome_evidence"] = ["pathology" if isinstance(o, str) else None for o in out.outcome]
        out["outcome_native"] = pathology.outcome_native.astype(object).where(pathology.outcome.notna(), None).values
        assessment_outcomes(out, "asses")  # no pathology on this side: the assessment decides N → normal, B → benign
        return out

    def finding_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """A box's labels come from the exam's finding on the image's side or both sides (the most urgent one)."""
        clinical, meta = self._clinical(root), self._metadata(root)
        boxes = self.image_boxes(root)[["path", "roi"]]
        sides = clinical[clinical.side.isin(["L", "R", "B"])]
        expanded = pd.concat(
            [
                sides[sides.side != "B"],
                sides[sides.side == "B"].assign(side="L"),
                sides[sides.side == "B"].assign(side="R"),
            ],
            ignore_index=True,
        )
        expanded["urgency"] = expanded.asses.map(URGENCY).fillna(-2)
        picked = expanded.sort_values(
            ["acc_anon", "side", "urgency", "numfind"], ascending=[True, True, False, True], kind="stable"
        ).drop_duplicates(["acc_anon", "side"])
        keyed = boxes.merge(meta[["path", "acc_anon", "ImageLateralityFinal"]], on="path", how="left").merge(
            picked, how="left", left_on=["acc_anon", "ImageLateralityFinal"], right_on=["acc_anon", "side"]
        )
        out = boxes.reset_index(drop=True).copy()
        category = keyed.massshape.map(MASS_SHAPE)
        category = category.where(category.notna(), keyed.massmargin.map(MASS_MARGIN))
        category = category.where(category.notna(), keyed.massdens.map(MASS_DENSITY))
        category = category.where(category.notna(), keyed.calcfind.map(CALC_FIND))
        category = category.where(category.notna(), keyed.calcdistri.map(CALC_DISTRIBUTION))
        for column, mapping in (
            ("massshape", MASS_SHAPE),
            ("massmargin", MASS_MARGIN),
            ("massdens", MASS_DENSITY),
            ("calcfind", CALC_FIND),
            ("calcdistri", CALC_DISTRIBUTION),
        ):
            for code in set(keyed[column].dropna()) - set(mapping):
                codes.unknown(f"category ({column})", code)
        out["category"] = category.astype(object).where(category.notna(), None).values
        native = (
            "massshape="
            + keyed.massshape.fillna("")
            + ";massmargin="
            + keyed.massmargin.fillna("")
            + ";massdens="
            + keyed.massdens.fillna("")
            + ";calcfind="
            + keyed.calcfind.fillna("")
            + ";calcdistri="
            + keyed.calcdistri.fillna("")
        )
        out["category_native"] = native.where(keyed.acc_anon.notna() & keyed.side.notna(), None).values
        codes.map(out, "birads", keyed.asses, ASSES)
        codes.map(out, "pathology", keyed.path_severity, PATHOLOGY)
        return out

    def demographics(self, root: Path, codes: Codes) -> pd.DataFrame:
        """ETHNICITY_DESC holds race and ETHNIC_GROUP_DESC ethnicity (there is no RACE_DESC column)."""
        first = self._clinical(root).drop_duplicates("empi_anon").reset_index(drop=True)
        out = pd.DataFrame({"native_patient_id": first.empi_anon})
        codes.map(out, "race", first.ETHNICITY_DESC, RACE)
        codes.map(out, "ethnicity", first.ETHNIC_GROUP_DESC, ETHNICITY)
        return out


def _truthy(value: Any) -> bool:
    text = native_text(value)
    return text is not None and text not in ("0", "False", "false", "N", "No")


#: path_severity → the breast's outcome: cancer (0 invasive, 1 non-invasive) is malignant; high-risk (2),
#: borderline (3), benign (4) and negative (5) findings are not; 6 (a cancer not of the breast) decides nothing.
SEVERITY_OUTCOME = {0: "malignant", 1: "malignant", 2: "benign", 3: "benign", 4: "benign", 5: "benign"}


def _pathology_per_side(clinical: pd.DataFrame) -> pd.DataFrame:
    """Per (acc_anon, side L/R): the outcome of the most severe pathology of the exam's findings on that side (side B
    or none counts for both), with the severities seen as outcome_native."""
    rows = clinical[clinical.path_severity.notna()] if "path_severity" in clinical else clinical.iloc[:0]
    rows = rows.assign(severity=pd.to_numeric(rows.get("path_severity"), errors="coerce")).dropna(subset=["severity"])
    both = rows[~rows.side.isin(["L", "R"])]
    rows = pd.concat([rows[rows.side.isin(["L", "R"])], both.assign(side="L"), both.assign(side="R")])
    rows = rows[rows.severity.isin(list(SEVERITY_OUTCOME))]
    if rows.empty:
        return pd.DataFrame(columns=["acc_anon", "side", "outcome", "outcome_native"])
    grouped = rows.groupby(["acc_anon", "side"]).severity
    frame = pd.DataFrame(
        {"worst": grouped.min(), "seen": grouped.agg(lambda s: ",".join(sorted({str(int(v)) for v in s})))}
    )
    frame["outcome"] = frame.worst.map(SEVERITY_OUTCOME)
    frame["outcome_native"] = "path_severity=" + frame.seen
    return frame.reset_index()[["acc_anon", "side", "outcome", "outcome_native"]]


def _worst_per_side(clinical: pd.DataFrame, codes: Codes) -> pd.DataFrame:
    """Per (acc_anon, side L/R): the most urgent BI-RADS of the exam's findings on that side, both sides or none."""
    for code in set(clinical.asses.dropna()) - set(ASSES):
        codes.unknown("birads", code)
    both = clinical[~clinical.side.isin(["L", "R"])]
    rows = pd.concat(
        [clinical[clinical.side.isin(["L", "R"])], both.assign(side="L"), both.assign(side="R")], ignore_index=True
    )
    rows = rows[rows.asses.isin(list(ASSES))]
    rows = rows.assign(urgency=rows.asses.map(URGENCY))
    top = rows.sort_values(
        ["acc_anon", "side", "urgency"], ascending=[True, True, False], kind="stable"
    ).drop_duplicates(["acc_anon", "side"])
    top = top.assign(birads=top.asses.map(lambda a: ASSES[a]))
    natives = rows.groupby(["acc_anon", "side"]).asses.agg(lambda s: ",".join(sorted(set(s)))).rename("birads_native")
    top = top[["acc_anon", "side", "birads"]].merge(natives.reset_index(), on=["acc_anon", "side"], how="left")
    top["birads"] = top.birads.astype(object).where(top.birads.notna(), np.nan)
    return top


ADAPTER = Embed()
