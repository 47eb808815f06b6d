"""Demo mirror of Duke-Breast-Cancer-MRI: one series per DCE phase in three of the collection's real naming
families, a non-fat-saturated `ax t1`, the clinical sheet with its three header rows, the box sheet and the
filepath-mapping sheet. Patient 1's series store their slices in reverse InstanceNumber order (superior first), as
some real series do, and the boxes count slices in InstanceNumber order. The 2nd post-contrast series of patient 2 (so
from three patients on) holds a byte-identical copy of one slice, `1-05 (1).dcm` beside `1-05.dcm`, as re-downloads
and PACS exports leave them in NBIA or local mirrors (IDC serves one object per instance)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..nbia_names import series_dir, study_dir
from ..sources import duke as source
from . import dicomgen as g
from .identity import accession, make_identity, rng_for
from .xlsx import write_multiheader, write_sheets

CLINICAL_GROUPS = [
    ("Patient Information", ["Patient ID"]),
    ("Demographics", ["Date of Birth (Days)", "Menopause (at diagnosis)", "Race and Ethnicity"]),
    ("MRI Technical Information", ["Manufacturer", "Manufacturer Model Name", "Field Strength (Tesla)"]),
    ("Tumor Characteristics", ["ER", "PR", "HER2", "Mol Subtype", "Tumor Location", "Position"]),
    ("Treatment", ["Neoadjuvant Chemotherapy"]),
    ("Near Complete Response", ["Pathologic Response to Neoadjuvant Therapy"]),
    ("Recurrence", ["Recurrence event(s)", "Days to local recurrence (from the date of diagnosis) "]),
]
CLINICAL_LEGEND = {
    "Date of Birth (Days)": "days relative to the MRI date (negative)",
    "Menopause (at diagnosis)": "0 = pre, 1 = post, 2 = N/A",
    "Race and Ethnicity": "0 = N/A 1 = white, 2 = black, 3 = asian, 4 = native, 5 = hispanic, 6 = multi, 7 = hawa, "
    "8 = amer indian",
    "ER": "0 = neg, 1 = pos",
    "PR": "0 = neg, 1 = pos",
    "HER2": "0 = neg, 1 = pos, 2 = borderline",
    "Mol Subtype": "0 = luminal-like, 1 = ER/PR pos, HER2 pos, 2 = her2, 3 = trip neg",
    "Tumor Location": "Side of cancer L=left R=right",
    "Position": "Position (every bx positive for invasive cancer)(used during annotation)",
    "Neoadjuvant Chemotherapy": "0 = no, 1 = yes",
    "Pathologic Response to Neoadjuvant Therapy": "1 = pCR, 2 = non-pCR, 3 = DCIS only, 4 = LCIS only, 5 = unavailable",
    "Recurrence event(s)": "0 = no, 1 = yes",
}
COPY_PATIENT = 2  # patient index whose 2nd post-contrast series holds a copy of one slice
MAPPING_COLUMNS = ["original_path_and_filename", "descriptive_path", "classic_path", "sop_instance_UID"]
#: (manufacturer, model, field strength, phase series descriptions): three naming families of the collection
#: (IDC v25 counts in docs/sources/duke.md).
FAMILIES = [
    (
        "GE MEDICAL SYSTEMS",
        "SIGNA HDxt",
        1.5,
        ["ax dyn pre", "ax dyn 1st pass", "ax dyn 2nd pass", "ax dyn 3rd pass", "ax dyn 4th pass"],
    ),
    (
        "GE MEDICAL SYSTEMS",
        "Optima MR450w",
        1.5,
        ["ax 3d dyn", "Ph1/ax 3d dyn", "Ph2/ax 3d dyn", "Ph3/ax 3d dyn", "Ph4/ax 3d dyn"],
    ),
    (
        "SIEMENS",
        "Skyra",
        3.0,
        [
            "t1_fl3d_tra_dynVIEWS_spair_ pre",
            "t1_fl3d_tra_dynVIEWS_spair 1st pass",
            "t1_fl3d_tra_dynVIEWS_spair_2nd pass",
            "t1_fl3d_tra_dynVIEWS_spair_3rd pass",
            "t1_fl3d_tra_dynVIEWS_spair_4th pass",
        ],
    ),
]


def write(out: Path, patients: int, seed: int) -> None:
    clinical, boxes, mapping = [], [], []
    for k in range(patients):
        c, b, m = _patient(out, k, rng_for(seed, source.ADAPTER.key, k))
        clinical.append(c)
        boxes.append(b)
        mapping += m
    write_multiheader(out / source.CLINICAL, "Data", CLINICAL_GROUPS, CLINICAL_LEGEND, clinical)
    write_sheets(out / source.BOXES, {"Sheet1": pd.DataFrame(boxes, columns=source.BOX_COLUMNS)})
    write_sheets(
        out / "Breast-Cancer-MRI-filepath_filename-mapping.xlsx",
        {"Sheet1": pd.DataFrame(mapping, columns=MAPPING_COLUMNS)},
    )


def _side(side: str, k: int, dob_days: int) -> tuple[str | None, str]:
    """Tumor Location and the biopsy Position ("L 12": left breast, 12 o'clock); as in 271 real rows, every third
    patient from the second on leaves Tumor Location blank and only Position names the side (duke.md)."""
    return (None if k % 3 == 1 else side), f"{side} {1 + abs(dob_days) % 12}"


def _patient(out: Path, k: int, rng: np.random.Generator):
    pid = f"Breast_MRI_{k + 1:03d}"
    who = make_identity(rng)
    manufacturer, model, tesla, passes = FAMILIES[k % len(FAMILIES)]
    n_phases = 5 if rng.random() < 0.5 else 4
    ctx = g.StudyContext(
        identity=who,
        patient_id=pid,
        study_uid=g.uid(rng.bytes(16).hex(), "study"),
        study_date=who.first_study,
        study_time=f"{int(rng.integers(7, 17)):02d}0512.000000",
        accession=accession(rng),
        study_description="MRI BREAST BILATERAL W  WO",
        manufacturer=manufacturer,
        model=model,
        station=f"DUHS-MR{int(rng.integers(1, 6))}",
    )
    numbers = list(range(3, 3 + n_phases))
    spec = g.DCESpec(
        shape=(24, 64, 64),
        spacing=(2.8, 2.8),
        thickness=2.0,
        orientation=[1, 0, 0, 0, 1, 0],
        origin=[-89.6, -60.0, -24.0],
        times_s=[0.0, 135.0, 270.0, 405.0, 540.0][:n_phases],
        field_strength=tesla,
        tr=round(float(rng.uniform(4.1, 6.9)), 2),
        te=round(float(rng.uniform(1.3, 2.7)), 2),
        flip=10.0,
        bilateral=True,
        single_series=False,
        series_descriptions=passes[:n_phases],
        series_numbers=numbers,
        reverse_instances=k == 1,
        full_slices=174,
    )  # the median slices per DCE phase in IDC v25 (benchmarks/pipeline.py)
    folder = study_dir(source.COLLECTION, pid, ctx.study_date, ctx.study_description, ctx.study_uid)
    mapping = []

    def path_for(phase: int, number: int, description: str, instance: int) -> Path:
        series_uid = g.uid(ctx.study_uid, "series", number)
        rel = f"{folder}/{series_dir(number, description, series_uid)}/1-{instance:02d}.dcm"
        sequence = "pre" if phase == 0 else f"post_{phase}"
        mapping.append(
            [
                f"DICOM_Images/{pid}/{sequence}/{pid}_{sequence}_{instance:02d}.dcm",
                rel,
                f"{source.COLLECTION}/{pid}/{ctx.study_uid}/{series_uid}/1-{instance:02d}.dcm",
                g.uid(series_uid, "sop", phase, instance - 1),
            ]
        )
        return out / rel

    dce = g.write_dce(ctx, spec, rng, path_for)
    if k == COPY_PATIENT:  # a second copy of one slice of the 2nd post-contrast pass: dropped, the phase converts
        number = numbers[2]
        slice_file = out / folder / series_dir(number, passes[2], g.uid(ctx.study_uid, "series", number)) / "1-05.dcm"
        shutil.copyfile(slice_file, slice_file.with_name("1-05 (1).dcm"))
    # The non-fat-saturated T1 (`ax t1`): thicker slices, so another grid; never a phase.
    t1_spec = g.DCESpec(
        shape=(12, 64, 64),
        spacing=(2.8, 2.8),
        thickness=4.0,
        orientation=spec.orientation,
        origin=spec.origin,
        times_s=[0.0],
        field_strength=tesla,
        tr=round(float(rng.uniform(5, 9)), 2),
        te=2.2,
        flip=12.0,
        bilateral=True,
        single_series=True,
        series_descriptions=["ax t1"],
        series_numbers=[2],
    )
    t1 = dce.phases[0][::2].copy()
    t1_uid = g.uid(ctx.study_uid, "series", 2)
    g.write_volume_series(
        ctx,
        t1_spec,
        t1,
        2,
        "ax t1",
        ["ORIGINAL", "PRIMARY", "OTHER"],
        -300.0,
        dce.frame_uid,
        lambda i: out / folder / series_dir(2, "ax t1", t1_uid) / f"1-{i:02d}.dcm",
    )
    er, pr = int(rng.integers(0, 2)), int(rng.integers(0, 2))
    her2 = int(rng.choice([0, 0, 1, 2]))
    subtype = 3 if not (er or pr or her2 == 1) else (2 if her2 == 1 and not (er or pr) else (1 if her2 == 1 else 0))
    nac = int(rng.integers(0, 2))
    response = int(rng.choice([1, 2, 2, 3, 5])) if nac else "NA"
    dob_days = -(who.first_study - who.birth_date).days
    clinical = [
        pid,
        dob_days,
        int(rng.integers(0, 3)),
        int(rng.integers(0, 9)),
        manufacturer,
        model,
        tesla,
        er,
        pr,
        her2,
        subtype,
        *_side(str(rng.choice(["L", "R"])), k, dob_days),
        nac,
        response,
        int(rng.random() < 0.1),
        int(rng.integers(200, 3000)) if rng.random() < 0.1 else "NP",
    ]
    # Boxes are published 1-based and inclusive; slices count in InstanceNumber order.
    box, nz = dce.box, spec.shape[0]
    z0, z1 = (nz - 1 - box.z1, nz - 1 - box.z0) if spec.reverse_instances else (box.z0, box.z1)
    boxes = [pid, box.y0 + 1, box.y1 + 1, box.x0 + 1, box.x1 + 1, z0 + 1, z1 + 1]
    return clinical, boxes, mapping
