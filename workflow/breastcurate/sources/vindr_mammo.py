"""VinDr-Mammo (PhysioNet): images/<study_id>/<image_id>.dicom plus three CSV tables."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset

from ..demo import dicomgen as g
from ..demo.identity import accession, make_identity, rng_for
from .base import IMAGE_BOX_COLUMNS, DatasetAdapter

BREAST_LEVEL_COLUMNS = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
                        "breast_birads", "breast_density", "split"]
FINDING_COLUMNS = BREAST_LEVEL_COLUMNS[:-1] + ["finding_categories", "finding_birads", "xmin", "ymin", "xmax",
                                               "ymax", "split"]
METADATA_COLUMNS = ["Series Instance UID", "SOP Instance UID", "Patient's Age", "View Position", "Image Laterality",
                    "Photometric Interpretation", "Rows", "Columns", "Manufacturer", "Manufacturer's Model Name"]
VENDORS = [
    g.MammoVendor("SIEMENS", "Mammomat Inspiration", voi="sigmoid", bits_stored=12),
    g.MammoVendor("Planmed", "Planmed Nuance", voi="lut_sequence", bits_stored=14, compression="j2k"),
    g.MammoVendor("IMS GIOTTO S.p.A.", "GIOTTO IMAGE 3DL", photometric="MONOCHROME1", bits_stored=12),
]
CATEGORIES = [["Mass"], ["Suspicious Calcification"], ["Mass", "Architectural Distortion"], ["Focal Asymmetry"]]


BIRADS = {f"BI-RADS {n}": n for n in range(7)}
DENSITY = {f"DENSITY {x}": x for x in "ABCD"}
SPLIT = {"training": "train", "test": "test"}
CATEGORY = {"Mass": "mass", "Suspicious Calcification": "calcification", "Asymmetry": "asymmetry",
            "Focal Asymmetry": "asymmetry", "Global Asymmetry": "asymmetry",
            "Architectural Distortion": "architectural_distortion", "Suspicious Lymph Node": "lymph_node",
            "Skin Thickening": "skin_or_nipple", "Skin Retraction": "skin_or_nipple",
            "Nipple Retraction": "skin_or_nipple"}


def md5_hex(value: str) -> str:
    """VinDr names studies, series and images by the MD5 of the original UID."""
    return hashlib.md5(value.encode()).hexdigest()


class VinDrMammo(DatasetAdapter):
    key = "vindr_mammo"
    title = "VinDr-Mammo 1.0.0"
    modality = "MG"
    license = "PhysioNet Restricted Health Data License 1.5.0"
    redistributable = False
    image_root = "images"
    download = {"transport": "physionet", "url": "https://physionet.org/files/vindr-mammo/1.0.0/"}
    descriptor_patterns = (r"MAMMO SCREENING BILATERAL", r"[LR] (CC|MLO)", r"NORMAL|HARDER|DEMO GAMMA")

    def native_patient_id(self, ds: Dataset, relpath: PurePosixPath) -> str:
        """VinDr publishes no patient id: the study folder (one study per woman) stands for the patient."""
        return relpath.parts[1]

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """`finding_annotations.csv`: float pixel-edge coordinates (x = column), already 0-based and half-open."""
        table = pd.read_csv(root / "finding_annotations.csv", dtype={"study_id": str, "image_id": str})
        table = table.dropna(subset=["xmin", "ymin", "xmax", "ymax"]).reset_index(drop=True)
        rows = []
        for image_id, group in table.groupby("image_id", sort=True):
            for roi, r in enumerate(group.itertuples(index=False)):
                labels = {"finding_categories": r.finding_categories, "finding_birads": r.finding_birads}
                rows.append([f"images/{r.study_id}/{image_id}.dicom", f"box_{roi}", float(r.xmin), float(r.ymin),
                             float(r.xmax), float(r.ymax), json.dumps(labels, sort_keys=True)])
        return pd.DataFrame(rows, columns=IMAGE_BOX_COLUMNS)

    def image_labels(self, root: Path, codes) -> pd.DataFrame:
        """`breast-level_annotations.csv`: BI-RADS and density per breast, the official training/test split."""
        table = pd.read_csv(root / "breast-level_annotations.csv", dtype=str)
        out = pd.DataFrame({"path": "images/" + table.study_id + "/" + table.image_id + ".dicom",
                            "image_type": "2d", "image_type_native": None})
        codes.map(out, "birads", table.breast_birads, BIRADS)
        codes.map(out, "density", table.breast_density, DENSITY)
        codes.map(out, "official_split", table.split, SPLIT)
        return out.drop(columns="official_split_native")

    def finding_labels(self, root: Path, codes) -> pd.DataFrame:
        """The boxes' categories (the first of the list; the whole list stays native) and finding BI-RADS."""
        table = pd.read_csv(root / "finding_annotations.csv", dtype=str)
        table = table.dropna(subset=["xmin", "ymin", "xmax", "ymax"]).sort_values("image_id", kind="stable")
        table["roi"] = "box_" + table.groupby("image_id").cumcount().astype(str)
        out = pd.DataFrame({"path": "images/" + table.study_id + "/" + table.image_id + ".dicom",
                            "roi": table.roi}).reset_index(drop=True)
        table = table.reset_index(drop=True)
        first = [ast.literal_eval(v)[0] if isinstance(v, str) and v.startswith("[") else v
                 for v in table.finding_categories]
        codes.map(out, "category", pd.Series(first), CATEGORY)
        out["category_native"] = table.finding_categories
        codes.map(out, "birads", table.finding_birads, BIRADS)
        return out

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        breast_rows, finding_rows, meta_rows = [], [], []
        for k in range(patients):
            b, f, m = self._demo_patient(out, k, rng_for(seed, self.key, k))
            breast_rows += b
            finding_rows += f
            meta_rows += m
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(breast_rows, columns=BREAST_LEVEL_COLUMNS).to_csv(out / "breast-level_annotations.csv", index=False)
        pd.DataFrame(finding_rows, columns=FINDING_COLUMNS).to_csv(out / "finding_annotations.csv", index=False)
        pd.DataFrame(meta_rows, columns=METADATA_COLUMNS).to_csv(out / "metadata.csv", index=False)

    def _demo_patient(self, out: Path, k: int, rng: np.random.Generator):
        who = make_identity(rng)
        study_date = who.first_study
        ctx = g.StudyContext(identity=who, patient_id=who.mrn, study_uid=g.uid(rng.bytes(16).hex(), "study"),
                             study_date=study_date, study_time=f"{int(rng.integers(7, 17)):02d}1522.000000",
                             accession=accession(rng), study_description="MAMMO SCREENING BILATERAL",
                             manufacturer="", model="", station=f"MAMMO-RM{int(rng.integers(1, 9))}")
        vendor = VENDORS[k % len(VENDORS)]  # every vendor appears in a small demo
        ctx.manufacturer, ctx.model = vendor.manufacturer, vendor.model
        study_id = md5_hex(ctx.study_uid)
        density = "DENSITY " + "ABCD"[int(rng.integers(4))]
        split = "training" if rng.random() < 0.8 else "test"
        lesion_side = ("L", "R", None)[k % 3]  # two patients in three have a finding, so a small demo shows boxes
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        finding_birads = f"BI-RADS {int(rng.integers(3, 6))}"
        breast, findings, meta = [], [], []
        instance = 0
        for laterality in ("L", "R"):
            birads = finding_birads if laterality == lesion_side else f"BI-RADS {int(rng.integers(1, 3))}"
            for view in ("CC", "MLO"):
                instance += 1
                series_uid = g.uid(ctx.study_uid, "series", laterality, view)
                sop_uid = g.uid(series_uid, "sop")
                ds, box = g.mammogram(ctx, rng, vendor, series_uid, sop_uid, instance, 1, laterality, view,
                                      laterality == lesion_side, ["ORIGINAL", "PRIMARY"], f"{laterality} {view}")
                series_id, image_id = md5_hex(series_uid), md5_hex(sop_uid)
                g.save(ds, out / "images" / study_id / f"{image_id}.dicom", vendor.compression)
                common = [study_id, series_id, image_id, laterality, view, ds.Rows, ds.Columns, birads, density]
                breast.append(common + [split])
                if box is None:
                    findings.append(common + ["['No Finding']", None, None, None, None, None, split])
                else:
                    findings.append(common + [str(category), finding_birads, float(box.xmin), float(box.ymin),
                                              float(box.xmax + 1), float(box.ymax + 1), split])
                meta.append([series_id, image_id, who.dicom_age(study_date), view, laterality,
                             vendor.photometric, ds.Rows, ds.Columns, vendor.manufacturer, vendor.model])
        return breast, findings, meta


ADAPTER = VinDrMammo()
