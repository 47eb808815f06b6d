"""Faults and incremental runs on a small private run: Duke only, the demo run's patients and shards, as a `local`
mirror in a copied checkout. A job killed with SIGKILL while other shards go on (--keep-going), the whole run killed
mid-shard and resumed, the gates (PHI scan, data checks) that stop a run, what a rerun re-does after the mirror
or a workbook changes, a moved checkout, stale temporary files, and --delete-all-output. Every Parquet file must
end byte-identical to the uninterrupted demo run's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from breastcurate.deid.keys import DEMO_KEY
from breastcurate.layout import Layout
from conftest import DEMO_SHARDS, copy_checkout, executed_jobs, run_cli, write_config
from conftest import snakemake as run_snakemake

pytestmark = pytest.mark.e2e  # Snakemake runs

DATASET = "duke"


def snakemake(work: Path, *args: str, check: bool = True):
    return run_snakemake(work, *args, check=check, snakefile=work / "Snakefile")


def jobs_of(proc) -> list[str]:
    return executed_jobs(proc.stdout + proc.stderr)


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
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(work / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(work / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
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
    """In a copied checkout with the demo run's Duke mirror as a local mirror (keyed like the demo): kill one convert
    job (SIGKILL) under --keep-going, then kill the whole rerun in the middle of a shard job, then unlock and
    resume; record what each step left behind."""
    work = tmp_path_factory.mktemp("checkout")
    copy_checkout(work)
    run_cli("demo-data", "--out", str(work / "mirror"), "--dataset", DATASET, "--patients", "2", "--seed", "11")
    (work / "demo.key").write_bytes(DEMO_KEY)  # the same pseudonyms as the demo run, through a key file
    write_config(
        work,
        n_shards=DEMO_SHARDS,
        deid={"secret_file": str(work / "demo.key")},
        datasets={DATASET: {"source": "local", "path": str(work / "mirror" / DATASET)}},
    )
    seen: dict = {"work": work}

    first = _start(work, "first.log", "--keep-going")
    victim = _wait_for(work, ("convert-shard", f" {DATASET} ", "/shard-0 "), first)  # both patients are in shard 0
    time.sleep(0.8)  # mid-job: the shard takes a few seconds
    os.kill(victim, signal.SIGKILL)
    seen["first_rc"] = first.wait(timeout=600)
    seen["first_out"] = (work / "first.log").read_text()
    convert = work / f"results/restricted/convert/{DATASET}"
    seen["after_first"] = {k: (convert / f"shard-{k}").exists() for k in range(DEMO_SHARDS)}
    layout = Layout(work / "results")
    seen["dicom_after_first"] = {k: layout.deid_dicom(DATASET, k).is_dir() for k in range(DEMO_SHARDS)}
    seen["people_after_first"] = (work / "results/restricted/people.parquet").exists()

    second = _start(work, "second.log")
    _wait_for(work, ("radiomics-shard", f" {DATASET} ", "part-0.parquet"), second)
    os.killpg(second.pid, signal.SIGKILL)  # the whole run: Snakemake and its jobs
    second.wait()
    seen["second_rc"] = second.returncode
    seen["locked"] = snakemake(work, "--cores", "2", check=False)
    snakemake(work, "--unlock")
    seen["third"] = snakemake(work, "--cores", "2", "--rerun-incomplete")
    seen["parquet"] = parquet_files(work)  # the later tests change the results: what the resume gave, kept here
    seen["leftovers"] = [p for p in (work / "results").rglob("*") if p.name.endswith((".tmp", ".part"))]
    seen["dicom_after_resume"] = {k: layout.deid_dicom(DATASET, k).exists() for k in range(DEMO_SHARDS)}
    seen["dry_run"] = snakemake(work, "-n").stdout
    return seen


def test_keep_going_finishes_other_shards_and_leaves_no_partial_output(faulted_run):
    """...and the de-identified DICOM (temporary by default) goes once its shard is converted, not before: the
    shard whose conversion was killed keeps it for the rerun; after the resume none is left."""
    assert faulted_run["first_rc"] != 0
    assert faulted_run["after_first"] == {0: False, 1: True}  # the killed job left nothing behind
    assert faulted_run["dicom_after_first"] == {0: True, 1: False}
    assert faulted_run["dicom_after_resume"] == {0: False, 1: False}
    assert "Error in rule convert_mr" in faulted_run["first_out"]
    assert faulted_run["people_after_first"]  # jobs independent of the failed shard also ran


def test_rerun_writes_byte_identical_parquet(faulted_run):
    work = faulted_run["work"]
    before = parquet_files(work)
    harmonized = [name for name in before if name.startswith("tables/") and "/part-" in name]
    assert len(harmonized) >= 8
    for name in harmonized:  # every table part the harmonize job writes
        (work / "results/curated" / name).unlink()
    snakemake(work, "--cores", "2", "--forcerun", "harmonize", "--until", "harmonize")
    assert parquet_files(work) == before


def _shard_of(work: Path, native_patient_id: str) -> int:
    layout = Layout(work / "results")
    return next(
        k
        for k in range(DEMO_SHARDS)
        if native_patient_id in set(pd.read_parquet(layout.listing(DATASET, k)).native_patient_id)
    )


def test_phi_scan_gates_the_run(faulted_run):
    """A patient's name planted in its shard's curated folder: that shard's check fails with a masked report."""
    work = faulted_run["work"]
    layout = Layout(work / "results")
    summary = json.loads(layout.global_scan.read_text())
    assert summary["hits"] == 0 and summary["phi_values_searched"] > 50
    raw = next((work / "mirror" / DATASET).rglob("*.dcm"))
    import pydicom

    header = pydicom.dcmread(raw, stop_before_pixels=True)
    name, shard = str(header.PatientName), _shard_of(work, str(header.PatientID))
    planted = layout.volumes(DATASET, shard) / "leak.json"
    planted.write_text(json.dumps({"note": name.replace("^", " ")}))
    target = str(layout.shard_check(DATASET, shard).relative_to(work))
    try:
        proc = snakemake(work, "--cores", "2", "--force", target, check=False)
        assert proc.returncode != 0
        assert not layout.shard_check(DATASET, shard).exists()
        log = layout.log("check_shard", f"{DATASET}-{shard}").read_text()
        assert "leak.json" in log and name.split("^")[0] not in log  # reported, with the value masked
    finally:
        planted.unlink()
    snakemake(work, "--cores", "2", target)
    assert layout.shard_check(DATASET, shard).exists()  # clean again: the scan passes


