"""I-SPY2's real formats: the analysis mask's bit flags decoded to the FTV lesion (or rejected when they do not fit
the documented layout), and the clinical sheet with its numeric receptor columns (docs/sources/ispy2.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from breastcurate.codes import Codes
from breastcurate.convert import masks, mri
from breastcurate.errors import NativeTableError
from breastcurate.sources import ispy2
from breastcurate.sources.base import read_native
from conftest import run_cli

DATA = Path(__file__).parent / "data" / "ispy2"
LEGEND = 0x011710D3


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """One demo I-SPY2 study (written by the CLI): its cropped DCE and its analysis mask."""
    root = tmp_path_factory.mktemp("ispy2")
    run_cli("demo-data", "--out", str(root / "mirror"), "--patients", "1", "--dataset", "ispy2", "--seed", "5")
    folder = root / "study"
    for series in sorted((root / "mirror").rglob("*")):
        if series.is_dir() and ("uni-lateral cropped original DCE" in series.name or "Analysis Mask" in series.name):
            shutil.copytree(series, folder / series.name)
    assert len(list(folder.iterdir())) == 2
    return folder


def _seg_path(folder: Path) -> Path:
    return next(folder.glob("*Analysis Mask*/*.dcm"))


def _volumes(folder: Path) -> list[mri.Volume]:
    headers, _ = mri.read_headers(sorted(p for p in folder.rglob("*.dcm") if "Analysis" not in str(p)))
    return mri.build_volumes(headers, None)[0]


def test_demo_mask_is_bit_flags_in_a_fractional_seg(study):
    seg = pydicom.dcmread(_seg_path(study))
    assert seg.SegmentationType == "FRACTIONAL" and seg.MaximumFractionalValue == 255
    assert list(seg[LEGEND].value)[:2] == ["00000001 ( 1) : PE threshold", "00000010 ( 2) : other SER filter"]
    assert set(np.unique(seg.pixel_array)) <= {0, 0x01, 0x02, 0x11, 0x20, 0x21, 0x22, 0x31}  # PR #309's values


def test_standard_reading_empties_the_mask_and_the_layout_decodes_the_ftv(study):
    seg, volumes = pydicom.dcmread(_seg_path(study)), _volumes(study)
    (standard,) = masks.seg_masks(seg, volumes)
    assert standard.data.sum() == 0  # the defect: flags read as occupancies below 0.5
    (mask,) = masks.seg_masks(seg, volumes, (ispy2.ANALYSIS_MASK,), required=True)
    stored = seg.pixel_array  # frames in slice order, rows × columns
    assert mask.encoding == "bit_flags" and mask.rule == ispy2.ANALYSIS_MASK.rule
    assert mask.legend and mask.legend.startswith("00000001 ( 1) : PE threshold | ")
    assert 0 < mask.data.sum() == int((stored == 0).sum())
    to_index = np.linalg.inv(mri.LPS_TO_RAS @ mask.volume.affine)  # LPS → (column, row, slice)
    for k, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):  # each frame lands on the slice at its position
        position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        z = int(round((to_index @ [*position, 1.0])[2]))
        assert np.array_equal(mask.data[:, :, z].T, (stored[k] == 0).astype(np.uint8))
    assert masks.plausible(mask) is None


def _legend(seg, values) -> None:
    seg[LEGEND].value = values


def _pixels(seg, change) -> None:
    stored = seg.pixel_array.copy()
    change(stored)
    seg.PixelData = stored.astype(np.uint8).tobytes()


def _drop_frame(seg, k: int) -> None:
    stored = seg.pixel_array
    keep = [i for i in range(len(stored)) if i != k % len(stored)]
    seg.PerFrameFunctionalGroupsSequence = [seg.PerFrameFunctionalGroupsSequence[i] for i in keep]
    seg.NumberOfFrames = len(keep)
    seg.PixelData = stored[keep].astype(np.uint8).tobytes()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda s: _legend(s, ["00000001 ( 1) : SER threshold", *list(s[LEGEND].value)[1:]]), "documented layout"),
        (lambda s: _legend(s, ["00000011 ( 1) : PE threshold", *list(s[LEGEND].value)[1:]]), "is not '<8 bits>"),
        (lambda s: _legend(s, [*list(s[LEGEND].value), "01000000 (64) : other"]), "documented layout"),
        (lambda s: _legend(s, list(s[LEGEND].value)[:3]), "bits its legend does not list"),  # bit 32 unlisted
        (lambda s: _pixels(s, lambda a: a.__setitem__((0, 0, 0), 0x04)), "bits its legend does not list"),
        (lambda s: s.__delitem__(LEGEND), "lacks the Mask Legend"),
        (lambda s: setattr(s, "MaximumFractionalValue", 100), "MaximumFractionalValue 255"),
        (lambda s: _drop_frame(s, -1), "cannot be decoded"),
        (lambda s: _drop_frame(s, 5), "cannot be decoded"),
    ],
    ids=[
        "renamed",
        "bits-vs-value",
        "unknown-flag",
        "unlisted-bit",
        "stray-value",
        "no-legend",
        "max-100",
        "last-frame",
        "middle-frame",
    ],
)
def test_a_mask_that_does_not_fit_the_layout_is_an_error(study, mutate, reason):
    seg, volumes = pydicom.dcmread(_seg_path(study)), _volumes(study)
    mutate(seg)
    with pytest.raises(mri.ConversionError, match=reason.replace("(", r"\(")):
        masks.seg_masks(seg, volumes, (ispy2.ANALYSIS_MASK,), required=True)


def test_to_nifti_publishes_the_decoded_lesion(study, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("to-nifti", str(study), "--out", str(out))
    assert "1 masks written" in proc.stdout, proc.stdout + proc.stderr
    (path,) = out.glob("seg_*.nii.gz")
    stored = pydicom.dcmread(_seg_path(study)).pixel_array
    assert 0 < int(np.asarray(nib.load(path).dataobj).sum()) == int((stored == 0).sum())


@pytest.mark.parametrize(
    ("values", "reason"),
    [(0x31, "the lesion mask is empty"), (0, "covers 100% of its phase (more than 20%)")],
    ids=["empty", "whole-volume"],
)
def test_to_nifti_never_publishes_an_empty_or_implausible_mask(study, tmp_path, values, reason):
    folder = tmp_path / "study"
    shutil.copytree(study, folder)
    seg = pydicom.dcmread(_seg_path(folder))
    seg.PixelData = np.full(seg.pixel_array.shape, values, np.uint8).tobytes()
    seg.save_as(_seg_path(folder))
    proc = run_cli("to-nifti", str(folder), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 1 and reason in proc.stderr, proc.stderr
    assert "0 masks written" in proc.stdout and not list((tmp_path / "out").glob("seg_*"))


def test_a_legend_that_does_not_fit_is_rejected_by_to_nifti(study, tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(study, folder)
    seg = pydicom.dcmread(_seg_path(folder))
    seg[LEGEND].value = ["00000001 ( 1) : SER threshold", *list(seg[LEGEND].value)[1:]]
    seg.save_as(_seg_path(folder))
    proc = run_cli("to-nifti", str(folder), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 1 and "not in the documented layout" in proc.stderr, proc.stderr


# --- the clinical sheet -------------------------------------------------------------------------------------------


def test_clinical_excerpt_has_the_published_numeric_cells():
    raw = pd.read_excel(DATA / ispy2.CLINICAL, dtype=object)
    assert list(raw.columns) == ispy2.CLINICAL_COLUMNS
    for column in ("Patient_ID", "HR", "HER2", "MP", "pCR"):
        assert all(isinstance(v, int) for v in raw[column]), column  # numbers, not text, and none missing


def test_clinical_with_numeric_receptors_harmonizes(tmp_path):
    shutil.copy(DATA / ispy2.CLINICAL, tmp_path / ispy2.CLINICAL)
    codes = Codes("ispy2")
    out = ispy2.ADAPTER.clinical(tmp_path, codes)
    assert codes.rejects == []
    row = out.set_index("native_patient_id").loc["ISPY2-100138"]
    assert (row.hr, row.her2, row.subtype, row.subtype_native, row.pcr) == (0, 1, "her2+", "HR=0;HER2=1", 1)
    assert out.set_index("native_patient_id").loc["ACRIN-6698-100212"].age_years == 61.0
    assert sorted(set(out.subtype)) == ["her2+", "hr+her2-", "tn"]


def test_native_reader_types_columns_as_declared_and_refuses_what_does_not_fit(tmp_path):
    table = read_native(DATA / ispy2.CLINICAL, ispy2.CLINICAL_TYPES)
    assert str(table.HR.dtype) == "Int64" and str(table.Age_at_Screening.dtype) == "Float64"
    assert table.Arm.map(type).eq(str).all()
    csv = tmp_path / "t.csv"
    csv.write_text("Patient_ID,HR\n100101,1\n100138,\n100175,1.0\n")
    assert read_native(csv, {"Patient_ID": "int", "HR": "int"}).HR.tolist() == [1, pd.NA, 1]
    csv.write_text("Patient_ID,HR\n100101,positive\n")
    with pytest.raises(NativeTableError, match="column 'HR' holds 'positive', not int"):
        read_native(csv, {"HR": "int"})


def test_lesion_mask_check_counts_the_files(tmp_path):
    """The data check counts each MRI mask's voxels in its file: empty and over-large masks fail, a lesion passes."""
    from breastcurate.checks.semantic import lesion_masks

    affine = np.eye(4)
    rows = []
    for name, voxels in (("empty", 0), ("lesion", 50), ("breast", 300)):
        data = np.zeros((10, 10, 10), np.uint8)
        data.reshape(-1)[:voxels] = 1
        nib.save(nib.Nifti1Image(data, affine), tmp_path / f"{name}.nii.gz")
        rows.append({"dataset": "ispy2", "finding_id": name, "mask_path": f"{name}.nii.gz", "phase": "pre"})
    rows.append({"dataset": "vindr_mammo", "finding_id": "box", "mask_path": None, "phase": None})
    bad = lesion_masks(tmp_path, {"findings": pd.DataFrame(rows)})
    assert bad.to_dict("records") == [
        {"dataset": "ispy2", "finding_id": "empty", "voxels": 0, "share": 0.0},
        {"dataset": "ispy2", "finding_id": "breast", "voxels": 300, "share": 0.3},
    ]


