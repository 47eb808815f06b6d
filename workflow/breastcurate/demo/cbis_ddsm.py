"""Demo mirror of CBIS-DDSM as TCIA publishes it: one folder (TCIA "patient") per image, secondary captures in
Implicit VR Little Endian with sparse headers (no laterality, view, age, sex or manufacturer; StudyDate is the
curation date), ROI folders whose one series may hold both the cropped image and the mask, the same person in the
mass and the calcification sets, and four CSVs whose density column is spelled two ways (docs/sources/cbis_ddsm.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.uid import ImplicitVRLittleEndian

from ..sources import cbis_ddsm as source
from . import dicomgen as g
from .identity import rng_for
from .phantom import Box2D

CURATED_ON = "20170829"  # the StudyDate of every file in IDC's index
MASS_DESCRIPTORS = {"mass shape": "IRREGULAR", "mass margins": "SPICULATED"}
CALC_DESCRIPTORS = {"calc type": "PLEOMORPHIC", "calc distribution": "CLUSTERED"}
PATHOLOGIES = ["MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"]


def write(out: Path, patients: int, seed: int) -> None:
    rows: dict[str, list[dict]] = {name: [] for name in source.TABLES}
    for k in range(patients):
        rng = rng_for(seed, source.ADAPTER.key, k)
        person = f"P_{1 + 3 * k:05d}"
        side = ("LEFT", "RIGHT")[k % 2]
        split = ("train", "test")[k % 2]
        # Every person has a mass on both views; the first also has a calcification on CC, published again as its
        # own full mammogram in the calcification set.
        cases = [("mass", view, [1]) for view in ("CC", "MLO")]
        if k == 0:
            cases.append(("calcification", "CC", [1, 2]))
        for kind, view, abnormalities in cases:
            rows[f"{kind[:4]}_{split}"] += _image(out, rng, person, side, view, kind, split, abnormalities)
    out.mkdir(parents=True, exist_ok=True)
    for name, file_name in source.TABLES.items():
        kind = "mass" if name.startswith("mass") else "calcification"
        density = "breast_density" if kind == "mass" else "breast density"
        extra = list(MASS_DESCRIPTORS if kind == "mass" else CALC_DESCRIPTORS)
        columns = source.COLUMNS[:1] + [density] + source.COLUMNS[1:5] + extra + source.COLUMNS[5:]
        table = pd.DataFrame(rows[name], columns=columns)
        table.to_csv(out / file_name, index=False)


def _image(
    out: Path,
    rng: np.random.Generator,
    person: str,
    side: str,
    view: str,
    kind: str,
    split: str,
    abnormalities: list[int],
) -> list[dict]:
    """One full mammogram folder and one ROI folder per abnormality; the CSV rows of its abnormalities."""
    folder = (
        f"{'Mass' if kind == 'mass' else 'Calc'}-{'Training' if split == 'train' else 'Test'}_{person}_{side}_{view}"
    )
    vendor = g.MammoVendor("", "", bits_stored=16)
    pixels, box = g.phantom_mammogram(rng, vendor, side[0], 65535, True)
    study = g.uid(folder, "study")
    full = _save(out, folder, study, g.uid(folder, "full"), 0, pixels, "full mammogram images", 16)
    density = str(int(rng.integers(1, 5)))
    rows = []
    for n in abnormalities:
        roi_folder = f"{folder}_{n}"
        roi_study, series = g.uid(roi_folder, "study"), g.uid(roi_folder, "roi")
        lesion = box if n == 1 else Box2D(box.ymin, max(0, box.xmin - 30), box.ymax, max(1, box.xmin - 10))
        mask = np.zeros(pixels.shape, np.uint8)
        yy, xx = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
        cy, cx = (lesion.ymin + lesion.ymax) / 2, (lesion.xmin + lesion.xmax) / 2
        ry, rx = max((lesion.ymax - lesion.ymin) / 2, 1), max((lesion.xmax - lesion.xmin) / 2, 1)
        mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 255
        crop = pixels[lesion.ymin : lesion.ymax + 1, lesion.xmin : lesion.xmax + 1]
        if n == 1:  # IDC: one series holds the cropped image and the mask (described as either)
            crop_path = _save(out, roi_folder, roi_study, series, 0, crop, "cropped images", 16)
            mask_path = _save(out, roi_folder, roi_study, series, 1, mask, "cropped images", 8)
        else:
            crop_path = _save(out, roi_folder, roi_study, series, 0, crop, "cropped images", 16)
            mask_path = _save(out, roi_folder, roi_study, g.uid(roi_folder, "mask"), 0, mask, "ROI mask images", 8)
        descriptors = MASS_DESCRIPTORS if kind == "mass" else CALC_DESCRIPTORS
        rows.append(
            {
                "patient_id": person,
                "breast_density" if kind == "mass" else "breast density": density,
                "left or right breast": side,
                "image view": view,
                "abnormality id": str(n),
                "abnormality type": kind,
                **descriptors,
                "assessment": str(int(rng.integers(2, 6))),
                "pathology": PATHOLOGIES[int(rng.integers(len(PATHOLOGIES)))],
                "subtlety": str(int(rng.integers(1, 6))),
                "image file path": full,
                "cropped image file path": crop_path,
                "ROI mask file path": mask_path + "\n",  # the published values end with a line break
            }
        )
    return rows


def _save(
    out: Path, folder: str, study: str, series: str, number: int, pixels: np.ndarray, description: str, bits: int
) -> str:
    """A secondary capture as TCIA publishes CBIS-DDSM; returns its path as the CSVs write it."""
    sop = g.uid(series, "sop", number)
    ds = g.new_file(g.SECONDARY_CAPTURE, sop)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.PatientName = ds.PatientID = folder
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate = ds.SeriesDate = CURATED_ON
    ds.Modality, ds.BodyPartExamined, ds.SeriesDescription = "MG", "BREAST", description
    ds.SeriesNumber, ds.InstanceNumber = 1, number + 1
    ds.ConversionType = "WSD"
    ds.PhotometricInterpretation = "MONOCHROME2"
    g.set_pixels(ds, pixels, bits)  # masks: 0 and 255
    relative = f"{folder}/{study}/{series}/{number:06d}.dcm"
    g.save(ds, out / source.COLLECTION / relative)
    return relative
