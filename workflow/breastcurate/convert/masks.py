"""Lesion masks in the grid of a DCE phase: from DICOM SEG (read with highdicom) and from 3-D boxes (Duke).

Real SEG objects are not always what highdicom expects. Two deviations seen in I-SPY1's masks (docs/sources/ispy1.md)
are repaired on a copy before highdicom reads it, and the repair is recorded with the mask:
- a Pixel Padding Value in a BINARY or FRACTIONAL SEG (the SEG IOD defines it only for LABELMAP, so highdicom takes
  the object for a label map and finds no segments): removed;
- a Dimension Index Sequence that indexes the plane position only (highdicom's volume reader needs the Referenced
  Segment Number as a dimension): the segment dimension is added from each frame's Segment Identification.

A SEG that is a SEG in form only (I-SPY2's analysis masks: bit flags in a FRACTIONAL SEG, docs/sources/ispy2.md) is
decoded by the layout its adapter declares (`DatasetAdapter.bit_flag_seg`); a legend or a value that does not fit
the layout is an error, never a guess. No mask is published empty, or covering more than `MAX_LESION_SHARE` of its
phase.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from ..dicomio import DECODER_ERRORS
from ..sources.base import BitFlagSeg
from .mri import LPS_TO_RAS, ConversionError, Volume

#: Largest misalignment (voxel fraction) between a SEG voxel centre and a phase voxel centre.
GRID_TOLERANCE = 0.05
SEGMENT_NUMBER, SEGMENT_IDENTIFICATION = 0x0062000B, 0x0062000A
#: Largest share of its phase's voxels a lesion mask may cover (a larger one is not a lesion: a breast or background
#: mask, or flags read the wrong way).
MAX_LESION_SHARE = 0.20
#: One legend value: the flag's 8 bits, its decimal value, its name ("00000001 ( 1) : PE threshold").
LEGEND_ENTRY = re.compile(r"^([01]{8}) \( ?(\d{1,3})\) : (.+)$")


@dataclass
class Mask:
    """A binary mask (uint8, same shape and affine as `volume`) for one region of interest."""

    roi: str
    label: str
    source: str  # "seg" or "box"
    volume: Volume
    data: np.ndarray
    repairs: list[str] = field(default_factory=list)
    #: How the source encoded the mask: binary, fractional, labelmap (standard SEGs), bit_flags; None for boxes.
    encoding: str | None = None
    #: The legend a bit-flag SEG carries (its values joined by " | ") and the rule that decoded it.
    legend: str | None = None
    rule: str | None = None


def _referenced(seg: Dataset) -> tuple[set[str], set[str]]:
    """Series and SOP instances a SEG says it was drawn on (any of the three places the standard allows)."""
    series, sops = set(), set()
    for item in seg.get("ReferencedSeriesSequence", []):
        series.add(str(item.get("SeriesInstanceUID", "")))
        sops |= {str(i.ReferencedSOPInstanceUID) for i in item.get("ReferencedInstanceSequence", [])}
    sops |= {str(i.ReferencedSOPInstanceUID) for i in seg.get("SourceImageSequence", [])}
    for frame in seg.get("PerFrameFunctionalGroupsSequence", []):
        for derivation in frame.get("DerivationImageSequence", []):
            sops |= {str(i.ReferencedSOPInstanceUID) for i in derivation.get("SourceImageSequence", [])}
    return series - {""}, sops


def seg_target(seg: Dataset, volumes: list[Volume]) -> Volume:
    """The phase a SEG is drawn on: among the volumes it references (by series or by source image) the `pre` one, else
    the earliest; a SEG that references nothing falls back to the study's `pre` in its frame of reference."""
    series, sops = _referenced(seg)
    study = [v for v in volumes if v.study_uid == str(seg.get("StudyInstanceUID", ""))]
    candidates = [v for v in study if v.series_uid in series or sops & set(v.sop_uids)]
    if not candidates and not series and not sops:
        frame = str(seg.get("FrameOfReferenceUID", ""))
        candidates = [v for v in study if str(v.header.get("FrameOfReferenceUID", "")) == frame]
    if not candidates:
        raise ConversionError("the SEG references no converted DCE phase")
    candidates.sort(key=lambda v: (v.name != "pre", v.acquisition_seconds or 0.0, v.temporal_position or 0))
    return candidates[0]


