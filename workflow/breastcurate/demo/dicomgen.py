"""Build realistic DICOM objects (MG, MR, SEG) carrying fake PHI, for the demo mirrors."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from ..atomic import atomic_path
from .identity import Identity
from .phantom import Box2D, Box3D

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPRESSED = {"j2k": JPEG2000Lossless, "rle": RLELossless}

#: Real sizes for `demo.full_size` (the cost benchmark, benchmarks/pipeline.py): full-field mammograms at the
#: 4096×3328 matrix of a 70 µm detector (Hologic Selenia Dimensions; the size issue #16 measured), and MRI at 512×512
#: in-plane with each collection's median slices per DCE phase in IDC v25 (DCESpec.full_slices).
FULL_FIELD = (4096, 3328, 0.07)
FULL_MATRIX = 512
_SIZE = {"full": False}


@contextlib.contextmanager
def full_size(enabled: bool = True) -> Iterator[None]:
    """Within this block, demo images are written at real sizes (mammograms 4096×3328, MRI 512×512 × real slices)."""
    before = _SIZE["full"]
    _SIZE["full"] = enabled
    try:
        yield
    finally:
        _SIZE["full"] = before


def uid(*parts: object) -> str:
    """A deterministic UID, 2.25.<integer of the first 128 bits of SHA-256 over the parts> (PS3.5 §B.2)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def da(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


@dataclass
class StudyContext:
    """Everything shared by the files of one study."""

    identity: Identity
    patient_id: str
    study_uid: str
    study_date: dt.date
    study_time: str
    accession: str
    study_description: str
    manufacturer: str
    model: str
    station: str
    extra: dict = field(default_factory=dict)


def new_file(sop_class: str, sop_uid: str) -> FileDataset:
    """An empty file dataset with correct file meta information."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "BRCURATE_DEMO"
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    return ds


def add_patient_study(
    ds: Dataset,
    ctx: StudyContext,
    series_uid: str,
    series_number: int,
    series_description: str,
    modality: str,
    series_time: str,
) -> None:
    """Patient, study, series and equipment modules, with fake PHI in the places real files hide it."""
    who = ctx.identity
    ds.PatientName = who.dicom_name
    ds.PatientID = ctx.patient_id
    ds.IssuerOfPatientID = who.institution
    ds.PatientBirthDate = da(who.birth_date)
    ds.PatientSex = "F"
    ds.PatientAge = who.dicom_age(ctx.study_date)
    ds.PatientAddress = who.address
    ds.PatientTelephoneNumbers = who.phone
    ds.OtherPatientIDsSequence = Sequence([_other_id(who.mrn, who.institution), _other_id(who.other_id, "EMPI")])
    ds.EthnicGroup = ctx.extra.get("ethnic_group", "")
    ds.AdditionalPatientHistory = f"Prior biopsy at {who.institution} 2012; contact {who.given} at {who.phone}"
    ds.StudyInstanceUID = ctx.study_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = da(ctx.study_date)
    ds.StudyTime = ctx.study_time
    ds.SeriesTime = series_time
    ds.AccessionNumber = ctx.accession
    ds.StudyID = ctx.accession[-6:]
    ds.StudyDescription = ctx.study_description
    ds.ReferringPhysicianName = who.referring
    ds.PerformingPhysicianName = who.performing
    ds.OperatorsName = who.operator
    ds.InstitutionName = who.institution
    ds.InstitutionAddress = who.institution_address
    ds.InstitutionalDepartmentName = "Breast Imaging"
    ds.StationName = ctx.station
    ds.DeviceSerialNumber = f"SN-{ctx.station[-3:]}-4471"
    ds.Manufacturer = ctx.manufacturer
    ds.ManufacturerModelName = ctx.model
    ds.SoftwareVersions = "VA10B"
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.BodyPartExamined = "BREAST"
    ds.RequestAttributesSequence = Sequence([_request(ctx)])
    ds.ProcedureCodeSequence = Sequence([_code("77067" if modality == "MG" else "77049", "C4", ctx.study_description)])
    ds.BurnedInAnnotation = "NO"
    # A vendor private block that echoes identifying values, as real scanners do.
    block = ds.private_block(0x0029, "BRCURATE DEMO PRIVATE", create=True)
    block.add_new(0x10, "LO", who.dicom_name)
    block.add_new(0x11, "DA", da(ctx.study_date))
    block.add_new(0x12, "LO", ctx.station)


def _other_id(value: str, issuer: str) -> Dataset:
    item = Dataset()
    item.PatientID = value
    item.IssuerOfPatientID = issuer
    item.TypeOfPatientID = "TEXT"
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _request(ctx: StudyContext) -> Dataset:
    item = Dataset()
    item.AccessionNumber = ctx.accession
    item.RequestedProcedureID = f"RP{ctx.accession[-7:]}"
    item.ScheduledProcedureStepID = f"SPS{ctx.accession[-5:]}"
    item.RequestedProcedureDescription = f"{ctx.study_description} for {ctx.identity.given} {ctx.identity.family}"
    item.RequestingPhysician = ctx.identity.referring
    return item


def set_pixels(ds: Dataset, array: np.ndarray, bits_stored: int) -> None:
    """Attach a uint16 single-frame array as 16-bit unsigned MONOCHROME pixel data."""
    ds.SamplesPerPixel = 1
    ds.Rows, ds.Columns = array.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(array, dtype="<u2").tobytes()


def save(ds: Dataset, path: Path, compression: str | None = None) -> None:
    """Write `ds` to `path` atomically, optionally in a lossless compressed transfer syntax."""
    if compression:
        ds.compress(
            COMPRESSED[compression],
            encoding_plugin="pylibjpeg" if compression == "j2k" else "",
            generate_instance_uid=False,
        )
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # VinDr's MD5 "UIDs" are invalid on purpose
        ds.save_as(tmp, enforce_file_format=True)


def mr_geometry(
    ds: Dataset, orientation: list[float], position: list[float], spacing: tuple[float, float], thickness: float
) -> None:
    """Image plane module."""
    ds.ImageOrientationPatient = [round(v, 6) for v in orientation]
    ds.ImagePositionPatient = [round(v, 4) for v in position]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = thickness
    ds.SpacingBetweenSlices = thickness
    ds.SliceLocation = round(float(np.dot(np.cross(orientation[:3], orientation[3:]), position)), 4)


def segmentation(
    ctx: StudyContext,
    source_slices: list[Dataset],
    mask: np.ndarray,
    seg_uid: str,
    series_uid: str,
    series_number: int,
    label: str,
    description: str,
    style: str = "standard",
    further_sources: list[Dataset] | None = None,
    legend: list[str] | None = None,
) -> Dataset:
    """A DICOM SEG over `source_slices` (sorted as `mask`'s first axis), one segment, written with highdicom.

    `style="standard"`: BINARY, as highdicom writes it. `style="ispy1"`: FRACTIONAL and shaped like the real I-SPY1
    masks (docs/sources/ispy1.md): a PixelPaddingValue that the SEG IOD does not define, a Dimension Index on the
    plane position only, no Referenced Series Sequence, and the source images listed in a top-level Source Image
    Sequence (pre and first post-contrast phase), with undefined-length sequences. `style="bit_flags"`: a SEG in form
    only, as the real I-SPY2 analysis masks (docs/sources/ispy2.md): FRACTIONAL with MaximumFractionalValue 255 whose
    stored bytes are `mask`'s values (bit flags), and `legend` in the private element (0117,10D3) Mask Legend."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    fractional = style == "ispy1"
    flags = style == "bit_flags"
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Tumor,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="VOLSER" if not fractional else "PE threshold", version="1", family=codes.DCM.Segmentation
        ),
    )
    pixels = mask.astype(np.float32) if fractional else (mask > 0).astype(np.float32) if flags else mask.astype(bool)
    seg = hd.seg.Segmentation(
        source_images=source_slices,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL
        if fractional or flags
        else hd.seg.SegmentationTypeValues.BINARY,
        fractional_type=hd.seg.SegmentationFractionalTypeValues.OCCUPANCY,
        max_fractional_value=255,
        segment_descriptions=[segment],
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=seg_uid,
        instance_number=1,
        manufacturer=ctx.manufacturer,
        manufacturer_model_name=ctx.model,
        software_versions="VOLSER 1.0",
        device_serial_number="SN-DEMO-0001",
        content_label="VOLSER" if not fractional else "PE_VOIMASK",
        content_description=label[:64],
        content_creator_name=ctx.identity.performing,
        omit_empty_frames=False,
    )
    _make_deterministic(seg, ctx, seg_uid)
    seg.SeriesDescription = description
    seg.StudyDescription = ctx.study_description
    seg.AccessionNumber = ctx.accession
    seg.InstitutionName = ctx.identity.institution
    seg.ReferringPhysicianName = ctx.identity.referring
    if flags:  # one frame per source slice, in `mask`'s order (omit_empty_frames=False): the flag bytes as stored
        if len(seg.PerFrameFunctionalGroupsSequence) != mask.shape[0]:
            raise ValueError("a bit-flag SEG needs one frame per source slice")
        seg.PixelData = np.ascontiguousarray(mask, dtype=np.uint8).tobytes()
        block = seg.private_block(0x0117, "BREASTCURATE DEMO", create=True)  # the real creator string is not public
        block.add_new(0xD3, "LO", list(legend or []))
    if fractional:
        seg.PixelPaddingValue = 0
        seg.DerivationDescription = "Background Threshold, VOI limits, PE threshold 70"
        keep = [item for item in seg.DimensionIndexSequence if item.DimensionIndexPointer != 0x0062000B]
        position = [i for i, item in enumerate(seg.DimensionIndexSequence) if item.DimensionIndexPointer != 0x0062000B]
        seg.DimensionIndexSequence = Sequence(keep)  # type: ignore[assignment]  # highdicom types it narrowly
        sources = Sequence()
        for src in list(source_slices) + list(further_sources or []):
            item = Dataset()
            item.ReferencedSOPClassUID = src.SOPClassUID
            item.ReferencedSOPInstanceUID = src.SOPInstanceUID
            item.SpatialLocationsPreserved = "YES"
            item.PurposeOfReferenceCodeSequence = Sequence(
                [_code("121322", "DCM", "Source image for image processing operation")]
            )
            sources.append(item)
        seg.SourceImageSequence = sources  # type: ignore[assignment]
        shared = seg.SharedFunctionalGroupsSequence[0]
        identification = shared.get("SegmentIdentificationSequence")
        if identification is not None:  # per frame, as in the real files
            del shared.SegmentIdentificationSequence
        for frame in seg.PerFrameFunctionalGroupsSequence:
            if identification is not None:
                frame.SegmentIdentificationSequence = copy.deepcopy(identification)
            values = list(frame.FrameContentSequence[0].DimensionIndexValues)
            frame.FrameContentSequence[0].DimensionIndexValues = [values[i] for i in position]
            if "DerivationImageSequence" in frame:
                del frame.DerivationImageSequence
        if "ReferencedSeriesSequence" in seg:
            del seg.ReferencedSeriesSequence
        for elem in seg.iterall():
            if elem.VR == "SQ":
                elem.is_undefined_length = True
    return seg


