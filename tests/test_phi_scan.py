"""The PHI scan keeps its power without decoding pixels or voxels: the shared synthetic-PHI inputs come out clean
after de-identification, and every planted case is caught — by the pipeline's per-shard scan, which only knows the
shard's own patients' values and the dataset-wide ones."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import pandas as pd
import pydicom
import pytest
from breastcurate.demo import dicomgen as g
from breastcurate.demo.identity import accession, make_identity, rng_for
from breastcurate.layout import Layout
from breastcurate.sources import adapters
from conftest import DEMO_SHARDS, REPO, call_cli, run_cli
from PIL import Image, PngImagePlugin

DEID_DATA = REPO / "tests" / "data" / "deid"


def test_synthetic_phi_inputs_come_out_clean(tmp_path):
    out = tmp_path / "out"
    key = tmp_path / "key"
    key.write_bytes(b"phi-scan-test-key-0123456789abcdef")
    call_cli(
        "deidentify", str(DEID_DATA), str(out), "--secret-file", str(key), "--restricted", str(tmp_path / "restricted")
    )
    assert len(list(out.rglob("*.dcm"))) >= 5
    clean = call_cli("scan-phi", "--raw", str(DEID_DATA), str(out), check=False)
    assert clean.returncode == 0 and " 0 hit(s)" in clean.stdout, clean.stdout[-2000:]


def test_standalone_scan_finds_phi_outside_the_pixels_of_deidentified_dicom(tmp_path):
    """`scan-phi --raw FILE OUT` on de-identified DICOM skips only the Pixel Data value: a raw header's value in the
    preamble, in a private binary element, or appended after the pixels is found; a raw file (not a folder) given
    as RAW counts."""
    rng = rng_for(5, "standalone", 0)
    who = make_identity(rng)
    vendor = g.MammoVendor("HOLOGIC, Inc.", "Selenia Dimensions")
    ctx = g.StudyContext(
        who,
        who.mrn,
        g.uid("standalone"),
        who.first_study,
        "101010.000000",
        accession(rng),
        "MAMMO SCREENING BILATERAL",
        vendor.manufacturer,
        vendor.model,
        "MAMMO-RM1",
    )
    ds, _ = g.mammogram(
        ctx,
        rng,
        vendor,
        g.uid("standalone", "s"),
        g.uid("standalone", "i"),
        1,
        1,
        "L",
        "CC",
        False,
        ["ORIGINAL", "PRIMARY"],
        "L CC",
    )
    raw = tmp_path / "raw.dcm"
    g.save(ds, raw)
    name = max(str(ds.PatientName).replace("^", " ").split(), key=len)
    assert len(name) >= 4
    key = tmp_path / "key"
    key.write_bytes(b"phi-scan-test-key-0123456789abcdef")
    (tmp_path / "in").mkdir()
    shutil.copy(raw, tmp_path / "in" / "raw.dcm")
    run_cli(
        "deidentify",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        "--secret-file",
        str(key),
        "--restricted",
        str(tmp_path / "restricted"),
    )
    clean = next((tmp_path / "out").rglob("*.dcm"))
    assert run_cli("scan-phi", "--raw", str(raw), str(tmp_path / "out"), check=False).returncode == 0
    planted = tmp_path / "planted"
    planted.mkdir()
    ds = pydicom.dcmread(clean)
    ds.preamble = name.encode().ljust(128, b"\0")
    ds.save_as(planted / "preamble.dcm")
    ds = pydicom.dcmread(clean)
    ds.add_new(0x00091010, "LO", "PLANTED")
    ds.add_new(0x00091011, "OB", b"\x01\x02" + name.encode() + b"\x00")
    ds.save_as(planted / "private.dcm")
    (planted / "appended.dcm").write_bytes(clean.read_bytes() + b"\0" + name.encode() + b"\0")
    shutil.copy(clean, planted / "clean.dcm")
    dirty = run_cli("scan-phi", "--raw", str(raw), str(planted), check=False)
    assert dirty.returncode == 1, dirty.stdout
    flagged = {line.rsplit(" in ", 1)[1] for line in dirty.stdout.splitlines() if line.startswith("PHI ")}
    assert flagged == {"preamble.dcm", "private.dcm", "appended.dcm"}, dirty.stdout
    assert name not in dirty.stdout


def _raw_headers(results: Path, dataset: str, shard: int) -> list[pydicom.Dataset]:
    """One raw header per patient of a shard (the values a leak would copy)."""
    layout = Layout(results)
    inventory = pd.read_parquet(layout.inventory_shard(dataset, shard)).drop_duplicates("native_patient_id")
    return [pydicom.dcmread(layout.raw(dataset) / p, stop_before_pixels=True) for p in inventory.path]


def _shard_with(results: Path, dataset: str, patients: int, default: int | None = -1) -> int | None:
    """A shard of `dataset` with at least `patients` patients."""
    layout = Layout(results)
    found = next(
        (
            k
            for k in range(DEMO_SHARDS)
            if pd.read_parquet(layout.inventory_shard(dataset, k)).native_patient_id.nunique() >= patients
        ),
        default,
    )
    assert found != -1, f"no {dataset} shard with {patients} patients"
    return found


def _check_shard(results: Path, dataset: str, shard: int, out: Path):
    layout = Layout(results)
    folders = [
        a for f in layout.shard_outputs(dataset, shard, adapters()[dataset].modality) for a in ("--folder", str(f))
    ]
    tables = [
        a
        for t in ("images", "volumes", "studies", "findings")
        for a in ("--table", str(layout.table_part(t, dataset, shard)))
    ]
    return run_cli(
        "check-shard",
        "--results",
        str(results),
        *folders,
        *tables,
        "--files",
        str(layout.table_part("files", dataset, shard)),
        "--terms",
        str(layout.phi_terms(dataset, shard)),
        "--terms",
        str(layout.phi_dataset_terms(dataset)),
        "--out",
        str(out),
        check=False,
    )


@pytest.fixture(scope="module")
def results(demo_run, tmp_path_factory) -> Path:
    """A copy of the demo run's results (the planted files must not reach the shared run)."""
    copy = tmp_path_factory.mktemp("phi") / "results"
    shutil.copytree(demo_run[0] / "results", copy, ignore=shutil.ignore_patterns("raw"))
    for dataset in ("duke", "embed", "ispy1", "ispy2"):
        shutil.copytree(demo_run[0] / "results/restricted/raw" / dataset, Layout(copy).raw(dataset))
    return copy


