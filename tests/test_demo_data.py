"""The demo mirrors follow the real published formats (docs/sources/*.md): native layouts, columns and codes, the
headers as released, the awkward cases; and they are deterministic and stable under growth."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml
from breastcurate.demo import duke as duke_demo
from breastcurate.demo import embed as embed_demo
from breastcurate.demo import vindr_mammo as vindr_demo
from breastcurate.demo.dicomgen import VINDR_KEPT
from breastcurate.sources import adapters, duke, embed, ispy1, ispy2, vindr_mammo
from conftest import DEMO_PATIENTS, DEMO_SEED, REPO, run_cli

#: Header rows of published tables, from public evidence (tests/data/published/README.md).
PUBLISHED = {
    k: v["columns"] for k, v in yaml.safe_load((REPO / "tests/data/published/headers.yaml").read_text()).items()
}

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"


def test_adapters_read_the_published_headers():
    """The columns each adapter reads are the published ones (not the demo's: the demo is checked against them too)."""
    assert {
        "vindr_mammo/breast-level_annotations.csv": vindr_mammo.BREAST_LEVEL_COLUMNS,
        "vindr_mammo/finding_annotations.csv": vindr_mammo.FINDING_COLUMNS,
        "duke/Annotation_Boxes.xlsx": duke.BOX_COLUMNS,
        "ispy2/ISPY2-Imaging-Cohort-1-Clinical-Data.xlsx": ispy2.CLINICAL_COLUMNS,
    } == PUBLISHED
    names = {vindr_mammo.BREAST_LEVEL, vindr_mammo.FINDINGS, duke.BOXES, ispy2.CLINICAL}
    assert {table.split("/")[1] for table in PUBLISHED} == names  # and under the file names the adapters open


def _dicoms(root: Path, pattern: str) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted(root.glob(pattern))]


def test_vindr_as_released(demo_root):
    """Only tags.csv's attributes, MD5-hex UIDs that name the files, file-meta UIDs 1.2.3.4, the three CSVs."""
    root = demo_root / "vindr_mammo"
    breast = pd.read_csv(root / vindr_mammo.BREAST_LEVEL)
    findings = pd.read_csv(root / vindr_mammo.FINDINGS)
    assert list(breast.columns) == PUBLISHED["vindr_mammo/breast-level_annotations.csv"]
    assert list(findings.columns) == PUBLISHED["vindr_mammo/finding_annotations.csv"]
    assert list(pd.read_csv(root / "metadata.csv").columns) == vindr_demo.METADATA_COLUMNS
    assert set(breast["split"]) <= {"training", "test"}
    assert breast["breast_birads"].str.fullmatch(r"BI-RADS [1-5]").all()
    assert len(breast) == 4 * DEMO_PATIENTS
    for _, row in breast.iterrows():
        ds = pydicom.dcmread(root / "images" / row.study_id / f"{row.image_id}.dicom")
        assert {e.keyword for e in ds} <= VINDR_KEPT
        assert "PatientID" not in ds and "SOPClassUID" not in ds and "StudyDate" not in ds
        assert re.fullmatch(r"[0-9a-f]{32}", ds.SOPInstanceUID) and ds.SOPInstanceUID == row.image_id
        assert ds.StudyInstanceUID == row.study_id
        assert ds.file_meta.MediaStorageSOPClassUID == "1.2.3.4"
        assert (ds.Rows, ds.Columns) == (row.height, row.width)
        assert (ds.ImageLaterality, ds.ViewPosition) == (row.laterality, row.view_position)
    for cats, birads in zip(findings.finding_categories, findings.finding_birads):
        assert isinstance(ast.literal_eval(cats), list)
        if "Lymph Node" in cats or "No Finding" in cats:
            assert pd.isna(birads)


