"""Demo mirror of I-SPY2 with ACRIN-6698: both collections' folders and id prefixes, the VOLSER cropped multi-phase DCE
with its SER, PE2 and PE6 maps in the DCE grid and the analysis-mask SEG, a site DCE acquisition of another grid, a
DWI series for the ACRIN-6698 patients, and the clinical sheet keyed by the bare numeric Patient_ID. The sixth
patient has images but no clinical row, as about one imaging patient in nine of the real cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..nbia_names import series_dir, study_dir
from ..sources import ispy2 as source
from . import dicomgen as g
from .identity import accession, make_identity, rng_for
from .xlsx import write_sheets

DCE = "ISPY2: VOLSER: uni-lateral cropped: original DCE"
MAPS = {
    61001: "ISPY2: VOLSER: uni-lateral cropped: SER",
    61002: "ISPY2: VOLSER: uni-lateral cropped: PE2",
    61003: "ISPY2: VOLSER: uni-lateral cropped: PE6",
}
MASK = "ISPY2: VOLSER: uni-lateral cropped: Analysis Mask"
SITE_DCE = "ISPY2: Ax Vibrant PRE/POST"
DWI = "ACRIN-6698: DWI TRACE: from S4: bVals=0,100,600,800"
SCANNERS = [("GE MEDICAL SYSTEMS", "SIGNA HDxt", 1.5), ("SIEMENS", "Skyra", 3.0), ("Philips", "Ingenia", 3.0)]
ARMS = ["Paclitaxel", "Paclitaxel + Neratinib", "Paclitaxel + MK-2206", "Paclitaxel + Pembrolizumab"]
WITHOUT_CLINICAL = 5  # patient index whose clinical row the sheet lacks
#: The analysis mask's legend: the first two entries and "automatic b" as dcmjs PR #309 shows them; the rest of the
#: bit-16 entry and the bit-32 entry are this demo's placeholders (together 136 characters, the published length).
LEGEND = [
    "00000001 ( 1) : PE threshold",
    "00000010 ( 2) : other SER filter",
    "00010000 (16) : automatic background threshold",
    "00100000 (32) : outside VOI",
]


def write(out: Path, patients: int, seed: int) -> None:
    rows = [_patient(out, k, rng_for(seed, source.ADAPTER.key, k)) for k in range(patients)]
    rows = [r for k, r in enumerate(rows) if k != WITHOUT_CLINICAL]
    write_sheets(out / source.CLINICAL, {"Sheet1": pd.DataFrame(rows, columns=source.CLINICAL_COLUMNS)})


def analysis_flags(lesion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bit-flag values as a real analysis mask holds them (the combinations of dcmjs PR #309's histogram): 32 outside
    the VOI (the lesion's bounding box and 2 voxels), there mostly with 16 and 1 (0x31); inside the VOI 1, 0x11 or
    2 around the lesion; the lesion (the FTV) with no flag set."""
    box = np.zeros(lesion.shape, dtype=bool)
    where = np.argwhere(lesion > 0)
    lo, hi = np.maximum(where.min(axis=0) - 2, 0), where.max(axis=0) + 3
    box[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
    draw = rng.random(lesion.shape)
    outside = np.select([draw < 0.05, draw < 0.13, draw < 0.14], [0x20, 0x21, 0x22], 0x31)
    inside = np.select([draw < 0.3, draw < 0.97], [0x01, 0x11], 0x02)
    flags = np.where(box, inside, outside).astype(np.uint8)
    flags[lesion > 0] = 0
    return flags


def _patient(out: Path, k: int, rng: np.random.Generator):
    number = 100101 + 37 * k
    acrin = k % 3 == 1  # the second patient (and every third) is filed in ACRIN-6698
    collection = "ACRIN-6698" if acrin else "ISPY2"
    pid = f"{collection}-{number}"
    who = make_identity(rng)
    manufacturer, model, tesla = SCANNERS[int(rng.integers(len(SCANNERS)))]
    ctx = g.StudyContext(
        identity=who,
        patient_id=pid,
        study_uid=g.uid(rng.bytes(16).hex(), "study"),
        study_date=who.first_study,
        study_time=f"{int(rng.integers(7, 17)):02d}1133.000000",
        accession=accession(rng),
        study_description="ACRIN-6698_ISPY2_MRI_T0" if acrin else "ISPY2_MRI_T0",
        manufacturer=manufacturer,
        model=model,
        station=f"ISPY2-MR{int(rng.integers(1, 9))}",
    )
    spec = g.DCESpec(
        shape=(16, 48, 48),
        spacing=(1.4, 1.4),
        thickness=2.0,
        orientation=[1, 0, 0, 0, 1, 0],
        origin=[10.0, -40.0, -16.0],
        times_s=[0.0, 80.0, 160.0, 240.0, 450.0],
        field_strength=tesla,
        tr=round(float(rng.uniform(4.0, 6.0)), 2),
        te=round(float(rng.uniform(1.5, 2.5)), 2),
        flip=12.0,
        bilateral=False,
        single_series=True,
        series_descriptions=[DCE],
        series_numbers=[61000],
        full_slices=80,
    )  # median slices per DCE phase in IDC v25 (I-SPY2 and ACRIN-6698)
    folder = out / study_dir(collection, pid, ctx.study_date, ctx.study_description, ctx.study_uid)

    def series_path(number: int, name: str, instance: int) -> Path:
        return folder / series_dir(number, name, g.uid(ctx.study_uid, "series", number)) / f"1-{instance:03d}.dcm"

    dce = g.write_dce(ctx, spec, rng, lambda p, n, d, i: series_path(n, d, i))
    ser, pe2 = g.enhancement_maps(dce.phases)
    _, pe6 = g.enhancement_maps([dce.phases[0], dce.phases[-1], dce.phases[-1]])
    for map_number, volume in zip(MAPS, (ser, pe2, pe6)):
        g.write_volume_series(
            ctx,
            spec,
            volume,
            map_number,
            MAPS[map_number],
            ["DERIVED", "SECONDARY"],
            0.0,
            dce.frame_uid,
            lambda i, n=map_number: series_path(n, MAPS[n], i),
        )
    seg_uid = g.uid(ctx.study_uid, "series", 61004)
    seg = g.segmentation(
        ctx,
        dce.pre_slices,
        analysis_flags(dce.mask, np.random.default_rng(int(seg_uid.rsplit(".", 1)[-1]) % 2**63)),
        g.uid(seg_uid, "sop"),
        seg_uid,
        61004,
        "VOLSER Analysis Mask",
        MASK,
        style="bit_flags",
        legend=LEGEND,
    )
    g.save(seg, series_path(61004, MASK, 1))
    # The site's own bilateral acquisition: another DCE of another grid (the study's DCE is the VOLSER series).
    site = g.DCESpec(
        shape=(8, 32, 32),
        spacing=(5.0, 5.0),
        thickness=6.0,
        orientation=[1, 0, 0, 0, 1, 0],
        origin=[-80.0, -80.0, -24.0],
        times_s=[0.0, 90.0, 180.0],
        field_strength=tesla,
        tr=spec.tr,
        te=spec.te,
        flip=12.0,
        bilateral=True,
        single_series=True,
        series_descriptions=[SITE_DCE],
        series_numbers=[800],
    )
    g.write_dce(ctx, site, rng, lambda p, n, d, i: series_path(n, d, i))
    if acrin:  # ACRIN-6698's diffusion sub-study: a DWI series of its own grid
        dwi = g.DCESpec(
            shape=(8, 24, 24),
            spacing=(4.0, 4.0),
            thickness=5.0,
            orientation=[1, 0, 0, 0, 1, 0],
            origin=[-64.0, -64.0, -20.0],
            times_s=[0.0],
            field_strength=tesla,
            tr=4000.0,
            te=70.0,
            flip=90.0,
            bilateral=True,
            single_series=True,
            series_descriptions=[DWI],
            series_numbers=[4],
        )
        g.write_volume_series(
            ctx,
            dwi,
            dce.phases[0][::2, ::2, ::2].copy(),
            4,
            DWI,
            ["ORIGINAL", "PRIMARY", "DIFFUSION"],
            -600.0,
            dce.frame_uid,
            lambda i: series_path(4, DWI, i),
        )
    hr, her2 = int(rng.integers(0, 2)), int(rng.integers(0, 2))
    return [
        number,
        str(rng.choice(ARMS)),
        hr,
        her2,
        int(rng.integers(0, 2)),
        int(rng.random() < 0.35),
        round(float(who.age_at(who.first_study)), 1),
        str(rng.choice(["White", "Black", "Asian"])),
        str(rng.choice(["Not Hispanic or Latino", "Hispanic or Latino"])),
        str(rng.choice(["Pre", "Post", "Peri", "N/A"])),
    ]
