"""End to end: the Snakemake workflow on a tiny demo in a temporary folder."""

from __future__ import annotations

import hashlib
import json
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from breastcurate.sources import adapters
from conftest import DEMO_SHARDS, REPO, snakemake, write_config
from PIL import Image

pytestmark = pytest.mark.e2e  # Snakemake runs

DATASETS = sorted(adapters())
MG = [d for d, a in adapters().items() if a.modality == "MG"]


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of `snakemake -n`."""
    counts = {}
    for line in dry_run_output.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def test_dry_run_plans_datasets_times_shards(demo_run):
    _, plan, _ = demo_run
    counts = job_counts(plan)
    assert counts["demo_data"] == counts["list_files"] == counts["harmonize"] == counts["qc"] == len(DATASETS)
    for per_shard in ("deidentify", "radiomics", "check_shard"):
        assert counts[per_shard] == len(DATASETS) * DEMO_SHARDS  # datasets × shards
    assert (
        counts["convert_mg"] == len(MG) * DEMO_SHARDS
        and counts["convert_mr"] == (len(DATASETS) - len(MG)) * DEMO_SHARDS
    )
    assert counts["checks"] == counts["scan_global"] == 1


def test_deidentified_shards(demo_run):
    """Every inventoried file is de-identified or quarantined; the de-identified DICOM, which only conversion reads,
    is gone once its shard is converted (no `deid.keep_dicom`), and a dry run does not ask for it again."""
    work, _, _ = demo_run
    total = 0
    for dataset in DATASETS:
        for k in range(DEMO_SHARDS):
            shard = work / f"results/restricted/deid/{dataset}/shard-{k}"
            inventory = pd.read_parquet(work / f"results/restricted/inventory/{dataset}/shard-{k}.parquet")
            written = pd.read_parquet(shard / "files.parquet")
            quarantined = pd.read_parquet(shard / "quarantine.parquet")
            assert len(written) + len(quarantined) == len(inventory)
            total += len(written)
            assert (shard / "linkage.parquet").stat().st_mode & 0o077 == 0
            assert not (work / f"results/restricted/deid_dicom/{dataset}/shard-{k}").exists()
    assert total > 0
    dry = snakemake(work, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
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
        assert manifest["n_shards"] == DEMO_SHARDS and manifest["unlisted"] == 0
        frames = [
            pd.read_parquet(work / f"results/restricted/inventory/{dataset}/shard-{k}.parquet")
            for k in range(DEMO_SHARDS)
        ]
        assert sum(len(f) for f in frames) == manifest["listed"] > 0
        assert [s["files"] for s in manifest["shards"]] == [len(f) for f in frames]
        assert pd.concat(frames)["native_patient_id"].nunique() == 2


def test_rerun_has_nothing_to_do(demo_run):
    work, _, _ = demo_run
    again = snakemake(work, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_restricted_zone_is_closed_and_curated_zone_open(demo_run):
    """Every folder of the restricted zone is 0700 and every file in it (logs too) 0600; the curated zone and the
    catalog are readable by all."""
    work, _, _ = demo_run
    restricted = work / "results/restricted"
    assert restricted.stat().st_mode & 0o7777 == 0o700
    folders = [p for p in restricted.rglob("*") if p.is_dir()]
    files = [p for p in restricted.rglob("*") if p.is_file()]
    assert any(p.parent.name == "logs" for p in folders) and any(p.suffix == ".log" for p in files)
    assert {oct(p.stat().st_mode & 0o7777) for p in folders} == {"0o700"}
    assert {oct(p.stat().st_mode & 0o7777) for p in files} == {"0o600"}
    curated = [p for p in (work / "results/curated").rglob("*") if p.name != ".snakemake_timestamp"]
    assert {oct(p.stat().st_mode & 0o7777) for p in curated if p.is_dir()} == {"0o755"}
    assert {oct(p.stat().st_mode & 0o7777) for p in curated if p.is_file()} == {"0o644"}
    assert (work / "results/catalog.duckdb").stat().st_mode & 0o7777 == 0o644


def _convert_table(work, dataset: str, name: str) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_parquet(work / f"results/restricted/convert/{dataset}/shard-{k}/{name}.parquet")
            for k in range(DEMO_SHARDS)
        ],
        ignore_index=True,
    )


@pytest.mark.parametrize("dataset", ["vindr_mammo", "embed"])
def test_mammograms_convert_with_boxes_on_the_lesion(demo_run, dataset):
    work, _, _ = demo_run
    results = work / "results"
    images, findings = _convert_table(work, dataset, "images"), _convert_table(work, dataset, "findings")
    deid_files = sum(
        len(pd.read_parquet(results / f"restricted/deid/{dataset}/shard-{k}/files.parquet")) for k in range(DEMO_SHARDS)
    )
    assert (images.variant == "canonical").sum() == deid_files  # every de-identified mammogram → one PNG
    assert len(findings) > 0
    for box in findings.itertuples():
        image = images[(images.image_uid == box.image_uid) & (images.variant == box.variant)].iloc[0]
        pixels = np.asarray(Image.open(results / image.path)).astype(float)
        assert pixels.shape == (image.rows, image.columns)
        x0, y0, x1, y1 = (int(round(v)) for v in (box.xmin, box.ymin, box.xmax, box.ymax))
        assert 0 <= x0 < x1 <= image.columns and 0 <= y0 < y1 <= image.rows
        qx, qy = (x1 - x0) // 4, (y1 - y0) // 4  # the lesion's core: the box's central half
        inside = pixels[y0 + qy : y1 - qy, x0 + qx : x1 - qx].mean()
        breast = pixels[pixels > np.percentile(pixels, 50)].mean()
        assert inside > breast, f"box of {box.roi} ({box.variant}) is not on the bright lesion"
    flipped = images[images.flipped]
    assert len(flipped) and set(images[images.variant == "voi8_1024"].laterality) == {"L", "R"}
    assert flipped.laterality.eq("R").all()


@pytest.mark.parametrize("dataset, source", [("duke", "box"), ("ispy2", "seg")])
def test_lesion_masks_lie_on_the_enhancing_lesion(demo_run, dataset, source):
    work, _, _ = demo_run
    results = work / "results"
    volumes, findings = _convert_table(work, dataset, "volumes"), _convert_table(work, dataset, "findings")
    assert set(findings.source) == {source} and findings.patient_id.nunique() == 2
    for mask_row in findings.itertuples():
        phases = volumes[(volumes.patient_id == mask_row.patient_id) & (volumes.study_uid == mask_row.study_uid)]
        pre = nib.load(results / phases[phases.phase == "pre"].path.iloc[0])
        post = nib.load(results / phases[phases.phase == "post_1"].path.iloc[0])
        mask = nib.load(results / mask_row.mask_path)
        assert mask.shape == pre.shape and np.allclose(mask.affine, pre.affine)  # the mask is in its phase's grid
        inside = mask.get_fdata() > 0
        assert inside.sum() == mask_row.voxels > 0
        enhancement = post.get_fdata() - pre.get_fdata()
        assert enhancement[inside].mean() > 3 * enhancement[~inside].mean()


def test_dce_phases_are_named_by_time(demo_run):
    work, _, _ = demo_run
    for dataset in ("duke", "ispy1", "ispy2"):
        volumes = _convert_table(work, dataset, "volumes")
        for _, study in volumes.groupby("study_uid"):
            ordered = study.sort_values("acquisition_offset_s")
            assert list(ordered.phase) == ["pre"] + [f"post_{i}" for i in range(1, len(study))]
            assert ordered.acquisition_offset_s.iloc[0] == 0 and ordered.acquisition_offset_s.is_monotonic_increasing
        sidecar = json.loads((work / "results" / volumes.sidecar_path.iloc[0]).read_text())
        assert {"RepetitionTime", "EchoTime", "FlipAngle", "MagneticFieldStrength"} <= set(sidecar)


def test_files_table_lists_every_curated_file(demo_run):
    work, _, _ = demo_run
    results = work / "results"
    files = pd.concat([_convert_table(work, d, "files") for d in DATASETS], ignore_index=True)
    on_disk = {
        p.relative_to(results).as_posix()
        for kind in ("images", "volumes", "masks")
        for p in (results / "curated" / kind).rglob("*")
        if p.is_file() and p.name != ".snakemake_timestamp"
    }
    assert set(files.path) == on_disk
    for row in files.sample(20, random_state=0).itertuples():
        data = (results / row.path).read_bytes()
        assert len(data) == row.bytes and hashlib.sha256(data).hexdigest() == row.sha256


def test_local_profile_plans_the_run(tmp_path):
    write_config(tmp_path)
    proc = snakemake(tmp_path, "--profile", str(REPO / "profiles/local"), "-n")
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["checks"] == 1 and counts["convert_mg"] + counts["convert_mr"] == len(DATASETS) * 2


def _curated(work, table: str) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(p) for p in sorted((work / "results/curated/tables" / table).rglob("*.parquet"))],
        ignore_index=True,
    )


def test_only_dce_series_become_phases(demo_run):
    """Every volume comes from a `dce` series; SER/PE maps in the DCE grid, Duke's `ax t1`, I-SPY2's site DCE and
    ACRIN-6698's DWI are listed with their role and reason, and converted to nothing."""
    work, _, _ = demo_run
    series, volumes = _curated(work, "series"), _curated(work, "volumes")
    role = dict(zip(series.series_uid, series.role))
    assert {role[s] for s in volumes.series_uid} == {"dce"}
    by_description = series.groupby("description").role.agg(set).to_dict()
    assert by_description["ax t1"] == {"t1"}
    assert by_description["ISPY2: VOLSER: uni-lateral cropped: SER"] == {"derived"}
    assert by_description["ISPY2: Ax Vibrant PRE/POST"] == {"other"}
    assert any(d.startswith("ACRIN-6698: DWI") and r == {"dwi"} for d, r in by_description.items())
    assert any(
        d.endswith(": SER") and r == {"derived"} for d, r in by_description.items() if d and not d.startswith("ISPY2")
    )  # I-SPY1's maps
    other = series[series.role != "dce"]
    assert not other.converted.any() or set(other[other.converted].role) == {"seg"}
    assert series.role_reason.str.len().gt(0).all()
    converted = series[series.series_uid.isin(volumes.series_uid)].description.fillna("")
    assert not converted.str.contains(r": (?:SER|PE\d)$").any()


