"""Splits, frozen versions, releases and `breastcurate pull` (local folder, HTTP with resume, S3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from conftest import REPO, demo_scope, run_cli
from servers import http_server, s3_server, sent


@pytest.fixture()
def results(demo_run, tmp_path):
    """A private copy of the demo results (releases freeze versions; other tests must not see that)."""
    work, _, _ = demo_run
    shutil.copytree(work / "results", tmp_path / "results", ignore=shutil.ignore_patterns("raw", "deid"))
    return tmp_path / "results"


def versions_file(tmp_path, **changes) -> str:
    data = yaml.safe_load((REPO / "config/splits.yaml").read_text())
    data["versions"]["v1"].update(changes)
    path = tmp_path / f"splits-{len(list(tmp_path.glob('splits-*')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def release(results, tmp_path, check=True):
    return run_cli(
        "release",
        "v1",
        "--results",
        str(results),
        "--config",
        str(REPO / "config/config.yaml"),
        "--versions",
        str(REPO / "config/splits.yaml"),
        check=check,
    )


def test_pipeline_builds_v1_patient_level(demo_run):
    work, _, _ = demo_run
    splits = pd.read_parquet(work / "results/curated/splits/v1.parquet")
    patients = pd.concat(pd.read_parquet(p) for p in (work / "results/curated/tables/patients").rglob("*.parquet"))
    assert set(zip(splits.dataset, splits.patient_id)) == set(zip(patients.dataset, patients.patient_id))
    assert splits.groupby("person_id").split.nunique().max() == 1  # nobody on two sides
    vindr = splits[splits.dataset == "vindr_mammo"]
    assert (vindr[vindr.official_split == "test"].split == "test").all()
    assert not vindr[vindr.official_split == "train"].split.eq("test").any()
    report = json.loads((work / "results/curated/splits/v1.json").read_text())
    assert {s["dataset"] for s in report["strata"]} == set(splits.dataset)


def test_adding_patients_never_moves_anyone(results, tmp_path):
    full = pd.read_parquet(results / "curated/splits/v1.parquet")
    # Fewer patients in: drop one patient per dataset from the patients table, recompute.
    for part in (results / "curated/tables/patients").rglob("*.parquet"):
        frame = pd.read_parquet(part)
        frame.iloc[1:].to_parquet(part, index=False) if len(frame) else None
    run_cli("splits", "--results", str(results), *demo_scope(), "--versions", str(REPO / "config/splits.yaml"))
    fewer = pd.read_parquet(results / "curated/splits/v1.parquet")
    assert 0 < len(fewer) < len(full)
    merged = fewer.merge(full, on=["dataset", "patient_id"], suffixes=("", "_full"))
    assert len(merged) == len(fewer) and (merged.split == merged.split_full).all()


def test_released_version_is_frozen(results, tmp_path):
    release(results, tmp_path)
    moved = run_cli(
        "splits",
        "--results",
        str(results),
        *demo_scope(),
        "--versions",
        versions_file(tmp_path, salt="other"),
        check=False,
    )
    assert moved.returncode != 0 and "v1 is frozen" in moved.stderr and "new version name" in moved.stderr
    same = run_cli("splits", "--results", str(results), *demo_scope(), "--versions", str(REPO / "config/splits.yaml"))
    assert "split v1" in same.stdout


def test_frozen_version_without_additions_keeps_its_patients(results, tmp_path):
    closed = versions_file(tmp_path, accepts_additions=False)
    run_cli(
        "release", "v1", "--results", str(results), "--config", str(REPO / "config/config.yaml"), "--versions", closed
    )
    released = pd.read_parquet(results / "releases/v1/splits.parquet")
    # A new patient arrives: duplicate one patient row under a new pseudonym.
    part = next(p for p in (results / "curated/tables/patients").rglob("*.parquet") if len(pd.read_parquet(p)))
    frame = pd.read_parquet(part)
    extra = frame.iloc[:1].assign(patient_id="P-00000000000000ff", person_id="P-00000000000000ff")
    pd.concat([frame, extra]).to_parquet(part, index=False)
    run_cli("splits", "--results", str(results), *demo_scope(), "--versions", closed)
    after = pd.read_parquet(results / "curated/splits/v1.parquet")
    assert "P-00000000000000ff" not in set(after.patient_id) and len(after) == len(released)


def test_release_contents_card_and_immutability(results, tmp_path):
    first = release(results, tmp_path)
    folder = results / "releases/v1"
    assert "written" in first.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    by_path = {f["path"]: f for f in manifest["files"]}
    card = (folder / "README.md").read_text()
    for dataset in ("duke", "embed", "ispy1", "ispy2", "vindr_mammo"):
        assert f"| {dataset} |" in card
    assert "forbids redistribution" in card and "duckdb" in card.lower() and "pandas" in card
    images = [f for f in manifest["files"] if f["kind"] == "image"]
    assert {f["dataset"] for f in images if not f["included"]} == {"embed", "vindr_mammo"}
    assert not any((folder / f["path"]).exists() for f in images if not f["included"])
    for f in images:
        if f["included"]:
            assert (folder / f["path"]).stat().st_size == f["bytes"]
    assert by_path["splits.parquet"]["included"]
    again = release(results, tmp_path)
    assert "identical" in again.stdout
    (results / "curated/splits/v1.parquet").write_bytes(b"")  # content changes under the same version name
    table = pd.read_parquet(folder / "splits.parquet")
    table.iloc[:-1].to_parquet(results / "curated/splits/v1.parquet", index=False)
    refused = release(results, tmp_path, check=False)
    assert refused.returncode != 0 and "already exists" in refused.stderr


def _released(results, tmp_path):
    release(results, tmp_path)
    return results / "releases"


def _query(catalog, sql):
    proc = subprocess.run(
        [sys.executable, "-m", "breastcurate", "query", sql, "--catalog", str(catalog), "--format", "csv"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return proc.stdout


def test_pull_local_selects_verifies_and_is_queryable(results, tmp_path):
    root = _released(results, tmp_path)
    out = tmp_path / "pulled"
    run_cli("pull", "--from", str(root), "--version", "v1", "--split", "test", "--dataset", "duke", "--to", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    pulled = {f["path"] for f in manifest["files"] if f["kind"] == "image" and (out / f["path"]).exists()}
    wanted = {
        f["path"]
        for f in manifest["files"]
        if f["kind"] == "image" and f["included"] and f["split"] == "test" and f["dataset"] == "duke"
    }
    assert pulled == wanted
    assert all(
        (out / f["path"]).exists()
        for f in manifest["files"]
        if f["kind"] != "image" and f["dataset"] in (None, "duke") and f["split"] in (None, "test")
    )
    assert not (out / "splits/split=train").exists()  # the per-split copies follow --split
    assert not (out / "tables/images/dataset=embed").exists()  # --dataset selects tables too
    assert "split" in _query(out / "catalog.duckdb", "SELECT split, count(*) FROM splits GROUP BY 1")
    code = (  # a plain DuckDB client, from /: the pulled catalog holds its tables (those a partial pull lacks: empty)
        f"import duckdb; con = duckdb.connect({str(out / 'catalog.duckdb')!r}, read_only=True); "
        "print(con.execute('SELECT count(*) FROM splits').fetchone()[0], "
        "con.execute('SELECT count(*) FROM images').fetchone()[0])"
    )
    plain = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True)
    splits, images = map(int, plain.stdout.split())
    assert splits > 0 and images == 0  # duke only: no mammograms
    again = run_cli("pull", "--from", str(root), "--version", "v1", "--to", str(out))
    assert "already present and verified" in again.stdout


def test_pull_http_resumes_an_interrupted_transfer(results, tmp_path):
    root = _released(results, tmp_path)
    manifest = json.loads((root / "v1/manifest.json").read_text())
    included = [f for f in manifest["files"] if f["included"]]
    biggest = max(included, key=lambda f: f["bytes"])
    with http_server(root) as (server, url):
        server.cuts[biggest["path"]] = [biggest["bytes"] // 2]  # the connection drops half-way, once
        server.faults["manifest.json"] = [503]  # and the server is briefly unavailable
        out = tmp_path / "http"
        run_cli("pull", "--from", url, "--version", "v1", "--to", str(out))
        resumed = [start for target, start, _ in server.served if target.endswith(biggest["path"])]
        assert resumed == [0, biggest["bytes"] // 2]  # resumed with a Range request where it stopped
        assert sent(server, "/v1/") - sent(server, "manifest.json") == sum(f["bytes"] for f in included)
    for f in manifest["files"]:
        assert (out / f["path"]).exists() == f["included"]
    assert not list(out.rglob("*.part"))


def test_pull_refuses_unsafe_manifest(results, tmp_path):
    root = _released(results, tmp_path)
    manifest = json.loads((root / "v1/manifest.json").read_text())
    manifest["files"][0]["path"] = "../escape.txt"
    (root / "v1/manifest.json").write_text(json.dumps(manifest))
    proc = run_cli("pull", "--from", str(root), "--version", "v1", "--to", str(tmp_path / "x"), check=False)
    assert proc.returncode != 0 and "unsafe path" in proc.stderr
    assert not (tmp_path / "escape.txt").exists()


def test_pull_detects_corruption(results, tmp_path):
    root = _released(results, tmp_path)
    manifest = json.loads((root / "v1/manifest.json").read_text())
    victim = next(f for f in manifest["files"] if f["kind"] == "image" and f["included"])
    path = root / "v1" / victim["path"]
    path.unlink()  # break the hard link before changing bytes
    path.write_bytes(b"not the released bytes")
    proc = run_cli("pull", "--from", str(root), "--version", "v1", "--to", str(tmp_path / "c"), check=False)
    assert proc.returncode != 0 and "sha256 does not match" in proc.stderr


def _lineage(results, tmp_path):
    """Releases v1 (one patient per dataset fewer) and v2 (everyone; v1's settings under a new name: the same
    lineage)."""
    patients = {p: p.read_bytes() for p in (results / "curated/tables/patients").rglob("*.parquet")}
    for part in patients:
        frame = pd.read_parquet(part)
        frame.iloc[1:].to_parquet(part, index=False) if len(frame) else None
    data = yaml.safe_load((REPO / "config/splits.yaml").read_text())
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(data))
    run_cli("splits", "--results", str(results), *demo_scope(), "--versions", str(one))
    config = str(REPO / "config/config.yaml")
    run_cli("release", "v1", "--results", str(results), "--config", config, "--versions", str(one))
    for part, original in patients.items():
        part.write_bytes(original)
    data["versions"]["v2"] = dict(data["versions"]["v1"])
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump(data))
    run_cli("splits", "--results", str(results), *demo_scope(), "--versions", str(two))
    run_cli("release", "v2", "--results", str(results), "--config", config, "--versions", str(two))
    return results / "releases"


def _moved_copy(root, version, name):
    """A copy of a release in which one patient sits on another side (what a broken lineage looks like)."""
    shutil.copytree(root / version, root / name)
    path = root / name / "splits.parquet"
    splits = pd.read_parquet(path)
    splits.loc[0, "split"] = "test" if splits.loc[0, "split"] != "test" else "train"
    splits.to_parquet(path, index=False)
    return splits.loc[0, "patient_id"]


@pytest.mark.system
def test_publish_pull_and_diff_over_s3(results, tmp_path):
    root = _lineage(results, tmp_path)
    with s3_server():
        import boto3

        boto3.client("s3").create_bucket(Bucket="releases")
        remote = "s3://releases/breastcurate"
        first = run_cli("publish", "v1", "--to", remote, "--results", str(results))
        manifest = json.loads((root / "v1/manifest.json").read_text())
        included = [f for f in manifest["files"] if f["included"]]
        assert f"{len(included)} files uploaded, 0 already there" in first.stdout
        assert "0 files uploaded" in run_cli("publish", "v1", "--to", remote, "--results", str(results)).stdout

        out = tmp_path / "pulled"
        run_cli("pull", "--from", remote, "--version", "v1", "--split", "train", "--to", str(out))
        pulled = [f for f in json.loads((out / "manifest.json").read_text())["files"] if (out / f["path"]).is_file()]
        assert pulled and all(f["split"] in (None, "train") for f in pulled)

        report = tmp_path / "diff.json"  # the published v1, read from S3, against the larger v2 of its lineage
        shown = run_cli("diff-release", f"{remote}/v1", str(root / "v2"), "--json", str(report), "--frozen")
        diff = json.loads(report.read_text())
        same = run_cli("diff-release", str(out), f"{remote}/v1", "--frozen").stdout  # the pulled copy is v1
        assert "files: 0 added, 0 removed, 0 changed" in same and "patients added" not in same

        # a different release under a published version name is refused
        (root / "v1").rename(root / "v1-kept")
        shutil.copytree(root / "v2", root / "v1")
        refused = run_cli("publish", "v1", "--to", remote, "--results", str(results), check=False)
        assert refused.returncode == 1 and "already holds a different release v1" in refused.stderr
    v1 = pd.read_parquet(root / "v1-kept/splits.parquet")
    v2 = pd.read_parquet(root / "v2/splits.parquet")
    added = {(d, p) for d, splits in diff["patients"]["added"].items() for ps in splits.values() for p in ps}
    assert added == set(zip(v2.dataset, v2.patient_id)) - set(zip(v1.dataset, v1.patient_id)) and added
    assert diff["patients"]["removed"] == {} and diff["patients"]["moved"] == []
    assert (
        diff["rows"]["splits"] == {"a": len(v1), "b": len(v2)}
        and diff["rows"]["patients"]["b"] > diff["rows"]["patients"]["a"]
    )
    assert diff["files"]["added"] and "patients moved to another split: 0" in shown.stdout
    patient = _moved_copy(root, "v2", "v2-moved")
    moved = run_cli("diff-release", str(root / "v2"), str(root / "v2-moved"), "--frozen", check=False)
    assert moved.returncode == 1 and "a frozen lineage moves none" in moved.stdout and patient in moved.stdout


def test_publish_to_a_folder_respects_the_licences(results, tmp_path):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["release"] = {"include_restricted_images": True}  # our own agreement allows it; publishing still asks
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    versions = str(REPO / "config/splits.yaml")
    run_cli(
        "release", "v1", "--results", str(results), "--config", str(tmp_path / "config.yaml"), "--versions", versions
    )
    shared = tmp_path / "shared"
    refused = run_cli("publish", "v1", "--to", str(shared), "--results", str(results), check=False)
    assert refused.returncode == 1 and "embed, vindr_mammo" in refused.stderr and not shared.exists()
    run_cli("publish", "v1", "--to", str(shared), "--results", str(results), "--include-restricted-images")
    out = tmp_path / "out"
    run_cli("pull", "--from", str(shared), "--version", "v1", "--to", str(out))
    assert (out / "manifest.json").read_bytes() == (results / "releases/v1/manifest.json").read_bytes()


def test_croissant_card_validates_and_loads_the_train_split(results, tmp_path):
    import mlcroissant as mlc

    root = _released(results, tmp_path)
    card = json.loads((root / "v1/croissant.json").read_text())
    assert card["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    manifest = json.loads((root / "v1/manifest.json").read_text())
    digests = {d["contentUrl"]: d["sha256"] for d in card["distribution"] if d["@type"] == "cr:FileObject"}
    for f in manifest["files"]:
        if f["kind"] != "image" and not f["path"].startswith("splits/") and f["path"] != "croissant.json":
            assert digests[f["path"]] == f["sha256"]  # every table and release file, with its sha256
    assert "Annex E" in str(card["rai:dataPreprocessingProtocol"]) and "_native" in card["rai:dataAnnotationProtocol"]

    out = tmp_path / "pulled"
    run_cli("pull", "--from", str(root), "--version", "v1", "--split", "train", "--to", str(out))
    dataset = mlc.Dataset(jsonld=out / "croissant.json")  # validates; raises on errors
    train = list(dataset.records("splits", filters={"splits/split": "train"}))
    expected = pd.read_parquet(out / "splits.parquet").query("split == 'train'")
    assert sorted(r["splits/patient_id"].decode() for r in train) == sorted(expected.patient_id)
    licences = {r["datasets/dataset"]: r for r in dataset.records("datasets")}
    assert not licences["vindr_mammo"]["datasets/images_included"] and licences["duke"]["datasets/images_included"]
    files = list(dataset.records("files"))  # every curated file's sha256, images of every dataset included
    assert {r["files/sha256"].decode() for r in files} >= {
        f["sha256"] for f in manifest["files"] if f["kind"] == "image"
    }


def test_croissant_types_every_schema_type():
    """Every column type the table schemas use has its own Croissant data type: a date is a Date, not Text."""
    import mlcroissant as mlc
    from breastcurate.release.croissant import DATA_TYPES, _fields
    from breastcurate.tables import ARROW_TYPES, table_names, table_schema

    used = {c.type for name in table_names() for c in table_schema(name).columns}
    assert used <= set(DATA_TYPES) == set(ARROW_TYPES)
    expected = {
        "string": mlc.DataType.TEXT,
        "int32": mlc.DataType.INTEGER,
        "int64": mlc.DataType.INTEGER,
        "float64": mlc.DataType.FLOAT,
        "bool": mlc.DataType.BOOL,
        "date": mlc.DataType.DATE,
    }
    assert DATA_TYPES == expected
    source = mlc.FileSet(id="studies-files", name="studies-files", encoding_formats=["application/x-parquet"])
    fields = {f.name: f.data_types for f in _fields("studies", source)}
    assert fields["study_date"] == [mlc.DataType.DATE]
