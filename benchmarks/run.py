"""Run the benchmarks and summarize them as one JSON document: {"machine": …, "code": …, "benchmarks": {name: …}}.

    python benchmarks/run.py             # full sizes (`make bench`); writes benchmarks/results/<date>-<git sha>.json
    python benchmarks/run.py --smoke     # a few small inputs each (part of `make test`): times nothing, fails unless
                                         # every benchmark runs and prints the fields the README quotes
    python benchmarks/run.py --only NAME # one benchmark (repeatable); a full run adds it to that day's file
    python benchmarks/run.py --smoke --pipeline-run DIR  # the pipeline's projection over a finished demo run

Each benchmark script prints one JSON line last. A full run's file names the commit it measured; the README's
Performance table cites the file for each figure. Uncommitted changes make the file `…-dirty.json`: its numbers
cannot be traced to named code.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breastcurate.atomic import write_bytes

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Benchmark:
    """One script: its arguments at full size, the target it is measured against, the fields the README quotes."""

    script: str
    args: tuple[str, ...]
    target: str
    fields: tuple[str, ...]  # dotted paths into the script's JSON line


BENCHMARKS = {
    "deid_mammo": Benchmark(
        "deid_mammo.py",
        ("8",),
        "ratio ≤ 1.5 vs pydicom read+write",
        ("files", "deid_s", "pydicom_rw_s", "deid_s_per_file", "pydicom_rw_s_per_file", "ratio"),
    ),
    "convert_mammo": Benchmark(
        "convert_mammo.py",
        ("5",),
        "ratio ≤ 1.3 vs pydicom decode + fastest PNG encoder",
        ("ours_s_per_image", "reference_s_per_image", "encoder", "bytes.ours", "bytes.opencv", "ratio"),
    ),
    "convert_mri": Benchmark(
        "convert_mri.py",
        (),
        "ratio ≤ 1.2 vs dcm2niix",
        ("seconds.breastcurate", "seconds.dcm2niix", "seconds.dicom2nifti", "seconds.simpleitk", "ratio"),
    ),
    "radiomics_roi": Benchmark(
        "radiomics_roi.py",
        ("5",),
        "seconds per DCE lesion ROI (≈30×30×20 voxels, two phases)",
        ("lesion_voxels", "seconds_per_roi", "features_per_phase"),
    ),
    "dag_scale": Benchmark(
        "dag_scale.py",
        (),
        "snakemake -n < 60 s for 10⁶ files / 10⁵ patients; jobs independent of files",
        ("jobs", "per_shard_jobs", "seconds", "seconds_1000_files", "same_jobs_as_1000_files"),
    ),
    "harmonize_embed": Benchmark(
        "harmonize_embed.py",
        (),
        "EMBED adapter table functions on 81,776 + 480,323 rows < 60 s",
        (
            "clinical_rows",
            "metadata_rows",
            "seconds.select",
            "seconds.image_labels",
            "seconds.finding_labels",
            "total_s",
        ),
    ),
    "catalog_size": Benchmark(
        "catalog_size.py",
        (),
        "catalog.duckdb with EMBED's 480,323 image rows: size in MB",
        ("images", "parquet_mb", "catalog_mb", "build_s"),
    ),
    "phi_scan": Benchmark(
        "phi_scan.py",
        (),
        "scan (shard check and standalone scan-phi) ≤ 10 % of to-png / to-nifti time per full-size file",
        (
            "mammogram.scan_s_per_file",
            "mammogram.convert_s_per_file",
            "mammogram.ratio",
            "mr_phase.scan_s_per_file",
            "mr_phase.convert_s_per_file",
            "mr_phase.ratio",
            "standalone.deidentified_dicom.scan_s_per_file",
            "standalone.deidentified_dicom.ratio",
            "standalone.png_and_sidecar.ratio",
        ),
    ),
    "data_loader": Benchmark(
        "data_loader.py",
        ("5",),
        "MammogramDataset item ≤ 1.2 × a bare PNG decode (4096×3328)",
        ("ours_s_per_image", "reference_s_per_image", "ratio", "embed_epoch_core_hours"),
    ),
    "pipeline": Benchmark(
        "pipeline.py",
        ("1",),
        "all six open corpora ≤ 6 h on one 32-core node; peak RSS ≤ mem_mb",
        ("projected_hours_32_cores.total", "cpu_model", "peak_rss_mb", "met"),
    ),
}


def missing_fields(result: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """The dotted `fields` that `result` lacks (or holds as null)."""
    missing = []
    for field in fields:
        value: Any = result
        for key in field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            missing.append(field)
    return missing


def run_one(
    script: Path, args: list[str], fields: tuple[str, ...], smoke: bool, extra: list[str] | None = None
) -> dict[str, Any]:
    """Run one benchmark script (with `extra` arguments); its JSON line, or {"error": …} saying why there is none (or
    what it lacks)."""
    argv = [sys.executable, str(script), *(["--smoke"] if smoke else args), *(extra or [])]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    run = {"command": " ".join(["python", os.path.relpath(script, REPO), *argv[2:]])}
    run |= {"wall_s": round(time.perf_counter() - start, 1), "load_average": [load, os.getloadavg()[0]]}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return run | {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-1500:]}"}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return run | {"error": f"last line is not JSON: {lines[-1][:300]!r}"}
    if not isinstance(result, dict):
        return run | {"error": f"last line is not a JSON object: {lines[-1][:300]!r}"}
    problems = missing_fields(result, fields)
    if result.get("smoke") is not smoke:
        problems.append(f"smoke is {result.get('smoke')!r}, not {smoke}")
    return run | result | ({"error": "missing: " + ", ".join(problems)} if problems else {})


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the checkout differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def results_path(code: dict[str, Any], day: datetime.date) -> Path:
    """benchmarks/results/<date>-<short sha>[-dirty].json"""
    return RESULTS / f"{day.isoformat()}-{code['commit'][:12]}{'-dirty' if code['dirty'] else ''}.json"


def record(path: Path, machine: dict[str, Any], code: dict[str, Any], name: str, result: dict[str, Any]) -> None:
    """Add one benchmark's result to the results file of this code and day (other runs' benchmarks stay), under a
    lock: several `--only` runs may share the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        summary = json.loads(path.read_text()) if path.exists() else {"machine": machine, "code": code}
        summary |= {"smoke": False, "benchmarks": summary.get("benchmarks", {}) | {name: result}}
        write_bytes(path, (json.dumps(summary, indent=1, ensure_ascii=False) + "\n").encode())
    finally:
        os.close(folder)  # releases the lock
    print(f"{name}: recorded in {os.path.relpath(path, REPO)}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few small inputs each: check they run, time nothing")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this one (repeatable)")
    parser.add_argument(
        "--pipeline-run",
        type=Path,
        help="with --smoke: project a finished demo run (its folder: config.yaml, results/, snakemake.log) instead of "
        "making one (the tests pass their own demo run)",
    )
    args = parser.parse_args()
    if args.pipeline_run and not args.smoke:
        parser.error("--pipeline-run is for --smoke: a full run measures its own demo at real sizes")
    chosen = args.only or list(BENCHMARKS)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_before": os.getloadavg()[0],
    }
    code = code_version()
    path = results_path(code, datetime.datetime.now(datetime.UTC).date())
    results = {}
    for name in chosen:
        bench = BENCHMARKS[name]
        extra = ["--from-run", str(args.pipeline_run)] if name == "pipeline" and args.pipeline_run else []
        results[name] = {"target": bench.target} | run_one(
            HERE / bench.script, list(bench.args), bench.fields, args.smoke, extra
        )
        print(f"{name}: {results[name].get('error') or 'ok'} ({results[name]['wall_s']} s)", file=sys.stderr)
        if not args.smoke:  # after each benchmark: a long run cut short keeps what it measured
            record(path, machine, code, name, results[name])
    summary = {"machine": machine, "code": code, "smoke": args.smoke, "benchmarks": results}
    print(json.dumps(summary, ensure_ascii=False))
    failed = [name for name, result in results.items() if "error" in result]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
