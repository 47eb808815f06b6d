"""The demo mirrors: native layouts and columns, realistic DICOM, determinism and growth stability."""

from __future__ import annotations

import ast
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from breastcurate.sources import duke, embed, ispy1, ispy2, vindr_mammo
from conftest import DEMO_PATIENTS, DEMO_SEED, run_cli

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"


def _dicoms(root: Path, pattern: str) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted(root.glob(pattern))]


def test_vindr_native_layout(demo_root):
    root = demo_root / "vindr_mammo"
    breast = pd.read_csv(root / "breast-level_annotations.csv")
    findings = pd.read_csv(root / "finding_annotations.csv")
    meta = pd.read_csv(root / "metadata.csv")
    assert list(breast.columns) == vindr_mammo.BREAST_LEVEL_COLUMNS
    assert list(findings.columns) == vindr_mammo.FINDING_COLUMNS
    assert list(meta.columns) == vindr_mammo.METADATA_COLUMNS
    assert set(breast["split"]) <= {"training", "test"}
    assert breast["breast_birads"].str.fullmatch(r"BI-RADS [1-5]").all()
    assert breast["breast_density"].str.fullmatch(r"DENSITY [A-D]").all()
    assert len(breast) == 4 * DEMO_PATIENTS
    for _, row in breast.iterrows():
        path = root / "images" / row.study_id / f"{row.image_id}.dicom"
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert (ds.Rows, ds.Columns) == (row.height, row.width)
        assert (ds.ImageLaterality, ds.ViewPosition) == (row.laterality, row.view_position)
        assert hashlib.md5(ds.SOPInstanceUID.encode()).hexdigest() == row.image_id
    for cats in findings["finding_categories"]:
        assert isinstance(ast.literal_eval(cats), list)


def test_embed_native_layout(demo_root):
    root = demo_root / "embed"
    clinical = pd.read_csv(root / "tables" / "EMBED_OpenData_clinical.csv")
    meta = pd.read_csv(root / "tables" / "EMBED_OpenData_metadata.csv")
    assert list(clinical.columns) == embed.CLINICAL_COLUMNS
    assert list(meta.columns) == embed.METADATA_COLUMNS
    assert set(clinical["asses"]) <= set("ANBPSMKX")
    assert set(clinical["tissueden"]) <= {1, 2, 3, 4, 5}
    assert set(meta["FinalImageType"]) == {"2D", "C-view"}
    for _, row in meta.iterrows():
        ds = pydicom.dcmread(root / row.anon_dicom_path, stop_before_pixels=True)
        assert str(ds.PatientID) == str(row.empi_anon)
        assert ds.ImageLaterality == row.ImageLateralityFinal
        boxes = ast.literal_eval(row.ROI_coords)
        assert len(boxes) == row.num_roi
        for ymin, xmin, ymax, xmax in boxes:
            assert 0 <= ymin < ymax < ds.Rows and 0 <= xmin < xmax < ds.Columns


def test_duke_native_layout(demo_root):
    root = demo_root / "duke"
    raw = pd.read_excel(root / "Clinical_and_Other_Features.xlsx", sheet_name="Data", header=None)
    groups, names, legend = raw.iloc[0], raw.iloc[1], raw.iloc[2]
    assert names[0] == "Patient ID" and groups[0] == "Patient Information"
    assert "pCR" in str(legend[list(names).index("Pathologic Response to Neoadjuvant Therapy")])
    expected = [c for _, cols in duke.CLINICAL_GROUPS for c in cols]
    assert list(names) == expected
    assert len(raw) == 3 + DEMO_PATIENTS
    boxes = pd.read_excel(root / "Annotation_Boxes.xlsx")
    assert list(boxes.columns) == duke.BOX_COLUMNS
    mapping = pd.read_excel(root / "Breast-Cancer-MRI-filepath_filename-mapping.xlsx")
    assert list(mapping.columns) == duke.MAPPING_COLUMNS
    for _, row in mapping.sample(20, random_state=0).iterrows():
        ds = pydicom.dcmread(root / row.descriptive_path, stop_before_pixels=True)
        assert ds.SOPInstanceUID == row.sop_instance_UID
        phase = row.original_path_and_filename.split("/")[2]
        assert phase == ("pre" if ds.TemporalPositionIdentifier == 1 else f"post_{ds.TemporalPositionIdentifier - 1}")