def test_clinical_table_that_matches_no_image_stops_the_run(faulted_run):
    """Clinical ids that match none of the images: editing the workbook re-runs harmonization (a declared input) and
    nothing upstream of it; harmonize reports the coverage, the checks stop the run with the dataset, the join,
    the coverage and pseudonymous examples from both sides."""
    work = faulted_run["work"]
    sheet = work / "mirror" / DATASET / "Clinical_and_Other_Features.xlsx"
    original = sheet.read_bytes()
    from openpyxl import load_workbook

    book = load_workbook(sheet)
    for row in range(4, book["Data"].max_row + 1):
        book["Data"].cell(row=row, column=1).value = f"Breast_MRI_9{row:02d}"
    book.save(sheet)
    try:
        planned = jobs_of(snakemake(work, "-n"))
        assert "harmonize[duke]" in planned
        assert not [j for j in planned if j.split("[")[0] in ("list_files", "deidentify", "convert_mr")]
        proc = snakemake(work, "--cores", "2", check=False)
        assert proc.returncode != 0
        log = Layout(work / "results").log("checks", "all").read_text()
        assert "coverage" in log and '"dataset": "duke"' in log and '"join": "clinical"' in log
        assert '"coverage": 0.0' in log and "P-" in log and "Breast_MRI_9" not in log
        assert not (work / "results/curated/checks/checks.json").exists()  # a failed check leaves no pass mark
    finally:
        sheet.write_bytes(original)  # the next test's run harmonizes it again


