"""Seconds per ROI of the MRI radiomics (config/radiomics/MR.yaml) for a realistic DCE lesion: about 30×30×20
voxels inside a 128×128×60 crop, two phases (pre and post_1), as the pipeline computes them.

    python benchmarks/radiomics_roi.py [ROIS]     # default 5; --smoke: 1

Prints one JSON line: {"rois": N, "phases": 2, "seconds_per_roi": …, "features_per_phase": …}.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from breastcurate.radiomics import extract as ex
from scipy import ndimage
from sizes import parse

REPO_ROOT = Path(__file__).resolve().parents[1]

PARAMS = REPO_ROOT / "config" / "radiomics" / "MR.yaml"


def lesion_case(seed: int) -> tuple[list[sitk.Image], sitk.Image]:
    rng = np.random.default_rng(seed)
    shape = (60, 128, 128)  # slices, rows, columns
    background = ndimage.gaussian_filter(rng.standard_normal(shape), 3) * 60 + 400
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    lesion = ((z - 30) / 10) ** 2 + ((y - 64) / 15) ** 2 + ((x - 64) / 15) ** 2 <= 1  # ≈ 30×30×20 voxels
    phases = []
    for gain in (0, 500):
        values = background + gain * lesion + rng.normal(0, 15, shape)
        image = sitk.GetImageFromArray(np.clip(values, 0, None).astype(np.int16))
        image.SetSpacing((0.7, 0.7, 1.5))
        phases.append(image)
    mask = sitk.GetImageFromArray(lesion.astype(np.uint8))
    mask.CopyInformation(phases[0])
    return phases, mask


def main(rois: int, smoke: bool) -> None:
    times, n_features = [], 0
    for seed in range(rois):
        phases, mask = lesion_case(seed)
        start = time.perf_counter()
        for image in phases:
            n_features = len(ex.extract(image, mask, Path(PARAMS)))
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "rois": rois,
                "smoke": smoke,
                "phases": 2,
                "lesion_voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
                "seconds_per_roi": round(statistics.median(times), 3),
                "features_per_phase": n_features,
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(__doc__, {"rois": 5}, {"rois": 1})
    main(**sizes, smoke=smoke)
