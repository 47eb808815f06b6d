"""Faults on a small private run (Duke only, the demo run's patients and shards): a job killed with SIGKILL while
other shards go on (--keep-going), the whole run killed mid-shard and resumed, and the gates (PHI scan, data checks)
that stop a run. Every Parquet file must end byte-identical to the uninterrupted demo run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, snakemake, write_config

DATASET = "duke"


def _processes(work: Path, needles: tuple[str, ...]) -> list[int]:
    """PIDs of `python -m breastcurate` processes running in `work` whose command line contains every needle."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        line = " ".join(argv)
        if argv[1:3] == ["-m", "breastcurate"] and cwd == str(work) and all(n in line for n in needles):
            found.append(int(proc.name))
    return found


def _start(work: Path, log: str, *args: str) -> subprocess.Popen:
    """Snakemake in its own session (so the whole run can be killed), its output in `work/log`."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", "2", *args]
    with open(work / log, "w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(work: Path, needles: tuple[str, ...], proc: subprocess.Popen, timeout: float = 300) -> int:
    """The PID of the first process of the run in `work` matching `needles` while `proc` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        pids = _processes(work, needles)
        if pids:
            return pids[0]
        time.sleep(0.05)
    raise AssertionError(f"no process matching {needles} appeared (exit {proc.poll()})")


def parquet_files(work: Path) -> dict[str, bytes]:
    root = work / "results/curated"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob(f"dataset={DATASET}/*.parquet"))}


@pytest.fixture(scope="module")
def faulted_run(tmp_path_factory) -> dict:
    """Kill one convert job (SIGKILL) under --keep-going, then kill the whole rerun in the middle of a shard job,
    then unlock and resume; record what each step left behind."""
    work = tmp_path_factory.mktemp("faults")
    write_config(work, n_shards=3, demo={"patients": 2, "seed": 11}, datasets={DATASET: {"source": "demo"}})
    seen: dict = {"work": work}

    first = _start(work, "first.log", "--keep-going")
    victim = _wait_for(work, ("convert-shard", f" {DATASET} ", "/shard-1 "), first)
    time.sleep(0.8)  # mid-job: the shard takes a few seconds
    os.kill(victim, signal.SIGKILL)
    seen["first_rc"] = first.wait(timeout=600)
    seen["first_out"] = (work / "first.log").read_text()
    convert = work / f"results/restricted/convert/{DATASET}"
    seen["after_first"] = {k: (convert / f"shard-{k}").exists() for k in range(3)}
    seen["people_after_first"] = (work / "results/restricted/people.parquet").exists()

    second = _start(work, "second.log")
    _wait_for(work, ("radiomics-shard", f" {DATASET} ", "--shard 1 "), second)
    os.killpg(second.pid, signal.SIGKILL)  # the whole run: Snakemake and its jobs
    second.wait()
    seen["second_rc"] = second.returncode
    seen["locked"] = snakemake(work, "--cores", "2", check=False)
    snakemake(work, "--unlock")
    seen["third"] = snakemake(work, "--cores", "2", "--rerun-incomplete")
    return seen


def test_keep_going_finishes_other_shards_and_leaves_no_partial_output(faulted_run):
    assert faulted_run["first_rc"] != 0
    assert faulted_run["after_first"] == {0: True, 1: False, 2: True}  # the killed job left nothing behind
    assert "Error in rule convert" in faulted_run["first_out"]
    assert faulted_run["people_after_first"]  # jobs independent of the failed shard also ran