def test_embed_real_columns_and_cases(demo_root):
    root = demo_root / "embed"
    clinical = pd.read_csv(root / embed.CLINICAL)
    meta = pd.read_csv(root / embed.METADATA)
    assert list(clinical.columns) == embed_demo.CLINICAL_COLUMNS
    assert list(meta.columns) == embed_demo.METADATA_COLUMNS
    assert "RACE_DESC" not in clinical and {"ETHNICITY_DESC", "ETHNIC_GROUP_DESC", "GENDER_DESC"} <= set(clinical)
    assert set(clinical["asses"].dropna()) <= set("ANBPSMKX")
    assert set(meta["FinalImageType"]) == {"2D", "C-view", "ROI_SSC"}
    assert (meta.spot_mag == 1.0).sum() >= 1
    assert meta.groupby("empi_anon").acc_anon.nunique().max() >= 2  # several exams for one patient
    for _, row in meta.iterrows():
        ds = pydicom.dcmread(root / row.anon_dicom_path, stop_before_pixels=True)
        assert str(ds.PatientID) == str(row.empi_anon)
        assert re.fullmatch(r"\(\)|\(\(\d+, \d+, \d+, \d+\),\)", row.ROI_coords)  # as the open tables print it
        boxes = [tuple(map(int, b)) for b in re.findall(r"\((\d+), (\d+), (\d+), (\d+)\)", row.ROI_coords)]
        assert len(boxes) == row.num_roi
        for ymin, xmin, ymax, xmax in boxes:
            assert 0 <= ymin < ymax <= ds.Rows and 0 <= xmin < xmax <= ds.Columns


def test_duke_sheets_and_series(demo_root):
    root = demo_root / "duke"
    raw = pd.read_excel(root / duke.CLINICAL, sheet_name="Data", header=None)
    groups, names, legend = raw.iloc[0], raw.iloc[1], raw.iloc[2]
    assert names[0] == "Patient ID" and groups[0] == "Patient Information"
    assert "pCR" in str(legend[list(names).index("Pathologic Response to Neoadjuvant Therapy")])
    assert list(names) == [c for _, cols in duke_demo.CLINICAL_GROUPS for c in cols]
    assert len(raw) == 3 + DEMO_PATIENTS
    assert list(pd.read_excel(root / duke.BOXES).columns) == PUBLISHED["duke/Annotation_Boxes.xlsx"]
    descriptions = {str(d.SeriesDescription) for d in _dicoms(root, "Duke-Breast-Cancer-MRI/*/*/*/1-01.dcm")}
    assert "ax t1" in descriptions and {"ax dyn pre", "ax 3d dyn", "Ph1/ax 3d dyn"} <= descriptions


def test_duke_box_counts_slices_in_instance_order(demo_root):
    """The 1-based inclusive box, with slices counted in InstanceNumber order, encloses what enhances between pre and
    post_1 — also for patient 2, whose InstanceNumbers run against the slice positions."""
    root = demo_root / "duke"
    boxes = pd.read_excel(root / duke.BOXES)
    for box in boxes.head(2).itertuples(index=False):
        pid = box[0]
        series = sorted((root / "Duke-Breast-Cancer-MRI" / pid).glob("*/*"))
        by_name = {p.name.split("-", 1)[1].rsplit("-", 1)[0]: p for p in series}
        pre = next(v for k, v in by_name.items() if k.endswith("pre") or k == "ax 3d dyn")
        post = next(v for k, v in by_name.items() if "1st" in k or k.startswith("Ph1"))
        volumes = []
        for folder in (pre, post):
            slices = sorted((pydicom.dcmread(p) for p in folder.iterdir()), key=lambda d: int(d.InstanceNumber))
            volumes.append(np.stack([d.pixel_array.astype(float) for d in slices]))
        positions = [
            float(d.ImagePositionPatient[2])
            for d in sorted((pydicom.dcmread(p) for p in pre.iterdir()), key=lambda d: int(d.InstanceNumber))
        ]
        if pid == "Breast_MRI_002":
            assert positions == sorted(positions, reverse=True)  # instance order ≠ position order
        diff = volumes[1] - volumes[0]
        z0, z1, y0, y1, x0, x1 = box[5] - 1, box[6], box[1] - 1, box[2], box[3] - 1, box[4]
        inside = diff[z0:z1, y0:y1, x0:x1]
        outside = diff.copy()
        outside[z0:z1, y0:y1, x0:x1] = 0
        assert inside.max() > 200 and outside.max() < inside.max() * 0.6


