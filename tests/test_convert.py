"""Conversion through the public commands: dcm2niix's reference outputs, real mammograms, rejects, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from breastcurate.demo import duke as duke_demo
from conftest import call_cli, run_cli
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut

DATA = Path(__file__).parent / "data" / "convert"

# (input, dcm2niix reference, number of volumes)
REFERENCE_CASES = (
    [
        ("dcm_qa_nih/In/20180918GE/mr_0004", "dcm_qa_nih/Ref/DCM2NIIX_regression_test_4", 10),
        ("dcm_qa_ge_subset/In/SliceTimingMPh/2_fMRI_Multiphase_Des", "dcm_qa_ge_subset/Ref/fMRI_Multiphase_Des_2", 10),
        ("dcm_qa_orientation_subset/In/ax/axasc35", "dcm_qa_orientation_subset/Ref/ax_asc_35sl_6", 2),
        ("dcm_qa_orientation_subset/In/sag/sagasc35", "dcm_qa_orientation_subset/Ref/sag_asc_35sl_22", 2),
        ("dcm_qa_enh_subset/In/Siemens/XA10", "dcm_qa_enh_subset/Ref/Siemens_REST1_w_SMS_PF7-8_6", 4),
    ]
    + [(f"dcm_qa_ts/In/{i}.dcm", "dcm_qa_ts/Ref/1", 1) for i in range(1, 10)]
    + [
        ("dcm_qa_12bit/In/12bitUnsigned.dcm", "dcm_qa_12bit/Ref/2", 1),
        ("dcm_qa_12bit/In/12bitUnsigned_0x0F0F.dcm", "dcm_qa_12bit/Ref/3", 1),
        ("dcm_qa_12bit/In/12bitSigned_0x0F0F.dcm", "dcm_qa_12bit/Ref/4", 1),
    ]
)


#: The 150-file GE series: a `slow` case (left out of `make test-fast`, run by `make test`).
SLOW_CASE = "dcm_qa_nih/In/20180918GE/mr_0004"


def _params(cases: list[tuple]) -> list:
    return [pytest.param(*c, marks=pytest.mark.slow) if c[0] == SLOW_CASE else c for c in cases]


def _phases(out: Path) -> list[Path]:
    """Output volumes in acquisition order (pre, post_1, …, or the one series_N volume)."""
    files = list(out.glob("*.nii.gz"))
    return sorted(
        files,
        key=lambda p: (
            -1
            if p.name.startswith("pre")
            else int(p.name.split("_")[1].split(".")[0])
            if p.name.startswith("post_")
            else 0
        ),
    )


@pytest.mark.parametrize(
    "case, ref, n", _params(REFERENCE_CASES), ids=[c[0].split("/In/")[-1] for c in REFERENCE_CASES]
)
def test_to_nifti_equals_dcm2niix_reference(tmp_path, case, ref, n):
    source = DATA / case
    if source.is_file():  # to-nifti takes a folder
        (tmp_path / "in").mkdir()
        shutil.copy(source, tmp_path / "in" / source.name)
        source = tmp_path / "in"
    call_cli("to-nifti", str(source), "--out", str(tmp_path / "out"))
    volumes = _phases(tmp_path / "out")
    assert len(volumes) == n
    reference = nib.load(DATA / f"{ref}.nii.gz")
    ref_data = reference.get_fdata()
    ref_canonical = nib.as_closest_canonical(reference)
    for t, path in enumerate(volumes):
        ours = nib.load(path)
        ours_c = nib.as_closest_canonical(ours)
        expected = ref_data[..., t] if ref_data.ndim == 4 else ref_data
        expected_img = nib.as_closest_canonical(nib.Nifti1Image(expected, reference.affine))
        assert ours_c.shape == expected_img.shape
        assert np.array_equal(ours_c.get_fdata(), expected_img.get_fdata()), f"voxels differ in {path.name}"
        np.testing.assert_allclose(ours_c.affine, ref_canonical.affine, atol=1e-3)
        assert int(ours.header["sform_code"]) == 1 and int(ours.header["qform_code"]) == 1


@pytest.mark.parametrize("case, ref", _params([REFERENCE_CASES[0][:2], REFERENCE_CASES[1][:2], REFERENCE_CASES[2][:2]]))
def test_sidecar_matches_reference_keys(tmp_path, case, ref):
    call_cli("to-nifti", str(DATA / case), "--out", str(tmp_path))
    ours = json.loads((tmp_path / "pre.json").read_text())
    theirs = json.loads((DATA / f"{ref}.json").read_text())
    for key in (
        "RepetitionTime",
        "EchoTime",
        "FlipAngle",
        "SeriesNumber",
        "MagneticFieldStrength",
        "ManufacturersModelName",
    ):
        assert ours[key] == pytest.approx(theirs[key]) if isinstance(theirs[key], float) else ours[key] == theirs[key]
    np.testing.assert_allclose(ours["ImageOrientationPatientDICOM"], theirs["ImageOrientationPatientDICOM"], atol=1e-5)
    assert ours["Phase"] == "pre" and ours["AcquisitionTimeOffset"] == 0


@pytest.mark.slow  # the 100-file GE series converted twice
def test_to_nifti_is_deterministic(tmp_path):
    case = DATA / REFERENCE_CASES[1][0]
    call_cli("to-nifti", str(case), "--out", str(tmp_path / "a"))
    call_cli("to-nifti", str(case), "--out", str(tmp_path / "b"))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == 20
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _broken_copy(tmp_path: Path, edit) -> Path:
    """The GE multi-phase series with `edit(datasets_by_tpi)` applied to some files."""
    src = DATA / REFERENCE_CASES[1][0]
    out = tmp_path / "broken"
    out.mkdir()
    by_tpi: dict[int, list] = {}
    for path in sorted(src.iterdir()):
        ds = pydicom.dcmread(path)
        by_tpi.setdefault(int(ds.TemporalPositionIdentifier), []).append((path.name, ds))
    for items in by_tpi.values():
        items.sort(key=lambda it: float(it[1].ImagePositionPatient[2]))
    edit(by_tpi)
    for items in by_tpi.values():
        for name, ds in items:
            ds.save_as(out / name)
    return out


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda d: d[3].pop(4), "missing slices"),
        (
            lambda d: setattr(
                d[5][4][1],
                "ImagePositionPatient",
                [*d[5][4][1].ImagePositionPatient[:2], float(d[5][4][1].ImagePositionPatient[2]) + 1.3],
            ),
            "uneven slice spacing",
        ),
        (lambda d: setattr(d[7][2][1], "PixelSpacing", [3.0, 3.0]), "mixed geometry"),
    ],
    ids=["missing-slice", "uneven-spacing", "mixed-geometry"],
)
def test_bad_phase_is_rejected_with_reason(tmp_path, edit, reason):
    broken = _broken_copy(tmp_path, edit)
    proc = call_cli("to-nifti", str(broken), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 1
    assert reason in proc.stderr
    written = list((tmp_path / "out").glob("*.nii.gz"))
    assert len(written) == 9  # the other nine phases convert
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary leftovers


# --- duplicates, lost phases and derived maps (issue #27) -------------------------------------------------------


@pytest.fixture(scope="module")
def one_study(tmp_path_factory) -> Path:
    """Demo mirrors as published (NBIA folders): Duke up to the patient whose study holds a copy, I-SPY2's first."""
    root = tmp_path_factory.mktemp("demo")
    run_cli("demo-data", "--out", str(root), "--patients", str(duke_demo.COPY_PATIENT + 1), "--dataset", "duke")
    run_cli("demo-data", "--out", str(root), "--patients", "1", "--dataset", "ispy2")
    return root


