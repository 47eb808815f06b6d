"""EMBED open data (AWS S3): images/cohort_1/<empi_anon>/<study>/<series>/<sop>.dcm plus clinical/metadata CSVs."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset

from ..demo import dicomgen as g
from ..demo.identity import make_identity, rng_for
from ..harmonize.codes import native_text
from .base import IMAGE_BOX_COLUMNS, DatasetAdapter

CLINICAL_COLUMNS = ["empi_anon", "acc_anon", "study_date_anon", "desc", "tissueden", "asses", "numfind", "side",
                    "massshape", "massmargin", "massdens", "calcfind", "calcdistri", "calcnumber", "path_severity",
                    "total_L_find", "total_R_find", "age_at_study", "RACE_DESC", "ETHNIC_GROUP_DESC"]
METADATA_COLUMNS = ["empi_anon", "acc_anon", "anon_dicom_path", "study_date_anon", "StudyDescription",
                    "SeriesDescription", "FinalImageType", "ImageLateralityFinal", "ImageLaterality", "ViewPosition",
                    "spot_mag", "num_roi", "ROI_coords", "Manufacturer", "ManufacturerModelName", "Rows", "Columns",
                    "PhotometricInterpretation", "PatientSex"]
VENDORS = [
    g.MammoVendor("HOLOGIC, Inc.", "Selenia Dimensions", bits_stored=12, rows=336, cols=272),
    g.MammoVendor("FUJIFILM Corporation", "FDR MS-3500", photometric="MONOCHROME1", bits_stored=12),
    g.MammoVendor("GE MEDICAL SYSTEMS", "Senographe Pristina", voi="sigmoid", bits_stored=14, compression="rle"),
    g.MammoVendor("HOLOGIC, Inc.", "Selenia Dimensions", bits_stored=12, rows=336, cols=272),
]
RACES = ["African American  or Black", "Caucasian or White", "Asian", "Native Hawaiian or Other Pacific Islander"]
ETHNIC = ["Non-Hispanic or Latino", "Hispanic or Latino", "Unknown"]


IMAGE_TYPE = {"2D": "2d", "C-view": "synthetic2d", "3D": "dbt"}
DENSITY = {"1": "A", "2": "B", "3": "C", "4": "D", "5": None}  # 5 = normal male breast: no density category
ASSES = {"A": 0, "N": 1, "B": 2, "P": 3, "S": 4, "M": 5, "K": 6, "X": None}
PATHOLOGY = {"0": "malignant", "1": "malignant", "2": "high_risk", "3": "high_risk", "4": "benign", "5": "benign",
             "6": "other"}
MASS_SHAPE = {"G": "mass", "R": "mass", "O": "mass", "X": "mass", "Q": "architectural_distortion",
              "A": "architectural_distortion", "T": "other", "N": "lymph_node", "Y": "lymph_node", "B": "asymmetry",
              "F": "asymmetry", "S": "asymmetry", "V": "asymmetry"}
RACE = {"African American or Black": "black", "Caucasian or White": "white", "Asian": "asian",
        "Native Hawaiian or Other Pacific Islander": "native_hawaiian_pacific_islander",
        "American Indian or Alaskan Native": "american_indian_alaska_native", "Multiple": "multiple",
        "Other": "other", "Unknown, Unavailable or Unreported": None, "Not Recorded": None}
ETHNICITY = {"Non-Hispanic or Latino": "not_hispanic", "Hispanic or Latino": "hispanic", "Unknown": None,
             "Unreported": None}


def _category(mass_shape, calc_find) -> str | None:
    """The finding's type: `massshape` (masses, asymmetries, distortions, nodes), else `calcfind` → calcification."""
    if isinstance(mass_shape, str) and mass_shape.strip():
        return mass_shape.strip()
    return "calc" if isinstance(calc_find, str) and calc_find.strip() else None


