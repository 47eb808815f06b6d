"""MRI DICOM → one 3-D NIfTI per DCE phase, with a true affine, scaling kept and a BIDS-style sidecar.

Files are grouped into studies, series and time points; each time point is one volume. A series with several
TemporalPositionIdentifier values (the GE / I-SPY single-series DCE) is split by that value; a 2-D series with every
position repeated n times and no identifier (GE multi-temporal) is split by acquisition order; a mosaic or an
enhanced multi-frame file is one volume (nibabel's DICOM wrappers unpack it). Within a study, the volumes that share
one geometry form the dynamic series and are named `pre`, `post_1`, … by acquisition time.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from zlib_ng import gzip_ng

with warnings.catch_warnings():  # nibabel warns at import that its DICOM readers are experimental
    warnings.simplefilter("ignore")
    from nibabel.nicom import dicomwrappers

from .. import __version__

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: gzip level of the curated .nii.gz (dcm2niix's default is 6; every level is lossless).
SPACING_TOLERANCE = 0.01  # relative; slice gaps that differ by more are "uneven"


class ConversionError(ValueError):
    """A series that cannot become a correct volume (the reason goes to the rejects table)."""


@dataclass
class Volume:
    """One 3-D volume: voxels in (column, row, slice) order and the RAS affine, plus the headers it came from."""

    study_uid: str
    series_uid: str
    series_number: int
    temporal_position: int | None
    acquisition_seconds: float | None
    data: np.ndarray
    affine: np.ndarray
    slope: float
    intercept: float
    header: Dataset
    sources: list[str]
    slice_positions: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    sop_uids: list[str] = field(default_factory=list)  # in slice (position) order
    instance_numbers: list[int | None] = field(default_factory=list)  # in slice (position) order
    name: str = ""

    @property
    def geometry(self) -> tuple:
        """What must agree for two volumes (or a volume and a mask) to share a voxel grid."""
        return (self.data.shape, tuple(np.round(self.affine, 3).ravel()))


def _seconds(value) -> float | None:
    text = str(value or "").strip()
    if len(text) < 6 or not text[:6].isdigit():
        return None
    return int(text[0:2]) * 3600 + int(text[2:4]) * 60 + float(text[4:] or 0)


def _acq_seconds(ds: Dataset) -> float | None:
    for keyword in ("AcquisitionTime", "ContentTime", "SeriesTime"):
        seconds = _seconds(ds.get(keyword))
        if seconds is not None:
            return seconds
    return None


NOT_DICOM = "not a DICOM instance"


def read_headers(paths: list[Path]) -> tuple[list[tuple[Path, Dataset]], list[tuple[str, str]]]:
    """Headers of every readable image file; the others come back as (path, reason)."""
    good: list[tuple[Path, Dataset]] = []
    bad: list[tuple[str, str]] = []
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception as exc:
            bad.append((str(path), f"{NOT_DICOM} (unreadable: {type(exc).__name__})"))
            continue
        if "SOPInstanceUID" not in ds:
            bad.append((str(path), f"{NOT_DICOM} (no SOP Instance UID)"))
        elif "Rows" not in ds:
            bad.append((str(path), f"no image (SOP class {ds.get('SOPClassUID', '?')})"))
        else:
            good.append((path, ds))
    return good, bad


def _is_wrapped(ds: Dataset) -> bool:
    return int(ds.get("NumberOfFrames", 1) or 1) > 1 or "MOSAIC" in [str(v).upper() for v in ds.get("ImageType", [])]


def _scaling(headers: list[Dataset]) -> tuple[float, float]:
    pairs = {(float(h.get("RescaleSlope", 1) or 1), float(h.get("RescaleIntercept", 0) or 0)) for h in headers}
    if len(pairs) > 1:
        raise ConversionError(f"rescale slope/intercept vary across the slices of one volume: {sorted(pairs)[:3]}")
    return pairs.pop()


def _storage(stack: np.ndarray) -> np.ndarray:
    """uint16 that fits int16 is stored as int16, as dcm2niix does; other types are kept."""
    if stack.dtype == np.uint16 and (stack.size == 0 or stack.max() < 32768):
        return stack.astype(np.int16)
    return stack


def _stack_slices(items: list[tuple[Path, Dataset]]) -> Volume:
    """Sort the slices of one time point along the slice normal, check the geometry and stack the pixels."""
    first = items[0][1]
    geometry = {
        (
            tuple(round(float(v), 4) for v in h.ImageOrientationPatient),
            int(h.Rows),
            int(h.Columns),
            tuple(round(float(v), 4) for v in h.PixelSpacing),
        )
        for _, h in items
    }
    if len(geometry) > 1:
        raise ConversionError(
            f"mixed geometry inside one phase: {len(geometry)} different orientations, sizes or pixel spacings"
        )
    iop = np.array([float(v) for v in first.ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    positions = np.array([[float(v) for v in h.ImagePositionPatient] for _, h in items])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    items, positions, along = [items[i] for i in order], positions[order], along[order]
    if len(items) > 1:
        gaps = np.diff(along)
        if np.any(np.abs(gaps) < 1e-4):
            raise ConversionError("two slices at the same position in one phase")
        step = float(np.median(gaps))
        if np.any(np.abs(gaps - step) > SPACING_TOLERANCE * abs(step)):
            ratio = gaps.max() / step
            if abs(ratio - round(ratio)) < SPACING_TOLERANCE and round(ratio) >= 2:
                raise ConversionError(
                    f"missing slices: a gap of {ratio:.0f}× the slice spacing ({gaps.max():.3f} mm vs {step:.3f} mm)"
                )
            raise ConversionError(f"uneven slice spacing: gaps from {gaps.min():.3f} to {gaps.max():.3f} mm")
        slice_vec = (positions[-1] - positions[0]) / (len(items) - 1)
    else:
        slice_vec = normal * float(first.get("SpacingBetweenSlices", first.get("SliceThickness", 1)) or 1)
    headers = [h for _, h in items]
    slope, intercept = _scaling(headers)
    arrays = [pydicom.dcmread(path, force=True).pixel_array for path, _ in items]
    # (k, row, col) in C order is (col, row, k) in Fortran order: NIfTI's own layout, so writing needs no copy.
    data = _storage(np.stack(arrays, axis=0)).T
    dr, dc = (float(v) for v in first.PixelSpacing)  # row spacing, column spacing
    affine = np.eye(4)
    affine[:3, 0] = row_dir * dc
    affine[:3, 1] = col_dir * dr
    affine[:3, 2] = slice_vec
    affine[:3, 3] = positions[0]
    return Volume(
        study_uid=str(first.StudyInstanceUID),
        series_uid=str(first.SeriesInstanceUID),
        series_number=int(first.get("SeriesNumber", 0) or 0),
        temporal_position=_temporal_position(first),
        acquisition_seconds=min((s for s in map(_acq_seconds, headers) if s is not None), default=None),
        data=data,
        affine=LPS_TO_RAS @ affine,
        slope=slope,
        intercept=intercept,
        header=first,
        sources=[str(p) for p, _ in items],
        slice_positions=along,
        sop_uids=[str(h.SOPInstanceUID) for h in headers],
        instance_numbers=[_optional_int(h.get("InstanceNumber")) for h in headers],
    )


def _optional_int(value) -> int | None:
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _temporal_position(ds: Dataset) -> int | None:
    value = ds.get("TemporalPositionIdentifier")
    return int(value) if value not in (None, "") else None


def _wrapped_volume(path: Path) -> Volume:
    """A mosaic or enhanced multi-frame file → one volume through nibabel's DICOM wrappers."""
    ds = pydicom.dcmread(path, force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = dicomwrappers.wrapper_from_data(ds)
        raw = wrapper.get_unscaled_data()
        affine = np.asarray(wrapper.affine, dtype=float)
        factors = np.asarray(wrapper.scale_factors, dtype=float)
    if raw.ndim != 3:
        raise ConversionError(
            f"a multi-frame file with {raw.ndim - 3} extra dimensions (shape {raw.shape}); "
            "only single-stack 3-D files are converted"
        )
    if factors.shape[0] == 1:
        slope, intercept = (float(v) for v in factors[0])
    else:  # per-frame scaling: store the scaled values
        raw, slope, intercept = wrapper.get_data().astype(np.float32), 1.0, 0.0
    # nibabel orders voxels (row, column, slice); the curated files use (column, row, slice).
    data = _storage(np.asarray(raw).transpose(1, 0, 2))
    affine = affine[:, [1, 0, 2, 3]]
    return Volume(
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        series_number=int(ds.get("SeriesNumber", 0) or 0),
        temporal_position=_temporal_position(ds),
        acquisition_seconds=_acq_seconds(ds),
        data=data,
        affine=LPS_TO_RAS @ affine,
        slope=slope,
        intercept=intercept,
        header=ds,
        sources=[str(path)],
        sop_uids=[str(ds.SOPInstanceUID)],
    )


def _time_points(items: list[tuple[Path, Dataset]]) -> list[list[tuple[Path, Dataset]]]:
    """Split one series' single-frame files into time points."""
    by_tpi = defaultdict(list)
    for item in items:
        by_tpi[_temporal_position(item[1])].append(item)
    if len(by_tpi) > 1:
        return [by_tpi[k] for k in sorted(by_tpi, key=lambda k: (k is None, k))]
    positions = Counter(tuple(round(float(v), 3) for v in h.ImagePositionPatient) for _, h in items)
    repeats = set(positions.values())
    if len(repeats) == 1 and (n := repeats.pop()) > 1:
        # Every position repeated n times without a temporal identifier: order each position's files in time.
        per_position = defaultdict(list)
        for item in items:
            per_position[tuple(round(float(v), 3) for v in item[1].ImagePositionPatient)].append(item)
        points: list[list] = [[] for _ in range(n)]
        for group in per_position.values():
            group.sort(
                key=lambda it: (
                    float(it[1].get("TriggerTime", 0) or 0),
                    _acq_seconds(it[1]) or 0.0,
                    int(it[1].get("InstanceNumber", 0) or 0),
                )
            )
            for t, item in enumerate(group):
                points[t].append(item)
        return points
    return [items]


def build_volumes(
    headers: list[tuple[Path, Dataset]], dce_series: set[str] | None = None
) -> tuple[list[Volume], list[tuple[str, str]]]:
    """Every volume that the image files make, and (path, reason) for every file that makes none. With `dce_series`
    (the pipeline, which has the series roles), only those series are stacked and named as phases."""
    volumes, rejects = [], []
    series: dict[str, list] = defaultdict(list)
    for path, ds in headers:
        if str(ds.get("Modality", "")) == "SEG":
            continue
        if dce_series is not None and str(ds.SeriesInstanceUID) not in dce_series:
            continue
        if _is_wrapped(ds):
            try:
                volumes.append(_wrapped_volume(path))
            except Exception as exc:
                rejects.append((str(path), _reason(exc)))
        else:
            series[str(ds.SeriesInstanceUID)].append((path, ds))
    for uid in sorted(series):
        for point in _time_points(series[uid]):
            try:
                volumes.append(_stack_slices(point))
            except Exception as exc:
                rejects += [(str(p), _reason(exc)) for p in (q for q, _ in point)]
    rejects += name_phases(volumes, strict=dce_series is not None)
    volumes = [v for v in volumes if v.name]
    return volumes, rejects


def _reason(exc: Exception) -> str:
    if isinstance(exc, ConversionError):
        return str(exc)
    if isinstance(exc, (AttributeError, KeyError)):
        return f"cannot convert: a required attribute is missing ({exc})"
    return f"cannot convert: {type(exc).__name__}: {str(exc)[:200]}"


def name_phases(volumes: list[Volume], strict: bool = False) -> list[tuple[str, str]]:
    """Per study, the largest group of volumes sharing one grid is the DCE: `pre`, `post_1`, … by acquisition time.

    `strict` (the volumes are the study's `dce` series): a volume of another grid is not a phase; its files come back
    as rejects. Otherwise (a plain folder) it is kept as `series_<n>`."""
    rejects: list[tuple[str, str]] = []
    by_study = defaultdict(list)
    for v in volumes:
        by_study[v.study_uid].append(v)
    for vols in by_study.values():
        groups = defaultdict(list)
        for v in vols:
            groups[v.geometry].append(v)
        dce = max(groups.values(), key=len)
        if len(dce) < 2 and not strict:
            dce = []
        dce.sort(
            key=lambda v: (
                v.acquisition_seconds if v.acquisition_seconds is not None else float("inf"),
                v.temporal_position or 0,
                v.series_number,
            )
        )
        for i, v in enumerate(dce):
            v.name = "pre" if i == 0 else f"post_{i}"
        for v in vols:
            if v.name:
                continue
            if strict:
                rejects += [(p, "a DCE series whose grid differs from the study's other phases") for p in v.sources]
            else:
                suffix = f"_t{v.temporal_position}" if v.temporal_position is not None else ""
                v.name = f"series_{v.series_number}{suffix}"
    return rejects


def nifti_bytes(data: np.ndarray, affine: np.ndarray, level: int, slope: float = 1.0, intercept: float = 0.0) -> bytes:
    """A gzip-compressed NIfTI-1 with sform = qform = the affine (scanner code); gzip mtime 0, so deterministic.

    zlib-ng compresses about 5× faster than the standard library's zlib at level 6, to the same size (docs/conversion.md)."""
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_slope_inter(slope, intercept)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    return gzip_ng.compress(img.to_bytes(), compresslevel=level, mtime=0)


def sidecar(volume: Volume, pre: Volume | None) -> dict:
    """BIDS-style keys for one phase (times in seconds, angles in degrees)."""
    h = volume.header

    def number(keyword: str, scale: float = 1.0):
        value = h.get(keyword)
        return None if value in (None, "") else round(float(value) * scale, 6)

    offset = None
    if pre is not None and volume.acquisition_seconds is not None and pre.acquisition_seconds is not None:
        offset = round(volume.acquisition_seconds - pre.acquisition_seconds, 3)
    out = {
        "Modality": str(h.get("Modality", "MR")),
        "Manufacturer": str(h.get("Manufacturer", "")) or None,
        "ManufacturersModelName": str(h.get("ManufacturerModelName", "")) or None,
        "MagneticFieldStrength": number("MagneticFieldStrength"),
        "RepetitionTime": number("RepetitionTime", 0.001),
        "EchoTime": number("EchoTime", 0.001),
        "FlipAngle": number("FlipAngle"),
        "SliceThickness": number("SliceThickness"),
        "SeriesNumber": volume.series_number,
        "SeriesDescription": str(h.get("SeriesDescription", "")) or None,
        "ImageOrientationPatientDICOM": [float(v) for v in h.get("ImageOrientationPatient", [])] or None,
        "TemporalPositionIdentifier": volume.temporal_position,
        "Phase": volume.name,
        "AcquisitionTimeOffset": offset,
        "ConversionSoftware": "breastcurate",
        "ConversionSoftwareVersion": __version__,
    }
    return {k: v for k, v in out.items() if v is not None}


def write_volume(volume: Volume, pre: Volume | None, level: int) -> tuple[bytes, bytes]:
    """The .nii.gz and .json bytes of one volume (the caller writes them atomically)."""
    data = nifti_bytes(volume.data, volume.affine, level, volume.slope, volume.intercept)
    meta = json.dumps(sidecar(volume, pre), indent=2, sort_keys=True).encode() + b"\n"
    return data, meta


def pre_phase(volumes: list[Volume], study_uid: str) -> Volume | None:
    """The `pre` volume of a study, if the study has a dynamic series."""
    return next((v for v in volumes if v.study_uid == study_uid and v.name == "pre"), None)