def test_ispy1_visits_and_seg_masks(demo_run):
    work, _, _ = demo_run
    studies = _curated(work, "studies")
    ispy1 = studies[studies.dataset == "ispy1"]
    assert (
        ispy1.groupby("patient_id").visit.agg(sorted)
        == pd.Series([[0, 1]] * 2, index=ispy1.patient_id.unique()).sort_index()
    ).all()
    assert (ispy1.n_phases >= 3).all()
    findings = _curated(work, "findings")
    masks = findings[(findings.dataset == "ispy1") & findings.mask_path.notna()]
    assert set(masks.study_uid) == set(ispy1.study_uid)  # a mask for every visit, from the FRACTIONAL SEG
    assert masks.repairs.str.contains("Pixel Padding Value").all()


def test_ispy2_numeric_ids_join_both_collections(demo_run):
    work, _, _ = demo_run
    natives = pd.concat(
        [pd.read_parquet(p) for p in (work / "results/restricted/deid/ispy2").glob("*/linkage.parquet")]
    )
    prefixes = {n.rsplit("-", 1)[0] for n in natives.native_patient_id}
    assert prefixes == {"ISPY2", "ACRIN-6698"}
    clinical = _curated(work, "clinical")
    assert set(natives.patient_id) <= set(clinical[clinical.dataset == "ispy2"].patient_id)