def _make_deterministic(seg: Dataset, ctx: StudyContext, seg_uid: str) -> None:
    """highdicom stamps the creation time and generates UIDs (dimension organization, contributing equipment): derive
    them from the study so a seed always writes the same bytes."""
    if "ContributingEquipmentSequence" in seg:
        del seg.ContributingEquipmentSequence
    seg.InstanceCreationDate = seg.ContentDate = da(ctx.study_date)
    seg.InstanceCreationTime = seg.ContentTime = ctx.study_time
    generated: dict[str, str] = {}
    keep = {str(seg.SOPInstanceUID), str(seg.SeriesInstanceUID)}
    for elem in seg.iterall():
        if elem.VR == "UI" and elem.keyword in ("DimensionOrganizationUID",) and str(elem.value) not in keep:
            elem.value = generated.setdefault(str(elem.value), uid(seg_uid, "dimension", len(generated)))


@dataclass
class DCESpec:
    """Acquisition of one DCE study: geometry, timing and how phases are stored."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float]
    thickness: float
    orientation: list[float]
    origin: list[float]
    times_s: list[float]
    field_strength: float
    tr: float
    te: float
    flip: float
    bilateral: bool
    single_series: bool
    series_descriptions: list[str]
    series_numbers: list[int]
    bits_stored: int = 12
    #: InstanceNumber 1 at the far end of the slice normal: instance order is the reverse of position order.
    reverse_instances: bool = False
    #: Slices at real size (`full_size`): the collection's median per DCE phase; None keeps the demo's count.
    full_slices: int | None = None

    def __post_init__(self) -> None:
        """At real size: FULL_MATRIX in-plane over the same field of view, `full_slices` over the same slab."""
        if not _SIZE["full"]:
            return
        nz, ny, nx = self.shape
        scale = FULL_MATRIX / ny
        slices = self.full_slices or nz
        self.shape = (slices, FULL_MATRIX, int(round(nx * scale)))
        self.spacing = (self.spacing[0] / scale, self.spacing[1] / scale)
        self.thickness = self.thickness * nz / slices


@dataclass
class DCE:
    """What `write_dce` wrote: phase voxels (slice, row, column; slices in position order), the lesion, and the
    headers of the pre-contrast and first post-contrast slices (for SEG references), in position order."""

    phases: list[np.ndarray]
    box: Box3D
    mask: np.ndarray
    pre_slices: list[Dataset]
    post_slices: list[Dataset]
    frame_uid: str


def _add_seconds(hhmmss: str, seconds: float) -> str:
    base = dt.datetime.strptime(hhmmss[:6], "%H%M%S") + dt.timedelta(seconds=seconds)
    return base.strftime("%H%M%S") + ".000000"


def _mr_slice(
    ctx: StudyContext,
    spec: DCESpec,
    sop_uid: str,
    series_uid: str,
    number: int,
    description: str,
    series_time: str,
    frame_uid: str,
    k: int,
    pixels: np.ndarray,
    image_type: list[str],
) -> FileDataset:
    """One MR slice at position k along the slice normal, with the study's fake PHI."""
    ds = new_file(MR_IMAGE, sop_uid)
    add_patient_study(ds, ctx, series_uid, number, description, "MR", series_time)
    ds.ImageType = image_type
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = ["SP", "SS"]
    ds.ScanOptions = "FS"
    ds.MRAcquisitionType = "3D"
    ds.RepetitionTime = spec.tr
    ds.EchoTime = spec.te
    ds.FlipAngle = spec.flip
    ds.MagneticFieldStrength = spec.field_strength
    ds.ImagingFrequency = round(42.577 * spec.field_strength, 4)
    ds.PatientPosition = "FFP"
    normal = np.cross(np.array(spec.orientation[:3]), np.array(spec.orientation[3:]))
    position = list(np.array(spec.origin) + k * spec.thickness * normal)
    mr_geometry(ds, spec.orientation, position, spec.spacing, spec.thickness)
    ds.PhotometricInterpretation = "MONOCHROME2"
    set_pixels(ds, pixels, spec.bits_stored)
    ds.WindowCenter, ds.WindowWidth = 600, 1200
    return ds