def test_ispy1_workbook_variant_formula_and_series(demo_root):
    root = demo_root / "ispy1"
    assert (root / ispy1.CLINICAL_FILES[1]).exists()  # the hyphenated name that also circulates
    sheets = pd.read_excel(root / ispy1.CLINICAL_FILES[1], sheet_name=None)
    assert list(sheets) == [ispy1.CLINICAL_SHEET, ispy1.OUTCOME_SHEET]
    clinical = sheets[ispy1.CLINICAL_SHEET]
    assert clinical.HR_HER2_CATEGORY.notna().all()  # cached results of the formula
    from openpyxl import load_workbook

    cell = load_workbook(root / ispy1.CLINICAL_FILES[1])[ispy1.CLINICAL_SHEET]["I2"].value
    assert str(cell).startswith("=IF(")
    descriptions = Counter(str(d.SeriesDescription) for d in _dicoms(root, "ISPY1/ISPY1_1001/*/*/1-001.dcm"))
    assert any(d.endswith(": SER") for d in descriptions) and any(d.endswith(": PE1") for d in descriptions)
    seg = _dicoms(root, "ISPY1/*/*/*VOI PE Segmentation*/*.dcm")[0]
    assert seg.SegmentationType == "FRACTIONAL" and "PixelPaddingValue" in seg
    assert "ReferencedSeriesSequence" not in seg and len(seg.SourceImageSequence) == 2 * seg.NumberOfFrames
    assert len({d.StudyInstanceUID for d in _dicoms(root, "ISPY1/*/*/4.000000-*/1-001.dcm")}) == 2 * DEMO_PATIENTS


def test_ispy2_both_collections_and_numeric_ids(demo_root):
    root = demo_root / "ispy2"
    clinical = pd.read_excel(root / ispy2.CLINICAL)
    assert list(clinical.columns) == PUBLISHED["ispy2/ISPY2-Imaging-Cohort-1-Clinical-Data.xlsx"]
    assert pd.api.types.is_integer_dtype(clinical.Patient_ID)  # the bare number, not ISPY2-<n>
    patients = {p.name for c in ispy2.COLLECTIONS for p in (root / c).glob("*")}
    assert any(p.startswith("ACRIN-6698-") for p in patients) and any(p.startswith("ISPY2-") for p in patients)
    descriptions = {str(d.SeriesDescription) for d in _dicoms(root, "*/*/*/*/1-001.dcm")}
    assert {"ISPY2: VOLSER: uni-lateral cropped: SER", "ISPY2: VOLSER: uni-lateral cropped: PE2"} <= descriptions
    assert any(d.startswith("ACRIN-6698: DWI") for d in descriptions)


def test_dce_series_geometry_and_phases(demo_root):
    """One pre and at least three post phases with increasing acquisition times and a true slice geometry."""
    for pattern in (
        "duke/Duke-Breast-Cancer-MRI/Breast_MRI_001/*/*dyn*/*.dcm",
        "ispy2/ISPY2/ISPY2-100101/*/*original DCE*/*.dcm",
    ):
        files = _dicoms(Path(demo_root), pattern)
        assert all(d.SOPClassUID == MR_IMAGE for d in files)
        assert len({d.StudyInstanceUID for d in files}) == 1
        by_phase: dict[int, list] = {}
        for d in files:
            by_phase.setdefault(int(d.TemporalPositionIdentifier), []).append(d)
        assert len(by_phase) >= 4
        times = [min(d.AcquisitionTime for d in by_phase[p]) for p in sorted(by_phase)]
        assert times == sorted(times) and len(set(times)) == len(times)
        slices = sorted(by_phase[1], key=lambda d: float(d.ImagePositionPatient[2]))
        normal = np.cross(
            np.array(slices[0].ImageOrientationPatient[:3], float),
            np.array(slices[0].ImageOrientationPatient[3:], float),
        )
        steps = np.diff([np.dot(normal, np.array(d.ImagePositionPatient, float)) for d in slices])
        assert np.allclose(steps, float(slices[0].SpacingBetweenSlices))