def read_seg(seg: Dataset):
    """A highdicom Segmentation of (a repaired copy of) `seg`, and the list of repairs made."""
    import highdicom as hd

    ds = copy.deepcopy(seg)
    repairs = []
    kind = str(ds.get("SegmentationType", ""))
    if kind != "LABELMAP" and "PixelPaddingValue" in ds:
        del ds.PixelPaddingValue
        repairs.append("removed a Pixel Padding Value the SEG IOD does not define for BINARY/FRACTIONAL")
    pointers = [int(i.DimensionIndexPointer) for i in ds.get("DimensionIndexSequence", [])]
    frames = ds.get("PerFrameFunctionalGroupsSequence", [])
    shared = ds.get("SharedFunctionalGroupsSequence", [Dataset()])[0]
    if (
        kind != "LABELMAP"
        and pointers
        and SEGMENT_NUMBER not in pointers
        and frames
        and all("SegmentIdentificationSequence" in f or "SegmentIdentificationSequence" in shared for f in frames)
    ):
        item = Dataset()
        item.DimensionOrganizationUID = ds.DimensionIndexSequence[0].get("DimensionOrganizationUID", "2.25.0")
        item.DimensionIndexPointer = SEGMENT_NUMBER
        item.FunctionalGroupPointer = SEGMENT_IDENTIFICATION
        ds.DimensionIndexSequence.insert(0, item)
        for frame in frames:
            content = frame.FrameContentSequence[0]
            values = content.DimensionIndexValues
            values = list(values) if isinstance(values, (list, MultiValue)) else [values]
            group = frame if "SegmentIdentificationSequence" in frame else shared
            content.DimensionIndexValues = [
                int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
                *values,
            ]
        repairs.append("added the Referenced Segment Number to a Dimension Index that lacked it")
    try:
        return hd.seg.Segmentation.from_dataset(ds, copy=False), repairs
    except DECODER_ERRORS as exc:  # around highdicom's parse only: a SEG it cannot read
        raise ConversionError(f"highdicom cannot read the SEG: {type(exc).__name__}: {str(exc)[:200]}") from exc


def _index_map(target: Volume, affine: np.ndarray) -> np.ndarray:
    """The 4×4 integer map from SEG voxel indices (slice, row, column) to the phase's (column, row, slice); an error
    when the SEG's voxels do not fall on the phase's voxels."""
    phase = LPS_TO_RAS @ target.affine  # (column, row, slice) → LPS
    mapping = np.linalg.inv(phase) @ affine
    rounded = np.round(mapping)
    if not np.allclose(mapping[:3, :3], rounded[:3, :3], atol=1e-3) or sorted(
        np.abs(rounded[:3, :3]).sum(axis=0).tolist()
    ) != [1.0, 1.0, 1.0]:
        raise ConversionError("the SEG's voxel grid is not the grid of its phase (orientation or spacing differ)")
    if not np.allclose(mapping[:3, 3], rounded[:3, 3], atol=GRID_TOLERANCE):
        raise ConversionError("the SEG's voxels are shifted against its phase's grid")
    return rounded


def seg_masks(
    seg: Dataset, volumes: list[Volume], layouts: tuple[BitFlagSeg, ...] = (), required: bool = False
) -> list[Mask]:
    """One mask per segment in the grid of the phase the SEG was drawn on (FRACTIONAL: occupancy ≥ 0.5). A SEG that
    carries the legend element of one of `layouts` is decoded as that bit-flag layout; `required`: the SEG must
    (its dataset's lesion masks are all of that layout)."""
    layout = next((lay for lay in layouts if lay.legend_tag in seg), None)
    if layout is None and required and layouts:
        raise ConversionError(
            f"the SEG lacks the Mask Legend ({layouts[0].legend_tag >> 16:04X},{layouts[0].legend_tag & 0xFFFF:04X}) "
            "its dataset's bit-flag analysis masks carry; not decoded"
        )
    target = seg_target(seg, volumes)
    reader, repairs = read_seg(seg)
    try:
        volume = reader.get_volume(combine_segments=False, rescale_fractional=layout is None)
    except DECODER_ERRORS as exc:  # around highdicom's call only: a SEG whose frames do not make a volume
        raise ConversionError(f"highdicom cannot place the SEG's frames in a volume: {str(exc)[:200]}") from exc
    mapping = _index_map(target, volume.affine)
    labels = {int(s.SegmentNumber): str(s.get("SegmentLabel", "")) for s in seg.SegmentSequence}
    numbers = reader.get_segment_numbers()
    array = np.asarray(volume.array)
    kind = str(seg.get("SegmentationType", "")).lower() or None
    legend = None
    if layout is not None:
        legend, listed = _check_layout(seg, layout, len(numbers))
        frames = int(seg.get("NumberOfFrames", 0))
        array = _decode_flags(array[..., 0] if array.ndim == 4 else array, listed, frames, mapping, target)
    masks = []
    for channel, number in enumerate(numbers):
        values = array[..., channel] if array.ndim == 4 else array
        inside = np.argwhere(values >= 0.5) if values.dtype.kind == "f" else np.argwhere(values > 0)
        masks.append(
            Mask(
                roi=f"seg_{seg.get('SeriesNumber', 0)}_{number}",
                label=labels.get(number, ""),
                source="seg",
                volume=target,
                data=_place(inside, mapping, target),
                repairs=repairs,
                encoding="bit_flags" if layout else kind,
                legend=legend,
                rule=layout.rule if layout else None,
            )
        )
    return masks


def _place(inside: np.ndarray, mapping: np.ndarray, target: Volume) -> np.ndarray:
    """SEG voxel indices → a uint8 mask in the phase's grid; an error when one falls outside the phase."""
    data = np.zeros(target.data.shape, dtype=np.uint8)
    if len(inside):
        index = (mapping @ np.c_[inside, np.ones(len(inside))].T)[:3].astype(int).T
        shape: np.ndarray = np.array(data.shape)
        if (index < 0).any() or (index >= shape).any():
            raise ConversionError("the SEG reaches outside the slices of its phase")
        data[index[:, 0], index[:, 1], index[:, 2]] = 1
    return data


