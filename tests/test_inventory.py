"""Inventory and sharding: patient-complete, stable, rewritten only on change, bad files rejected with a reason."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from breastcurate.layout import Layout
from breastcurate.shards import shard_of
from breastcurate.sources import adapters
from conftest import call_cli, run_cli


def _inventory(root, results, n_shards=3, dataset="duke"):
    run_cli("inventory", dataset, str(root), "--results", str(results), "--n-shards", str(n_shards), "--workers", "2")
    layout = Layout(results)
    shards = [pd.read_parquet(layout.inventory_shard(dataset, k)) for k in range(n_shards)]
    rejects = pd.concat(
        [pd.read_parquet(layout.listing_rejects(dataset))]
        + [pd.read_parquet(layout.inventory_rejects(dataset, k)) for k in range(n_shards)]
    )
    return shards, rejects


@pytest.mark.parametrize("dataset", sorted(adapters()))
def test_every_file_listed_and_patients_complete(demo_root, tmp_path, dataset):
    shards, rejects = _inventory(demo_root / dataset, tmp_path / "results", dataset=dataset)
    listed = pd.concat(shards)
    on_disk = [p for p in (demo_root / dataset).rglob("*") if p.is_file() and p.suffix in (".dcm", ".dicom")]
    excluded = rejects[rejects.stage == "select"]  # left out by the config's default select (EMBED's spot views)
    assert len(listed) + len(excluded) == len(on_disk) and (rejects.stage == "select").all()
    assert listed.groupby("native_patient_id")["shard"].nunique().max() == 1  # a patient lives in one shard
    # one instance per SOP Instance UID, but for byte-identical copies (the inventory lists them; de-identification
    # drops them with a reject naming the kept file): Duke's demo patient 3 holds `1-05 (1).dcm`
    assert listed.drop_duplicates(["sop_uid", "sha256"])["sop_uid"].is_unique
    for k, shard in enumerate(shards):
        assert (shard["shard"] == k).all()
        assert shard["path"].is_monotonic_increasing


def test_native_patient_ids_follow_the_dataset(demo_root, tmp_path):
    vindr = pd.concat(_inventory(demo_root / "vindr_mammo", tmp_path / "v", dataset="vindr_mammo")[0])
    assert vindr["native_patient_id"].str.fullmatch(r"[0-9a-f]{32}").all()  # the study folder
    embed = pd.concat(_inventory(demo_root / "embed", tmp_path / "e", dataset="embed")[0])
    assert embed["native_patient_id"].str.fullmatch(r"\d{8}").all()  # empi_anon
    duke = pd.concat(_inventory(demo_root / "duke", tmp_path / "d", dataset="duke")[0])
    assert duke["native_patient_id"].str.fullmatch(r"Breast_MRI_\d{3}").all()


def test_shard_hash_is_stable_and_keyed():
    assert shard_of("duke", "Breast_MRI_001", 1000, "k1") == shard_of("duke", "Breast_MRI_001", 1000, "k1")
    keys = [shard_of("duke", f"Breast_MRI_{i:03d}", 16, "k1") for i in range(200)]
    assert len(set(keys)) == 16  # spreads over all shards
    assert keys != [shard_of("duke", f"Breast_MRI_{i:03d}", 16, "k2") for i in range(200)]


def test_rewrites_only_changed_shards(demo_root, tmp_path):
    root = tmp_path / "mirror"
    shutil.copytree(demo_root / "duke", root)
    results = tmp_path / "results"
    first, _ = _inventory(root, results)
    outputs = [
        f(k)
        for k in range(3)
        for f in (lambda k: Layout(results).listing("duke", k), lambda k: Layout(results).inventory_shard("duke", k))
    ]
    mtimes = {p: p.stat().st_mtime_ns for p in outputs}
    blobs = {p: p.read_bytes() for p in outputs}
    _inventory(root, results)  # same content: nothing rewritten, byte-identical
    assert {p: p.stat().st_mtime_ns for p in outputs} == mtimes
    # Remove one patient: only that patient's shard changes, in the listing and in the inventory.
    victim = first[0]["native_patient_id"].iloc[0] if len(first[0]) else first[1]["native_patient_id"].iloc[0]
    shard = next(k for k in range(3) if victim in set(first[k]["native_patient_id"]))
    shutil.rmtree(root / "Duke-Breast-Cancer-MRI" / victim)
    _inventory(root, results)
    for path in outputs:
        assert (path.read_bytes() != blobs[path]) == (path.name == f"shard-{shard}.parquet")


def test_bad_files_become_rejects(demo_root, tmp_path):
    root = tmp_path / "mirror"
    shutil.copytree(demo_root / "ispy2", root)
    good = sorted(root.rglob("*original DCE*/*.dcm"))
    (good[0].parent / "notes.txt").write_text("not an image")
    truncated = good[1].read_bytes()
    good[1].write_bytes(truncated[: len(truncated) - 3000])
    (good[2].parent / "empty.dcm").write_bytes(b"")
    shards, rejects = _inventory(root, tmp_path / "results", dataset="ispy2")
    reasons = dict(zip(rejects["path"].str.rsplit("/", n=1).str[-1], rejects["reason"]))
    assert reasons["notes.txt"].startswith("not a DICOM file")
    assert reasons["empty.dcm"].startswith("not a DICOM file")
    assert "truncated" in reasons[good[1].name] or "unreadable" in reasons[good[1].name]
    assert (rejects["stage"] == "inventory").all()
    assert sum(len(s) for s in shards) == len(list(root.rglob("*.dcm"))) - 2


def test_missing_mirror_is_a_clear_error(tmp_path):
    proc = call_cli(
        "inventory", "duke", str(tmp_path), "--results", str(tmp_path / "r"), "--n-shards", "2", check=False
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no 'Duke-Breast-Cancer-MRI' folder" in proc.stderr