class Embed(DatasetAdapter):
    key = "embed"
    title = "EMBED Open Data"
    modality = "MG"
    license = "EMBED Research Use Agreement (non-commercial, no redistribution)"
    redistributable = False
    image_root = "images"
    download = {"transport": "s3", "url": "s3://embed-dataset-open/", "region": "us-west-2"}
    descriptor_patterns = (r"MG (Screening|Diagnostic) (Bilateral|Unilateral)( w/ Tomo)?", r"[LR] (CC|MLO|XCCL|ML|LM)( C-View)?",
                           r"NORMAL|HARDER")

    def native_patient_id(self, ds: Dataset, relpath: PurePosixPath) -> str:
        """`empi_anon`: the folder under the cohort (images/cohort_k/<empi_anon>/…)."""
        return relpath.parts[2]

    def mirror_path(self, anon_dicom_path: str) -> str:
        """`anon_dicom_path` → the file's path in the mirror (everything from the `cohort_k` folder on, under images/)."""
        parts = PurePosixPath(anon_dicom_path).parts
        cohort = next(i for i, p in enumerate(parts) if p.startswith("cohort_"))
        return PurePosixPath(self.image_root, *parts[cohort:]).as_posix()

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """`ROI_coords` of the metadata table: `[[ymin, xmin, ymax, xmax], …]` integer pixel indices, inclusive."""
        table = pd.read_csv(root / "tables" / "EMBED_OpenData_metadata.csv", dtype=str)
        rows = []
        for r in table.sort_values("anon_dicom_path").itertuples(index=False):
            coords = ast.literal_eval(r.ROI_coords) if isinstance(r.ROI_coords, str) and r.ROI_coords.strip() else []
            for roi, (ymin, xmin, ymax, xmax) in enumerate(coords):
                rows.append([self.mirror_path(r.anon_dicom_path), f"box_{roi}", float(xmin), float(ymin),
                             float(xmax) + 1, float(ymax) + 1, json.dumps({"ROI_coords": [ymin, xmin, ymax, xmax]})])
        return pd.DataFrame(rows, columns=IMAGE_BOX_COLUMNS)

    def _tables(self, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        clinical = pd.read_csv(root / "tables" / "EMBED_OpenData_clinical.csv", dtype=str)
        metadata = pd.read_csv(root / "tables" / "EMBED_OpenData_metadata.csv", dtype=str)
        return clinical, metadata

    def image_labels(self, root: Path, codes) -> pd.DataFrame:
        """Image type from FinalImageType; density per exam (tissueden); BI-RADS = the worst `asses` of the exam's
        findings on this image's side (findings with side B or no side count for both breasts)."""
        clinical, metadata = self._tables(root)
        out = pd.DataFrame({"path": [self.mirror_path(p) for p in metadata.anon_dicom_path]})
        codes.map(out, "image_type", metadata.FinalImageType, IMAGE_TYPE)
        density = clinical.drop_duplicates("acc_anon").set_index("acc_anon").tissueden
        codes.map(out, "density", metadata.acc_anon.map(density), DENSITY)
        worst, native = [], []
        for acc, side in zip(metadata.acc_anon, metadata.ImageLateralityFinal):
            rows = clinical[(clinical.acc_anon == acc) & (clinical.side.isna() | clinical.side.isin([side, "B"]))]
            letters = sorted({native_text(a) for a in rows.asses if native_text(a)})
            for letter in letters:
                if letter not in ASSES:
                    codes.unknown("birads", letter)
            values = [ASSES[a] for a in letters if ASSES.get(a) is not None]
            worst.append(max(values) if values else None)
            native.append(",".join(letters) or None)
        out["birads"], out["birads_native"] = worst, native
        return out

    def finding_labels(self, root: Path, codes) -> pd.DataFrame:
        """A box's labels come from the exam's finding on the image's side (the worst one when several)."""
        clinical, metadata = self._tables(root)
        boxes = self.image_boxes(root)
        by_path = {self.mirror_path(p): (a, s) for p, a, s in
                   zip(metadata.anon_dicom_path, metadata.acc_anon, metadata.ImageLateralityFinal)}
        picked = []
        for path in boxes.path:
            acc, side = by_path[path]
            rows = clinical[(clinical.acc_anon == acc) & clinical.side.isin([side, "B"])]
            if rows.empty:
                picked.append({})
                continue
            rank = rows.asses.map(lambda a: ASSES.get(native_text(a)) if native_text(a) in ASSES else -1)
            picked.append(rows.loc[rank.fillna(-1).astype(float).idxmax()].to_dict())
        out = boxes[["path", "roi"]].copy()
        shape = [_category(r.get("massshape"), r.get("calcfind")) for r in picked]
        codes.map(out, "category", pd.Series(shape, dtype=object), {**MASS_SHAPE, "calc": "calcification"})
        out["category_native"] = [None if not r else f"massshape={native_text(r.get('massshape'))};"
                                  f"calcfind={native_text(r.get('calcfind'))}" for r in picked]
        codes.map(out, "birads", pd.Series([r.get("asses") for r in picked], dtype=object), ASSES)
        codes.map(out, "pathology", pd.Series([r.get("path_severity") for r in picked], dtype=object), PATHOLOGY)
        return out

    def demographics(self, root: Path, codes) -> pd.DataFrame:
        clinical, _ = self._tables(root)
        first = clinical.drop_duplicates("empi_anon").reset_index(drop=True)
        out = pd.DataFrame({"native_patient_id": first.empi_anon})
        codes.map(out, "race", first.RACE_DESC, RACE)
        codes.map(out, "ethnicity", first.ETHNIC_GROUP_DESC, ETHNICITY)
        return out

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        clinical, metadata = [], []
        for k in range(patients):
            c, m = self._demo_patient(out, k, rng_for(seed, self.key, k))
            clinical += c
            metadata += m
        (out / "tables").mkdir(parents=True, exist_ok=True)
        pd.DataFrame(clinical, columns=CLINICAL_COLUMNS).to_csv(out / "tables" / "EMBED_OpenData_clinical.csv",
                                                                index=False)
        pd.DataFrame(metadata, columns=METADATA_COLUMNS).to_csv(out / "tables" / "EMBED_OpenData_metadata.csv",
                                                                index=False)

    def _demo_patient(self, out: Path, k: int, rng: np.random.Generator):
        who = make_identity(rng)
        empi = int(rng.integers(10**7, 10**8))
        acc = int(rng.integers(10**15, 10**16))
        shifted = who.first_study - dt.timedelta(days=int(rng.integers(3000, 9000)))
        vendor = VENDORS[k % len(VENDORS)]  # every vendor appears in a small demo
        ctx = g.StudyContext(identity=who, patient_id=str(empi), study_uid=g.uid(rng.bytes(16).hex(), "study"),
                             study_date=who.first_study, study_time=f"{int(rng.integers(7, 17)):02d}4210.000000",
                             accession=str(acc), study_description="MG Screening Bilateral w/ Tomo",
                             manufacturer=vendor.manufacturer, model=vendor.model,
                             station=f"HOLX-SD{int(rng.integers(10, 99))}")
        lesion_side = ["L", "R", None][int(rng.integers(3))]
        tissueden = int(rng.integers(1, 5))
        race, ethnic = str(rng.choice(RACES)), str(rng.choice(ETHNIC))
        age = who.age_at(who.first_study)
        metadata = []
        instance = 0
        boxes: list = []
        for image_type, views in (("2D", ("CC", "MLO")), ("C-view", ("CC",))):
            for laterality in ("L", "R"):
                for view in views:
                    instance += 1
                    series_uid = g.uid(ctx.study_uid, "series", image_type, laterality, view)
                    sop_uid = g.uid(series_uid, "sop")
                    dicom_type = ["ORIGINAL", "PRIMARY"] if image_type == "2D" else \
                        ["DERIVED", "PRIMARY", "TOMO", "GENERATED_2D"]
                    description = f"{laterality} {view}" + (" C-View" if image_type == "C-view" else "")
                    ds, box = g.mammogram(ctx, rng, vendor, series_uid, sop_uid, instance, 1, laterality, view,
                                          laterality == lesion_side, dicom_type, description)
                    rel = PurePosixPath("images", "cohort_1", str(empi), ctx.study_uid, series_uid, f"{sop_uid}.dcm")
                    g.save(ds, out / rel, vendor.compression)
                    roi = "[]" if box is None else f"[[{box.ymin}, {box.xmin}, {box.ymax}, {box.xmax}]]"
                    metadata.append([empi, acc, f"./{rel}", shifted.isoformat(), ctx.study_description, description,
                                     image_type, laterality, laterality, view, 0, 0 if box is None else 1, roi,
                                     vendor.manufacturer, vendor.model, ds.Rows, ds.Columns, vendor.photometric, "F"])
                    boxes.append(box)
        common = [empi, acc, shifted.isoformat(), ctx.study_description, tissueden]
        if lesion_side is None:
            clinical = [common + [str(rng.choice(["N", "B"])), 1, None, None, None, None, None, None, None, None,
                                  0, 0, age, race, ethnic]]
        else:
            asses = str(rng.choice(["S", "M", "P", "A"]))
            is_mass = rng.random() < 0.6
            clinical = [common + [asses, 1, lesion_side, str(rng.choice(["O", "R", "X"])) if is_mass else None,
                                  str(rng.choice(["D", "I", "S"])) if is_mass else None,
                                  "=" if is_mass else None, None if is_mass else str(rng.choice(["I", "A", "P"])),
                                  None if is_mass else "G", None if is_mass else int(rng.integers(3, 30)),
                                  int(rng.integers(0, 6)) if asses in "SM" else None,
                                  int(lesion_side == "L"), int(lesion_side == "R"), age, race, ethnic]]
        return clinical, metadata


ADAPTER = Embed()
