"""PyTorch datasets over one split (the optional extra `[torch]`): mammograms as float tensors in [0, 1] with their
boxes in that image's pixel grid, DCE studies as phases stacked as channels on the `pre` grid with their lesion mask,
and `collate` for batches of images of different sizes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from PIL import Image

from ..errors import BreastcurateError
from .records import MG_IDS, dce_records, mammogram_records

Transform = Callable[[dict[str, Any]], dict[str, Any]]


class MammogramDataset(torch.utils.data.Dataset):
    """Mammograms of one split. An item: `image` (float32 [1, H, W] in [0, 1]: a 16-bit PNG's values over the
    source's stored range, 2^BitsStored − 1 plus the offset that made them non-negative; an 8-bit variant's over 255),
    `boxes` (float32 [N, 4]: x0, y0, x1, y1 in this image's pixels, x1/y1 exclusive), `labels` (BI-RADS,
    density, each box's category, pathology and BI-RADS; None where unknown), `ids` (with the image type) and, with
    `with_mask`, `mask` (uint8 [1, H, W]: the union of the image's ROI masks, CBIS-DDSM; images without one are left
    out; canonical variant only, the grid the masks are drawn in)."""

    def __init__(
        self,
        root: str | Path,
        version: str,
        split: str,
        variant: str = "canonical",
        transform: Transform | None = None,
        with_mask: bool = False,
    ):
        if with_mask and variant != "canonical":
            raise BreastcurateError(f"with_mask: the ROI masks are in the canonical grid, not variant {variant!r}")
        records = mammogram_records(root, version, split, variant)
        self.records = [r for r in records if r["masks"]] if with_mask else records
        self.with_mask = with_mask
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        r = self.records[index]
        pixels = np.asarray(Image.open(r["path"])).astype(np.float32)  # a writable copy: scaled in place below
        top = 255.0 if r["bit_depth"] == 8 else float(2 ** r["bits_stored"] - 1 + r["value_offset"])
        pixels *= np.float32(1.0 / top)
        image = torch.from_numpy(np.clip(pixels, 0.0, 1.0, out=pixels))[None]
        boxes = torch.tensor(
            [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in r["boxes"]], dtype=torch.float32
        ).reshape(-1, 4)
        item = {
            "image": image,
            "boxes": boxes,
            "labels": {
                "birads": r["birads"],
                "density": r["density"],
                "categories": [b["category"] for b in r["boxes"]],
                "pathology": [b["pathology"] for b in r["boxes"]],
                "finding_birads": [b["birads"] for b in r["boxes"]],
            },
            "ids": {k: r[k] for k in MG_IDS},
        }
        if self.with_mask:
            union = np.zeros(pixels.shape, np.uint8)
            for path in r["masks"]:
                union |= (np.asarray(Image.open(path)) > 0).astype(np.uint8)
            item["mask"] = torch.from_numpy(union)[None]
        return self.transform(item) if self.transform else item


def _on_grid(image: sitk.Image, reference: sitk.Image, interpolator: int) -> sitk.Image:
    """`image` resampled onto `reference`'s grid (itself when the grids already agree)."""
    same = (
        image.GetSize() == reference.GetSize()
        and np.allclose(image.GetSpacing(), reference.GetSpacing())
        and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3)
        and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-5)
    )
    return image if same else sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0)


class DCEDataset(torch.utils.data.Dataset):
    """DCE studies of one split that have every phase asked for (and, with `with_mask`, a lesion mask). An item:
    `image` (float32 [C, Z, Y, X]: the phases as channels, in stored intensities, resampled onto the `pre` grid where
    a phase's grid differs), `mask` (uint8 [1, Z, Y, X]: the union of the study's lesion masks), `labels` (pCR, HR,
    HER2, subtype, ER, PR; None where unknown) and `ids`."""

    def __init__(
        self,
        root: str | Path,
        version: str,
        split: str,
        phases: Sequence[str] = ("pre", "post_1", "post_2"),
        with_mask: bool = True,
        transform: Transform | None = None,
    ):
        if "pre" not in phases:
            raise ValueError("phases must include 'pre' (the grid the others and the masks are stacked on)")
        self.phases = tuple(phases)
        records = dce_records(root, version, split, ["pre", *[p for p in phases if p != "pre"]])
        self.records = [r for r in records if r["masks"]] if with_mask else records
        self.with_mask = with_mask
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        r = self.records[index]
        order = ["pre", *[p for p in self.phases if p != "pre"]]
        images = dict(zip(order, (sitk.ReadImage(p) for p in r["phases"])))
        pre = images["pre"]
        stacked = np.stack(
            [sitk.GetArrayFromImage(_on_grid(images[p], pre, sitk.sitkLinear)) for p in self.phases]
        ).astype(np.float32)
        item: dict[str, Any] = {
            "image": torch.from_numpy(stacked),
            "labels": {k: r[k] for k in ("pcr", "hr", "her2", "subtype", "er", "pr")},
            "ids": {k: r[k] for k in ("dataset", "patient_id", "study_uid")},
        }
        if self.with_mask:
            union = np.zeros(stacked.shape[1:], np.uint8)
            for path in r["masks"]:
                mask = _on_grid(sitk.ReadImage(path), pre, sitk.sitkNearestNeighbor)
                union |= (sitk.GetArrayFromImage(mask) > 0).astype(np.uint8)
            item["mask"] = torch.from_numpy(union)[None]
        return self.transform(item) if self.transform else item


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch as a dict: tensors stacked where their shapes agree (else a list), nested dicts collated the same
    way, other values as lists (None kept)."""
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if isinstance(values[0], dict):
            out[key] = collate(values)
        elif isinstance(values[0], torch.Tensor) and len({v.shape for v in values}) == 1:
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out
