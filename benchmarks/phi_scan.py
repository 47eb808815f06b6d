"""The PHI scan's cost per file against conversion's, at real sizes, in one run: full-field mammograms
(4096×3328, `to-png`) and DCE phases (512×512×160, `to-nifti`), each scanned for 100 PHI values the way the
pipeline's shard check scans them. Target: the scan costs at most 10 % of conversion per file.

    python benchmarks/phi_scan.py [MAMMOGRAMS] [PHASES]     # defaults 4 2

Last line: {"mammogram": {...}, "mr_phase": {...}, "target": ...}
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from breastcurate.checks import phi_scan
from breastcurate.convert.run import ConvertOptions, to_nifti, to_png
from breastcurate.deid.phi_terms import TermLog
from convert_mri import make_study
from mammograms import make_files

TERMS = 100


def terms_for(files: list[Path]) -> dict[str, str]:
    """The raw headers' PHI values, topped up with other names to TERMS values (a shard's patients)."""
    log = TermLog()
    for path in files:
        log.add_file(path)
    terms = {row["term"]: row["kind"] for row in log.rows()}
    k = 0
    while len(terms) < TERMS:
        terms[f"Surname{k:03d}"] = "person name"
        k += 1
    return dict(list(terms.items())[:TERMS])


def per_file(seconds: float, n: int) -> float:
    return round(seconds / n, 4)


def measure(convert, inputs: list[Path], out: Path, terms: dict[str, str], count) -> dict:
    start = time.perf_counter()
    convert()
    converted = time.perf_counter() - start
    files = [p for p in out.rglob("*") if p.is_file()]
    n = count(files)
    start = time.perf_counter()
    hits, scanned = phi_scan.scan([out], out, terms)  # the inputs were not de-identified: sidecars hold their UIDs
    scan = time.perf_counter() - start
    return {
        "files": n,
        "paths_scanned": scanned,
        "hits": len(hits),
        "convert_s_per_file": per_file(converted, n),
        "scan_s_per_file": per_file(scan, n),
        "ratio": round(scan / converted, 4),
    }


def main(mammograms: int = 4, phases: int = 2) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mg = make_files(tmp / "mg", mammograms, 3, "bench-phi")
        options = ConvertOptions.from_config({"mammo_variants": []}, threads=1)
        mammo = measure(
            lambda: to_png(mg, tmp / "png", options),
            mg,
            tmp / "png",
            terms_for(mg),
            lambda files: sum(p.suffix == ".png" for p in files),
        )
        series = make_study(tmp / "mr", 512, 160, phases)
        mr_files = sorted(p for s in series for p in s.iterdir())
        mr = measure(
            lambda: to_nifti(tmp / "mr", tmp / "nii", ConvertOptions.from_config({}, threads=1)),
            mr_files,
            tmp / "nii",
            terms_for(mr_files[:1]),
            lambda files: sum(p.name.endswith(".nii.gz") for p in files),
        )
    print(
        json.dumps(
            {
                "mammogram": mammo,
                "mr_phase": mr,
                "terms": TERMS,
                "target": "scan ≤ 10 % of conversion per file (ratio ≤ 0.10)",
                "met": mammo["ratio"] <= 0.10 and mr["ratio"] <= 0.10,
            }
        )
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
