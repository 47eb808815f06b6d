"""Mammogram → canonical 16-bit PNG, per full-field image (4096×3328, 12-bit), against pydicom decode plus the
fastest installed 16-bit PNG encoder (Pillow; OpenCV too if installed) at the same zlib level.

    python benchmarks/convert_mammo.py [FILES]     # default 5; --smoke: 2 small files

Prints one JSON line: {"files": N, "ours_s_per_image": …, "reference_s_per_image": …, "encoder": …, "ratio": …};
target ratio ≤ 1.3. Each timing is the median over the files.
"""

from __future__ import annotations

import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from breastcurate.config import section
from breastcurate.convert import mammo
from mammograms import FULL_FIELD, SMOKE, make_files
from PIL import Image
from sizes import parse


def encoders(level: int) -> dict:
    def pillow(arr: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", compress_level=level)
        return buf.getvalue()

    found = {"pillow": pillow}
    try:
        import cv2

        found["opencv"] = lambda arr: cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, level])[1].tobytes()
    except ImportError:
        pass
    return found


def median_time(func, items) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        func(item)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(files: int, smoke: bool, level: int = section("convert")["png_compression"]) -> None:
    """Ours at the configured zlib-ng level; the references at zlib level 1, their fastest."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_files(Path(tmp), files, 2, "bench-png", SMOKE if smoke else FULL_FIELD)
        reference = {}
        sizes = {}
        sample = mammo.canonical(pydicom.dcmread(paths[0]))[0]
        for name, encode in encoders(1).items():
            sizes[name] = len(encode(sample))
            reference[name] = median_time(lambda p, encode=encode: encode(pydicom.dcmread(p).pixel_array), paths)
        fastest = min(reference, key=reference.get)

        def ours(path: Path) -> None:
            image, _ = mammo.canonical(pydicom.dcmread(path))
            mammo.encode_png(image, level)

        ours_s = median_time(ours, paths)
    print(
        json.dumps(
            {
                "files": files,
                "rows": sample.shape[0],
                "smoke": smoke,
                "level": level,
                "ours_s_per_image": round(ours_s, 3),
                "reference_s_per_image": round(reference[fastest], 3),
                "encoder": fastest,
                "encoders_s": {k: round(v, 3) for k, v in reference.items()},
                "bytes": {"ours": len(mammo.encode_png(sample, level)), **sizes},
                "ratio": round(ours_s / reference[fastest], 2),
            }
        )
    )


if __name__ == "__main__":
    sizes_, smoke = parse(__doc__, {"files": 5}, {"files": 2})
    main(**sizes_, smoke=smoke)
