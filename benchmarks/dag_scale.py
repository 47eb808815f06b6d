"""How long Snakemake takes to plan a collection of EMBED's size: a synthetic listing of FILES files from PATIENTS
patients across the datasets (the listing job's per-shard files and manifest), then `snakemake -n`. The job
count must be datasets × shards × per-shard stages whatever the file count (nothing globs files at parse time), and
planning must stay under 60 s. The same plan is also timed on a 1,000-file listing for comparison.

    python benchmarks/dag_scale.py [FILES] [PATIENTS] [SHARDS]     # defaults 1000000 100000 200; --smoke: 2000 100 2

Last line: {"files": …, "patients": …, "jobs": …, "seconds": …, …}
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from breastcurate.layout import Layout
from breastcurate.sources import adapters
from breastcurate.tables import write_table
from sizes import parse

REPO = Path(__file__).resolve().parents[1]
PER_SHARD_STAGES = ("deidentify", "convert_mg", "convert_mr", "radiomics", "check_shard")


def synthetic_listing(work: Path, files: int, patients: int, shards: int) -> dict[str, int]:
    """The listing job's outputs for every dataset (files and patients split evenly); return files per dataset."""
    datasets = sorted(adapters())
    layout = Layout(work / "results")
    counts = {}
    for i, dataset in enumerate(datasets):
        n = files // len(datasets) + (1 if i < files % len(datasets) else 0)
        people = max(1, patients // len(datasets))
        patient = np.arange(n) % people
        shard = patient % shards
        (work / "mirror" / dataset).mkdir(parents=True)
        for table in adapters()[dataset].table_files(work / "mirror" / dataset):  # inputs of the listing job
            table.parent.mkdir(parents=True, exist_ok=True)
            table.touch()
        manifest = {"dataset": dataset, "n_shards": shards, "listed": n, "excluded": 0, "unlisted": 0, "shards": []}
        for k in range(shards):
            rows = np.flatnonzero(shard == k)
            frame = pd.DataFrame(
                {
                    "dataset": dataset,
                    "shard": k,
                    "native_patient_id": [f"{dataset}-{p}" for p in patient[rows]],
                    "path": [f"images/{p}/{r}.dcm" for p, r in zip(patient[rows], rows)],
                    "bytes": 30_000_000,
                    "mtime_ns": 0,
                }
            )
            write_table(layout.listing(dataset, k), "listing", frame)
            manifest["shards"].append({"shard": k, "files": len(rows)})
        write_table(layout.listing_rejects(dataset), "native_rejects", [])
        layout.manifest(dataset).write_text(json.dumps(manifest))
        counts[dataset] = n
    return counts


def plan(files: int, patients: int, shards: int) -> dict:
    """Time `snakemake -n` over a synthetic inventory; return counts and seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        per_dataset = synthetic_listing(work, files, patients, shards)
        (work / "key").write_text("0" * 64)
        config = yaml.safe_load((REPO / "config/config.yaml").read_text())
        config.update(
            n_shards=shards,
            deid={"secret_file": str(work / "key")},
            datasets={d: {"source": "local", "path": str(work / "mirror" / d)} for d in per_dataset},
        )
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "-n",
                "-s",
                str(REPO / "Snakefile"),
                "--directory",
                str(work),
                "--configfile",
                str(work / "config.yaml"),
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    stats = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}
    jobs = stats.pop("total")
    expected = len(per_dataset) * shards * (len(PER_SHARD_STAGES) - 1)  # one of the two convert rules each
    per_shard = sum(stats.get(stage, 0) for stage in PER_SHARD_STAGES)
    if per_shard != expected:
        raise SystemExit(f"per-shard jobs {per_shard} != datasets × shards × stages = {expected}: {stats}")
    return {
        "files": files,
        "patients": patients,
        "datasets": len(per_dataset),
        "shards": shards,
        "jobs": jobs,
        "per_shard_jobs": per_shard,
        "seconds": round(seconds, 2),
        "jobs_by_rule": stats,
    }


def main(files: int, patients: int, shards: int, smoke: bool) -> None:
    small = plan(1000, min(patients, 100), shards)
    print(f"1,000 files: {small['jobs']} jobs planned in {small['seconds']} s", file=sys.stderr)
    big = plan(files, patients, shards)
    big["same_jobs_as_1000_files"] = big["jobs"] == small["jobs"]
    big["seconds_1000_files"] = small["seconds"]
    big["target"] = "seconds < 60, jobs independent of the file count"
    big["smoke"] = smoke
    print(json.dumps(big))


if __name__ == "__main__":
    sizes, smoke = parse(
        __doc__, {"files": 1_000_000, "patients": 100_000, "shards": 200}, {"files": 2000, "patients": 100, "shards": 2}
    )
    main(**sizes, smoke=smoke)