def test_every_planted_case_is_caught_by_the_shard_scan(results, tmp_path):
    layout = Layout(results)
    mr = _shard_with(results, "duke", 1)
    assert _check_shard(results, "duke", mr, tmp_path / "clean.json").returncode == 0  # clean before planting
    header = _raw_headers(results, "duke", mr)[0]
    name, patient_id = str(header.PatientName), str(header.PatientID)
    volumes = pd.read_parquet(layout.table_part("volumes", "duke", mr))
    phase = results / volumes.path.iloc[0]
    folder = phase.parent
    planted = {}

    planted["sidecar.json"] = folder / "leak.json"  # a name in a JSON
    planted["sidecar.json"].write_text(json.dumps({"note": name.replace("^", " ")}))
    planted["table cell"] = layout.table_part("studies", "duke", mr)  # an id in a Parquet cell
    studies = pd.read_parquet(planted["table cell"]).assign(model=patient_id)
    studies.to_parquet(planted["table cell"], index=False)
    image = nib.load(phase)  # a name in a NIfTI extension, an id in the description field, bytes after the voxels
    extended = nib.Nifti1Image(image.get_fdata(), image.affine, image.header)
    extended.header.extensions.append(nib.nifti1.Nifti1Extension(6, f"reader: {name}".encode()))
    nib.save(extended, folder / "extension.nii.gz")
    planted["nifti extension"] = folder / "extension.nii.gz"
    described = nib.Nifti1Image(image.get_fdata(), image.affine, image.header)
    described.header["descrip"] = f"case {patient_id}".encode()
    nib.save(described, folder / "descrip.nii.gz")
    planted["nifti descrip"] = folder / "descrip.nii.gz"
    appended = folder / "appended.nii.gz"
    appended.write_bytes(gzip.compress(gzip.decompress(phase.read_bytes()) + f"\0{patient_id}".encode()))
    planted["after the voxels"] = appended
    planted["path"] = folder / f"notes-{patient_id}" / "empty.txt"  # an id in a path
    planted["path"].parent.mkdir()
    planted["path"].write_text("nothing")
    proc = _check_shard(results, "duke", mr, tmp_path / "dirty.json")
    assert proc.returncode == 1 and not (tmp_path / "dirty.json").exists()
    for what, path in planted.items():
        shown = path.relative_to(results / "curated").as_posix().replace(patient_id, "")
        assert any(shown.split("notes-")[0] in line for line in proc.stdout.splitlines()), (what, proc.stdout)
    assert "leak.json" in proc.stdout and "extension.nii.gz" in proc.stdout and "descrip.nii.gz" in proc.stdout
    assert "appended.nii.gz" in proc.stdout and "tables/studies" in proc.stdout and "notes-" in proc.stdout
    assert name.split("^")[0] not in proc.stdout and patient_id not in proc.stdout  # the report masks values


