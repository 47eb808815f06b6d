"""The whole pipeline at real image sizes, projected to the six open corpora on one 32-core node.

Runs the real Snakefile on a demo at real sizes (`demo.full_size`: 4096×3328 mammograms; 512×512 MRI with each
collection's median slices per DCE phase) with PATIENTS patients per dataset, reads Snakemake's benchmark records
(CPU seconds and peak memory of every job), turns them into CPU seconds per unit of work per dataset and stage
(per file read, per mammogram or DCE slice converted, per region of interest measured), and multiplies by the real
counts: VinDr-Mammo 20,000 images and EMBED's open 480,323 (reference/datasets.md); for CBIS-DDSM and the MRI
collections the files, full mammograms or DCE slices, and ROIs that IDC's pinned index lists (I-SPY2 with
ACRIN-6698). ROIs are upper bounds: every row of VinDr's finding_annotations.csv (20,486, "No Finding" rows
included), all ~40,000 lesions the EMBED paper counts in the full (not only the open) data, one lesion per MRI
study, CBIS-DDSM's ROI folders. The projection assumes the node's 32 cores stay busy (shards are many and
independent) and that storage keeps up; downloading is not included.

    python benchmarks/pipeline.py [PATIENTS]     # default 1 (two shards: one of each dataset stays empty)

`--smoke --from-run DIR` projects a finished demo run instead (DIR: its config.yaml, results/ and the run's output in
snakemake.log; the tests pass their shared demo run). `--smoke` runs the same on the demo's small images (`demo.full_size: false`): it proves the run and the projection
still work; its hours mean nothing.

Last line: {"projected_hours_32_cores": {dataset: h, "total": h}, "peak_rss_mb": {stage: {...}}, ...}
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml
from breastcurate import idc
from breastcurate.layout import Layout
from breastcurate.roles import assign_all
from breastcurate.sources import adapters, get_adapter
from sizes import parse

REPO = Path(__file__).resolve().parents[1]
CORES = 32
TARGET_HOURS = 6.0
MG_IMAGES = {"vindr_mammo": 20_000, "embed": 480_323}
MG_ROIS = {"vindr_mammo": 20_486, "embed": 40_000}  # upper bounds (see the module docstring)
#: Shards of the real corpora, sized as docs/cluster.md advises (1–5 GB of DICOM each): every per-shard job pays the
#: fixed cost of a job (interpreter, imports, reading its tables) once.
REAL_SHARDS = {"vindr_mammo": 200, "embed": 4000, "cbis_ddsm": 40, "duke": 150, "ispy1": 40, "ispy2": 600}
#: Per-shard stages and their unit of work: files read, images or DCE slices converted, regions of interest measured.
PER_SHARD = {"deidentify": "file", "convert": "converted", "radiomics": "roi", "check_shard": "file"}
PER_DATASET = ("list_files", "merge_phi_terms", "harmonize", "qc")  # table work: their cost at scale is measured
GLOBAL = ("link_people", "splits", "catalog", "scan_global", "checks", "qc_summary")  # by harmonize_embed, dag_scale


def real_counts() -> dict[str, dict[str, int]]:
    """Files, converted units and ROIs of the real corpora (CBIS-DDSM and the MRI ones from IDC's pinned index)."""
    counts = {d: {"file": n, "converted": n, "roi": MG_ROIS[d]} for d, n in MG_IMAGES.items()}
    cbis = idc.series_infos("cbis_ddsm")
    full = [s for s in cbis if s.description in ("full mammogram images", "")]
    counts["cbis_ddsm"] = {
        "file": sum(s.instances for s in cbis),
        "converted": sum(s.instances for s in full),
        "roi": (sum(s.instances for s in cbis) - sum(s.instances for s in full)) // 2,  # a crop and a mask each
    }
    for dataset in ("duke", "ispy1", "ispy2"):
        adapter = get_adapter(dataset)
        total = {"file": 0, "converted": 0, "roi": 0}
        for collection in adapter.idc_collections:
            series = idc.series_infos(collection)
            roles = assign_all(series, adapter.role_rules)
            total["file"] += sum(s.instances for s in series)
            total["converted"] += sum(s.instances for s in series if roles[s.series_uid].role == "dce")
            total["roi"] += len({s.study_uid for s in series})
        counts[dataset] = total
    return counts


def shard_units(results: Path, n_shards: int) -> dict[tuple[str, int], dict[str, int]]:
    """The units of work of every demo shard."""
    layout, out = Layout(results), {}
    for dataset in sorted(adapters()):
        manifest = json.loads(layout.manifest(dataset).read_text())
        for k in range(n_shards):
            images = pd.read_parquet(layout.table_part("images", dataset, k))
            series = pd.read_parquet(layout.table_part("series", dataset, k))
            findings = pd.read_parquet(layout.table_part("findings", dataset, k))
            if get_adapter(dataset).modality == "MG":
                converted = int((images.variant == "canonical").sum()) if len(images) else 0
                rois = int((findings.variant == "canonical").sum()) if len(findings) else 0
            else:
                converted = int(series[series.role == "dce"].n_instances.sum()) if len(series) else 0
                rois = int(findings.mask_path.notna().sum()) if len(findings) else 0
            out[(dataset, k)] = {"file": manifest["shards"][k]["files"], "converted": converted, "roi": rois}
    return out


def benchmark_records(results: Path) -> list[dict]:
    """Every job's record: stage, dataset and shard (when it has them), CPU seconds, peak RSS (MB)."""
    rows = []
    for path in sorted((Layout(results).restricted / "benchmarks").glob("*/*.tsv")):
        with open(path) as handle:
            record = next(csv.DictReader(handle, delimiter="\t"))
        dataset = next(
            (d for d in sorted(adapters(), key=len, reverse=True) if path.stem == d or path.stem.startswith(f"{d}-")),
            None,
        )
        shard = int(path.stem.rsplit("-", 1)[1]) if dataset and path.stem != dataset else None
        rows.append(
            {
                "stage": path.parent.name,
                "dataset": dataset,
                "shard": shard,
                "cpu_s": float(record["cpu_time"]),
                "max_rss_mb": float(record["max_rss"] or 0),
            }
        )
    return rows


def declared_memory(log: str) -> dict[str, int]:
    """mem_mb each rule asks for, from the run's job listing."""
    found = {}
    for block in re.split(r"\n\[[^\]]*\]\n", log):
        rule = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        memory = re.search(r"mem_mb=(\d+)", block)
        if rule and memory:
            found[rule.group(1)] = int(memory.group(1))
    return found


def project(records: list[dict], units: dict, real: dict) -> tuple[dict, dict]:
    """Per dataset and per-shard stage: the fixed CPU cost of a job (its empty shard's, else the stage's cheapest
    job) and the marginal CPU seconds per unit; and the projected hours on CORES cores."""
    model: dict = defaultdict(dict)
    hours: dict[str, float] = {}
    for dataset in sorted(adapters()):
        total = 0.0
        for stage, unit in PER_SHARD.items():
            jobs = [r for r in records if r["stage"] == stage and r["dataset"] == dataset]
            stage_jobs = [r for r in records if r["stage"] == stage]
            empty = [r["cpu_s"] for r in jobs if units[(dataset, r["shard"])][unit] == 0]
            fixed = min(empty) if empty else min(r["cpu_s"] for r in stage_jobs)
            work = sum(units[(dataset, r["shard"])][unit] for r in jobs)
            marginal = max(0.0, sum(r["cpu_s"] for r in jobs) - fixed * len(jobs)) / max(work, 1)
            model[dataset][stage] = {"fixed_s": round(fixed, 3), f"s_per_{unit}": round(marginal, 5)}
            total += marginal * real[dataset][unit] + fixed * REAL_SHARDS[dataset]
        total += sum(r["cpu_s"] for r in records if r["stage"] in PER_DATASET and r["dataset"] == dataset)
        hours[dataset] = round(total / CORES / 3600, 3)
    hours["global"] = round(sum(r["cpu_s"] for r in records if r["stage"] in GLOBAL) / CORES / 3600, 3)
    hours["total"] = round(sum(hours.values()), 3)
    return dict(model), hours


def _run(work: Path, patients: int, smoke: bool, shards: int) -> tuple[float, str]:
    """The real Snakefile on a demo of `patients` per dataset in `work`: wall seconds and its output."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(n_shards=shards, demo={"patients": patients, "seed": 11, "full_size": not smoke})
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(work / "config.yaml"),
            "--cores",
            str(os.cpu_count() or 1),
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return wall, proc.stdout + proc.stderr


def main(patients: int, smoke: bool, from_run: Path | None = None) -> None:
    """Run the demo (or, with `from_run`, read a finished run: a folder holding its config.yaml, results/ and the
    run's output in snakemake.log) and project it."""
    with tempfile.TemporaryDirectory() as tmp:
        if from_run:
            work, wall = from_run, None
            shards = int(yaml.safe_load((work / "config.yaml").read_text())["n_shards"])
            log = (work / "snakemake.log").read_text()
            patients = int(yaml.safe_load((work / "config.yaml").read_text())["demo"]["patients"])
        else:
            # with one patient per dataset, one shard of each dataset is empty: it shows a job's fixed cost
            work, shards = Path(tmp), 2
            wall, log = _run(work, patients, smoke, shards)
        records = benchmark_records(work / "results")
        units = shard_units(work / "results", shards)
        memory = declared_memory(log)
    real = real_counts()
    model, hours = project(records, units, real)
    peaks: dict[str, float] = defaultdict(float)
    for r in records:
        rule = r["stage"]
        if rule == "convert":
            rule = "convert_mg" if get_adapter(r["dataset"]).modality == "MG" else "convert_mr"
        peaks[rule] = max(peaks[rule], r["max_rss_mb"])
    peak_rss = {
        rule: {
            "peak_rss_mb": round(mb, 1),
            "mem_mb": memory.get(rule),
            "fits": rule == "demo_data" or (memory.get(rule) is not None and mb <= memory[rule]),
        }
        for rule, mb in sorted(peaks.items())
    }
    print(
        json.dumps(
            {
                "machine_cores": os.cpu_count(),
                "smoke": smoke,
                "demo_patients_per_dataset": patients,
                "demo_wall_s": None if wall is None else round(wall, 1),
                "real_units": real,
                "real_shards": REAL_SHARDS,
                "cpu_model": model,
                "projected_hours_32_cores": hours,
                "peak_rss_mb": peak_rss,
                "target": f"all six ≤ {TARGET_HOURS} h on {CORES} cores; every stage's peak RSS ≤ its mem_mb "
                "(the demo generator itself is not a stage of a real run)",
                "met": hours["total"] <= TARGET_HOURS and all(p["fits"] for p in peak_rss.values()),
            }
        )
    )


if __name__ == "__main__":
    from_run = None
    if "--from-run" in sys.argv:  # a smoke check of the projection over a run the caller already made
        at = sys.argv.index("--from-run")
        from_run = Path(sys.argv[at + 1])
        del sys.argv[at : at + 2]
    sizes, smoke = parse(__doc__, {"patients": 1}, {"patients": 1})
    main(**sizes, smoke=smoke, from_run=from_run)
