"""MRI DICOM → one 3-D NIfTI per DCE phase, with a true affine, scaling kept and a BIDS-style sidecar.

Files are grouped into studies, series and time points; each time point is one volume. A series with several
TemporalPositionIdentifier values (the GE / I-SPY single-series DCE) is split by that value; a 2-D series with every
position repeated n times and no identifier (GE multi-temporal) is split by acquisition order; a mosaic or an
enhanced multi-frame file is one volume (nibabel's DICOM wrappers unpack it). Within a study, the volumes that share
one geometry form the dynamic series and are named `pre`, `post_1`, … by acquisition time. A copy of an instance (same
SOP Instance UID, same pixel data: a re-download's `1-05 (1).dcm`) is dropped, as dcm2niix drops duplicates. A time
point that fails keeps its place in that order (a `LostPhase`), so the names of the others never shift.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from zlib_ng import gzip_ng

with warnings.catch_warnings():  # nibabel warns at import that its DICOM readers are experimental
    warnings.simplefilter("ignore")
    from nibabel.nicom import dicomwrappers

from .. import __version__
from ..dicomio import BAD_INPUT, DECODER_ERRORS, dcmread, parse_all
from ..errors import BreastcurateError
from ..layout import copy_order

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: gzip level of the curated .nii.gz (dcm2niix's default is 6; every level is lossless).
SPACING_TOLERANCE = 0.01  # relative; slice gaps that differ by more are "uneven"


class ConversionError(ValueError):
    """A series that cannot become a correct volume (the reason goes to the rejects table)."""


@dataclass
class LostPhase:
    """A DCE time point that made no volume: it keeps its place when the phases are named (a gap, never a shift)."""

    study_uid: str
    series_uid: str
    series_number: int
    temporal_position: int | None
    acquisition_seconds: float | None
    plane: tuple | None  # in-plane grid of most of its slices (`_plane`)
    sources: list[str]
    reason: str
    name: str = ""


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
DUPLICATE = "duplicate of"


def read_headers(paths: list[Path]) -> tuple[list[tuple[Path, Dataset]], list[tuple[str, str]]]:
    """Headers of every readable image file; the others come back as (path, reason)."""
    good: list[tuple[Path, Dataset]] = []
    bad: list[tuple[str, str]] = []
    for path in paths:
        try:
            ds = parse_all(dcmread(path, stop_before_pixels=True, force=True))
        except BAD_INPUT as exc:
            bad.append((str(path), f"{NOT_DICOM} (unreadable: {type(exc).__name__})"))
            continue
        if "SOPInstanceUID" not in ds:
            bad.append((str(path), f"{NOT_DICOM} (no SOP Instance UID)"))
        elif not ds.get("SeriesInstanceUID") or not ds.get("StudyInstanceUID"):
            bad.append((str(path), f"{NOT_DICOM} (no Study or Series Instance UID)"))
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


def _plane(h: Dataset | None) -> tuple | None:
    """Orientation, rows, columns and pixel spacing of a single-frame slice (None when the header lacks them)."""
    if h is None:
        return None
    try:
        return (
            tuple(round(float(v), 4) for v in h.ImageOrientationPatient),
            int(h.Rows),
            int(h.Columns),
            tuple(round(float(v), 4) for v in h.PixelSpacing),
        )
    except (AttributeError, TypeError, ValueError):
        return None


def _pixel_digest(path: Path) -> str | None:
    """SHA-256 of a file's Pixel Data bytes; None for a file that does not read whole (never taken for a copy: its
    time point's stacking rejects it with the reason)."""
    try:
        ds = dcmread(path, force=True)
    except (OSError, EOFError, ValueError, InvalidDicomError):
        return None
    return hashlib.sha256(ds.get("PixelData") or b"").hexdigest()


def drop_copies(
    items: list[tuple[Path, Dataset]], name: Callable[[str], str] = str
) -> tuple[list[tuple[Path, Dataset]], list[tuple[str, str]]]:
    """Files of one series without the copies of an instance (same SOP Instance UID and pixel data); each copy comes
    back as (path, 'duplicate of <kept file>'), the kept file named by `name`. Files that share a SOP Instance UID
    but not their pixel data are all kept: they are two instances, and stacking rejects their time point."""
    by_uid: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for item in items:
        by_uid[str(item[1].SOPInstanceUID)].append(item)
    dropped: dict[str, str] = {}
    for group in by_uid.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda it: copy_order(str(it[0])))
        kept = [(group[0], _pixel_digest(group[0][0]))]
        for item in group[1:]:
            digest = _pixel_digest(item[0])
            same = next((k for k, d in kept if d == digest and digest is not None), None)
            if same is None:
                kept.append((item, digest))
            else:
                dropped[str(item[0])] = f"{DUPLICATE} {name(str(same[0]))} (same SOP Instance UID and pixel data)"
    return [it for it in items if str(it[0]) not in dropped], sorted(dropped.items())


