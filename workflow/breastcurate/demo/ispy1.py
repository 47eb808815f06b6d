"""Demo mirror of I-SPY1: sagittal single-series DCE, the central lab's SER and PE1 maps in the DCE grid (named after
their source), a FRACTIONAL DICOM SEG lesion mask shaped like the real ones, two visits, and the clinical workbook
under its second circulating name with HR_HER2_CATEGORY as a formula (cached results)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from ..nbia_names import series_dir, study_dir
from ..sources import ispy1 as source
from . import dicomgen as g
from .identity import accession, make_identity, rng_for
from .xlsx import cache_formula_results, write_sheets

#: (manufacturer, model, DCE series description) of three sites (IDC v25 descriptions).
SCANNERS = [
    ("GE MEDICAL SYSTEMS", "GENESIS_SIGNA", "Dynamic-3dfgre"),
    ("SIEMENS", "Avanto", "fl3d_sag_uni_R"),
    ("GE MEDICAL SYSTEMS", "Signa HDx", "LT IR-SPGR SAG"),
]
STATUS = {1: "HRposHER2neg", 2: "HER2pos", 3: "TripleNeg"}
WORKBOOK = source.CLINICAL_FILES[1]


def write(out: Path, patients: int, seed: int) -> None:
    clinical, outcome = [], []
    for k in range(patients):
        c, o = _patient(out, k, rng_for(seed, source.ADAPTER.key, k))
        clinical.append(c)
        outcome.append(o)
    frame = pd.DataFrame(clinical, columns=source.CLINICAL_COLUMNS)
    cached = {}
    column = "ABCDEFGHIJKLMNOP"[source.CLINICAL_COLUMNS.index("HR_HER2_CATEGORY")]
    for i, value in enumerate(frame.HR_HER2_CATEGORY, start=2):
        cached[f"{column}{i}"] = value
    frame["HR_HER2_CATEGORY"] = [f"=IF(H{i}=1,2,IF(G{i}=1,1,3))" for i in range(2, len(frame) + 2)]
    write_sheets(
        out / WORKBOOK,
        {source.CLINICAL_SHEET: frame, source.OUTCOME_SHEET: pd.DataFrame(outcome, columns=source.OUTCOME_COLUMNS)},
    )
    cache_formula_results(out / WORKBOOK, 1, cached)


def _patient(out: Path, k: int, rng: np.random.Generator):
    subject = 1001 + k
    pid = f"ISPY1_{subject}"
    who = make_identity(rng)
    manufacturer, model, description = SCANNERS[k % len(SCANNERS)]
    # Two visits (T0 baseline, T1 early treatment) about three weeks apart: dates must shift together.
    visits = [who.first_study, who.first_study + dt.timedelta(days=int(rng.integers(14, 28)))]
    for v, day in enumerate(visits):
        ctx = g.StudyContext(
            identity=who,
            patient_id=pid,
            study_uid=g.uid(rng.bytes(16).hex(), "study", v),
            study_date=day,
            study_time=f"{int(rng.integers(7, 17)):02d}3005.000000",
            accession=accession(rng),
            study_description="MR BREASTUNI UE",
            manufacturer=manufacturer,
            model=model,
            station=f"ACRIN-SITE{int(rng.integers(1, 9))}",
        )
        spec = g.DCESpec(
            shape=(16, 64, 64),
            spacing=(2.5, 2.5),
            thickness=3.0,
            orientation=[0, 1, 0, 0, 0, -1],
            origin=[24.0, -80.0, 80.0],
            times_s=[0.0, 150.0, 300.0, 450.0],
            field_strength=1.5,
            tr=round(float(rng.uniform(7.0, 9.0)), 2),
            te=round(float(rng.uniform(2.0, 4.5)), 2),
            flip=20.0,
            bilateral=False,
            single_series=True,
            series_descriptions=[description],
            series_numbers=[4],
            full_slices=60,
        )  # median slices per DCE phase in IDC v25
        folder = out / study_dir(source.COLLECTION, pid, day, ctx.study_description, ctx.study_uid)

        def series_path(number: int, name: str, instance: int, folder=folder, ctx=ctx) -> Path:
            return folder / series_dir(number, name, g.uid(ctx.study_uid, "series", number)) / f"1-{instance:03d}.dcm"

        dce = g.write_dce(ctx, spec, rng, lambda p, n, d, i: series_path(n, d, i))
        ser, pe = g.enhancement_maps(dce.phases)
        for number, suffix, volume in ((41000, "SER", ser), (41001, "PE1", pe)):
            name = f"{description}: {suffix}"
            g.write_volume_series(
                ctx,
                spec,
                volume,
                number,
                name,
                ["DERIVED", "SECONDARY"],
                0.0,
                dce.frame_uid,
                lambda i, number=number, name=name: series_path(number, name, i),
            )
        seg_uid = g.uid(ctx.study_uid, "series", 42201)
        occupancy = dce.mask.astype(np.float32)
        seg = g.segmentation(
            ctx,
            dce.pre_slices,
            occupancy,
            g.uid(seg_uid, "sop"),
            seg_uid,
            42201,
            "Lesion",
            "VOI PE Segmentation thresh=70",
            style="ispy1",
            further_sources=dce.post_slices,
        )
        g.save(seg, series_path(42201, "VOI PE Segmentation thresh=70", 1))
    er, pgr, her2 = int(rng.integers(0, 2)), int(rng.integers(0, 2)), int(rng.integers(0, 2))
    hr = int(er or pgr)
    category = 2 if her2 else (1 if hr else 3)
    ld = [int(rng.integers(20, 90))]
    ld += [max(ld[-1] - int(rng.integers(0, 25)), 0) for _ in range(3)]
    pcr = int(rng.random() < 0.3)
    clinical = [
        subject,
        "2011-01-07",
        round(float(who.age_at(who.first_study)) + 0.37, 2),
        int(rng.choice([1, 1, 3, 4, 50])),
        er,
        pgr,
        hr,
        her2,
        category,
        STATUS[category],
        0,
        int(rng.integers(1, 3)),
        *ld,
    ]
    outcome = [
        subject,
        "2011-01-07",
        int(rng.choice([7, 7, 8, 9])),
        int(rng.integers(300, 3000)),
        int(rng.integers(200, 3000)),
        int(rng.random() < 0.2),
        pcr if rng.random() > 0.1 else None,
        0 if pcr else int(rng.integers(1, 4)),
    ]
    return clinical, outcome
