"""Features of one image and one region with pyradiomics, after checks that turn a bad ROI into a clear reason."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk


class RoiError(ValueError):
    """An ROI pyradiomics cannot (or should not) describe: empty, outside the image, a single voxel."""


def pyradiomics_version() -> str:
    import radiomics

    return str(radiomics.__version__)


def read_image(path: Path) -> sitk.Image:
    """NIfTI / NRRD / PNG through SimpleITK (a 16-bit PNG keeps its values)."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:  # SimpleITK's error for a file it cannot read
        raise RoiError(f"{Path(path).name} cannot be read: {str(exc).strip().splitlines()[-1][:200]}") from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise RoiError(f"{path} is not a single-channel image")
    return image


#: Pixels kept around a 2-D box: more than pyradiomics' own padDistance (5), so its crop sees the same pixels.
CROP_MARGIN = 10


def crop_to_box(
    image: sitk.Image, xmin: float, ymin: float, xmax: float, ymax: float
) -> tuple[sitk.Image, tuple[float, float, float, float]]:
    """The image around a 2-D box (CROP_MARGIN pixels more on each side, physical position kept) and the box in the
    crop's grid: the same features as on the whole mammogram, without handing pyradiomics 13 megapixels. A box
    outside the image is left for `box_mask` to refuse."""
    width, height = image.GetSize()[:2]
    x0, y0 = max(0, int(np.floor(xmin)) - CROP_MARGIN), max(0, int(np.floor(ymin)) - CROP_MARGIN)
    x1, y1 = min(width, int(np.ceil(xmax)) + CROP_MARGIN), min(height, int(np.ceil(ymax)) + CROP_MARGIN)
    if not (0 <= xmin < xmax <= width and 0 <= ymin < ymax <= height):
        return image, (xmin, ymin, xmax, ymax)
    crop = sitk.RegionOfInterest(image, [x1 - x0, y1 - y0], [x0, y0])
    return crop, (xmin - x0, ymin - y0, xmax - x0, ymax - y0)


def box_mask(image: sitk.Image, xmin: float, ymin: float, xmax: float, ymax: float) -> sitk.Image:
    """A 2-D box (0-based, half-open pixel edges) → a label image in the image's grid."""
    width, height = image.GetSize()[:2]
    x0, y0, x1, y1 = int(np.floor(xmin)), int(np.floor(ymin)), int(np.ceil(xmax)), int(np.ceil(ymax))
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise RoiError(f"box ({xmin}, {ymin}, {xmax}, {ymax}) lies outside the {width}×{height} image")
    array = np.zeros((height, width), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(image)
    return mask


def check_roi(image: sitk.Image, mask: sitk.Image, label: int = 1) -> int:
    """Voxels in the ROI; a reason when the mask does not fit the image or the ROI is degenerate."""
    if image.GetSize() != mask.GetSize():
        raise RoiError(f"mask size {mask.GetSize()} differs from image size {image.GetSize()}")
    if not (
        np.allclose(image.GetOrigin(), mask.GetOrigin(), atol=1e-3)
        and np.allclose(image.GetSpacing(), mask.GetSpacing(), atol=1e-4)
        and np.allclose(image.GetDirection(), mask.GetDirection(), atol=1e-4)
    ):
        raise RoiError("the mask lies outside the image: origin, spacing or direction differ")
    voxels = int((sitk.GetArrayViewFromImage(mask) == label).sum())
    if voxels == 0:
        raise RoiError("empty mask (no voxel with the label)")
    if voxels == 1:
        raise RoiError("single-voxel ROI: texture and shape features are undefined")
    return voxels


def extract(image: sitk.Image, mask: sitk.Image, params: Path) -> dict[str, float]:
    """Numeric features (name → value) with the settings of a pyradiomics parameter file."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(params))
    label = int(extractor.settings.get("label", 1))
    check_roi(image, mask, label)
    if image.GetPixelID() in (sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16):
        image = sitk.Cast(image, sitk.sitkInt32)  # pyradiomics' bin edges (max + 2 × binWidth) overflow 16 bits
    try:
        result = extractor.execute(image, mask)
    except (ValueError, RuntimeError, IndexError) as exc:
        raise RoiError(f"pyradiomics refused the ROI: {str(exc)[:200]}") from exc
    features = {}
    for name, value in result.items():
        if name.startswith("diagnostics_"):
            continue
        features[name] = float(np.asarray(value).reshape(()))
    return features