#: The geometry attributes a slice needs to be stacked, and how many values each has.
GEOMETRY = {"ImageOrientationPatient": 6, "ImagePositionPatient": 3, "PixelSpacing": 2, "Rows": 1, "Columns": 1}


def _check_geometry(items: list[tuple[Path, Dataset]]) -> None:
    for path, ds in items:
        for keyword, n in GEOMETRY.items():
            value = ds.get(keyword)
            if value in (None, "") or (n > 1 and (isinstance(value, str) or len(value) != n)):
                raise ConversionError(f"{Path(path).name}: {keyword} is missing or has not {n} values")


def _pixels(path: Path) -> np.ndarray:
    """One file's decoded pixels, or a ConversionError saying why no decoder reads them."""
    try:
        return parse_all(dcmread(path, force=True)).pixel_array
    except DECODER_ERRORS as exc:  # around the decoder call only
        raise ConversionError(f"cannot decode the pixel data: {type(exc).__name__}: {str(exc)[:160]}") from exc


def _stack_slices(items: list[tuple[Path, Dataset]]) -> Volume:
    """Sort the slices of one time point along the slice normal, check the geometry and stack the pixels."""
    _check_geometry(items)
    first = items[0][1]
    geometry = {_plane(h) for _, h in items}
    if None in geometry:
        raise ConversionError(
            "cannot convert: a required attribute is missing (ImageOrientationPatient, Rows, Columns or PixelSpacing)"
        )
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
            at = int(np.argmax(np.abs(gaps) < 1e-4))
            numbers = [items[i][1].get("InstanceNumber", "?") for i in (at, at + 1)]
            raise ConversionError(
                f"two slices at the same position in one phase (InstanceNumbers {numbers[0]} and {numbers[1]}, "
                f"{along[at]:.2f} mm along the slice normal)"
            )
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
    arrays = [_pixels(path) for path, _ in items]
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
        instance_numbers=[optional_int(h.get("InstanceNumber")) for h in headers],
    )


def optional_int(value) -> int | None:
    """An integer attribute's value, or None when it is absent or not a number."""
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _temporal_position(ds: Dataset) -> int | None:
    value = ds.get("TemporalPositionIdentifier")
    return int(value) if value not in (None, "") else None


