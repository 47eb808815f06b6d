"""Build realistic DICOM objects (MG, MR, SEG) carrying fake PHI, for the demo mirrors."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, PYDICOM_IMPLEMENTATION_UID, RLELossless

from ..atomic import atomic_path
from .identity import Identity

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
COMPRESSED = {"j2k": JPEG2000Lossless, "rle": RLELossless}


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
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "BRCURATE_DEMO"
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    return ds


def add_patient_study(ds: Dataset, ctx: StudyContext, series_uid: str, series_number: int,
                      series_description: str, modality: str, series_time: str) -> None:
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
    ds.ProcedureCodeSequence = Sequence([_code("77067" if modality == "MG" else "77049", "C4",
                                               ctx.study_description)])
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


def save(ds: FileDataset, path: Path, compression: str | None = None) -> None:
    """Write `ds` to `path` atomically, optionally in a lossless compressed transfer syntax."""
    if compression:
        ds.compress(COMPRESSED[compression], encoding_plugin="pylibjpeg" if compression == "j2k" else "",
                    generate_instance_uid=False)
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


def mr_geometry(ds: Dataset, orientation: list[float], position: list[float], spacing: tuple[float, float],
                thickness: float) -> None:
    """Image plane module."""
    ds.ImageOrientationPatient = [round(v, 6) for v in orientation]
    ds.ImagePositionPatient = [round(v, 4) for v in position]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = thickness
    ds.SpacingBetweenSlices = thickness
    ds.SliceLocation = round(float(np.dot(np.cross(orientation[:3], orientation[3:]), position)), 4)


def segmentation(ctx: StudyContext, source_slices: list[Dataset], mask: np.ndarray, seg_uid: str,
                 series_uid: str, label: str, description: str) -> FileDataset:
    """A BINARY DICOM SEG over `source_slices` (sorted as `mask`'s first axis), one segment."""
    ref = source_slices[0]
    ds = new_file(SEGMENTATION, seg_uid)
    add_patient_study(ds, ctx, series_uid, 81000, description, "SEG", ref.SeriesTime)
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ContentLabel = "VOLSER"
    ds.ContentDescription = label
    ds.ContentCreatorName = ctx.identity.performing
    ds.SegmentationType = "BINARY"
    ds.DerivationDescription = "VOLSER,BACKGROUND=475,SER PE THRESHOLD=70"
    ds.FrameOfReferenceUID = ref.FrameOfReferenceUID
    ds.InstanceNumber = 1
    ds.LossyImageCompression = "00"
    ds.DimensionOrganizationType = "3D"
    segment = Dataset()
    segment.SegmentNumber = 1
    segment.SegmentLabel = label
    segment.SegmentAlgorithmType = "SEMIAUTOMATIC"
    segment.SegmentAlgorithmName = "VOLSER"
    segment.SegmentedPropertyCategoryCodeSequence = Sequence([_code("49755003", "SCT", "Morphologically Abnormal Structure")])
    segment.SegmentedPropertyTypeCodeSequence = Sequence([_code("108369006", "SCT", "Tumor")])
    ds.SegmentSequence = Sequence([segment])
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = ref.PixelSpacing
    measures.SliceThickness = ref.SliceThickness
    measures.SpacingBetweenSlices = ref.SpacingBetweenSlices
    shared.PixelMeasuresSequence = Sequence([measures])
    plane = Dataset()
    plane.ImageOrientationPatient = ref.ImageOrientationPatient
    shared.PlaneOrientationSequence = Sequence([plane])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for k, src in enumerate(source_slices):
        item = Dataset()
        content = Dataset()
        content.DimensionIndexValues = [1, k + 1]
        item.FrameContentSequence = Sequence([content])
        position = Dataset()
        position.ImagePositionPatient = src.ImagePositionPatient
        item.PlanePositionSequence = Sequence([position])
        seg_id = Dataset()
        seg_id.ReferencedSegmentNumber = 1
        item.SegmentIdentificationSequence = Sequence([seg_id])
        derivation = Dataset()
        source = Dataset()
        source.ReferencedSOPClassUID = src.SOPClassUID
        source.ReferencedSOPInstanceUID = src.SOPInstanceUID
        source.PurposeOfReferenceCodeSequence = Sequence([_code("121322", "DCM", "Source image for image processing operation")])
        derivation.SourceImageSequence = Sequence([source])
        derivation.DerivationCodeSequence = Sequence([_code("113076", "DCM", "Segmentation")])
        item.DerivationImageSequence = Sequence([derivation])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    referenced = Dataset()
    referenced.SeriesInstanceUID = ref.SeriesInstanceUID
    instances = []
    for src in source_slices:
        inst = Dataset()
        inst.ReferencedSOPClassUID = src.SOPClassUID
        inst.ReferencedSOPInstanceUID = src.SOPInstanceUID
        instances.append(inst)
    referenced.ReferencedInstanceSequence = Sequence(instances)
    ds.ReferencedSeriesSequence = Sequence([referenced])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = mask.shape[0]
    ds.Rows, ds.Columns = mask.shape[1:]
    ds.BitsAllocated = ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    ds.PixelData = pack_bits(mask.astype(np.uint8), pad=True)
    return ds


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


def _add_seconds(hhmmss: str, seconds: float) -> str:
    base = dt.datetime.strptime(hhmmss[:6], "%H%M%S") + dt.timedelta(seconds=seconds)
    return base.strftime("%H%M%S") + ".000000"


def write_dce(ctx: StudyContext, spec: DCESpec, rng: np.random.Generator, path_for):
    """Write every slice of every phase; return the pre-contrast slice headers (for SEG), lesion box and mask.

    `path_for(phase, series_number, series_description, instance_number)` gives each file's path.
    """
    from .phantom import dce_volume

    phases, box, mask = dce_volume(rng, spec.shape, spec.times_s, spec.bilateral)
    row_dir, col_dir = np.array(spec.orientation[:3]), np.array(spec.orientation[3:])
    normal = np.cross(row_dir, col_dir)
    frame_uid = uid(ctx.study_uid, "frame")
    series_uids = [uid(ctx.study_uid, "series", n) for n in spec.series_numbers]
    pre_slices: list[Dataset] = []
    nz = spec.shape[0]
    for p, volume in enumerate(phases):
        s = 0 if spec.single_series else p
        acq_time = _add_seconds(ctx.study_time, 120 + spec.times_s[p])
        for k in range(nz):
            instance = p * nz + k + 1 if spec.single_series else k + 1
            sop_uid = uid(series_uids[s], "sop", p, k)
            ds = new_file(MR_IMAGE, sop_uid)
            add_patient_study(ds, ctx, series_uids[s], spec.series_numbers[s], spec.series_descriptions[s], "MR",
                              _add_seconds(ctx.study_time, 120 + spec.times_s[s]))
            ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
            ds.FrameOfReferenceUID = frame_uid
            ds.PositionReferenceIndicator = ""
            ds.InstanceNumber = instance
            ds.AcquisitionNumber = p + 1
            ds.AcquisitionTime = ds.ContentTime = acq_time
            ds.TemporalPositionIdentifier = p + 1
            ds.NumberOfTemporalPositions = len(phases)
            ds.TriggerTime = round(spec.times_s[p] * 1000.0, 1)
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
            ds.ContrastBolusAgent = "" if p == 0 else "Gadavist"
            position = list(np.array(spec.origin) + k * spec.thickness * normal)
            mr_geometry(ds, spec.orientation, position, spec.spacing, spec.thickness)
            ds.PhotometricInterpretation = "MONOCHROME2"
            set_pixels(ds, volume[k], spec.bits_stored)
            ds.WindowCenter, ds.WindowWidth = 600, 1200
            ds.ImageComments = f"DCE phase {p}; tech {ctx.identity.operator.replace('^', ' ')}"
            save(ds, path_for(p, spec.series_numbers[s], spec.series_descriptions[s], instance))
            if p == 0:
                del ds.PixelData
                pre_slices.append(ds)
    return pre_slices, box, mask


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


def mammogram(ctx: StudyContext, rng: np.random.Generator, vendor: MammoVendor, series_uid: str, sop_uid: str,
              series_number: int, instance: int, laterality: str, view: str, with_lesion: bool,
              image_type: list[str], series_description: str):
    """A full-field digital mammogram (For Presentation) and its lesion box in the stored pixel grid."""
    max_value = (1 << vendor.bits_stored) - 1
    pixels, box = _phantom_mammogram(rng, vendor, laterality, max_value, with_lesion)
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
    ds.ImagerPixelSpacing = [vendor.spacing_mm, vendor.spacing_mm]
    ds.PixelSpacing = [vendor.spacing_mm, vendor.spacing_mm]
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


def _phantom_mammogram(rng, vendor, laterality, max_value, with_lesion):
    from .phantom import mammogram as phantom

    return phantom(rng, vendor.rows, vendor.cols, laterality, max_value, with_lesion)
