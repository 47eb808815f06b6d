"""The catalog's size at EMBED scale: a synthetic images table of 480,323 mammograms (EMBED's open release), with
values shaped like the real ones (UIDs, curated paths, windows, manufacturers), written as Parquet parts and copied
into `catalog.duckdb` by the pipeline's own `build_catalog`.

    python benchmarks/catalog_size.py [IMAGES]     # default 480323; --smoke: 2000

Last line: {"images": n, "parquet_mb": …, "catalog_mb": …, "build_s": …}
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from breastcurate.catalog.build import build_catalog
from breastcurate.layout import Layout, Scope
from breastcurate.tables import table_names, table_schema
from sizes import parse

SHARDS = 40


def image_rows(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n canonical-image rows: 4 images per study, 2 studies per patient, EMBED-like values."""
    k = np.arange(n)
    patient = [f"P-{v:016x}" for v in rng.integers(0, 2**63, n // 8 + 1)]
    study = [f"2.25.{v}{v % 997:03d}" for v in rng.integers(10**17, 10**18, n // 4 + 1)]
    uid = [f"2.25.{v}{v % 991:03d}" for v in rng.integers(10**17, 10**18, n)]
    frame = pd.DataFrame(
        {
            "dataset": "embed",
            "patient_id": [patient[i // 8] for i in k],
            "study_uid": [study[i // 4] for i in k],
            "image_uid": uid,
            "exam_id": [f"E-{i // 4:016x}" for i in k],
            "breast_id": [f"E-{i // 4:016x}-{'L' if i % 4 < 2 else 'R'}" for i in k],
            "variant": "canonical",
            "laterality": np.where(k % 4 < 2, "L", "R"),
            "view": np.where(k % 2 == 0, "CC", "MLO"),
            "view_native": np.where(k % 2 == 0, "CC", "MLO"),
            "patient_orientation": np.where(k % 4 < 2, "A\\R", "P\\L"),
            "image_type": np.where(k % 3 == 0, "synthetic2d", "2d"),
            "image_type_native": np.where(k % 3 == 0, "cview", "2D"),
            "spot_mag": False,
            "birads": rng.integers(0, 6, n),
            "density": rng.choice(list("ABCD"), n),
            "rows": 4096,
            "columns": 3328,
            "pixel_spacing_mm": 0.07,
            "manufacturer": rng.choice(["HOLOGIC, Inc.", "GE MEDICAL SYSTEMS", "FUJIFILM Corporation"], n),
            "model": rng.choice(["Selenia Dimensions", "Senographe Pristina", "FDR-3000AWS"], n),
            "photometric_native": "MONOCHROME2",
            "inverted": False,
            "bits_stored": 12,
            "bit_depth": 16,
            "value_offset": 0.0,
            "windows": "[[2047.0, 4095.0], [1800.0, 3500.0]]",
            "voi_lut_sequence_items": 0,
            "voi_applied": False,
            "flipped": False,
            "scale_x": 1.0,
            "scale_y": 1.0,
            "license": "EMBED Open Data Research Use Agreement",
        }
    )
    frame["birads_native"] = frame.birads.astype(str)
    frame["density_native"] = frame.density
    frame["path"] = [
        f"curated/images/embed/shard-{i % SHARDS}/{p}/{s}/{u}.png"
        for i, p, s, u in zip(k, frame.patient_id, frame.study_uid, frame.image_uid)
    ]
    return frame


def main(images: int, smoke: bool) -> None:
    n = images
    schema = table_schema("images")
    frame = image_rows(n, np.random.default_rng(7))
    with tempfile.TemporaryDirectory() as tmp:
        results, layout = Path(tmp), Layout(Path(tmp))
        scope = Scope(("embed",), SHARDS)
        shard = np.arange(n) % SHARDS
        for name in table_names():  # every other table empty: the catalog reads every declared part
            for part in layout.parts(name, scope):
                part.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table_schema(name).arrow.empty_table(), part)
        for s in range(SHARDS):
            pq.write_table(schema.to_arrow(frame[shard == s]), layout.table_part("images", "embed", s))
        parquet = sum(p.stat().st_size for p in results.rglob("*.parquet"))
        start = time.perf_counter()
        catalog = build_catalog(layout, scope)
        seconds = time.perf_counter() - start
        size = catalog.stat().st_size
    print(
        json.dumps(
            {
                "images": n,
                "smoke": smoke,
                "parquet_mb": round(parquet / 1e6, 1),
                "catalog_mb": round(size / 1e6, 1),
                "build_s": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(__doc__, {"images": 480_323}, {"images": 2000})
    main(**sizes, smoke=smoke)