def _study_copy(one_study: Path, tmp_path: Path, pattern: str) -> Path:
    (study,) = [p for p in one_study.glob(pattern) if p.is_dir()]
    shutil.copytree(study, tmp_path / "study")
    return tmp_path / "study"


DUKE_STUDY = f"duke/*/Breast_MRI_{duke_demo.COPY_PATIENT + 1:03d}/*"


def _descriptions(out: Path) -> dict[str, str]:
    return {p.name[: -len(".json")]: json.loads(p.read_text())["SeriesDescription"] for p in out.glob("*.json")}


PASSES = duke_demo.FAMILIES[duke_demo.COPY_PATIENT % len(duke_demo.FAMILIES)][3]


def test_a_copy_of_a_slice_is_dropped_and_its_phase_converts(one_study, tmp_path):
    """The demo Duke study holds `1-05 (1).dcm`, a byte-identical copy in its 2nd post-contrast series: it is
    dropped naming the kept file, the phase converts and every phase keeps its name."""
    study = _study_copy(one_study, tmp_path, DUKE_STUDY)
    (copy,) = study.glob("*/1-05 (1).dcm")
    assert "2nd pass" in copy.parent.name and copy.read_bytes() == (copy.parent / "1-05.dcm").read_bytes()
    proc = run_cli("to-nifti", str(study), "--out", str(tmp_path / "out"))
    assert f"skipped {copy}: duplicate of {copy.parent / '1-05.dcm'}" in proc.stderr
    names = _descriptions(tmp_path / "out")
    phases = {k: v for k, v in names.items() if not k.startswith("series_")}
    assert phases == {
        name: PASSES[i] for i, name in enumerate(["pre", "post_1", "post_2", "post_3", "post_4"][: len(phases)])
    }
    assert nib.load(tmp_path / "out" / "post_2.nii.gz").shape[2] == 24