def test_embed_selection_and_box_frames(demo_run):
    work, _, _ = demo_run
    rejects = _curated(work, "rejects")
    selected = rejects[(rejects.dataset == "embed") & (rejects.stage == "select")]
    assert selected.reason.str.contains("spot compression or magnification").any()
    assert selected.reason.str.contains("ROI_SSC").any()
    images = _curated(work, "images")
    embed_images = images[(images.dataset == "embed") & (images.variant == "canonical")]
    assert set(embed_images.image_type) == {"2d", "synthetic2d"} and not embed_images.spot_mag.any()
    findings = _curated(work, "findings")
    boxes = findings[(findings.dataset == "embed") & (findings.variant == "canonical")]
    sides = boxes.merge(embed_images[["image_uid", "laterality"]], on="image_uid")
    assert (sides.box_frame == "embed_png").all()
    assert (sides.box_flipped == (sides.laterality == "R")).all() and sides.box_flipped.any()


def test_every_join_reports_its_coverage(demo_run):
    work, _, _ = demo_run
    coverage = _curated(work, "coverage")
    joins = set(zip(coverage.dataset, coverage["join"]))
    assert {
        ("duke", "clinical"),
        ("duke", "masks"),
        ("ispy1", "masks"),
        ("ispy2", "clinical"),
        ("embed", "image_labels"),
        ("embed", "findings_images"),
        ("vindr_mammo", "image_labels"),
    } <= joins
    assert ((coverage.coverage - coverage.matched / coverage.total).abs() <= 5e-7).all()  # rounded to 6 places


