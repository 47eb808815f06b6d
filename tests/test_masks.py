"""DICOM SEG → masks in a phase's grid, read with highdicom: highdicom's own test files (against highdicom's own
source-image mapping) and a real I-SPY1 SEG with the deviations the repairs handle."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from breastcurate.convert import masks, mri

DATA = Path(__file__).parent / "data" / "seg"
CT2 = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "77654033" / "CT2"


def _ct_grid() -> tuple[mri.Volume, dict[str, int]]:
    """The grid of pydicom's CT2 series, which highdicom's test SEGs were drawn on: four slices, three 1.25 mm apart
    and one 202.5 mm away, placed in a 165-slice grid at 1.25 mm (as highdicom's own volume reader lays them out);
    returns the grid and each source instance's slice index."""
    slices = sorted((pydicom.dcmread(p) for p in CT2.iterdir()), key=lambda d: float(d.ImagePositionPatient[2]))
    first = slices[0]
    dr, dc = (float(v) for v in first.PixelSpacing)
    affine = np.eye(4)  # (column, row, slice) → LPS
    affine[:3, 0] = np.array([float(v) for v in first.ImageOrientationPatient[:3]]) * dc
    affine[:3, 1] = np.array([float(v) for v in first.ImageOrientationPatient[3:]]) * dr
    affine[:3, 2] = [0, 0, 1.25]
    affine[:3, 3] = [float(v) for v in first.ImagePositionPatient]
    index = {str(d.SOPInstanceUID): round((float(d.ImagePositionPatient[2]) - affine[2, 3]) / 1.25) for d in slices}
    sops = [""] * 165
    for sop, k in index.items():
        sops[k] = sop
    volume = mri.Volume(
        study_uid=str(first.StudyInstanceUID),
        series_uid=str(first.SeriesInstanceUID),
        series_number=1,
        temporal_position=None,
        acquisition_seconds=0.0,
        data=np.zeros((int(first.Columns), int(first.Rows), 165), np.int16),
        affine=mri.LPS_TO_RAS @ affine,
        slope=1.0,
        intercept=0.0,
        header=first,
        sources=[],
        sop_uids=sops,
        name="pre",
    )
    return volume, index


@pytest.mark.parametrize(
    "name",
    [
        "seg_image_ct_binary",
        "seg_image_ct_binary_fractional",
        "seg_image_ct_true_fractional",
        "seg_image_ct_binary_overlap",
    ],
)
def test_highdicom_test_files_land_on_their_source_slices(name):
    """Each segment's mask equals highdicom's own pixels for each source instance (fractional: ≥ 0.5), and nothing
    lands anywhere else."""
    volume, index = _ct_grid()
    seg = pydicom.dcmread(DATA / "highdicom" / f"{name}.dcm")
    found = masks.seg_masks(seg, [volume])
    reader = hd.seg.Segmentation.from_dataset(seg)
    numbers = reader.get_segment_numbers()
    assert [m.roi for m in found] == [f"seg_{seg.SeriesNumber}_{n}" for n in numbers]
    assert all(m.repairs == [] for m in found)
    fractional = seg.SegmentationType == "FRACTIONAL"
    covered = 0
    for channel, mask in enumerate(found):
        expected = np.zeros(mask.data.shape, bool)
        for sop, k in index.items():
            try:
                pixels = reader.get_pixels_by_source_instance(
                    [sop], segment_numbers=[numbers[channel]], rescale_fractional=True
                )[0, ..., 0]
            except (KeyError, ValueError, RuntimeError):  # no frame for this source instance
                continue
            expected[:, :, k] = (pixels >= 0.5 if fractional else pixels > 0).T
        assert np.array_equal(mask.data.astype(bool), expected), (name, channel)
        covered += int(expected.sum())
    assert covered > 0
    if name.endswith("overlap"):
        assert (found[0].data & found[1].data).any()  # overlapping segments stay separate masks


def _ispy1_grid(shift_mm: float = 0.0) -> tuple[pydicom.Dataset, mri.Volume]:
    """The real I-SPY1 SEG and a 60-slice sagittal phase whose slices 10–36 are the SEG's frame positions."""
    seg = pydicom.dcmread(DATA / "ispy1" / "ISPY1_1001_breast_SEG.dcm")
    frames = seg.PerFrameFunctionalGroupsSequence
    xs = sorted(float(f.PlanePositionSequence[0].ImagePositionPatient[0]) for f in frames)
    first = [float(v) for v in frames[0].PlanePositionSequence[0].ImagePositionPatient]
    spacing = float(seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[0])
    affine = np.eye(4)  # (column, row, slice) → LPS: columns along +y, rows along −z, slices along +x
    affine[:3, 0] = [0, spacing, 0]
    affine[:3, 1] = [0, 0, -spacing]
    affine[:3, 2] = [2.0, 0, 0]
    affine[:3, 3] = [xs[0] - 20.0, first[1] + shift_mm, first[2]]
    header = pydicom.Dataset()
    header.FrameOfReferenceUID = seg.FrameOfReferenceUID
    sops = [str(i.ReferencedSOPInstanceUID) for i in seg.SourceImageSequence]
    volume = mri.Volume(
        study_uid=str(seg.StudyInstanceUID),
        series_uid="2.25.1",
        series_number=4,
        temporal_position=1,
        acquisition_seconds=0.0,
        data=np.zeros((256, 256, 60), np.int16),
        affine=mri.LPS_TO_RAS @ affine,
        slope=1.0,
        intercept=0.0,
        header=header,
        sources=[],
        sop_uids=sops[:27],
        name="pre",
    )
    return seg, volume


def test_real_ispy1_seg_is_repaired_read_and_placed():
    seg, volume = _ispy1_grid()
    plain = hd.seg.Segmentation.from_dataset(seg)
    assert plain.number_of_segments == 0  # what highdicom makes of it unrepaired (the Pixel Padding Value)
    (mask,) = masks.seg_masks(seg, [volume])
    assert len(mask.repairs) == 2 and "Pixel Padding Value" in mask.repairs[0]
    stored = seg.pixel_array  # 0–255 occupancy, frames as stored
    assert mask.data.sum() == int((stored >= 128).sum()) == 45993
    occupied = np.flatnonzero(mask.data.sum(axis=(0, 1)))
    assert occupied.min() >= 10 and occupied.max() <= 36  # the frames' positions, 2 mm apart
    x_of = {
        round(float(f.PlanePositionSequence[0].ImagePositionPatient[0]), 3): k
        for k, f in enumerate(seg.PerFrameFunctionalGroupsSequence)
    }
    x0 = float((mri.LPS_TO_RAS @ volume.affine)[0, 3])  # LPS x of slice 0; slices are 2 mm apart along +x
    for z in occupied:
        frame = stored[x_of[round(x0 + 2.0 * z, 3)]]
        assert np.array_equal(mask.data[:, :, z].T.astype(bool), frame >= 128)


def test_seg_off_the_phase_grid_is_rejected():
    seg, volume = _ispy1_grid(shift_mm=0.3)
    with pytest.raises(mri.ConversionError, match="shifted"):
        masks.seg_masks(seg, [volume])