def _check_layout(seg: Dataset, layout: BitFlagSeg, segments: int) -> tuple[str, int]:
    """The legend as text and the flags it lists (OR-ed), when the SEG and its legend are the documented layout
    (else a ConversionError)."""
    if str(seg.get("SegmentationType", "")) != "FRACTIONAL" or int(seg.get("MaximumFractionalValue", 0)) != 255:
        raise ConversionError("a bit-flag analysis mask must be FRACTIONAL with MaximumFractionalValue 255")
    if segments != 1 or int(seg.get("BitsAllocated", 0)) != 8:
        raise ConversionError(f"a bit-flag analysis mask has one segment of 8-bit values (found {segments})")
    value = seg[layout.legend_tag].value
    entries = [str(v).strip() for v in (value if isinstance(value, (list, MultiValue)) else [value])]
    found: dict[int, str] = {}  # flag → its name
    for entry in entries:
        match = LEGEND_ENTRY.match(entry)
        if not match or int(match.group(1), 2) != int(match.group(2)):
            raise ConversionError(f"the mask legend entry {entry[:64]!r} is not '<8 bits> (<value>) : <name>'")
        flag, name = int(match.group(2)), match.group(3)
        if flag not in layout.flags or not name.startswith(layout.flags[flag]) or flag in found:
            raise ConversionError(f"the mask legend entry {entry[:64]!r} is not in the documented layout")
        found[flag] = name
    return " | ".join(entries), sum(found)


def _decode_flags(values: np.ndarray, listed: int, frames: int, mapping: np.ndarray, target: Volume) -> np.ndarray:
    """The lesion (1 where no flag is set) of a bit-flag SEG's stored values (`frames`: the SEG's frame count); an
    error for a value with a bit its legend does not list, or a SEG without one frame for every slice of its phase (a
    voxel no frame covers would read as 'no flag set')."""
    stored = np.rint(values).astype(np.int64)
    stray = np.unique(stored[(stored & ~listed) != 0])
    if len(stray):
        raise ConversionError(
            f"the mask holds values with bits its legend does not list ({', '.join(f'0x{v:02X}' for v in stray[:8])})"
        )
    covered = tuple(int(n) for n in np.abs(mapping[:3, :3]) @ np.array(stored.shape))
    if covered != tuple(target.data.shape) or frames != stored.shape[0]:
        raise ConversionError(
            f"the bit-flag mask has {frames} frames over {covered} voxels of a {tuple(target.data.shape)} phase; a "
            "voxel no frame covers cannot be decoded"
        )
    return (stored == 0).astype(np.uint8)


def plausible(mask: Mask) -> str | None:
    """Why a lesion mask may not be published (empty, or covering more than MAX_LESION_SHARE of its phase), or None."""
    voxels = int(mask.data.sum())
    if voxels == 0:
        return f"{mask.roi}: the lesion mask is empty"
    share = voxels / mask.data.size
    if share > MAX_LESION_SHARE:
        return f"{mask.roi}: the lesion mask covers {share:.0%} of its phase (more than {MAX_LESION_SHARE:.0%}): not a lesion"
    return None


def box_mask(
    volume: Volume, roi: str, x0: int, x1: int, y0: int, y1: int, z0: int, z1: int, z_order: str = "position"
) -> Mask:
    """A 0-based half-open voxel box → a mask in the phase grid; a box outside the grid is an error.

    `z_order="instance"`: the slice range counts the series' files in InstanceNumber order (Duke's boxes), mapped here
    to the slices' order along the normal."""
    shape = volume.data.shape
    if z_order == "instance":
        numbers = volume.instance_numbers
        if len(numbers) != shape[2] or any(n is None for n in numbers) or len(set(numbers)) != len(numbers):
            raise ConversionError("the box counts slices by InstanceNumber, which the phase's slices lack or repeat")
        known = [int(n) for n in numbers if n is not None]
        rank = {n: r for r, n in enumerate(sorted(known))}
        slices = [k for k, n in enumerate(known) if z0 <= rank[n] < z1]
        if not slices or not 0 <= z0 < z1 <= shape[2]:
            raise ConversionError(f"box slice range [{z0}, {z1}) lies outside the image ({shape[2]} slices)")
        if max(slices) - min(slices) + 1 != len(slices):
            raise ConversionError("the box's slices are not contiguous along the slice normal")
        z0, z1 = min(slices), max(slices) + 1
    for lo, hi, size, axis in ((x0, x1, shape[0], "column"), (y0, y1, shape[1], "row"), (z0, z1, shape[2], "slice")):
        if not 0 <= lo < hi <= size:
            raise ConversionError(f"box {axis} range [{lo}, {hi}) lies outside the image (size {size})")
    data = np.zeros(shape, dtype=np.uint8)
    data[x0:x1, y0:y1, z0:z1] = 1
    return Mask(roi=roi, label="lesion box", source="box", volume=volume, data=data, encoding="box")
