"""The SLURM profile on a real single-node SLURM (tests/slurm.py starts and stops it): the demo pipeline (of one
dataset, to keep the suite short), every job an sbatch, gives the same Parquet bytes as the local demo run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import shared
from slurm import DATASETS, build_slurm_run

pytestmark = [pytest.mark.system, pytest.mark.e2e]  # a single-node SLURM cluster


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory) -> dict:
    """The SLURM run (started in the background when the session began; waited for here)."""
    return shared(tmp_path_factory, "slurm", build_slurm_run)[1]


def test_slurm_run_equals_the_local_run(slurm_run, demo_run):
    log = slurm_run["log"]
    assert slurm_run["returncode"] == 0, log[-6000:]
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    completed = {re.search(r"JobId=(\d+)", j).group(1) for j in slurm_run["jobs"] if "JobState=COMPLETED" in j}
    assert len(submitted) >= 14 and submitted <= completed  # every job ran through SLURM and completed

    local = demo_run[0] / "results/curated"
    ours = Path(slurm_run["work"]) / "results/curated"
    compared = 0
    for dataset in DATASETS:
        mine = sorted(p.relative_to(ours) for p in ours.rglob(f"dataset={dataset}/*.parquet"))
        theirs = sorted(p.relative_to(local) for p in local.rglob(f"dataset={dataset}/*.parquet"))
        assert mine == theirs and mine
        for rel in mine:
            assert (ours / rel).read_bytes() == (local / rel).read_bytes(), rel
            compared += 1
    assert compared >= 8
    assert (Path(slurm_run["work"]) / "results/curated/checks/checks.json").exists()
