"""End to end: the Snakemake workflow on a tiny demo in a temporary folder."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from conftest import snakemake, write_config

DATASETS = ["duke", "embed", "ispy1", "ispy2", "vindr_mammo"]


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of `snakemake -n`."""
    counts = {}
    for line in dry_run_output.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A full run of the default workflow with 2 patients per dataset and 3 shards."""
    work = tmp_path_factory.mktemp("run")
    write_config(work, n_shards=3, demo={"patients": 2, "seed": 11})
    plan = snakemake(work, "-n")
    run = snakemake(work, "--cores", "2")
    return work, plan.stdout + plan.stderr, run


def test_dry_run_plans_datasets_times_shards(demo_run):
    _, plan, _ = demo_run
    counts = job_counts(plan)
    assert counts["demo_data"] == len(DATASETS)
    assert counts["inventory"] == len(DATASETS)
    assert counts["deidentify"] == len(DATASETS) * 3  # datasets × shards


def test_deidentified_shards(demo_run):
    work, _, _ = demo_run
    for dataset in DATASETS:
        for k in range(3):
            shard = work / f"results/restricted/deid/{dataset}/shard-{k}"
            inventory = pd.read_parquet(work / f"results/restricted/inventory/{dataset}/shard-{k}.parquet")
            written = list((shard / "dicom").rglob("*.dcm"))
            quarantined = pd.read_parquet(shard / "quarantine.parquet")
            assert len(written) + len(quarantined) == len(inventory)
            assert (shard / "linkage.parquet").stat().st_mode & 0o077 == 0
    log = (work / "results/restricted/logs/deidentify/duke-0.log").read_text()
    assert "public demo key" in log


def test_real_data_without_key_stops(tmp_path, demo_run):
    work, _, _ = demo_run
    write_config(tmp_path, datasets={"duke": {"source": "local", "path": str(work / "results/restricted/raw/duke")}})
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    assert "de-identification needs a key" in proc.stdout + proc.stderr


def test_run_builds_sharded_inventories(demo_run):
    work, _, _ = demo_run
    for dataset in DATASETS:
        manifest = json.loads((work / "results/restricted/inventory" / dataset / "manifest.json").read_text())
        assert manifest["n_shards"] == 3 and manifest["rejects"] == 0
        frames = [pd.read_parquet(work / f"results/restricted/inventory/{dataset}/shard-{k}.parquet")
                  for k in range(3)]
        assert sum(len(f) for f in frames) == manifest["files"] > 0
        assert pd.concat(frames)["native_patient_id"].nunique() == 2


def test_rerun_has_nothing_to_do(demo_run):
    work, _, _ = demo_run
    again = snakemake(work, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_restricted_files_are_private(demo_run):
    work, _, _ = demo_run
    for path in (work / "results/restricted/inventory").rglob("*.parquet"):
        assert path.stat().st_mode & 0o077 == 0, path
