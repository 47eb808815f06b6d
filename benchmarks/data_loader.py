"""`breastcurate.data.MammogramDataset` item time on full-field canonical PNGs (4096×3328, 12 bits stored, written
by the pipeline's encoder), against the fastest bare decode of the same file into a float32 array (Pillow; OpenCV
too if installed). Projects the decode cost of one pass over EMBED's 480,323 images.

    python benchmarks/data_loader.py [FILES]     # default 5; --smoke: 2 small files

Prints one JSON line: {"files": N, "ours_s_per_image": …, "reference_s_per_image": …, "decoder": …, "ratio": …,
"embed_epoch_core_hours": …}; target ratio ≤ 1.2. Each timing is the median over three reads of each file (after one warm-up read).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from breastcurate.config import section
from breastcurate.convert import mammo
from breastcurate.data.records import MG_IDS
from breastcurate.data.torch_datasets import MammogramDataset
from convert_mammo import median_time
from mammograms import FULL_FIELD, SMOKE, make_files
from PIL import Image
from sizes import parse

EMBED_IMAGES = 480_323


def decoders() -> dict:
    found = {"pillow": lambda p: np.asarray(Image.open(p)).astype(np.float32)}
    try:
        import cv2

        found["opencv"] = lambda p: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.float32)
    except ImportError:
        pass
    return found


def main(files: int, smoke: bool) -> None:
    shape = SMOKE if smoke else FULL_FIELD
    with tempfile.TemporaryDirectory() as tmp:
        pngs = []
        for k, path in enumerate(make_files(Path(tmp), files, 3, "bench-loader", shape)):
            image, _ = mammo.canonical(pydicom.dcmread(path))
            pngs.append(Path(tmp) / f"{k}.png")
            pngs[-1].write_bytes(mammo.encode_png(image, section("convert")["png_compression"]))
        dataset = MammogramDataset.__new__(MammogramDataset)  # the records a catalog would give, without one
        dataset.transform, dataset.with_mask = None, False
        dataset.records = [
            {
                "path": str(p),
                "bit_depth": 16,
                "bits_stored": 12,
                "value_offset": 0,
                "boxes": [],
                "birads": None,
                "density": None,
                "masks": [],
                **dict.fromkeys(MG_IDS),
            }
            for p in pngs
        ]
        assert float(dataset[0]["image"].max()) <= 1.0 and tuple(dataset[0]["image"].shape) == (1, *shape)
        reference = {}
        for name, decode in decoders().items():
            decode(pngs[0])
            reference[name] = median_time(decode, pngs * 3)
        fastest = min(reference, key=reference.get)
        ours = median_time(dataset.__getitem__, list(range(len(pngs))) * 3)
    print(
        json.dumps(
            {
                "files": files,
                "rows": shape[0],
                "smoke": smoke,
                "ours_s_per_image": round(ours, 3),
                "reference_s_per_image": round(reference[fastest], 3),
                "decoder": fastest,
                "decoders_s": {k: round(v, 3) for k, v in reference.items()},
                "ratio": round(ours / reference[fastest], 2),
                "embed_epoch_core_hours": round(ours * EMBED_IMAGES / 3600, 1),
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(__doc__, {"files": 5}, {"files": 2})
    main(**sizes, smoke=smoke)
