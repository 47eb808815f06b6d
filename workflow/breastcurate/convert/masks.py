"""Lesion masks in the grid of a DCE phase: from DICOM SEG (I-SPY2's analysis mask) and from 3-D boxes (Duke)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from .mri import LPS_TO_RAS, ConversionError, Volume

POSITION_TOLERANCE_MM = 0.05


@dataclass
class Mask:
    """A binary mask (uint8, same shape and affine as `volume`) for one region of interest."""

    roi: str
    label: str
    source: str  # "seg" or "box"
    volume: Volume
    data: np.ndarray


def _sequence_value(frame: Dataset, shared: Dataset, sequence: str, keyword: str):
    for group in (frame, shared):
        if group is not None and sequence in group and keyword in group[sequence][0]:
            return group[sequence][0][keyword].value
    return None


def seg_target(seg: Dataset, volumes: list[Volume]) -> Volume:
    """The phase a SEG is drawn on: its referenced series' `pre` (or earliest) volume."""
    referenced = {str(item.SeriesInstanceUID) for item in seg.get("ReferencedSeriesSequence", [])}
    candidates = [v for v in volumes if v.series_uid in referenced and v.study_uid == str(seg.StudyInstanceUID)]
    if not candidates:
        raise ConversionError("the SEG references a series that was not converted")
    candidates.sort(key=lambda v: (v.name != "pre", v.acquisition_seconds or 0.0, v.temporal_position or 0))
    return candidates[0]


def seg_masks(seg: Dataset, volumes: list[Volume]) -> list[Mask]:
    """One mask per segment, each frame placed on the target phase's slice at the same position."""
    target = seg_target(seg, volumes)
    shared = seg.get("SharedFunctionalGroupsSequence", [None])[0]
    frames = seg.get("PerFrameFunctionalGroupsSequence", [])
    pixels = seg.pixel_array
    pixels = pixels[np.newaxis] if pixels.ndim == 2 else pixels
    nx, ny, nz = target.data.shape
    if (int(seg.Columns), int(seg.Rows)) != (nx, ny):
        raise ConversionError(f"SEG frames are {seg.Columns}×{seg.Rows}, the phase grid is {nx}×{ny}")
    lps = LPS_TO_RAS @ target.affine
    origin, step = lps[:3, 3], lps[:3, 2]
    row_dir = lps[:3, 0] / np.linalg.norm(lps[:3, 0])
    col_dir = lps[:3, 1] / np.linalg.norm(lps[:3, 1])
    normal = np.cross(row_dir, col_dir)
    iop = _sequence_value(frames[0] if frames else None, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
    if iop is None or not np.allclose([float(v) for v in iop], np.r_[row_dir, col_dir], atol=1e-3):
        raise ConversionError("the SEG's image orientation differs from its phase's")
    fractional = str(seg.get("SegmentationType", "BINARY")) == "FRACTIONAL"
    threshold = float(seg.get("MaximumFractionalValue", 255)) / 2 if fractional else 0
    labels = {int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in seg.SegmentSequence}
    out = {n: np.zeros(target.data.shape, dtype=np.uint8) for n in labels}
    for frame, plane in zip(frames, pixels):
        segment = int(_sequence_value(frame, shared, "SegmentIdentificationSequence", "ReferencedSegmentNumber") or 1)
        position = np.array([float(v) for v in _sequence_value(frame, shared, "PlanePositionSequence",
                                                                "ImagePositionPatient")])
        offset = position - origin
        if abs(offset @ row_dir) > POSITION_TOLERANCE_MM or abs(offset @ col_dir) > POSITION_TOLERANCE_MM:
            raise ConversionError("a SEG frame is shifted in-plane against its phase's grid")
        k = float((offset @ normal) / (step @ normal)) if nz > 1 else 0.0
        if abs(k - round(k)) * abs(step @ normal) > POSITION_TOLERANCE_MM or not 0 <= round(k) < nz:
            raise ConversionError(f"a SEG frame lies outside the slices of its phase (slice index {k:.2f})")
        out[segment][:, :, int(round(k))] |= (plane > threshold).T.astype(np.uint8)
    return [Mask(roi=f"seg_{n}", label=labels[n], source="seg", volume=target, data=out[n]) for n in sorted(out)]


def box_mask(volume: Volume, roi: str, x0: int, x1: int, y0: int, y1: int, z0: int, z1: int) -> Mask:
    """A 0-based half-open voxel box → a mask in the phase grid; a box outside the grid is an error."""
    shape = volume.data.shape
    for lo, hi, size, axis in ((x0, x1, shape[0], "column"), (y0, y1, shape[1], "row"), (z0, z1, shape[2], "slice")):
        if not 0 <= lo < hi <= size:
            raise ConversionError(f"box {axis} range [{lo}, {hi}) lies outside the image (size {size})")
    data = np.zeros(shape, dtype=np.uint8)
    data[x0:x1, y0:y1, z0:z1] = 1
    return Mask(roi=roi, label="lesion box", source="box", volume=volume, data=data)
