"""Full-field synthetic mammograms (4096×3328, 12 bits stored; smaller for smoke runs) written as DICOM, for the MG
benchmarks."""

from __future__ import annotations

from pathlib import Path

from breastcurate.demo import dicomgen as g
from breastcurate.demo.identity import accession, make_identity, rng_for

FULL_FIELD = (4096, 3328)
SMOKE = (256, 208)


def make_files(folder: Path, n: int, seed: int, tag: str, shape: tuple[int, int] = FULL_FIELD) -> list[Path]:
    """`n` files `<k>.dcm` of `shape` (rows, columns) in `folder`; file k depends only on (seed, tag, k, shape)."""
    rows, cols = shape
    vendor = g.MammoVendor("HOLOGIC, Inc.", "Selenia Dimensions", rows=rows, cols=cols, spacing_mm=0.07)
    paths = []
    for k in range(n):
        rng = rng_for(seed, tag, k)
        who = make_identity(rng)
        ctx = g.StudyContext(
            who,
            who.mrn,
            g.uid("bench", k),
            who.first_study,
            "101010.000000",
            accession(rng),
            "MAMMO SCREENING BILATERAL",
            vendor.manufacturer,
            vendor.model,
            "MAMMO-RM1",
        )
        ds, _ = g.mammogram(
            ctx,
            rng,
            vendor,
            g.uid("bench", k, "s"),
            g.uid("bench", k, "i"),
            1,
            1,
            "L",
            "CC",
            True,
            ["ORIGINAL", "PRIMARY"],
            "L CC",
        )
        paths.append(folder / f"{k}.dcm")
        g.save(ds, paths[-1])
    return paths