def test_ispy2_seg_references_its_dce(demo_root):
    segs = _dicoms(demo_root / "ispy2", "*/*/*/*Analysis Mask*/*.dcm")
    assert len(segs) == DEMO_PATIENTS
    for seg in segs:
        assert seg.SOPClassUID == SEG and seg.SegmentationType == "FRACTIONAL" and seg.MaximumFractionalValue == 255
        assert len(seg[0x011710D3].value) == 4  # the private Mask Legend (tests/test_ispy2.py)
        ref_series = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        dce = _dicoms(demo_root / "ispy2", f"*/{seg.PatientID}/*/*original DCE*/*.dcm")
        assert {d.SeriesInstanceUID for d in dce} == {ref_series}
        assert (seg.pixel_array == 0).sum() > 5  # the lesion: no flag set


def test_mammograms_look_real(demo_root):
    files = _dicoms(demo_root, "vindr_mammo/images/*/*.dicom") + _dicoms(demo_root, "embed/images/**/*.dcm")
    mg = [d for d in files if d.get("SOPClassUID", MG_FOR_PRESENTATION) == MG_FOR_PRESENTATION]
    assert {d.PhotometricInterpretation for d in mg} == {"MONOCHROME1", "MONOCHROME2"}
    assert len({d.Manufacturer for d in mg}) >= 3
    assert any(d.file_meta.TransferSyntaxUID.is_compressed for d in mg)
    assert any("VOILUTFunction" in d or "VOILUTSequence" in d for d in mg)
    for d in mg:
        assert d.pixel_array.max() < (1 << d.BitsStored)  # compressed ones decode too
        assert "WindowCenter" in d


def test_fake_phi_everywhere(demo_root):
    """The files carry PHI where real ones hide it: names, dates, ids, nested sequences, free text, private tags."""
    embed_files = (pydicom.dcmread(p) for p in sorted((demo_root / "embed" / "images").rglob("*.dcm")))
    for ds in [
        next(d for d in embed_files if d.SOPClassUID == MG_FOR_PRESENTATION),
        pydicom.dcmread(next((demo_root / "duke").glob("Duke-Breast-Cancer-MRI/*/*/*/*.dcm"))),
    ]:
        assert str(ds.PatientName) and ds.PatientBirthDate and ds.InstitutionName and ds.ReferringPhysicianName
        assert ds.OtherPatientIDsSequence[0].PatientID.startswith("MRN")
        assert ds.RequestAttributesSequence[0].AccessionNumber == ds.AccessionNumber
        assert ds.ImageComments and ds.PatientAddress and ds.PatientTelephoneNumbers
        assert any(elem.tag.is_private for elem in ds)


@pytest.mark.e2e
def test_deterministic_and_stable_under_growth(tmp_path):
    """Same seed → same bytes; asking for more patients keeps the first ones identical."""
    small, large = tmp_path / "small", tmp_path / "large"
    run_cli(
        "demo-data",
        "--out",
        str(small),
        "--patients",
        "2",
        "--seed",
        str(DEMO_SEED),
        "--dataset",
        "embed",
        "--dataset",
        "ispy1",
    )
    run_cli(
        "demo-data",
        "--out",
        str(large),
        "--patients",
        "3",
        "--seed",
        str(DEMO_SEED),
        "--dataset",
        "embed",
        "--dataset",
        "ispy1",
    )
    for dataset in ("embed", "ispy1"):
        small_files = {p.relative_to(small): p.read_bytes() for p in (small / dataset).rglob("*.dcm")}
        large_files = {p.relative_to(large): p.read_bytes() for p in (large / dataset).rglob("*.dcm")}
        assert small_files and set(small_files) < set(large_files)
        assert all(large_files[k] == v for k, v in small_files.items())


@pytest.mark.e2e
def test_demo_data_rejects_unknown_dataset(tmp_path):
    proc = run_cli("demo-data", "--out", str(tmp_path), "--dataset", "nope", check=False)
    assert proc.returncode != 0 and "unknown dataset 'nope'" in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("key", sorted(adapters()))
def test_every_dataset_has_a_mirror(demo_root, key):
    assert any((demo_root / key).rglob("*"))
