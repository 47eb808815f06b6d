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
from .records import MG_IDS, MR_IDS, SCREENING_VIEWS, dce_records, exam_records, mammogram_records

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
        image, boxes = _mammogram(r), _boxes(r)
        pixels = image[0].numpy()
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


def _mammogram(r: dict[str, Any]) -> torch.Tensor:
    """A mammogram record's PNG as float32 [1, H, W] in [0, 1] over the source's stored range (8-bit: over 255)."""
    pixels = np.asarray(Image.open(r["path"])).astype(np.float32)  # a writable copy: scaled in place below
    top = 255.0 if r["bit_depth"] == 8 else float(2 ** r["bits_stored"] - 1 + r["value_offset"])
    pixels *= np.float32(1.0 / top)
    return torch.from_numpy(np.clip(pixels, 0.0, 1.0, out=pixels))[None]


def _boxes(r: dict[str, Any]) -> torch.Tensor:
    return torch.tensor(
        [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in r["boxes"]], dtype=torch.float32
    ).reshape(-1, 4)


class ExamDataset(torch.utils.data.Dataset):
    """Mammography exams of one split, their views stacked. An item: `image` (float32 [V, H, W], one channel per
    view of `views` in that order, on one grid: each view resized to `size` (H, W), or, without `size`, padded at the
    bottom and right to the largest view), `present` (bool [V]: the exam has that view; absent views are zeros),
    `boxes` (a list of V float32 [N, 4] in the stacked grid), `labels` (per side L and R: BI-RADS, density, outcome,
    outcome_evidence; all None for a breast the exam lacks) and `ids` (dataset, patient_id, exam_id, image_uids per
    view). With `priors=1`, `prior` holds the previous exam's views on the same grid (`image`, `present`, `boxes`,
    `ids` with `exam_id` and `days_since_prior`; nothing present when there is none). `complete_only` keeps the
    exams with all four screening views."""

    def __init__(
        self,
        root: str | Path,
        version: str,
        split: str,
        views: Sequence[str] = SCREENING_VIEWS,
        variant: str = "canonical",
        priors: int = 0,
        complete_only: bool = False,
        size: tuple[int, int] | None = None,
        transform: Transform | None = None,
    ):
        if priors not in (0, 1):
            raise BreastcurateError(f"priors={priors}: 0 or 1 (the previous exam)")
        self.views, self.priors, self.size, self.transform = tuple(views), priors, size, transform
        every = exam_records(root, version, split, self.views, variant)
        self.by_id = {r["exam_id"]: r for r in every}
        self.records = [r for r in every if r["complete_screening_views"] or not complete_only]

    def __len__(self) -> int:
        return len(self.records)

    def _shown(self, exam: dict[str, Any] | None) -> list[dict[str, Any] | None]:
        return [exam["views"].get(v) if exam else None for v in self.views]

    def _stack(self, shown: list[dict[str, Any] | None], grid: tuple[int, int]) -> dict[str, Any]:
        h, w = grid
        image = torch.zeros((len(shown), h, w), dtype=torch.float32)
        boxes = []
        for k, r in enumerate(shown):
            if r is None:
                boxes.append(torch.zeros((0, 4), dtype=torch.float32))
                continue
            view, box = _mammogram(r), _boxes(r)
            if self.size:
                scale = torch.tensor([w / view.shape[2], h / view.shape[1]] * 2)
                view = torch.nn.functional.interpolate(view[None], size=(h, w), mode="bilinear")[0]
                box = box * scale
            image[k, : view.shape[1], : view.shape[2]] = view[0]
            boxes.append(box)
        return {"image": image, "present": torch.tensor([r is not None for r in shown]), "boxes": boxes}

    def __getitem__(self, index: int) -> dict[str, Any]:
        exam = self.records[index]
        shown = self._shown(exam)
        prior = self.by_id.get(exam["prior_exam_id"]) if self.priors and exam["prior_exam_id"] else None
        prior_shown = self._shown(prior) if self.priors else []
        grid = self.size or (
            max(r["rows"] for r in [*shown, *prior_shown] if r),
            max(r["columns"] for r in [*shown, *prior_shown] if r),
        )
        item = self._stack(shown, grid)
        item["labels"] = exam["breasts"]
        item["ids"] = {
            **{k: exam[k] for k in ("dataset", "patient_id", "exam_id")},
            "image_uids": [r["image_uid"] if r else None for r in shown],
        }
        if self.priors:
            item["prior"] = self._stack(prior_shown, grid)
            item["prior"]["ids"] = {
                "exam_id": prior["exam_id"] if prior else None,
                "days_since_prior": (exam["days_since_prior"] if prior else None),
            }
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
        visits: Sequence[str] | None = None,
    ):
        if "pre" not in phases:
            raise ValueError("phases must include 'pre' (the grid the others and the masks are stacked on)")
        self.phases = tuple(phases)
        records = dce_records(root, version, split, ["pre", *[p for p in phases if p != "pre"]])
        records = [r for r in records if r["masks"]] if with_mask else records
        self.with_mask = with_mask
        self.transform = transform
        self.visits = tuple(visits) if visits else None
        if self.visits:  # one item per patient with every visit asked for, the first visit's study in front
            per_patient: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
            for r in records:
                per_patient.setdefault((r["dataset"], r["patient_id"]), {})[r["visit_label"] or str(r["visit"])] = r
            self.records = [
                {**found[self.visits[0]], "others": {v: found[v] for v in self.visits[1:]}}
                for _, found in sorted(per_patient.items())
                if all(v in found for v in self.visits)
            ]
        else:
            self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        r = self.records[index]
        item = self._study(r)
        if self.visits:
            item["visits"] = {self.visits[0]: {k: item[k] for k in ("image", "mask", "ids") if k in item}}
            item["visits"].update({v: self._study(o) for v, o in r["others"].items()})
        return self.transform(item) if self.transform else item

    def _study(self, r: dict[str, Any]) -> dict[str, Any]:
        """One study's phases stacked on its `pre` grid, its mask, labels and ids."""
        order = ["pre", *[p for p in self.phases if p != "pre"]]
        images = dict(zip(order, (sitk.ReadImage(p) for p in r["phases"])))
        pre = images["pre"]
        stacked = np.stack(
            [sitk.GetArrayFromImage(_on_grid(images[p], pre, sitk.sitkLinear)) for p in self.phases]
        ).astype(np.float32)
        item: dict[str, Any] = {
            "image": torch.from_numpy(stacked),
            "labels": {k: r[k] for k in ("pcr", "hr", "her2", "subtype", "er", "pr")},
            "ids": {k: r[k] for k in MR_IDS},
        }
        if self.with_mask:
            union = np.zeros(stacked.shape[1:], np.uint8)
            for path in r["masks"]:
                mask = _on_grid(sitk.ReadImage(path), pre, sitk.sitkNearestNeighbor)
                union |= (sitk.GetArrayFromImage(mask) > 0).astype(np.uint8)
            item["mask"] = torch.from_numpy(union)[None]
        return item


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