def test_two_instances_at_one_position_lose_only_their_phase_and_leave_a_gap(one_study, tmp_path):
    """The copy made a different instance (its own SOP Instance UID and pixels): that phase is lost with the reason,
    named post_2 in it, and the 3rd pass is still post_3."""
    study = _study_copy(one_study, tmp_path, DUKE_STUDY)
    (copy,) = study.glob("*/1-05 (1).dcm")
    ds = pydicom.dcmread(copy)
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.PixelData = (ds.pixel_array + 1).astype(ds.pixel_array.dtype).tobytes()
    ds.save_as(copy)
    proc = run_cli("to-nifti", str(study), "--out", str(tmp_path / "out"), check=False)
    assert proc.returncode == 1
    assert f"rejected {copy}: phase post_2 lost: two slices at the same position in one phase" in proc.stderr
    names = _descriptions(tmp_path / "out")
    assert "post_2" not in names and [names[p] for p in ("pre", "post_1", "post_3")] == [PASSES[i] for i in (0, 1, 3)]


def test_to_nifti_never_makes_a_derived_map_a_phase(one_study, tmp_path):
    """An I-SPY2 study folder as published: the VOLSER DCE beside its SER/PE2/PE6 maps (ImageType DERIVED), the
    analysis mask and the site's own DCE of another grid. The phases are the DCE's five time points; the maps are
    converted as series_<n>, never as phases."""
    study = _study_copy(one_study, tmp_path, "ispy2/*/*/*")
    run_cli("to-nifti", str(study), "--out", str(tmp_path / "out"))
    names = _descriptions(tmp_path / "out")
    dce = "ISPY2: VOLSER: uni-lateral cropped: original DCE"
    assert {k: v for k, v in names.items() if not k.startswith("series_")} == {
        p: dce for p in ("pre", "post_1", "post_2", "post_3", "post_4")
    }
    assert {names[f"series_{n}"] for n in (61001, 61002, 61003)} == {
        f"ISPY2: VOLSER: uni-lateral cropped: {m}" for m in ("SER", "PE2", "PE6")
    }
    offsets = [
        json.loads((tmp_path / "out" / f"{p}.json").read_text())["AcquisitionTimeOffset"] for p in ("pre", "post_4")
    ]
    assert offsets == [0, 450]


# --- mammography ---------------------------------------------------------------------------------------------------