def _instance(spec: DCESpec, k: int) -> int:
    nz = spec.shape[0]
    return nz - k if spec.reverse_instances else k + 1


def write_dce(ctx: StudyContext, spec: DCESpec, rng: np.random.Generator, path_for) -> DCE:
    """Write every slice of every phase; `path_for(phase, series_number, series_description, instance_number)` gives
    each file's path."""
    from .phantom import dce_volume

    phases, box, mask = dce_volume(rng, spec.shape, spec.times_s, spec.bilateral)
    frame_uid = uid(ctx.study_uid, "frame")
    series_uids = [uid(ctx.study_uid, "series", n) for n in spec.series_numbers]
    kept: dict[int, list[Dataset]] = {0: [], 1: []}
    nz = spec.shape[0]
    for p, volume in enumerate(phases):
        s = 0 if spec.single_series else p
        acq_time = _add_seconds(ctx.study_time, 120 + spec.times_s[p])
        for k in range(nz):
            number = _instance(spec, k)
            instance = p * nz + number if spec.single_series else number
            ds = _mr_slice(
                ctx,
                spec,
                uid(series_uids[s], "sop", p, k),
                series_uids[s],
                spec.series_numbers[s],
                spec.series_descriptions[s],
                _add_seconds(ctx.study_time, 120 + spec.times_s[s]),
                frame_uid,
                k,
                volume[k],
                ["ORIGINAL", "PRIMARY", "OTHER"],
            )
            ds.InstanceNumber = instance
            ds.AcquisitionNumber = p + 1
            ds.AcquisitionTime = ds.ContentTime = acq_time
            ds.TemporalPositionIdentifier = p + 1
            ds.NumberOfTemporalPositions = len(phases)
            ds.TriggerTime = round(spec.times_s[p] * 1000.0, 1)
            ds.ContrastBolusAgent = "" if p == 0 else "Gadavist"
            ds.ImageComments = f"DCE phase {p}; tech {ctx.identity.operator.replace('^', ' ')}"
            save(ds, path_for(p, spec.series_numbers[s], spec.series_descriptions[s], instance))
            if p in kept:
                del ds.PixelData
                kept[p].append(ds)
    return DCE(phases, box, mask, kept[0], kept[1], frame_uid)


