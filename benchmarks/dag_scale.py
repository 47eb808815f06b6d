"""How long Snakemake takes to plan a collection of EMBED's size: a synthetic inventory of FILES files from PATIENTS
patients across the five datasets (restricted inventory shards as the inventory job writes them), then `snakemake -n`.
The job count must be datasets × shards × stages whatever the file count (nothing globs files at parse time), and
planning must stay under 60 s. The same plan is also timed on a 1,000-file inventory for comparison.

    python benchmarks/dag_scale.py [FILES] [PATIENTS] [SHARDS]     # defaults 1000000 100000 200

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
import pyarrow as pa
import yaml

from breastcurate.atomic import parquet_bytes
from breastcurate.inventory import INVENTORY_SCHEMA, REJECTS_SCHEMA
from breastcurate.sources import adapters

REPO = Path(__file__).resolve().parents[1]
PER_SHARD_STAGES = ("deidentify", "convert", "radiomics")


def synthetic_inventory(work: Path, files: int, patients: int, shards: int) -> dict[str, int]:
    """Inventory shards and manifests of every dataset (files and patients split evenly); return files per dataset."""
    datasets = sorted(adapters())
    counts = {}
    for i, dataset in enumerate(datasets):
        n = files // len(datasets) + (1 if i < files % len(datasets) else 0)
        people = max(1, patients // len(datasets))
        patient = np.arange(n) % people
        shard = patient % shards
        out = work / "results/restricted/inventory" / dataset
        out.mkdir(parents=True)
        manifest = {"dataset": dataset, "n_shards": shards, "files": n, "rejects": 0, "shards": []}
        for k in range(shards):
            rows = np.flatnonzero(shard == k)
            columns = {f.name: pa.nulls(len(rows), f.type) for f in INVENTORY_SCHEMA}
            columns.update(dataset=pa.array([dataset] * len(rows)), shard=pa.array(np.full(len(rows), k, np.int32)),
                           native_patient_id=pa.array([f"{dataset}-{p}" for p in patient[rows]]),
                           path=pa.array([f"images/{p}/{r}.dcm" for p, r in zip(patient[rows], rows)]),
                           bytes=pa.array(np.full(len(rows), 30_000_000, np.int64)))
            table = pa.table([columns[f.name] for f in INVENTORY_SCHEMA], schema=INVENTORY_SCHEMA)
            (out / f"shard-{k}.parquet").write_bytes(parquet_bytes(table))
            manifest["shards"].append({"shard": k, "files": len(rows)})
        (out / "rejects.parquet").write_bytes(parquet_bytes(REJECTS_SCHEMA.empty_table()))
        (out / "manifest.json").write_text(json.dumps(manifest))
        (work / "mirror" / dataset).mkdir(parents=True)
        counts[dataset] = n
    return counts


def plan(files: int, patients: int, shards: int) -> dict:
    """Time `snakemake -n` over a synthetic inventory; return counts and seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        per_dataset = synthetic_inventory(work, files, patients, shards)
        (work / "key").write_text("0" * 64)
        config = yaml.safe_load((REPO / "config/config.yaml").read_text())
        config.update(n_shards=shards, deid={"secret_file": str(work / "key")},
                      datasets={d: {"source": "local", "path": str(work / "mirror" / d)} for d in per_dataset})
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(REPO / "Snakefile"),
                               "--directory", str(work), "--configfile", str(work / "config.yaml")],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    stats = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}
    jobs = stats.pop("total")
    expected = len(per_dataset) * shards * len(PER_SHARD_STAGES)
    per_shard = sum(stats.get(stage, 0) for stage in PER_SHARD_STAGES)
    if per_shard != expected:
        raise SystemExit(f"per-shard jobs {per_shard} != datasets × shards × stages = {expected}: {stats}")
    return {"files": files, "patients": patients, "datasets": len(per_dataset), "shards": shards, "jobs": jobs,
            "per_shard_jobs": per_shard, "seconds": round(seconds, 2), "jobs_by_rule": stats}


def main() -> None:
    files, patients, shards = (int(a) for a in (sys.argv[1:] + ["1000000", "100000", "200"][len(sys.argv) - 1:]))
    small = plan(1000, min(patients, 100), shards)
    print(f"1,000 files: {small['jobs']} jobs planned in {small['seconds']} s", file=sys.stderr)
    big = plan(files, patients, shards)
    big["same_jobs_as_1000_files"] = big["jobs"] == small["jobs"]
    big["seconds_1000_files"] = small["seconds"]
    big["target"] = "seconds < 60, jobs independent of the file count"
    print(json.dumps(big))


if __name__ == "__main__":
    main()