def test_demo_run_publishes_decoded_masks_and_numeric_receptors(demo_run):
    """Through Snakemake (the shared demo run): every I-SPY2 mask was decoded from its flags, holds a lesion of
    plausible size and counts in the masks coverage; harmonize read the numeric receptor columns."""
    from breastcurate.layout import Layout, Scope
    from breastcurate.tables import read_table
    from conftest import DEMO_SHARDS

    layout, scope = Layout(demo_run[0] / "results"), Scope(("ispy2",), DEMO_SHARDS)
    findings = read_table(layout, scope, "findings")
    volumes = read_table(layout, scope, "volumes").set_index(["study_uid", "phase"])
    assert len(findings) and set(findings.mask_encoding) == {"bit_flags"}
    assert set(findings.mask_rule) == {ispy2.ANALYSIS_MASK.rule}
    assert findings.mask_legend.str.startswith("00000001 ( 1) : PE threshold | 00000010 ( 2) : other SER filter").all()
    for r in findings.itertuples():
        grid = volumes.loc[(r.study_uid, r.phase)]
        assert 0 < r.voxels <= 0.2 * grid.size_x * grid.size_y * grid.size_z
    coverage = read_table(layout, scope, "coverage").set_index("join")
    assert coverage.loc["masks"].matched == coverage.loc["masks"].total > 0
    clinical = read_table(layout, scope, "clinical")
    assert len(clinical) and clinical.subtype_native.str.fullmatch(r"HR=[01];HER2=[01]").all()
    rejects = read_table(layout, scope, "rejects")
    assert not rejects.reason.str.contains("mask|legend|flag").any()
