"""Demo mirror of EMBED open data: the real table columns, 2D and C-view images, several exams for one patient, a
spot-magnification view, an ROI screen save, and ROI_coords printed as the open tables print them, in EMBED's PNG
frame (right-breast images mirrored so the chest wall is on the left)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ..sources import embed as source
from . import dicomgen as g
from .identity import make_identity, rng_for

#: A subset of the open clinical table's ~110 columns, with their real names.
CLINICAL_COLUMNS = [
    "empi_anon",
    "acc_anon",
    "study_date_anon",
    "sdate_anon",
    "desc",
    "vtype",
    "tissueden",
    "asses",
    "numfind",
    "side",
    "total_L_find",
    "total_R_find",
    "massshape",
    "massmargin",
    "massdens",
    "calcfind",
    "calcdistri",
    "calcnumber",
    "otherfind",
    "bside",
    "path1",
    "path2",
    "path_severity",
    "procdate_anon",
    "age_at_study",
    "GENDER_DESC",
    "ETHNICITY_DESC",
    "ETHNIC_GROUP_DESC",
    "MARITAL_STATUS_DESC",
    "cohort_num",
]
METADATA_COLUMNS = [
    "empi_anon",
    "acc_anon",
    "anon_dicom_path",
    "png_path",
    "png_filename",
    "study_date_anon",
    "StudyDescription",
    "SeriesDescription",
    "FinalImageType",
    "ImageLateralityFinal",
    "ImageLaterality",
    "ViewPosition",
    "spot_mag",
    "num_roi",
    "ROI_coords",
    "SRC_DST",
    "match_level",
    "Manufacturer",
    "ManufacturerModelName",
    "ProtocolName",
    "SeriesNumber",
    "Rows",
    "Columns",
    "PhotometricInterpretation",
    "PatientSex",
]
VENDORS = [
    g.MammoVendor("HOLOGIC, Inc.", "Selenia Dimensions", bits_stored=12, rows=336, cols=272),
    g.MammoVendor("FUJIFILM Corporation", "FDR MS-3500", photometric="MONOCHROME1", bits_stored=12),
    g.MammoVendor("GE MEDICAL SYSTEMS", "Senographe Pristina", voi="sigmoid", bits_stored=14, compression="rle"),
    g.MammoVendor("HOLOGIC, Inc.", "Selenia Dimensions", bits_stored=12, rows=336, cols=272),
]
RACES = ["African American or Black", "Caucasian or White", "Asian", "Unknown, Unavailable or Unreported"]
ETHNIC = ["Non-Hispanic or Latino", "Hispanic or Latino", "Unknown~Non-Hispanic", "Non-Hispanic~Unknown"]
C_VIEW = ["DERIVED", "PRIMARY", "TOMOSYNTHESIS", "GENERATED_2D"]


def write(out: Path, patients: int, seed: int) -> None:
    clinical, metadata = [], []
    for k in range(patients):
        c, m = _patient(out, k, rng_for(seed, source.ADAPTER.key, k))
        clinical += c
        metadata += m
    (out / "tables").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(clinical, columns=CLINICAL_COLUMNS).to_csv(out / source.CLINICAL, index=False)
    pd.DataFrame(metadata, columns=METADATA_COLUMNS).to_csv(out / source.METADATA, index=False)


def roi_coords(box: g.Box2D | None, ds, flipped: bool) -> str:
    """`((ymin, xmin, ymax, xmax),)` with half-open edges, in the PNG frame (mirrored when the image is)."""
    if box is None:
        return "()"
    x0, x1, y0, y1 = box.xmin, box.xmax + 1, box.ymin, box.ymax + 1
    if flipped:
        x0, x1 = int(ds.Columns) - x1, int(ds.Columns) - x0
    return f"(({y0}, {x0}, {y1}, {x1}),)"


def _patient(out: Path, k: int, rng: np.random.Generator):
    who = make_identity(rng)
    empi = int(rng.integers(10**7, 10**8))
    vendor = VENDORS[k % len(VENDORS)]  # every vendor appears in a small demo
    lesion_side = ("R", "L", None)[k % 3]  # two patients in three have a finding, so a small demo shows boxes
    race, ethnic = str(rng.choice(RACES)), str(rng.choice(ETHNIC))
    shift = dt.timedelta(days=int(rng.integers(3000, 9000)))
    # Patient 0 (and every third) comes back: a diagnostic exam with a spot-magnification view and a screen save.
    exams = [("screen", who.first_study)]
    if k % 3 == 0 and lesion_side is not None:
        exams.append(("diag", who.first_study + dt.timedelta(days=int(rng.integers(20, 60)))))
    if k % 3 == 1:  # women screened yearly (embed.md): a negative screening about a year before this one
        exams.append(("prior", who.first_study - dt.timedelta(days=int(rng.integers(340, 400)))))
    clinical, metadata = [], []
    for e, (kind, day) in enumerate(exams):
        seen = None if kind == "prior" else lesion_side  # the prior screening was negative
        kind = "screen" if kind == "prior" else kind
        acc = int(rng.integers(10**15, 10**16))
        description = "MG Screening Bilateral w/ Tomo" if kind == "screen" else "MG Diagnostic Left w/Tomo"
        if kind == "diag" and lesion_side == "R":
            description = "MG Diagnostic Right w/Tomo"
        ctx = g.StudyContext(
            identity=who,
            patient_id=str(empi),
            study_uid=g.uid(rng.bytes(16).hex(), "study", e),
            study_date=day,
            study_time=f"{int(rng.integers(7, 17)):02d}4210.000000",
            accession=str(acc),
            study_description=description,
            manufacturer=vendor.manufacturer,
            model=vendor.model,
            station=f"HOLX-SD{int(rng.integers(10, 99))}",
        )
        shifted = (day - shift).isoformat()
        if kind == "screen":
            views: list[tuple[str, str, str, str | None]] = [
                (t, lat, v, None)
                for t, vs in (("2D", ("CC", "MLO")), ("C-view", ("CC",)))
                for lat in ("L", "R")
                for v in vs
            ]
        else:  # the diagnostic exam of a finding: its side is known
            assert lesion_side is not None
            views = [("2D", lesion_side, "CC", None), ("2D", lesion_side, "CC", "SPOT MAGNIFICATION")]
        instance = 0
        screen_source = None
        for image_type, laterality, view, modifier in views:
            instance += 1
            series_uid = g.uid(ctx.study_uid, "series", image_type, laterality, view, modifier)
            sop_uid = g.uid(series_uid, "sop")
            dicom_type = ["ORIGINAL", "PRIMARY"] if image_type == "2D" else C_VIEW
            series_description = (
                f"{laterality} {view}"
                + (" C-View" if image_type == "C-view" else "")
                + (" SPOT MAG" if modifier else "")
            )
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
                laterality == seen,
                dicom_type,
                series_description,
                modifier,
            )
            rel = PurePosixPath("images", "cohort_1", str(empi), ctx.study_uid, series_uid, f"{sop_uid}.dcm")
            g.save(ds, out / rel, vendor.compression)
            flipped = str(ds.PatientOrientation[0]) == "P"
            if box is not None and image_type == "2D" and not modifier:
                screen_source = (ds, box)
            metadata.append(
                _meta_row(
                    empi,
                    acc,
                    rel,
                    shifted,
                    ctx,
                    series_description,
                    image_type,
                    laterality,
                    view,
                    1.0 if modifier else None,
                    roi_coords(box, ds, flipped),
                    vendor,
                    ds,
                )
            )
        if kind == "diag" and screen_source is not None:  # the radiologist's screen save of the ROI
            source_ds, box = screen_source
            series_uid = g.uid(ctx.study_uid, "series", "roi-screen-save")
            sop_uid = g.uid(series_uid, "sop")
            shot = g.roi_screenshot(ctx, source_ds, box, series_uid, sop_uid)
            rel = PurePosixPath("images", "cohort_1", str(empi), ctx.study_uid, series_uid, f"{sop_uid}.dcm")
            g.save(shot, out / rel)
            metadata.append(
                _meta_row(
                    empi,
                    acc,
                    rel,
                    shifted,
                    ctx,
                    "ROI SCREEN SAVE",
                    "ROI_SSC",
                    lesion_side,
                    None,
                    None,
                    "()",
                    vendor,
                    shot,
                )
            )
        clinical += _findings(rng, empi, acc, shifted, description, kind, seen, who, day, race, ethnic)
    return clinical, metadata


def _meta_row(
    empi, acc, rel, shifted, ctx, series_description, image_type, laterality, view, spot_mag, roi, vendor, ds
) -> list:
    num_roi = 0 if roi == "()" else roi.count("(") - 1
    return [
        empi,
        acc,
        f"./{rel}",
        f"/mnt/png/{rel.stem}.png",
        f"{rel.stem}.png",
        shifted,
        ctx.study_description,
        series_description,
        image_type,
        laterality,
        laterality,
        view,
        spot_mag,
        num_roi,
        roi,
        None if num_roi == 0 else "['screen save']",
        None if num_roi == 0 else "[1]",
        vendor.manufacturer,
        vendor.model,
        series_description,
        71300000,
        ds.Rows,
        ds.Columns,
        ds.PhotometricInterpretation,
        "F",
    ]


def _findings(rng, empi, acc, shifted, description, kind, lesion_side, who, day, race, ethnic) -> list[dict]:
    """The exam's rows of the clinical table: one per finding (a negative exam has one row without a finding)."""
    exam = {
        "empi_anon": empi,
        "acc_anon": acc,
        "study_date_anon": shifted,
        "sdate_anon": shifted,
        "desc": description,
        "vtype": "S" if kind == "screen" else "A",
        "tissueden": int(rng.integers(1, 5)),
        "age_at_study": who.age_at(day),
        "GENDER_DESC": "Female",
        "ETHNICITY_DESC": race,
        "ETHNIC_GROUP_DESC": ethnic,
        "MARITAL_STATUS_DESC": "Unknown",
        "cohort_num": 1,
        "total_L_find": int(lesion_side == "L"),
        "total_R_find": int(lesion_side == "R"),
    }
    if lesion_side is None:
        return [{**exam, "asses": str(rng.choice(["N", "B"])), "numfind": 1}]
    is_mass = rng.random() < 0.6
    severity = int(rng.integers(0, 6)) if kind == "diag" else None
    finding = {
        **exam,
        "asses": "A" if kind == "screen" else str(rng.choice(["S", "M", "P"])),
        "numfind": 1,
        "side": lesion_side,
    }
    if is_mass:
        finding.update(
            massshape=str(rng.choice(["O", "R", "X", "D"])), massmargin=str(rng.choice(["D", "I", "S"])), massdens="="
        )
    else:
        finding.update(
            calcfind=str(rng.choice(["I", "A", "P", "K"])), calcdistri="G", calcnumber=int(rng.integers(3, 30))
        )
    if severity is not None:
        finding.update(
            bside=lesion_side, path1="ID" if severity == 0 else "FA", path_severity=severity, procdate_anon=shifted
        )
    rows = [finding]
    if kind == "screen":  # the other breast was read as negative: a second finding row of the exam
        rows.append({**exam, "asses": "N", "numfind": 2, "side": "R" if lesion_side == "L" else "L"})
    return rows