def test_removed_patient_disappears_and_only_its_shard_reruns(faulted_run, tmp_path):
    """After a patient leaves the local mirror, the next run notices (no --forcerun): only that patient's shard is
    converted again, and nothing of them remains (the later tests run without that patient)."""
    work = faulted_run["work"]
    layout = Layout(work / "results")
    linkage = pd.concat(pd.read_parquet(layout.deid(DATASET, k) / "linkage.parquet") for k in range(DEMO_SHARDS))
    victim = linkage.native_patient_id.iloc[0]
    pseudonym, shard = linkage.patient_id.iloc[0], _shard_of(work, victim)
    assert (layout.volumes(DATASET, shard) / pseudonym).is_dir()
    shutil.move(work / "mirror" / DATASET / "Duke-Breast-Cancer-MRI" / victim, tmp_path / victim)  # for good
    ran = jobs_of(snakemake(work, "--cores", "2"))
    per_shard = ("deidentify", "convert_mr", "radiomics")  # the shard's checks also search dataset-wide values
    shards = {j for j in ran if j.split("[")[0] in per_shard}
    assert shards == {f"{rule}[{DATASET},{shard}]" for rule in per_shard}
    assert f"check_shard[{DATASET},{shard}]" in ran
    assert not (layout.volumes(DATASET, shard) / pseudonym).exists()
    assert pseudonym not in set(pd.read_parquet(layout.table_part("patients", DATASET, shard)).patient_id)
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        for (table,) in con.sql(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'patient_id' "
            "AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall():
            assert con.execute(f"SELECT count(*) FROM {table} WHERE patient_id = ?", [pseudonym]).fetchone() == (0,), (
                table
            )
    assert [p for p in layout.curated.rglob("*") if pseudonym in p.as_posix()] == []


def test_moved_checkout_reruns_nothing(faulted_run, tmp_path):
    """The checkout with its results copied elsewhere (the local mirror and the key stay where the config says)."""
    moved = tmp_path / "elsewhere" / "deeper" / "checkout"
    shutil.copytree(faulted_run["work"], moved, symlinks=True)
    proc = snakemake(moved, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr, jobs_of(proc)


def test_changed_added_and_removed_files_rerun_only_their_shard(faulted_run):
    """A file rewritten in place (as an upstream revision does), one added and one removed in the local mirror: the
    next run notices without being told, re-runs only the shard they belong to, and the catalog shows the change."""
    import pydicom

    work = faulted_run["work"]
    layout = Layout(work / "results")
    series = sorted({p.parent for p in (work / "mirror" / DATASET).rglob("*.dcm")})[0]
    patient = str(pydicom.dcmread(next(series.glob("*.dcm")), stop_before_pixels=True).PatientID)
    shard = _shard_of(work, patient)

    def rejected() -> list[str]:
        with duckdb.connect(str(layout.catalog), read_only=True) as con:
            query = "SELECT reason FROM rejects WHERE stage = 'inventory' AND reason LIKE 'not a DICOM file%'"
            return [r for (r,) in con.sql(query).fetchall()]

    assert rejected() == []
    (series / "notes-a.txt").write_text("not DICOM")
    (series / "notes-b.txt").write_text("not DICOM either")
    catalog = str(layout.catalog.relative_to(work))  # what the assertions read: the checks and QC need not run
    ran = jobs_of(snakemake(work, "--cores", "2", catalog))
    assert f"deidentify[{DATASET},{shard}]" in ran
    assert [j for j in ran if j.startswith("deidentify[") and j != f"deidentify[{DATASET},{shard}]"] == []
    assert len(rejected()) == 2
    changed = sorted(series.glob("*.dcm"))[0]
    ds = pydicom.dcmread(changed)
    ds.add_new((0x0011, 0x0010), "LO", "REVISED UPSTREAM")  # a private element: de-identification drops it
    ds.save_as(changed)
    (series / "notes-b.txt").unlink()
    before = pd.read_parquet(layout.inventory_shard(DATASET, shard)).set_index("path").sha256
    ran = jobs_of(snakemake(work, "--cores", "2", catalog))
    assert [j for j in ran if j.startswith("deidentify[")] == [f"deidentify[{DATASET},{shard}]"]
    after = pd.read_parquet(layout.inventory_shard(DATASET, shard)).set_index("path").sha256
    rel = changed.relative_to(work / "mirror" / DATASET).as_posix()
    assert after[rel] != before[rel] and (after.drop(rel) == before.drop(rel)).all()
    assert len(rejected()) == 1
    (series / "notes-a.txt").unlink()  # the next test's run takes it out again


def test_stale_temporary_files_are_swept(faulted_run):
    """What a kill -9 leaves (`.<name>.<random>.tmp` beside a target) goes the next time the folder is written."""
    work = faulted_run["work"]
    layout = Layout(work / "results")
    stale = [
        layout.table_part("images", DATASET, 0).parent / ".part-0.parquet.k1ll3d.tmp",
        layout.people().parent / ".people.parquet.k1ll3d.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half a file")
    snakemake(work, "--cores", "2", "--forcerun", "link_people", "--until", "harmonize")
    assert [p for p in stale if p.exists()] == []


def test_killed_run_resumes_to_byte_identical_parquet(faulted_run, demo_run):
    """(Compared with the demo run late in the module, from what the fixture recorded right after the resume.)"""
    assert faulted_run["second_rc"] != 0
    locked = faulted_run["locked"]
    assert locked.returncode != 0 and "unlock" in locked.stdout + locked.stderr
    ours, theirs = faulted_run["parquet"], parquet_files(demo_run[0])
    assert len(ours) >= 8 and ours.keys() == theirs.keys()
    assert [name for name in ours if ours[name] != theirs[name]] == []
    assert faulted_run["leftovers"] == []
    assert "Nothing to be done" in faulted_run["dry_run"]


def test_fewer_shards_leave_no_orphan_parts(faulted_run):
    """`n_shards` lowered from 2 to 1: every part, folder and restricted file of shard 1 goes; the catalog holds the
    same patients."""
    work = faulted_run["work"]
    layout = Layout(work / "results")
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        before = con.sql("SELECT patient_id FROM patients ORDER BY 1").fetchall()
    config = yaml.safe_load((work / "config.yaml").read_text())
    (work / "config.yaml").write_text(yaml.safe_dump({**config, "n_shards": 1}))
    try:
        snakemake(work, "--cores", "2")
        left = [p for p in (work / "results").rglob("*") if "shard-1" in p.name or p.name.endswith("-1.parquet")]
        assert [p for p in left if "/logs/" not in p.as_posix() and "/benchmarks/" not in p.as_posix()] == []
        with duckdb.connect(str(layout.catalog), read_only=True) as con:
            assert con.sql("SELECT patient_id FROM patients ORDER BY 1").fetchall() == before
    finally:
        (work / "config.yaml").write_text(yaml.safe_dump(config))


def test_delete_all_output_leaves_only_logs(faulted_run):
    """Every file a job writes is a declared output: after --delete-all-output only the logs and benchmark records
    remain (runs last: it empties the module's results)."""
    work = faulted_run["work"]
    snakemake(work, "--delete-all-output")
    left = sorted(p.relative_to(work / "results").as_posix() for p in (work / "results").rglob("*") if p.is_file())
    assert left and all(p.startswith(("restricted/logs/", "restricted/benchmarks/")) for p in left), left[:5]