def test_duke_box_marks_the_enhancing_lesion(demo_root):
    """The 1-based inclusive box of Annotation_Boxes.xlsx encloses what enhances between pre and post_1."""
    root = demo_root / "duke"
    box = pd.read_excel(root / "Annotation_Boxes.xlsx").iloc[0]
    mapping = pd.read_excel(root / "Breast-Cancer-MRI-filepath_filename-mapping.xlsx")
    volumes = {}
    for phase in ("pre", "post_1"):
        rows = mapping[mapping.original_path_and_filename.str.contains(f"/{box['Patient ID']}/{phase}/")]
        slices = sorted((pydicom.dcmread(root / p) for p in rows.descriptive_path),
                        key=lambda d: float(d.ImagePositionPatient[2]))
        volumes[phase] = np.stack([d.pixel_array.astype(float) for d in slices])
    diff = volumes["post_1"] - volumes["pre"]
    z0, z1 = box["Start Slice"] - 1, box["End Slice"]
    y0, y1 = box["Start Row"] - 1, box["End Row"]
    x0, x1 = box["Start Column"] - 1, box["End Column"]
    inside = diff[z0:z1, y0:y1, x0:x1]
    assert inside.max() > 200
    outside = diff.copy()
    outside[z0:z1, y0:y1, x0:x1] = 0
    assert outside.max() < inside.max() * 0.6


def test_ispy_native_layout(demo_root):
    sheets = pd.read_excel(demo_root / "ispy1" / ispy1.CLINICAL_FILE, sheet_name=None)
    assert list(sheets) == [ispy1.CLINICAL_SHEET, ispy1.OUTCOME_SHEET]
    assert list(sheets[ispy1.CLINICAL_SHEET].columns) == ispy1.CLINICAL_COLUMNS
    assert list(sheets[ispy1.OUTCOME_SHEET].columns) == ispy1.OUTCOME_COLUMNS
    clinical2 = pd.read_excel(demo_root / "ispy2" / ispy2.CLINICAL_FILE)
    assert list(clinical2.columns) == ispy2.CLINICAL_COLUMNS
    assert clinical2["Patient_ID"].str.match(r"^(ISPY2|ACRIN-6698)-\d{6}$").all()
    s1 = _dicoms(demo_root / "ispy1", "ISPY1/*/*/*/1-001.dcm")
    assert {tuple(d.ImageOrientationPatient) for d in s1} == {(0, 1, 0, 0, 0, -1)}  # sagittal
    assert len({d.StudyInstanceUID for d in s1}) == 2 * DEMO_PATIENTS  # two visits each


def test_dce_series_geometry_and_phases(demo_root):
    """One pre and at least three post phases with increasing acquisition times and a true slice geometry."""
    for pattern in ("duke/Duke-Breast-Cancer-MRI/Breast_MRI_001/*/*/*.dcm", "ispy2/ISPY2/ISPY2-100101/*/*DCE*/*.dcm"):
        files = _dicoms(Path(demo_root), pattern)
        assert all(d.SOPClassUID == MR_IMAGE for d in files)
        assert len({d.StudyInstanceUID for d in files}) == 1
        assert len({d.FrameOfReferenceUID for d in files}) == 1
        by_phase: dict[int, list] = {}
        for d in files:
            by_phase.setdefault(int(d.TemporalPositionIdentifier), []).append(d)
        assert len(by_phase) >= 4
        times = [min(d.AcquisitionTime for d in by_phase[p]) for p in sorted(by_phase)]
        assert times == sorted(times) and len(set(times)) == len(times)
        slices = sorted(by_phase[1], key=lambda d: float(d.ImagePositionPatient[2]))
        normal = np.cross(np.array(slices[0].ImageOrientationPatient[:3], float),
                          np.array(slices[0].ImageOrientationPatient[3:], float))
        steps = np.diff([np.dot(normal, np.array(d.ImagePositionPatient, float)) for d in slices])
        assert np.allclose(steps, float(slices[0].SpacingBetweenSlices))


