"""The PHI scan's cost per file against conversion's, at real sizes, in one run: full-field mammograms
(4096×3328, `to-png`) and DCE phases (512×512×160, `to-nifti`), each scanned for 100 PHI values the way the
pipeline's shard check scans them. Also the standalone `breastcurate scan-phi --raw RAW CURATED`, which collects the
values from the raw headers itself (`terms_from_raw`, then `scan`), on the mammograms de-identified by
`breastcurate deidentify` and on their PNGs, per file beyond the first. Target: every scan costs at most 10 % of
conversion per file.

    python benchmarks/phi_scan.py [MAMMOGRAMS] [PHASES]     # defaults 4 2; --smoke: 2 small mammograms, 1 small phase

Last line: {"mammogram": {...}, "mr_phase": {...}, "standalone": {...}, "target": ...}
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from breastcurate.checks import phi_scan
from breastcurate.convert.run import ConvertOptions, to_nifti, to_png
from breastcurate.deid.keys import DEMO_KEY
from breastcurate.deid.phi_terms import TermLog
from breastcurate.deid.profile import options_from_config
from breastcurate.deid.run import deidentify_folder
from convert_mri import make_study
from mammograms import FULL_FIELD, SMOKE, make_files
from sizes import parse

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


def standalone(raw: list[Path], curated: list[list[Path]], tmp: Path, convert_s_per_file: float) -> dict:
    """`scan-phi --raw` as the command runs it after its imports, on a folder of one raw file and its curated files,
    and on all of them: the cost per file beyond the first, against conversion's."""
    seconds = {}
    for label, count in (("one", 1), ("all", len(raw))):
        for kind, files in (("raw", raw[:count]), ("curated", [p for outputs in curated[:count] for p in outputs])):
            (tmp / label / kind).mkdir(parents=True)
            for path in files:
                shutil.copy(path, tmp / label / kind / path.name)
        start = time.perf_counter()
        terms = phi_scan.terms_from_raw([tmp / label / "raw"])
        hits, _ = phi_scan.scan([tmp / label / "curated"], tmp / label / "curated", terms)
        seconds[label] = time.perf_counter() - start
    per_file = (seconds["all"] - seconds["one"]) / (len(raw) - 1)
    return {
        "files": len(raw),
        "terms": len(terms),
        "hits": len(hits),
        "scan_s_one_file": round(seconds["one"], 4),
        "scan_s_per_file": round(per_file, 4),
        "ratio": round(per_file / convert_s_per_file, 4),
    }


def main(mammograms: int, phases: int, smoke: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mg = make_files(tmp / "mg", mammograms, 3, "bench-phi", SMOKE if smoke else FULL_FIELD)
        options = ConvertOptions.from_config({"mammo_variants": []}, threads=1)
        mammo = measure(
            lambda: to_png(mg, tmp / "png", options),
            mg,
            tmp / "png",
            terms_for(mg),
            lambda files: sum(p.suffix == ".png" for p in files),
        )
        deidentify_folder(tmp / "mg", tmp / "deid", tmp / "restricted", DEMO_KEY, options_from_config(None))
        deidentified = sorted((tmp / "deid").rglob("*.dcm"), key=lambda p: p.stat().st_mtime_ns)
        pngs = [[tmp / "png" / f"{p.stem}{suffix}" for suffix in (".png", ".json")] for p in mg]
        convert_s = mammo["convert_s_per_file"]
        alone = {
            "deidentified_dicom": standalone(mg, [[p] for p in deidentified], tmp / "alone-dicom", convert_s),
            "png_and_sidecar": standalone(mg, pngs, tmp / "alone-png", convert_s),
        }
        size, slices = (64, 8) if smoke else (512, 160)
        series = make_study(tmp / "mr", size, slices, phases)
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
                "standalone": alone,
                "smoke": smoke,
                "terms": TERMS,
                "target": "scan ≤ 10 % of conversion per file (ratio ≤ 0.10)",
                "met": max(mammo["ratio"], mr["ratio"], *(a["ratio"] for a in alone.values())) <= 0.10,
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(__doc__, {"mammograms": 4, "phases": 2}, {"mammograms": 2, "phases": 1})
    main(**sizes, smoke=smoke)
