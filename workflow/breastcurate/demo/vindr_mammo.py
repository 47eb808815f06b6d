"""Demo mirror of VinDr-Mammo in its released form: stripped headers (tags.csv only), MD5-hex UIDs, the three CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..sources import vindr_mammo as source
from . import dicomgen as g
from .identity import accession, make_identity, rng_for

#: metadata.csv: the header values per image (exact column names UNCONFIRMED; see docs/sources/vindr_mammo.md).
METADATA_COLUMNS = [
    "Series Instance UID",
    "SOP Instance UID",
    "Patient's Age",
    "View Position",
    "Image Laterality",
    "Photometric Interpretation",
    "Rows",
    "Columns",
    "Manufacturer",
    "Manufacturer's Model Name",
]
VENDORS = [
    g.MammoVendor("SIEMENS", "Mammomat Inspiration", voi="sigmoid", bits_stored=12),
    g.MammoVendor("Planmed", "Planmed Nuance", voi="lut_sequence", bits_stored=14, compression="j2k"),
    g.MammoVendor("IMS GIOTTO S.p.A.", "GIOTTO IMAGE 3DL", photometric="MONOCHROME1", bits_stored=12),
]
#: Finding categories; lymph node and skin/nipple findings carry no finding BI-RADS in the real table.
CATEGORIES = [
    ["Mass"],
    ["Suspicious Calcification"],
    ["Mass", "Architectural Distortion"],
    ["Focal Asymmetry"],
    ["Suspicious Lymph Node"],
]
NO_BIRADS = {"Suspicious Lymph Node", "Skin Thickening", "Skin Retraction", "Nipple Retraction"}


def write(out: Path, patients: int, seed: int) -> None:
    breast_rows, finding_rows, meta_rows = [], [], []
    for k in range(patients):
        b, f, m = _patient(out, k, rng_for(seed, source.ADAPTER.key, k))
        breast_rows += b
        finding_rows += f
        meta_rows += m
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(breast_rows, columns=source.BREAST_LEVEL_COLUMNS).to_csv(out / source.BREAST_LEVEL, index=False)
    pd.DataFrame(finding_rows, columns=source.FINDING_COLUMNS).to_csv(out / source.FINDINGS, index=False)
    pd.DataFrame(meta_rows, columns=METADATA_COLUMNS).to_csv(out / "metadata.csv", index=False)


def _patient(out: Path, k: int, rng: np.random.Generator):
    who = make_identity(rng)
    study_date = who.first_study
    ctx = g.StudyContext(
        identity=who,
        patient_id=who.mrn,
        study_uid=g.uid(rng.bytes(16).hex(), "study"),
        study_date=study_date,
        study_time=f"{int(rng.integers(7, 17)):02d}1522.000000",
        accession=accession(rng),
        study_description="MAMMO SCREENING BILATERAL",
        manufacturer="",
        model="",
        station=f"MAMMO-RM{int(rng.integers(1, 9))}",
    )
    vendor = VENDORS[k % len(VENDORS)]  # every vendor appears in a small demo
    ctx.manufacturer, ctx.model = vendor.manufacturer, vendor.model
    study_id = g.md5_hex(ctx.study_uid)
    density = "DENSITY " + "ABCD"[int(rng.integers(4))]
    split = "training" if rng.random() < 0.8 else "test"
    lesion_side = ("L", "R", None)[k % 3]  # two patients in three have a finding, so a small demo shows boxes
    category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    finding_birads = None if set(category) & NO_BIRADS else f"BI-RADS {int(rng.integers(3, 6))}"
    breast, findings, meta = [], [], []
    instance = 0
    for laterality in ("L", "R"):
        birads = (
            f"BI-RADS {int(rng.integers(3, 6))}" if laterality == lesion_side else f"BI-RADS {int(rng.integers(1, 3))}"
        )
        for view in ("CC", "MLO"):
            instance += 1
            series_uid = g.uid(ctx.study_uid, "series", laterality, view)
            sop_uid = g.uid(series_uid, "sop")
            ds, box = g.mammogram(
                ctx,
                rng,
                vendor,
                series_uid,
                sop_uid,
                instance,
                1,
                laterality,
                view,
                laterality == lesion_side,
                ["ORIGINAL", "PRIMARY"],
                f"{laterality} {view}",
            )
            age = ds.PatientAge
            g.vindr_release(ds)
            series_id, image_id = ds.SeriesInstanceUID, ds.SOPInstanceUID
            g.save(ds, out / "images" / study_id / f"{image_id}.dicom", vendor.compression)
            common = [study_id, series_id, image_id, laterality, view, ds.Rows, ds.Columns, birads, density]
            breast.append(common + [split])
            if box is None:
                findings.append(common + ["['No Finding']", None, None, None, None, None, split])
            else:
                findings.append(
                    common
                    + [
                        str(category),
                        finding_birads,
                        float(box.xmin),
                        float(box.ymin),
                        float(box.xmax + 1),
                        float(box.ymax + 1),
                        split,
                    ]
                )
            meta.append(
                [
                    series_id,
                    image_id,
                    age,
                    view,
                    laterality,
                    vendor.photometric,
                    ds.Rows,
                    ds.Columns,
                    vendor.manufacturer,
                    vendor.model,
                ]
            )
    return breast, findings, meta