def write_volume_series(
    ctx: StudyContext,
    spec: DCESpec,
    volume: np.ndarray,
    number: int,
    description: str,
    image_type: list[str],
    time_s: float,
    frame_uid: str,
    path_for,
) -> None:
    """One single-volume MR series (a derived map or another sequence) in `spec`'s geometry; `path_for(instance)`."""
    series_uid = uid(ctx.study_uid, "series", number)
    acq_time = _add_seconds(ctx.study_time, 120 + time_s)
    for k in range(volume.shape[0]):
        instance = _instance(spec, k)
        ds = _mr_slice(
            ctx,
            spec,
            uid(series_uid, "sop", k),
            series_uid,
            number,
            description,
            acq_time,
            frame_uid,
            k,
            volume[k],
            image_type,
        )
        ds.InstanceNumber = instance
        ds.AcquisitionTime = ds.ContentTime = acq_time
        save(ds, path_for(instance))


def enhancement_maps(phases: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The central lab's SER and PE maps: SER = (S1 − S0)/(S_last − S0), PE = 100 (S1 − S0)/S0, as 12-bit integers
    (SER ×1000), in the DCE grid."""
    s0, s1, s2 = (p.astype(np.float64) for p in (phases[0], phases[1], phases[-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ser = np.nan_to_num((s1 - s0) / (s2 - s0), nan=0.0, posinf=0.0, neginf=0.0)
        pe = np.nan_to_num(100.0 * (s1 - s0) / s0, nan=0.0, posinf=0.0, neginf=0.0)
    return (np.clip(ser * 1000, 0, 4095).astype(np.uint16), np.clip(pe, 0, 4095).astype(np.uint16))


@dataclass(frozen=True)
class MammoVendor:
    """How one manufacturer stores a mammogram."""

    manufacturer: str
    model: str
    photometric: str = "MONOCHROME2"
    bits_stored: int = 12
    voi: str = "window"  # window | sigmoid | lut_sequence
    compression: str | None = None
    rows: int = 320
    cols: int = 260
    spacing_mm: float = 0.65


VIEW_CODES = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}
ORIENTATION = {("L", "CC"): ["A", "R"], ("R", "CC"): ["P", "L"], ("L", "MLO"): ["A", "FR"], ("R", "MLO"): ["P", "FL"]}


def mammogram(
    ctx: StudyContext,
    rng: np.random.Generator,
    vendor: MammoVendor,
    series_uid: str,
    sop_uid: str,
    series_number: int,
    instance: int,
    laterality: str,
    view: str,
    with_lesion: bool,
    image_type: list[str],
    series_description: str,
    view_modifier: str | None = None,
):
    """A full-field digital mammogram (For Presentation) and its lesion box in the stored pixel grid.
    `view_modifier` (e.g. 'SPOT COMPRESSION', 'MAGNIFICATION') makes it a diagnostic special view."""
    max_value = (1 << vendor.bits_stored) - 1
    pixels, box = phantom_mammogram(rng, vendor, laterality, max_value, with_lesion)
    ds = new_file(MG_FOR_PRESENTATION, sop_uid)
    add_patient_study(ds, ctx, series_uid, series_number, series_description, "MG", ctx.study_time)
    ds.ImageType = image_type
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.InstanceNumber = instance
    ds.AcquisitionTime = ds.ContentTime = ctx.study_time
    ds.ImageLaterality = ds.Laterality = laterality
    ds.ViewPosition = view
    code, meaning = VIEW_CODES[view]
    ds.ViewCodeSequence = Sequence([_code(code, "SCT", meaning)])
    ds.PatientOrientation = ORIENTATION[(laterality, view)]
    if view_modifier:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "R-102D6", "SRT", view_modifier.title()
        ds.ViewCodeSequence[0].ViewModifierCodeSequence = Sequence([item])
    spacing = FULL_FIELD[2] if _SIZE["full"] else vendor.spacing_mm
    ds.ImagerPixelSpacing = ds.PixelSpacing = [spacing, spacing]
    ds.KVP = round(float(rng.uniform(26, 32)), 1)
    ds.BodyPartThickness = int(rng.integers(35, 75))
    ds.CompressionForce = int(rng.integers(60, 140))
    ds.PresentationLUTShape = "INVERSE" if vendor.photometric == "MONOCHROME1" else "IDENTITY"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.PhotometricInterpretation = vendor.photometric
    stored = max_value - pixels if vendor.photometric == "MONOCHROME1" else pixels
    set_pixels(ds, stored, vendor.bits_stored)
    ds.PixelPaddingValue = int(max_value if vendor.photometric == "MONOCHROME1" else 0)
    centre, width = max_value * 0.55, max_value * 0.7
    ds.WindowCenter, ds.WindowWidth = [round(centre), round(centre * 1.05)], [round(width), round(width * 0.8)]
    ds.WindowCenterWidthExplanation = ["NORMAL", "HARDER"]
    if vendor.voi == "sigmoid":
        ds.VOILUTFunction = "SIGMOID"
    elif vendor.voi == "lut_sequence":
        lut = Dataset()
        entries = 1 << vendor.bits_stored
        lut.LUTDescriptor = [entries, 0, 16]
        lut.LUTExplanation = "DEMO GAMMA"
        curve = (np.linspace(0, 1, entries) ** 0.8 * 65535).astype("<u2")
        lut.LUTData = curve.tobytes()
        ds.VOILUTSequence = Sequence([lut])
    ds.ImageComments = f"{laterality}{view} {ctx.identity.family}, reviewed by {ctx.identity.performing.split('^')[0]}"
    return ds, box


def phantom_mammogram(rng, vendor, laterality, max_value, with_lesion):
    """Phantom pixels and lesion box at the vendor's matrix (or the full-field one under `full_size`)."""
    from .phantom import mammogram as phantom

    rows, cols = FULL_FIELD[:2] if _SIZE["full"] else (vendor.rows, vendor.cols)
    return phantom(rng, rows, cols, laterality, max_value, with_lesion)


#: The attributes VinDr-Mammo kept (the project's tags.csv); deidentification.py pops every other top-level one.
VINDR_KEPT = {
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PresentationLUTShape",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "WindowCenter",
    "WindowWidth",
    "WindowCenterWidthExplanation",
    "VOILUTFunction",
    "VOILUTSequence",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "PixelData",
    "PhotometricInterpretation",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
    "SamplesPerPixel",
    "NumberOfFrames",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "BodyPartExamined",
    "PresentationIntentType",
    "Manufacturer",
    "ManufacturerModelName",
    "Laterality",
    "ImageLaterality",
    "ViewPosition",
}


def md5_hex(value: str) -> str:
    """VinDr names studies, series and images by the MD5 hex digest of the original UID."""
    return hashlib.md5(value.encode()).hexdigest()


def vindr_release(ds: FileDataset) -> None:
    """What VinDr-Mammo's deidentification.py does to a file: keep only the tags.csv attributes, replace the study,
    series and SOP UIDs by their MD5 hex digests, and set two file-meta UIDs to '1.2.3.4'."""
    with warnings.catch_warnings():  # MD5 hex strings are not valid UIDs: that is the point
        warnings.simplefilter("ignore")
        ds.file_meta.ImplementationClassUID = UID("1.2.3.4")
        ds.file_meta.MediaStorageSOPClassUID = UID("1.2.3.4")
        ds.file_meta.MediaStorageSOPInstanceUID = UID(md5_hex(str(ds.file_meta.MediaStorageSOPInstanceUID)))
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            setattr(ds, keyword, md5_hex(str(getattr(ds, keyword))))
    for elem in list(ds):
        if elem.keyword not in VINDR_KEPT:
            del ds[elem.tag]


def roi_screenshot(ctx: StudyContext, source: Dataset, box: Box2D, series_uid: str, sop_uid: str) -> FileDataset:
    """A radiologist's screen save: the mammogram as 8-bit secondary capture with a circle burned in around the ROI
    (EMBED's ROI_SS / ROI_SSC images)."""
    pixels = source.pixel_array.astype(np.float64)
    pixels = np.rint(255 * pixels / max(float(pixels.max()), 1.0)).astype(np.uint8)
    y, x = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    cy, cx = (box.ymin + box.ymax) / 2, (box.xmin + box.xmax) / 2
    radius = max(box.ymax - box.ymin, box.xmax - box.xmin) * 0.7
    ring = np.abs(np.hypot(y - cy, x - cx) - radius) < 1.5
    pixels[ring] = 255
    ds = new_file(SECONDARY_CAPTURE, sop_uid)
    add_patient_study(ds, ctx, series_uid, 9001, "ROI SCREEN SAVE", "MG", ctx.study_time)
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.InstanceNumber = 1
    ds.ImageLaterality = source.ImageLaterality
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds
