"""Mammograms → canonical 16-bit PNG (modality LUT, MONOCHROME2, no window) plus recorded, optional variants."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from zlib_ng import zlib_ng

from ..dicomio import DECODER_ERRORS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UndecodableError(ValueError):
    """The pixel data cannot be decoded by any installed decoder."""


@dataclass(frozen=True)
class VariantSpec:
    """A derived image named in config: 8-bit through the file's VOI, resized, flipped to one side."""

    name: str
    bits: int
    voi: bool
    long_side: int | None
    flip_to: str | None

    @classmethod
    def from_config(cls, block: dict) -> VariantSpec:
        """From one `convert.mammo_variants` item, its defaults filled from the config schema."""
        return cls(
            name=block["name"],
            bits=int(block["bits"]),
            voi=bool(block["voi"]),
            long_side=block["long_side"],
            flip_to=block["flip_to"],
        )


@dataclass(frozen=True)
class Transform:
    """How a variant's pixel grid relates to the canonical one: x' = (W - x if flipped else x) * scale_x."""

    width: int
    height: int
    scale_x: float = 1.0
    scale_y: float = 1.0
    flipped: bool = False

    def box(self, xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[float, float, float, float]:
        """A 0-based half-open box in the canonical grid → the same box in this grid."""
        if self.flipped:
            xmin, xmax = self.width - xmax, self.width - xmin
        return xmin * self.scale_x, ymin * self.scale_y, xmax * self.scale_x, ymax * self.scale_y


#: The Image Pixel attributes a decoder needs.
PIXEL_ATTRIBUTES = (
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
)


def stored_values(ds: Dataset) -> np.ndarray:
    """Decoded stored values (pydicom masks the bits above BitsStored and sign-extends signed data)."""
    if ds.get("PixelData") is None:
        raise UndecodableError("no pixel data")
    for keyword in PIXEL_ATTRIBUTES:
        if ds.get(keyword) in (None, ""):
            raise UndecodableError(f"no {keyword}: the pixel data cannot be decoded")
    if "TransferSyntaxUID" not in ds.file_meta:  # ACR-NEMA file without a meta header: the encoding it was read in
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = {
            (True, True): ImplicitVRLittleEndian,
            (False, True): ExplicitVRLittleEndian,
            (False, False): ExplicitVRBigEndian,
        }[(bool(implicit), bool(little))]
    try:
        arr = ds.pixel_array
    except DECODER_ERRORS as exc:  # around the decoder call only: all mean "no decoder could read it"
        raise UndecodableError(
            f"no installed decoder reads transfer syntax "
            f"{ds.file_meta.get('TransferSyntaxUID', 'unknown')}: {str(exc)[:160]}"
        ) from exc
    if arr.ndim != 2:
        raise UndecodableError(f"expected one 2-D grayscale frame, got shape {arr.shape}")
    return arr


def _stored_range(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _windows(ds: Dataset) -> list[list[float]]:
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is None or widths is None:
        return []
    centers = list(centers) if hasattr(centers, "__len__") and not isinstance(centers, str) else [centers]
    widths = list(widths) if hasattr(widths, "__len__") and not isinstance(widths, str) else [widths]
    return [[float(c), float(w)] for c, w in zip(centers, widths)]


def modality_values(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """The Modality LUT (or rescale) applied; integer arithmetic when the rescale is an integer shift."""
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    if "ModalityLUTSequence" in ds or slope != 1 or not intercept.is_integer():
        return apply_modality_lut(stored, ds)
    return stored if intercept == 0 else stored.astype(np.int32) + int(intercept)


def canonical(ds: Dataset) -> tuple[np.ndarray, dict]:
    """The canonical image (uint16, dense tissue bright) and what was done to get it."""
    stored = stored_values(ds)
    lo_s, hi_s = _stored_range(ds)
    modality = modality_values(stored, ds)
    lo, hi = (float(v) for v in modality_values(np.array([lo_s, hi_s]), ds))
    lo, hi = min(lo, hi), max(lo, hi)
    photometric = str(ds.PhotometricInterpretation)
    inverted = photometric == "MONOCHROME1"
    offset = -lo if lo < 0 else 0.0
    if hi + offset > 65535:
        raise UndecodableError(f"values after the modality LUT exceed 16 bits (up to {hi + offset:.0f})")
    if modality.dtype.kind in "iu" and float(lo).is_integer() and float(hi).is_integer():
        values = modality.astype(np.int32, copy=False) if (inverted or offset) else modality
        if inverted:
            values = int(lo + hi) - values
        out = (values + int(offset)) if offset else values
    else:  # a fractional rescale: round to the nearest integer step
        values = (lo + hi) - modality if inverted else modality
        out = np.rint(np.asarray(values, dtype=np.float64) + offset)
    meta = {
        "rows": int(stored.shape[0]),
        "columns": int(stored.shape[1]),
        "photometric_native": photometric,
        "inverted": inverted,
        "bits_stored": int(ds.BitsStored),
        "rescale_slope": float(ds.get("RescaleSlope", 1) or 1),
        "rescale_intercept": float(ds.get("RescaleIntercept", 0) or 0),
        "value_offset": offset,
        "value_range": [lo + offset, hi + offset],
        "windows": json.dumps(_windows(ds)),
        "voi_lut_function": str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR"),
        "voi_lut_sequence_items": len(ds.get("VOILUTSequence", [])),
    }
    return out.astype(np.uint16, copy=False), meta


def _voi_8bit(ds: Dataset) -> np.ndarray:
    """The file's own first VOI LUT or window (SIGMOID included), scaled to 0–255, dense tissue bright. A file with
    neither (CBIS-DDSM's secondary captures) gets its own min–max range: DICOM leaves the window to the viewer.
    Integer images are mapped through a table of their distinct values (the same result, one pass over the pixels)."""
    modality = modality_values(stored_values(ds), ds)
    if modality.dtype.kind == "f" and np.array_equal(modality, np.rint(modality)):
        modality = modality.astype(np.int32)
    if modality.dtype.kind in "iu" and modality.size:
        low, high = int(modality.min()), int(modality.max())
        if high - low < 1 << 20:
            table = _to_8bit(np.arange(low, high + 1, dtype=np.int32), ds)
            return table[modality - low if low else modality]
    return _to_8bit(modality, ds)


def _to_8bit(values: np.ndarray, ds: Dataset) -> np.ndarray:
    if "VOILUTSequence" in ds or _windows(ds):
        bits = ds.VOILUTSequence[0].LUTDescriptor[2] if "VOILUTSequence" in ds else ds.BitsStored
        top = float((1 << int(bits)) - 1)
        voi = np.asarray(apply_voi_lut(values, ds, index=0), dtype=np.float64)
    else:
        low, high = float(values.min()), float(values.max())
        top, voi = max(high - low, 1.0), values.astype(np.float64) - low
    scaled = np.clip(voi / top, 0.0, 1.0)
    if str(ds.PhotometricInterpretation) == "MONOCHROME1":
        scaled = 1.0 - scaled
    return np.rint(scaled * 255.0).astype(np.uint8)


def variant(ds: Dataset, image: np.ndarray, laterality: str | None, spec: VariantSpec) -> tuple[np.ndarray, Transform]:
    """A derived image from the canonical one (or the file's VOI), and the transform its boxes need."""
    arr = _voi_8bit(ds) if spec.voi else image
    if spec.bits == 8 and not spec.voi:
        top = float(image.max()) or 1.0
        arr = np.rint(image / top * 255.0).astype(np.uint8)
    height, width = arr.shape
    flipped = bool(spec.flip_to and laterality and laterality != spec.flip_to)
    if flipped:
        arr = np.ascontiguousarray(arr[:, ::-1])
    sx = sy = 1.0
    if spec.long_side:
        scale = spec.long_side / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        # Lanczos after a box reduction to within 3× of the target (Pillow's reducing_gap: indistinguishable from a
        # full Lanczos in practice, and 8-bit images stay 8-bit): 5× faster on full-field mammograms.
        if arr.dtype == np.uint8:
            arr = np.asarray(Image.fromarray(arr).resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0))
        else:
            resized = Image.fromarray(arr.astype(np.float32)).resize(
                (new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0
            )
            arr = np.clip(np.rint(np.asarray(resized)), 0, 65535).astype(arr.dtype)
        sx, sy = new_w / width, new_h / height
    return arr, Transform(width=width, height=height, scale_x=sx, scale_y=sy, flipped=flipped)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(arr: np.ndarray, level: int) -> bytes:
    """Lossless grayscale PNG, 16-bit for uint16 and 8-bit for uint8: every row filtered with Up (type 2), the rows
    compressed by zlib-ng at `level`, and no ancillary chunk (so deterministic). At level 2 this is 2.4× faster than
    Pillow's encoder at level 1 on a 4096×3328 mammogram, and smaller (docs/performance.md)."""
    depth = 16 if arr.dtype == np.uint16 else 8
    if depth == 8 and arr.dtype != np.uint8:
        raise ValueError(f"cannot write {arr.dtype} as a grayscale PNG")
    rows = np.ascontiguousarray(arr.astype(">u2") if depth == 16 else arr).view(np.uint8).reshape(arr.shape[0], -1)
    filtered = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = struct.pack(">IIBBBBB", arr.shape[1], arr.shape[0], depth, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib_ng.compress(filtered, level))
        + _chunk(b"IEND", b"")
    )


def laterality_of(ds: Dataset) -> str | None:
    """ImageLaterality, else Laterality (series level); L/R or None."""
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(ds.get(keyword, "") or "").upper()
        if value in ("L", "R"):
            return value
    return None


def view_of(ds: Dataset) -> str | None:
    """ViewPosition, else the View Code Sequence's meaning."""
    value = str(ds.get("ViewPosition", "") or "").strip()
    if value:
        return value
    codes = ds.get("ViewCodeSequence")
    if codes:
        return str(codes[0].get("CodeMeaning", "") or "") or None
    return None