def test_killed_run_resumes_to_byte_identical_parquet(faulted_run, demo_run):
    assert faulted_run["second_rc"] != 0
    locked = faulted_run["locked"]
    assert locked.returncode != 0 and "unlock" in locked.stdout + locked.stderr
    work = faulted_run["work"]
    ours, theirs = parquet_files(work), parquet_files(demo_run[0])
    assert len(ours) >= 8 and ours.keys() == theirs.keys()
    assert [name for name in ours if ours[name] != theirs[name]] == []
    leftovers = [p for p in (work / "results").rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert leftovers == []
    assert "Nothing to be done" in snakemake(work, "-n").stdout


def test_rerun_writes_byte_identical_parquet(faulted_run):
    work = faulted_run["work"]
    before = parquet_files(work)
    harmonized = [name for name in before if name.startswith("tables/") and "/part-" in name]
    assert len(harmonized) >= 8
    for name in harmonized:  # every table part the harmonize job writes
        (work / "results/curated" / name).unlink()
    snakemake(work, "--cores", "2", "--forcerun", "harmonize", "--until", "harmonize")
    assert parquet_files(work) == before


def test_phi_scan_gates_the_run(faulted_run):
    work = faulted_run["work"]
    summary = json.loads((work / "results/curated/checks/phi_scan.json").read_text())
    assert summary["hits"] == 0 and summary["phi_values_searched"] > 50
    raw = next((work / f"results/restricted/raw/{DATASET}").rglob("*.dcm"))
    import pydicom

    name = str(pydicom.dcmread(raw, stop_before_pixels=True).PatientName)
    planted = work / f"results/curated/volumes/{DATASET}/leak.json"
    planted.write_text(json.dumps({"note": name.replace("^", " ")}))
    try:
        proc = snakemake(work, "--cores", "2", "--forcerun", "phi_scan", check=False)
        assert proc.returncode != 0
        assert not (work / "results/curated/checks/phi_scan.json").exists()
        log = (work / "results/restricted/logs/checks/phi_scan.log").read_text()
        assert "leak.json" in log and name.split("^")[0] not in log  # reported, with the value masked
    finally:
        planted.unlink()
    snakemake(work, "--cores", "2", "--until", "phi_scan")
    assert (work / "results/curated/checks/phi_scan.json").exists()  # clean again: the scan passes


def test_failed_check_stops_the_run(faulted_run):
    work = faulted_run["work"]
    part = next(p for p in sorted((work / f"results/curated/tables/clinical/dataset={DATASET}").glob("*.parquet"))
                if len(pd.read_parquet(p)))
    original = part.read_bytes()
    frame = pd.read_parquet(part)
    frame.loc[frame.index[0], "age_years"] = -5.0  # outside the schema's range
    frame.to_parquet(part, index=False)
    try:
        proc = snakemake(work, "--cores", "2", "--forcerun", "checks", check=False)
        assert proc.returncode != 0
        assert not (work / "results/curated/checks/checks.json").exists()
        log = (work / "results/restricted/logs/checks/checks.log").read_text()
        assert "age_years" in log and "-5.0" in log
    finally:
        part.write_bytes(original)


def test_clinical_table_that_matches_no_image_stops_the_run(faulted_run):
    """Clinical ids that match none of the images: harmonize reports the coverage, the checks stop the run with the
    dataset, the join, the coverage and pseudonymous examples from both sides."""
    work = faulted_run["work"]
    sheet = work / f"results/restricted/raw/{DATASET}/Clinical_and_Other_Features.xlsx"
    original = sheet.read_bytes()
    from openpyxl import load_workbook

    book = load_workbook(sheet)
    for row in range(4, book["Data"].max_row + 1):
        book["Data"].cell(row=row, column=1).value = f"Breast_MRI_9{row:02d}"
    book.save(sheet)
    try:
        proc = snakemake(work, "--cores", "2", "--forcerun", "harmonize", check=False)
        assert proc.returncode != 0
        log = (work / "results/restricted/logs/checks/checks.log").read_text()
        assert "coverage" in log and '"dataset": "duke"' in log and '"join": "clinical"' in log
        assert '"coverage": 0.0' in log and "P-" in log and "Breast_MRI_9" not in log
    finally:
        sheet.write_bytes(original)
    snakemake(work, "--cores", "2", "--forcerun", "harmonize")
