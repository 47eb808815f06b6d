"""MONAI loading of `items()` in the datasets' order: mammograms as [C, H, W] like `MammogramDataset`, DCE phases
as [C, Z, Y, X] like `DCEDataset` (MONAI's readers give (x, y, z) and PNGs as (W, H) by default)."""

from __future__ import annotations

from collections.abc import Sequence

from monai.transforms import Compose, LoadImaged, Transposed

from ..errors import BreastcurateError


def load_transform(modality: str, keys: Sequence[str] = ("image", "label")) -> Compose:
    """Load the `keys` of an item of `items(…, modality)`: one channel per file (phases in the order asked for,
    masks in ROI order), spatial axes as in the PyTorch datasets."""
    keys = list(keys)
    if modality == "MG":  # PNG as (H, W): numpy order
        return Compose(
            [LoadImaged(keys, image_only=True, ensure_channel_first=True, reader="PILReader", reverse_indexing=False)]
        )
    if modality == "MR":  # NIfTI as (x, y, z); a list of files is stacked as channels first
        return Compose(
            [
                LoadImaged(keys, image_only=True, ensure_channel_first=True),
                Transposed(keys, indices=(0, 3, 2, 1)),
            ]
        )
    raise BreastcurateError(f"modality {modality!r}: MG or MR")