def test_a_copy_never_loses_a_phase_and_a_lost_phase_leaves_a_gap(tmp_path):
    """Snakemake on a Duke mirror as published (issue #27): the demo's byte-identical `1-05 (1).dcm` (patient 3, 2nd
    post-contrast series) is dropped by the de-identification, a reject naming the kept file by its catalog item, and
    its phase converts. In patient 2's 2nd post-contrast series a second, different instance at one slice position
    loses that phase only: `post_2` is a gap, the 3rd pass keeps `post_3`, and `volumes.phases_lost` and the
    `phases` coverage row record it."""
    from breastcurate.demo import duke as duke_demo
    from breastcurate.tables import path_item
    from conftest import run_cli

    run_cli("demo-data", "--out", str(tmp_path / "mirror"), "--patients", "3", "--dataset", "duke")
    duke = tmp_path / "mirror" / "duke"
    (copy,) = duke.glob(f"*/Breast_MRI_{duke_demo.COPY_PATIENT + 1:03d}/*/*/1-05 (1).dcm")
    (series,) = duke.glob("*/Breast_MRI_002/*/5.000000-*")  # series 5: the 2nd post-contrast pass
    other = pydicom.dcmread(series / "1-05.dcm")
    other.SOPInstanceUID = other.SOPInstanceUID + ".9"
    other.PixelData = (other.pixel_array + 1).astype(other.pixel_array.dtype).tobytes()
    other.save_as(series / "1-05 (1).dcm")
    key = tmp_path / "key"
    key.write_text("a test key that is not the demo key")
    write_config(
        tmp_path, datasets={"duke": {"source": "local", "path": str(duke)}}, n_shards=1, deid={"secret_file": str(key)}
    )
    snakemake(tmp_path, "--cores", "2", "results/curated/tables/coverage/dataset=duke/part-0.parquet")
    results = tmp_path / "results"
    rejects = pd.read_parquet(results / "curated/tables/rejects/dataset=duke/part-0.parquet")
    kept = copy.with_name("1-05.dcm").relative_to(duke).as_posix()
    duplicate = rejects[rejects.item == path_item(copy.relative_to(duke).as_posix())]
    assert duplicate[["stage", "reason"]].values.tolist() == [
        ["deid", f"duplicate of {path_item(kept)} (same SOP Instance UID and pixel data)"]
    ]
    assert not rejects.reason.str.contains("Breast_MRI|/").any()  # no native path or id reaches the catalog
    lost = rejects[rejects.reason.str.startswith("phase post_2 lost: two slices at the same position")]
    assert len(lost) == len(list(series.glob("*.dcm"))) == 25 and set(lost.stage) == {"convert"}

    linkage = pd.read_parquet(results / "restricted/deid/duke/shard-0/linkage.parquet")
    pseudonym = dict(zip(linkage.native_patient_id, linkage.patient_id))
    volumes = pd.read_parquet(results / "curated/tables/volumes/dataset=duke/part-0.parquet")
    gap = volumes[volumes.patient_id == pseudonym["Breast_MRI_002"]].set_index("phase")
    offsets = {"pre": 0, "post_1": 135, "post_3": 405, "post_4": 540}
    assert gap.acquisition_offset_s.to_dict() == {p: o for p, o in offsets.items() if p in gap.index}
    assert {"pre", "post_1", "post_3"} <= set(gap.index) and set(gap.phases_lost) == {"post_2"}
    whole = volumes[volumes.patient_id == pseudonym["Breast_MRI_003"]]
    assert "post_2" in set(whole.phase) and whole.phases_lost.isna().all()
    assert whole[whole.phase == "post_2"].acquisition_offset_s.item() == 270
    coverage = pd.read_parquet(results / "curated/tables/coverage/dataset=duke/part-0.parquet").set_index("join")
    row = coverage.loc["phases"]
    assert (row.matched, row.total) == (len(volumes), len(volumes) + 1)
    assert json.loads(row.unmatched_here) == [f"{gap.study_uid.iloc[0]}/post_2"]


def test_a_run_ends_with_its_rejects_per_dataset_and_stage(demo_run):
    """The last lines of a successful run count the rejects per dataset and stage, as the catalog holds them."""
    import duckdb

    work, _, built = demo_run
    out = built["stdout"] + built["stderr"]
    block = out[out.rindex("rejects per dataset and stage") :].splitlines()[1:]
    printed = {(d, s): int(n) for d, s, n in (line.split() for line in block if re.match(r"  \w+ +\w+ +\d+$", line))}
    with duckdb.connect(str(work / "results/catalog.duckdb"), read_only=True) as con:
        held = {
            (d, s): n for d, s, n in con.sql("SELECT dataset, stage, count(*) FROM rejects GROUP BY ALL").fetchall()
        }
    assert printed and printed == held