def test_png_text_and_a_cross_patient_leak_are_caught(results, tmp_path):
    """Mammograms: a name in a PNG text chunk and after IEND. MRI: patient A's name in patient B's sidecar, in a
    shard of both (the shard's scan knows the values of every one of its patients)."""
    layout = Layout(results)
    shard = _shard_with(results, "embed", 1)
    assert _check_shard(results, "embed", shard, tmp_path / "clean.json").returncode == 0
    header = _raw_headers(results, "embed", shard)[0]
    name, patient_id = str(header.PatientName).split("^")[0], str(header.PatientID)
    png = results / pd.read_parquet(layout.table_part("images", "embed", shard)).path.iloc[0]
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", f"technologist note for {name}")
    with Image.open(png) as image:
        image.save(png.with_name("texted.png"), pnginfo=text)
    png.with_name("trailing.png").write_bytes(png.read_bytes() + patient_id.encode())  # (8 characters or more count
    # in bytes of no known format, where shorter values turn up by chance)
    proc = _check_shard(results, "embed", shard, tmp_path / "dirty.json")
    assert proc.returncode == 1 and "texted.png" in proc.stdout and "trailing.png" in proc.stdout, proc.stdout
    assert name not in proc.stdout and patient_id not in proc.stdout

    dataset = next(
        (d for d in ("ispy1", "duke", "ispy2") if _shard_with(results, d, 2, default=None) is not None), None
    )
    assert dataset, "the demo run has no MRI shard with two patients: change its seed or shard count"
    shard = _shard_with(results, dataset, 2)
    assert _check_shard(results, dataset, shard, tmp_path / "clean2.json").returncode == 0
    a, b = _raw_headers(results, dataset, shard)[:2]
    linkage = pd.read_parquet(layout.deid(dataset, shard) / "linkage.parquet").drop_duplicates("native_patient_id")
    linkage = linkage.set_index("native_patient_id")
    volumes = pd.read_parquet(layout.table_part("volumes", dataset, shard))
    sidecar = results / volumes[volumes.patient_id == linkage.loc[str(b.PatientID), "patient_id"]].sidecar_path.iloc[0]
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "PerformedProcedureStepDescription": f"compare {a.PatientName}"}))
    proc = _check_shard(results, dataset, shard, tmp_path / "dirty2.json")
    assert proc.returncode == 1 and sidecar.name in proc.stdout, proc.stdout
    assert str(a.PatientName).split("^")[0] not in proc.stdout