def _wrapped_volume(path: Path) -> Volume:
    """A mosaic or enhanced multi-frame file → one volume through nibabel's DICOM wrappers."""
    ds = parse_all(dcmread(path, force=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # nibabel's wrappers decode and read the geometry; all they raise here means a file they cannot read
            wrapper = dicomwrappers.wrapper_from_data(ds)
            raw = wrapper.get_unscaled_data()
            affine = np.asarray(wrapper.affine, dtype=float)
            factors = np.asarray(wrapper.scale_factors, dtype=float)
        except (*DECODER_ERRORS, dicomwrappers.WrapperError) as exc:
            raise ConversionError(f"cannot read the multi-frame file: {type(exc).__name__}: {str(exc)[:160]}") from exc
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


def _lost(point: list[tuple[Path, Dataset]], reason: str) -> LostPhase:
    """What a failed time point still tells about its place among the phases."""
    headers = [h for _, h in point]
    planes = Counter(_plane(h) for h in headers)
    first = headers[0]
    return LostPhase(
        study_uid=str(first.get("StudyInstanceUID", "")),
        series_uid=str(first.get("SeriesInstanceUID", "")),
        series_number=optional_int(first.get("SeriesNumber")) or 0,
        temporal_position=optional_int(first.get("TemporalPositionIdentifier")),
        acquisition_seconds=min((s for s in map(_acq_seconds, headers) if s is not None), default=None),
        plane=planes.most_common(1)[0][0],
        sources=[str(p) for p, _ in point],
        reason=reason,
    )


def build_volumes(
    headers: list[tuple[Path, Dataset]],
    phase_series: set[str] | None = None,
    strict: bool = False,
    name: Callable[[str], str] = str,
) -> tuple[list[Volume], list[LostPhase], list[tuple[str, str]]]:
    """Every volume that the image files make, the DCE time points that made none (named by their place among the
    phases), and (path, reason) for every file that makes no volume. Only volumes of `phase_series` (None: any) can
    be phases. `strict` (the pipeline, whose series roles say which series are the DCE): only `phase_series` are
    read at all. `name` names a kept file in the reason of a dropped copy."""
    volumes: list[Volume] = []
    lost: list[LostPhase] = []
    rejects: list[tuple[str, str]] = []
    series: dict[str, list] = defaultdict(list)
    for path, ds in headers:
        if str(ds.get("Modality", "")) == "SEG":
            continue
        if strict and phase_series is not None and str(ds.SeriesInstanceUID) not in phase_series:
            continue
        if _is_wrapped(ds):
            try:
                volumes.append(_wrapped_volume(path))
            except BAD_INPUT as exc:
                if phase_series is None or str(ds.SeriesInstanceUID) in phase_series:
                    lost.append(_lost([(path, ds)], _reason(exc)))
                else:
                    rejects.append((str(path), _reason(exc)))
        else:
            series[str(ds.SeriesInstanceUID)].append((path, ds))
    for uid in sorted(series):
        items, copies = drop_copies(series[uid], name)
        rejects += copies
        for point in _time_points(items):
            try:
                volumes.append(_stack_slices(point))
            except BAD_INPUT as exc:
                if phase_series is None or uid in phase_series:
                    lost.append(_lost(point, _reason(exc)))
                else:
                    rejects += [(str(p), _reason(exc)) for p, _ in point]
    rejects += name_phases(volumes, strict, lost, phase_series)
    for gap in lost:
        reason = f"phase {gap.name} lost: {gap.reason}" if gap.name else gap.reason
        rejects += [(p, reason) for p in gap.sources]
    return [v for v in volumes if v.name], [p for p in lost if p.name], rejects


def _reason(exc: Exception) -> str:
    if isinstance(exc, (ConversionError, BreastcurateError)):
        return str(exc)
    return f"cannot convert: {type(exc).__name__}: {str(exc)[:200]}"


def _timing(item: Volume | LostPhase) -> tuple[float, int, int]:
    return (
        item.acquisition_seconds if item.acquisition_seconds is not None else float("inf"),
        item.temporal_position or 0,
        item.series_number,
    )


def _in_dce(point: LostPhase, plane: tuple | None, strict: bool) -> bool:
    """Whether a lost time point counts among the DCE phases: when its in-plane grid is the DCE's; when either grid
    is unknown, in the pipeline only (its series are the study's DCE by their roles)."""
    if plane is not None and point.plane is not None:
        return point.plane == plane
    return strict


def name_phases(
    volumes: list[Volume],
    strict: bool = False,
    lost: Iterable[LostPhase] = (),
    phase_series: set[str] | None = None,
) -> list[tuple[str, str]]:
    """Per study, the largest group of volumes sharing one grid is the DCE: `pre`, `post_1`, … by acquisition time.
    A lost time point of the DCE's in-plane grid keeps its place in that order and gets its name, so that a phase
    that fails leaves a gap (`post_1`, `post_3`) and never renames the later ones. Only volumes of `phase_series`
    (None: any) can be phases.

    `strict` (the volumes are the study's `dce` series): a volume of another grid is not a phase; its files come back
    as rejects. Otherwise (a plain folder) it is kept as `series_<n>`."""
    rejects: list[tuple[str, str]] = []
    by_study = defaultdict(list)
    for v in volumes:
        by_study[v.study_uid].append(v)
    lost_by_study = defaultdict(list)
    for point in lost:
        lost_by_study[point.study_uid].append(point)
    for study in sorted(set(by_study) | set(lost_by_study)):
        vols = by_study.get(study, [])
        groups = defaultdict(list)
        for v in vols:
            if phase_series is None or v.series_uid in phase_series:
                groups[v.geometry].append(v)
        dce = max(groups.values(), key=len, default=[])
        if len(dce) < 2 and not strict:
            dce = []
        plane = _plane(dce[0].header) if dce else None
        gaps = [p for p in lost_by_study.get(study, []) if _in_dce(p, plane, strict)]
        order: list[Volume | LostPhase] = sorted([*dce, *gaps], key=_timing)
        for i, item in enumerate(order):
            item.name = "pre" if i == 0 else f"post_{i}"
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