def test_ispy2_seg_references_its_dce(demo_root):
    segs = _dicoms(demo_root / "ispy2", "ISPY2/*/*/*Analysis Mask*/*.dcm")
    assert len(segs) == DEMO_PATIENTS
    for seg in segs:
        assert seg.SOPClassUID == SEG and seg.SegmentationType == "BINARY"
        ref_series = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        dce = _dicoms(demo_root / "ispy2", f"ISPY2/{seg.PatientID}/*/*DCE*/*.dcm")
        assert {d.SeriesInstanceUID for d in dce} == {ref_series}
        sources = {f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                   for f in seg.PerFrameFunctionalGroupsSequence}
        assert sources <= {d.SOPInstanceUID for d in dce}
        assert seg.pixel_array.sum() > 5


def test_mammograms_look_real(demo_root):
    files = _dicoms(demo_root, "vindr_mammo/images/*/*.dicom") + _dicoms(demo_root, "embed/images/**/*.dcm")
    assert all(d.SOPClassUID == MG_FOR_PRESENTATION for d in files)
    assert {d.PhotometricInterpretation for d in files} == {"MONOCHROME1", "MONOCHROME2"}
    assert len({d.Manufacturer for d in files}) >= 3
    syntaxes = Counter(d.file_meta.TransferSyntaxUID.name for d in files)
    assert any(d.file_meta.TransferSyntaxUID.is_compressed for d in files), syntaxes
    assert any("VOILUTFunction" in d or "VOILUTSequence" in d for d in files)
    for d in files:
        assert d.pixel_array.max() < (1 << d.BitsStored)  # compressed ones decode too
        assert "WindowCenter" in d


def test_fake_phi_everywhere(demo_root):
    """The files carry PHI where real ones hide it: names, dates, ids, nested sequences, free text, private tags."""
    for path in [next((demo_root / "vindr_mammo" / "images").glob("*/*.dicom")),
                 next((demo_root / "duke").glob("Duke-Breast-Cancer-MRI/*/*/*/*.dcm"))]:
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) and ds.PatientBirthDate and ds.InstitutionName and ds.ReferringPhysicianName
        assert ds.OtherPatientIDsSequence[0].PatientID.startswith("MRN")
        assert ds.RequestAttributesSequence[0].AccessionNumber == ds.AccessionNumber
        assert ds.ImageComments and ds.PatientAddress and ds.PatientTelephoneNumbers
        assert any(elem.tag.is_private for elem in ds)


def test_deterministic_and_stable_under_growth(tmp_path):
    """Same seed → same bytes; asking for more patients keeps the first ones identical."""
    small, large = tmp_path / "small", tmp_path / "large"
    run_cli("demo-data", "--out", str(small), "--patients", "2", "--seed", str(DEMO_SEED), "--dataset", "embed",
            "--dataset", "ispy2")
    run_cli("demo-data", "--out", str(large), "--patients", "3", "--seed", str(DEMO_SEED), "--dataset", "embed",
            "--dataset", "ispy2")
    for dataset in ("embed", "ispy2"):
        small_files = {p.relative_to(small): p.read_bytes() for p in (small / dataset).rglob("*.dcm")}
        large_files = {p.relative_to(large): p.read_bytes() for p in (large / dataset).rglob("*.dcm")}
        assert small_files and set(small_files) < set(large_files)
        assert all(large_files[k] == v for k, v in small_files.items())


def test_demo_data_rejects_unknown_dataset(tmp_path):
    proc = run_cli("demo-data", "--out", str(tmp_path), "--dataset", "nope", check=False)
    assert proc.returncode == 2 and "unknown dataset 'nope'" in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("key", ["vindr_mammo", "embed", "duke", "ispy1", "ispy2"])
def test_every_dataset_has_a_mirror(demo_root, key):
    assert any((demo_root / key).rglob("*"))