MG = DATA / "mammography"


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_to_png_canonical_values_and_metadata(tmp_path):
    files = [
        MG / "fo-dicom/GH133.dcm",
        MG / "monochrome1_controls/RG3_J2KI.dcm",
        MG / "monochrome1_controls/CR-MONO1-10-chest",
        MG / "dclunie_mg_pixel_spacing/MG_Explicit_Little.dcm",
    ]
    call_cli("to-png", *map(str, files), "--out", str(tmp_path))
    for source in files:
        ds = pydicom.dcmread(source, force=True)
        png = Image.open(tmp_path / f"{source.stem}.png")
        assert png.mode.startswith("I;16") or png.mode == "I"  # 16-bit grayscale
        meta = json.loads((tmp_path / f"{source.stem}.json").read_text())[0]
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        stored = apply_modality_lut(ds.pixel_array, ds).astype(np.int64)
        values = _png(tmp_path / f"{source.stem}.png").astype(np.int64)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            assert meta["inverted"] is True
            assert np.array_equal(values, (2**ds.BitsStored - 1) - stored)  # dense tissue bright
        else:
            assert meta["inverted"] is False
            assert np.array_equal(values, stored)
        assert values.max() < 2**ds.BitsStored  # nothing above BitsStored
    gh133 = json.loads((tmp_path / "GH133.json").read_text())[0]
    assert (gh133["laterality"], gh133["view"]) == ("R", "MLO")
    assert gh133["voi_lut_function"] == "SIGMOID" and gh133["voi_lut_sequence_items"] == 3
    assert len(json.loads(gh133["windows"])) == 3 and gh133["voi_applied"] is False


def test_to_png_masks_bits_above_bits_stored(tmp_path):
    source = DATA / "dcm_qa_12bit/In/12bitUnsigned_0x0F0F.dcm"
    raw = pydicom.dcmread(source)
    container = np.frombuffer(raw.PixelData, dtype="<u2").reshape(raw.Rows, raw.Columns)
    assert container.max() > 4095  # garbage in the unused high bits
    call_cli("to-png", str(source), "--out", str(tmp_path))
    assert np.array_equal(_png(tmp_path / f"{source.stem}.png"), container & 0x0FFF)


def test_voi_variant_uses_the_files_own_lut_and_flips(tmp_path):
    source = MG / "fo-dicom/GH133.dcm"
    call_cli(
        "to-png",
        str(source),
        "--out",
        str(tmp_path),
        "--variant",
        "name=voi8,bits=8,voi=1,flip_to=L",
        "--variant",
        "name=small,long_side=512",
    )
    ds = pydicom.dcmread(source)
    lut = apply_voi_lut(ds.pixel_array, ds, index=0).astype(np.float64)
    top = 2 ** ds.VOILUTSequence[0].LUTDescriptor[2] - 1
    expected = np.rint(np.clip(lut / top, 0, 1) * 255).astype(np.uint8)[:, ::-1]  # R breast flipped to L
    assert np.array_equal(_png(tmp_path / "GH133_voi8.png"), expected)
    small = _png(tmp_path / "GH133_small.png")
    assert max(small.shape) == 512 and small.dtype == np.uint16
    rows = {r["variant"]: r for r in json.loads((tmp_path / "GH133.json").read_text())}
    assert rows["voi8"]["flipped"] is True and rows["voi8"]["voi_applied"] is True
    assert rows["small"]["scale_x"] == pytest.approx(small.shape[1] / ds.Columns)


def test_undecodable_mammograms_are_rejected_not_written(tmp_path):
    bad = [MG / "nema_wg04_MG1/MG1_JPLY", MG / "fo-dicom/GH1376.dcm"]
    proc = call_cli("to-png", *map(str, bad), str(MG / "fo-dicom/GH133.dcm"), "--out", str(tmp_path), check=False)
    assert proc.returncode == 1
    assert "MG1_JPLY" in proc.stderr and "1.2.840.10008.1.2.4.51" in proc.stderr  # JPEG Extended: no decoder
    assert "GH1376" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GH133.json", "GH133.png"]
