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


class Embed(DatasetAdapter):
    key = "embed"
    title = "EMBED Open Data"
    modality = "MG"
    license = "EMBED Research Use Agreement (non-commercial, no redistribution)"
    image_root = "images"
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
