"""Breast-like synthetic pixel content with lesions at known places."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Box2D:
    """Lesion box in the stored pixel grid, 0-based, inclusive: rows ymin..ymax, columns xmin..xmax."""

    ymin: int
    xmin: int
    ymax: int
    xmax: int


@dataclass(frozen=True)
class Box3D:
    """Lesion box in (slice, row, column) voxel indices, 0-based, inclusive."""

    z0: int
    z1: int
    y0: int
    y1: int
    x0: int
    x1: int


def _texture(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-9)


def mammogram(
    rng: np.random.Generator, rows: int, cols: int, laterality: str, max_value: int, with_lesion: bool
) -> tuple[np.ndarray, Box2D | None]:
    """A MONOCHROME2 mammogram (dense tissue bright) and its lesion box, values in [0, max_value]."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    depth = cols * rng.uniform(0.55, 0.75)
    half_height = rows * rng.uniform(0.36, 0.45)
    cy = rows * rng.uniform(0.45, 0.55)
    dist_from_wall = x if laterality == "L" else (cols - 1 - x)
    inside = (dist_from_wall / depth) ** 2 + ((y - cy) / half_height) ** 2 <= 1.0
    tissue = 0.45 + 0.12 * _texture(rng, (rows, cols), sigma=max(rows, cols) / 40)
    tissue += 0.15 * np.clip(1 - dist_from_wall / depth, 0, 1)  # denser near the chest wall
    image = np.where(inside, tissue, 0.02 + 0.005 * rng.standard_normal((rows, cols)))
    box = None
    if with_lesion:
        radius = rng.uniform(0.04, 0.07) * rows
        ly = cy + rng.uniform(-0.4, 0.4) * half_height
        lx_wall = rng.uniform(0.25, 0.6) * depth
        lx = lx_wall if laterality == "L" else cols - 1 - lx_wall
        blob = np.exp(-(((y - ly) ** 2 + (x - lx) ** 2) / (2 * (radius / 1.6) ** 2)))
        image = image + 0.45 * blob * inside
        box = Box2D(int(ly - radius), int(lx - radius), int(np.ceil(ly + radius)), int(np.ceil(lx + radius)))
        box = Box2D(max(box.ymin, 0), max(box.xmin, 0), min(box.ymax, rows - 1), min(box.xmax, cols - 1))
    image = np.clip(image, 0, 1)
    return np.round(image * max_value).astype(np.uint16), box


def dce_volume(
    rng: np.random.Generator, shape: tuple[int, int, int], times_s: list[float], bilateral: bool
) -> tuple[list[np.ndarray], Box3D, np.ndarray]:
    """One 3-D uint16 volume per DCE phase (slice, row, column), the enhancing lesion's box and its mask.

    The breast(s) hang toward row 0; the lesion enhances quickly then washes out, parenchyma slowly.
    """
    nz, ny, nx = shape
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx].astype(np.float32)
    centres = [nx * 0.27, nx * 0.73] if bilateral else [nx * 0.5]
    radius_x = nx * (0.2 if bilateral else 0.38)
    breast = np.zeros(shape, bool)
    for cx in centres:
        breast |= ((x - cx) / radius_x) ** 2 + ((y - ny * 0.05) / (ny * 0.55)) ** 2 + (
            (z - nz / 2) / (nz * 0.48)
        ) ** 2 <= 1.0
    body = y > ny * 0.72
    parenchyma = breast & (_texture(rng, shape, sigma=2.5) > 0.3)
    cx = float(rng.choice(centres)) + rng.uniform(-0.3, 0.3) * radius_x * 0.5
    cy, cz = ny * rng.uniform(0.15, 0.3), nz * rng.uniform(0.35, 0.65)
    r = rng.uniform(3.0, 5.0)
    lesion = ((x - cx) ** 2 + (y - cy) ** 2 + ((z - cz) * 2.0) ** 2) <= r * r
    idx = np.argwhere(lesion)
    (z0, y0, x0), (z1, y1, x1) = idx.min(0), idx.max(0)
    noise = rng.standard_normal((len(times_s),) + shape).astype(np.float32)
    phases = []
    for i, t in enumerate(times_s):
        wash_in = 1 - np.exp(-t / 60.0)
        lesion_gain = 1.8 * wash_in * np.exp(-t / 900.0)
        value = np.where(body, 420.0, 30.0)
        value = np.where(breast, 160.0, value)
        value = np.where(parenchyma, 260.0 * (1 + 0.35 * wash_in * t / 600.0), value)
        value = np.where(lesion, 280.0 * (1 + lesion_gain), value)
        phases.append(np.clip(value + 12.0 * noise[i], 0, 4095).astype(np.uint16))
    return phases, Box3D(int(z0), int(z1), int(y0), int(y1), int(x0), int(x1)), lesion
