"""`source: download`: TCIA's NBIA API, PhysioNet and S3, each against a real server on 127.0.0.1 (tests/servers.py),
through `breastcurate plan-download` / `download` and through Snakemake."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from breastcurate.layout import IDC_INDEX_NAME
from conftest import DEMO_SHARDS, REPO, executed_jobs, run_cli, snakemake, write_config
from servers import FakeNBIA, http_server, s3_server, sent, zip_bytes

PASSWORD = "correct-horse-battery"
FAST = {"retries": 2, "backoff_seconds": 0.05, "concurrency": 2}


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory) -> Path:
    """Native demo mirrors to serve: the same patients (2, seed 11) as the session's demo run."""
    out = tmp_path_factory.mktemp("served")
    for dataset in ("duke", "vindr_mammo", "embed"):
        run_cli("demo-data", "--out", str(out), "--dataset", dataset, "--patients", "2", "--seed", "11")
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def duke_block(url: str, mirror: Path, **extra) -> dict:
    files = [
        {"url": f"{url}/supplementary/{name}", "path": name, "sha256": sha256(mirror / name)}
        for name in ("Clinical_and_Other_Features.xlsx", "Annotation_Boxes.xlsx")
    ]
    settings = {"transport": "nbia", "url": f"{url}/nbia-api/services/v4", "files": files, **FAST, **extra}
    return {"source": "download", "download": settings}


def physionet_tree(mirror: Path, out: Path) -> Path:
    """A PhysioNet-like project folder with SHA256SUMS.txt; returns it."""
    project = out / "files" / "vindr-mammo" / "1.0.0"
    shutil.copytree(mirror, project)
    sums = "".join(f"{digest}  {name}\n" for name, digest in tree(project).items())
    (project / "SHA256SUMS.txt").write_text(sums)
    return project


def config_for(work: Path, datasets: dict, keep_dicom: bool = False, **extra) -> Path:
    key = work / "key"
    key.write_text("breastcurate-public-demo-key-not-secret")  # the demo key, so pseudonyms equal the demo run's
    deid = {"secret_file": str(key), "keep_dicom": keep_dicom}
    return write_config(work, datasets=datasets, n_shards=DEMO_SHARDS, deid=deid, **extra)


def download(work: Path, dataset: str, check: bool = True, **env):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v is not None})
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        return run_cli("download", dataset, "--config", str(work / "config.yaml"), "--quiet", check=check)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.e2e  # the demo mirrors it serves come from the CLI
def test_nbia_download_plans_resumes_and_retries(mirrors, tmp_path):
    duke = mirrors / "duke"
    nbia = FakeNBIA(duke, "Duke-Breast-Cancer-MRI")
    routes = {
        **nbia.routes(),
        **{f"/supplementary/{p.name}": (lambda q, p=p: p.read_bytes()) for p in duke.glob("*.xlsx")},
    }
    uids = sorted(nbia.zips)
    cut_uid, corrupt_uid = uids[0], uids[1]
    with http_server(routes=routes) as (server, url):
        config_for(tmp_path, {"duke": duke_block(url, duke)}, results_dir=str(tmp_path / "results"))
        plan = run_cli("plan-download", "duke", "--config", str(tmp_path / "config.yaml")).stdout
        files = sum(r["ImageCount"] for r in nbia.rows)
        assert f"duke: {len(uids)} series, {files} files" in plan and f"to fetch: {len(uids)} series" in plan
        assert not sent(server, "getImage")  # planning fetches nothing

        server.faults["getSeries"] = [429, 503]  # busy, then unavailable, then fine
        half = len(nbia.zips[cut_uid]) // 4
        server.cuts[cut_uid] = [half, half, half]  # dropped three times: more than the 2 retries allow
        server.corrupt[corrupt_uid] = [True]  # one corrupt zip: refetched in the same run
        first = download(tmp_path, "duke", check=False)
        assert first.returncode == 1 and f"series {cut_uid}" in first.stderr and "1 of" in first.stderr
        raw = tmp_path / "results/restricted/raw/duke"
        state = tmp_path / "results/restricted/downloads/duke"
        assert not (state / "complete.json").exists()
        assert len((state / "ledger.jsonl").read_text().splitlines()) == len(uids) - 1
        assert not list(raw.rglob("*.part")) and not list(raw.rglob("*.zip"))  # partial files stay outside
        progress = json.loads((state / "progress.json").read_text())
        cut_files = next(r["ImageCount"] for r in nbia.rows if r["SeriesInstanceUID"] == cut_uid)
        assert progress["state"] == "incomplete" and progress["files_total"] == files
        assert progress["files_done"] == files - cut_files
        assert sent(server, corrupt_uid) == 2 * len(nbia.zips[corrupt_uid])

        again = download(tmp_path, "duke")
        assert f"1 fetched, {len(uids) - 1} already verified" in again.stdout
        starts = [start for target, start, _ in server.served if cut_uid in target]
        assert starts == [0, half, 2 * half, 3 * half]  # resumed where it stopped, never from scratch
        for uid in uids:  # nothing fetched twice (but the corrupt zip)
            assert sent(server, uid) == len(nbia.zips[uid]) * (2 if uid == corrupt_uid else 1)

        assert tree(raw) == {k: v for k, v in tree(duke).items() if not k.endswith(("mapping.xlsx", IDC_INDEX_NAME))}
        report = json.loads((state / "complete.json").read_text())
        assert report["items"] == len(uids) and report["files"] == files
        progress = json.loads((state / "progress.json").read_text())
        assert progress["files_done"] == progress["files_total"] == files and progress["state"] == "complete"
        assert progress["bytes_total"] == sum(r["FileSize"] for r in nbia.rows)

        # a series folder lost from the mirror is fetched again, and only it
        lost = next(raw.rglob("*.dcm")).parent
        shutil.rmtree(lost)
        before = len(server.served)
        download(tmp_path, "duke")
        assert lost.is_dir() and len([t for t, _, _ in server.served[before:] if "getImage" in t]) == 1


@pytest.mark.e2e  # the demo mirrors it serves come from the CLI
def test_nbia_refuses_zip_slip_and_links(mirrors, tmp_path):
    duke = mirrors / "duke"
    nbia = FakeNBIA(duke, "Duke-Breast-Cancer-MRI")
    uids = sorted(nbia.zips)
    nbia.zips[uids[0]] = zip_bytes({"1-01.dcm": b"x", "../../../escaped.dcm": b"evil"})
    nbia.zips[uids[1]] = zip_bytes({"1-01.dcm": b"x"}, links={"1-02.dcm": "/etc/passwd"})
    routes = {
        **nbia.routes(),
        **{f"/supplementary/{p.name}": (lambda q, p=p: p.read_bytes()) for p in duke.glob("*.xlsx")},
    }
    with http_server(routes=routes) as (server, url):
        config_for(tmp_path, {"duke": duke_block(url, duke)}, results_dir=str(tmp_path / "results"))
        proc = download(tmp_path, "duke", check=False)
    assert proc.returncode == 1
    assert "'../../../escaped.dcm'" in proc.stderr and "'1-02.dcm'" in proc.stderr and "archive refused" in proc.stderr
    assert not list(tmp_path.rglob("escaped.dcm")) and not list(tmp_path.parent.glob("escaped.dcm"))
    assert not [p for p in tmp_path.rglob("*") if p.is_symlink()]
    ledger = (tmp_path / "results/restricted/downloads/duke/ledger.jsonl").read_text()
    assert uids[0] not in ledger and uids[1] not in ledger and len(ledger.splitlines()) == len(uids) - 2


@pytest.mark.e2e  # the demo mirrors it serves come from the CLI
def test_physionet_credentials_checksums_and_resume(mirrors, tmp_path):
    project = physionet_tree(mirrors / "vindr_mammo", tmp_path / "site")
    names = sorted(tree(project))
    images = [n for n in names if n.startswith("images/")]
    with http_server(tmp_path / "site", users={"reader": PASSWORD, "nodua": PASSWORD}) as (server, url):
        server.forbidden.add("nodua")
        block = {"source": "download", "download": {"url": f"{url}/files/vindr-mammo/1.0.0/", **FAST}}
        config_for(tmp_path, {"vindr_mammo": block}, results_dir=str(tmp_path / "results"))
        netrc = tmp_path / "netrc"
        nobody = {"PHYSIONET_USERNAME": None, "PHYSIONET_PASSWORD": None, "NETRC": str(tmp_path / "none")}

        missing = download(tmp_path, "vindr_mammo", check=False, **nobody)
        assert missing.returncode == 1 and "$PHYSIONET_USERNAME" in missing.stderr and "~/.netrc" in missing.stderr
        wrong = download(
            tmp_path,
            "vindr_mammo",
            check=False,
            PHYSIONET_USERNAME="reader",
            PHYSIONET_PASSWORD="guess",
            NETRC=nobody["NETRC"],
        )
        assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr and "$PHYSIONET_USERNAME" in wrong.stderr
        assert "guess" not in wrong.stderr + wrong.stdout
        netrc.write_text(f"machine 127.0.0.1 login nodua password {PASSWORD}\n")
        refused = download(tmp_path, "vindr_mammo", check=False, **{**nobody, "NETRC": str(netrc)})
        assert refused.returncode == 1 and "HTTP 403" in refused.stderr and "data use agreement" in refused.stderr
        assert str(netrc) in refused.stderr and PASSWORD not in refused.stderr + refused.stdout

        netrc.write_text(f"machine 127.0.0.1 login reader password {PASSWORD}\n")
        plan = run_cli("plan-download", "vindr_mammo", "--config", str(tmp_path / "config.yaml"), check=False)
        assert plan.returncode == 1  # no credentials in this process's environment: nothing is listed either
        env = {**nobody, "NETRC": str(netrc)}
        sums = project / "SHA256SUMS.txt"
        good_sums = sums.read_text()
        bad = images[0]
        sums.write_text(good_sums.replace(sha256(project / bad), "0" * 64))  # a checksum mismatch
        size = (project / images[1]).stat().st_size
        server.cuts[images[1]] = [size // 2]  # a truncated transfer: resumed in the same run
        server.faults[images[2]] = [503, 429]
        first = download(tmp_path, "vindr_mammo", check=False, **env)
        assert first.returncode == 1 and bad in first.stderr and "sha256 differs" in first.stderr
        raw = tmp_path / "results/restricted/raw/vindr_mammo"
        assert not (raw / bad).exists() and not list(raw.rglob("*.part"))
        progress = json.loads((tmp_path / "results/restricted/downloads/vindr_mammo/progress.json").read_text())
        assert progress["state"] == "incomplete" and progress["bytes_total"] is None  # SHA256SUMS.txt has no sizes
        assert (progress["files_done"], progress["files_total"]) == (len(names) - 2, len(names) - 1)
        assert [s for t, s, _ in server.served if t.endswith(images[1])] == [0, size // 2]

        sums.write_text(good_sums)
        before = len(server.served)
        second = download(tmp_path, "vindr_mammo", **env)
        fetched = [t for t, _, _ in server.served[before:] if "SHA256SUMS" not in t]
        assert len(fetched) == 1 and fetched[0].endswith(bad) and "1 fetched" in second.stdout
        assert f"vindr_mammo: {len(names) - 1}/{len(names) - 1} files, " in second.stderr  # the one-line summary
        status = run_cli("download-status", "vindr_mammo", "--results", str(tmp_path / "results"), "--json")
        progress = json.loads(status.stdout)
        assert progress["state"] == "complete" and progress["files_done"] == len(names) - 1
        assert progress["bytes_done"] == sum((project / n).stat().st_size for n in names if n != "SHA256SUMS.txt")
    assert tree(raw) == {k: v for k, v in tree(project).items() if k != "SHA256SUMS.txt"}
    for path in (tmp_path / "results").rglob("*"):
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes()


@pytest.mark.system
def test_s3_download_verifies_etags_and_names_credentials(mirrors, tmp_path):
    embed = mirrors / "embed"
    with s3_server():
        import boto3
        from boto3.s3.transfer import TransferConfig

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="embed-open")
        multipart = TransferConfig(multipart_threshold=1)  # one file as a multipart upload: an "-N" ETag
        for path in sorted(p for p in embed.rglob("*") if p.is_file()):
            rel = path.relative_to(embed).as_posix()
            s3.upload_file(str(path), "embed-open", f"open/{rel}", Config=multipart if rel.endswith(".csv") else None)
        block = {"source": "download", "download": {"url": "s3://embed-open/open", "region": "us-east-1", **FAST}}
        config_for(tmp_path, {"embed": block}, results_dir=str(tmp_path / "results"))
        expected = tree(embed)
        total = sum(p.stat().st_size for p in embed.rglob("*") if p.is_file())
        plan = run_cli("plan-download", "embed", "--config", str(tmp_path / "config.yaml")).stdout
        assert f"embed: {len(expected)} files, {len(expected)} files, {total} bytes" in plan

        state = tmp_path / "results/restricted/downloads/embed"
        csv = "tables/EMBED_OpenData_metadata.csv"
        part = state / "parts" / f"{csv}.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"not the first bytes of the object")  # a stale partial file: the ETag check catches it
        run = download(tmp_path, "embed")
        assert f"{len(expected)} fetched" in run.stdout
        raw = tmp_path / "results/restricted/raw/embed"
        assert tree(raw) == expected
        assert "1 fetched" not in download(tmp_path, "embed").stdout  # a rerun fetches nothing
        progress = json.loads((state / "progress.json").read_text())  # the rerun's: all done before it started
        assert progress["files_done"] == progress["files_total"] == len(expected) and progress["state"] == "complete"
        assert progress["bytes_done"] == progress["bytes_total"] == total
        assert progress["rate_bytes_per_second"] == 0  # it fetched nothing
        status = run_cli("download-status", "embed", "--results", str(tmp_path / "results")).stdout
        assert status.startswith(f"embed: {len(expected)}/{len(expected)} files, ")

        from breastcurate.acquire.s3 import Bucket
        from breastcurate.acquire.transfer import Policy

        target = tmp_path / "resumed.part"
        data = (embed / csv).read_bytes()
        target.write_bytes(b"X" * 10)
        Bucket("s3://embed-open/open", Policy()).fetch(csv, target)
        assert target.read_bytes() == b"X" * 10 + data[10:]  # appended from the offset with a ranged GET

        gone = download(
            tmp_path,
            "embed",
            check=False,
            AWS_ACCESS_KEY_ID=None,
            AWS_SECRET_ACCESS_KEY=None,
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            AWS_CONFIG_FILE=str(tmp_path / "none"),
        )
        assert gone.returncode == 1 and "no AWS credentials found" in gone.stderr

    denied = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
        b"<Message>Access Denied</Message></Error>"
    )
    with http_server(routes={"/embed-open": lambda q: denied}) as (server, url):
        server.faults["/"] = [403] * 20
        proc = download(
            tmp_path,
            "embed",
            check=False,
            AWS_ENDPOINT_URL=url,
            AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
            AWS_SECRET_ACCESS_KEY="wrong-secret",
        )
    assert proc.returncode == 1 and "S3 refused access" in proc.stderr and "AWS_ACCESS_KEY_ID" in proc.stderr
    assert "wrong-secret" not in proc.stderr


@pytest.mark.system
def test_pipeline_runs_downloaded_datasets_like_the_demo(mirrors, demo_run, tmp_path):
    """Duke over IDC (s5cmd against moto) through Snakemake (download → inventory → … → harmonize, radiomics) gives
    the demo run's tables byte for byte. The NBIA and IDC tests above each fetch a mirror whose DICOM files equal the
    demo mirror's byte for byte, so an NBIA mirror gives these same tables; the series' provenance comes from the
    same IDC index whatever the transport. With `deid.keep_dicom` the de-identified DICOM stays, one file for every
    row of the shard's file map (the demo run, without it, keeps none)."""
    demo_work = demo_run[0]
    duke = mirrors / "duke"
    index = tmp_path / "index.parquet"
    shutil.copy(duke / IDC_INDEX_NAME, index)
    supplementary = {f"/supplementary/{p.name}": (lambda q, p=p: p.read_bytes()) for p in duke.glob("*.xlsx")}
    with idc_buckets(duke) as (endpoint, s3, objects), http_server(routes=supplementary) as (_, url):
        block = duke_block(url, duke, transport="idc", index=str(index), endpoint_url=endpoint)
        del block["download"]["url"]  # the NBIA API is not used
        config_for(tmp_path, {"duke": block}, keep_dicom=True, demo={"patients": 2, "seed": 11})
        targets = [f"results/curated/radiomics/dataset=duke/part-{k}.parquet" for k in range(DEMO_SHARDS)]
        snakemake(tmp_path, "--cores", "2", *targets)  # needs every table part too
        ours = sorted((tmp_path / "results/curated").rglob("dataset=duke/*.parquet"))
        theirs = sorted((demo_work / "results/curated").rglob("dataset=duke/*.parquet"))
        assert [p.relative_to(tmp_path) for p in ours] == [p.relative_to(demo_work) for p in theirs]
        for a, b in zip(ours, theirs):
            assert a.read_bytes() == b.read_bytes(), a
        assert len(ours) >= 10
        report = json.loads((tmp_path / "results/restricted/downloads/duke/complete.json").read_text())
        assert report["transport"] == "idc" and report["idc_release"] == "v25"
        from breastcurate.layout import Layout

        layout = Layout(tmp_path / "results")
        kept = {
            k: {
                p.relative_to(layout.deid_dicom("duke", k)).as_posix()
                for p in layout.deid_dicom("duke", k).rglob("*.dcm")
            }
            for k in range(DEMO_SHARDS)
        }
        assert any(kept.values())  # (a shard may hold no patient)
        for k in range(DEMO_SHARDS):
            assert kept[k] == set(pd.read_parquet(layout.deid("duke", k) / "files.parquet").deid_path)

        # a newer index that revised one series: the download re-runs by itself and fetches that series, and only
        # the shard holding it is de-identified again
        uid, _, _ = revise_series(index, objects, s3, version="25.0.6")
        ran = executed_jobs((lambda p: p.stdout + p.stderr)(snakemake(tmp_path, "--cores", "2", *targets)))
        assert "download[duke]" in ran
        shard = next(
            k for k in range(DEMO_SHARDS) if uid in set(pd.read_parquet(layout.inventory_shard("duke", k)).series_uid)
        )
        assert [j for j in ran if j.startswith("deidentify[")] == [f"deidentify[duke,{shard}]"]


def revise_series(index: Path, objects: list, s3, avoid: str = "", version: str | None = None) -> tuple[str, str, Path]:
    """What IDC does when it revises a series: the index names it with a new crdc_series_uuid, whose objects hold the
    corrected content (here one byte of its first file); `version` also bumps the index's idc-index-data version, as
    a newer release would. Returns the SeriesInstanceUID, its new uuid and the demo file whose content changed."""
    stored = pq.read_table(index)
    table = stored.to_pandas()
    series_uuid = next(k.split("/")[0] for _, k, _ in objects if not k.startswith(avoid or "-"))
    row = table.index[table.crdc_series_uuid == series_uuid][0]
    new_uuid = "f" * 8 + series_uuid[8:]
    revised = [(b, k, p) for b, k, p in objects if k.startswith(series_uuid)]
    for n, (b, k, p) in enumerate(revised):
        body = bytearray(p.read_bytes())
        if n == 0:
            body[-1] ^= 0xFF  # a corrected pixel
        s3.put_object(Bucket=b, Key=new_uuid + k[len(series_uuid) :], Body=bytes(body), ACL="public-read")
    table.loc[row, "crdc_series_uuid"] = new_uuid
    table.loc[row, "series_aws_url"] = table.loc[row, "series_aws_url"].replace(series_uuid, new_uuid)
    metadata = dict(stored.schema.metadata)
    if version:
        metadata[b"idc_index_data_version"] = version.encode()
    revision = pa.Table.from_pandas(table, schema=stored.schema, preserve_index=False)
    pq.write_table(revision.replace_schema_metadata(metadata), index)
    return str(table.loc[row, "SeriesInstanceUID"]), new_uuid, revised[0][2]


@contextlib.contextmanager
def idc_buckets(mirror: Path):
    """moto's S3 on 127.0.0.1 serving the demo mirror's series under IDC's public bucket naming
    (`<crdc_series_uuid>/<crdc_instance_uuid>.dcm`, readable without credentials); yields (endpoint, client, objects)."""
    from breastcurate.demo.idc_index import bucket_objects
    from breastcurate.sources import get_adapter

    with s3_server() as env:
        import boto3

        s3 = boto3.client("s3")
        objects = list(bucket_objects(mirror, get_adapter("duke")))
        for bucket in sorted({b for b, _, _ in objects}):
            s3.create_bucket(Bucket=bucket)
        for bucket, key, path in objects:
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ACL="public-read")
        yield env["AWS_ENDPOINT_URL"], s3, objects


class ServedObjects(logging.Handler):
    """Counts the object GETs moto's server answered with a body (its request log: the server's own account)."""

    LINE = re.compile(r'"GET /(?P<bucket>[^/? ]+)/(?P<key>[^? ]+) HTTP/[0-9.]+"? (?P<status>\d{3})')

    def __init__(self):
        super().__init__()
        self.served: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self.LINE.search(re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage()))
        if match and match["status"] in ("200", "206"):
            key = f"s3://{match['bucket']}/{match['key']}"
            self.served[key] = self.served.get(key, 0) + 1


@pytest.mark.slow  # reads the whole pinned IDC index
def test_plan_download_reads_the_pinned_idc_index_offline(tmp_path):
    """The real numbers of IDC v25 (idc-index-data 25.0.5), from the installed index alone."""
    config_for(tmp_path, {"duke": {"source": "download"}, "ispy2": {"source": "download"}})
    duke = run_cli("plan-download", "duke", "--config", str(tmp_path / "config.yaml")).stdout
    assert "IDC release v25" in duke
    row = next(
        line.split() for line in duke.splitlines() if line.startswith("duke_breast_cancer_mri") and "total" in line
    )
    assert row[2:6] == ["922", "922", "5034", "773126"]  # patients, studies, MR series, files
    ispy2 = run_cli("plan-download", "ispy2", "--config", str(tmp_path / "config.yaml")).stdout
    patients = {line.split()[0]: line.split()[2] for line in ispy2.splitlines() if " total " in line}
    assert patients == {"ispy2": "719", "acrin_6698": "385"}

    where = {"source": "download", "download": {"where": "ManufacturerModelName = 'Avanto'"}}
    config_for(tmp_path, {"duke": where})
    avanto = run_cli("plan-download", "duke", "--config", str(tmp_path / "config.yaml")).stdout
    n = int(next(line.split()[2] for line in avanto.splitlines() if " total " in line))
    assert 0 < n < 922
    bad = {"source": "download", "download": {"where": "NoSuchColumn = 1"}}
    config_for(tmp_path, {"duke": bad})
    refused = run_cli("plan-download", "duke", "--config", str(tmp_path / "config.yaml"), check=False)
    assert refused.returncode == 1 and "not a valid predicate over IDC's index" in refused.stderr


@pytest.mark.system
def test_idc_download_selects_resumes_refetches_and_reports_changes(mirrors, tmp_path):
    duke = mirrors / "duke"
    index = tmp_path / "index.parquet"
    shutil.copy(duke / IDC_INDEX_NAME, index)
    supplementary = {f"/supplementary/{p.name}": (lambda q, p=p: p.read_bytes()) for p in duke.glob("*.xlsx")}
    raw = tmp_path / "results/restricted/raw/duke"
    state = tmp_path / "results/restricted/downloads/duke"
    with idc_buckets(duke) as (endpoint, s3, objects), http_server(routes=supplementary) as (_, url):

        def configure(**extra):
            block = duke_block(url, duke, transport="idc", index=str(index), endpoint_url=endpoint, **extra)
            del block["download"]["url"]  # the NBIA API is not used
            config_for(tmp_path, {"duke": block}, results_dir=str(tmp_path / "results"))

        # 1. a SQL selection fetches only the selected series
        configure(where="PatientID = 'Breast_MRI_001'")
        plan = run_cli("plan-download", "duke", "--config", str(tmp_path / "config.yaml")).stdout
        assert "duke_breast_cancer_mri   total            1        1" in plan
        download(tmp_path, "duke")
        assert {p.relative_to(raw).parts[1] for p in raw.rglob("*.dcm")} == {"Breast_MRI_001"}
        first = {p.relative_to(raw).as_posix(): sha256(p) for p in raw.rglob("*.dcm")}
        assert first == {k: v for k, v in tree(duke).items() if k.endswith(".dcm") and "Breast_MRI_001" in k}

        # 2. the whole cohort: a run killed mid-transfer, then one refused an object, then one that completes
        served = ServedObjects()
        logging.getLogger("werkzeug").addHandler(served)
        configure(concurrency=1)
        plan_all = run_cli("plan-download", "duke", "--config", str(tmp_path / "config.yaml")).stdout
        killed = subprocess.Popen(
            [sys.executable, "-m", "breastcurate", "download", "duke", "--config", str(tmp_path / "config.yaml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        while killed.poll() is None and len(list((state / "incoming").rglob("*.dcm"))) < 5:
            time.sleep(0.01)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
        assert not (state / "complete.json").exists()
        stopped = json.loads((state / "progress.json").read_text())  # what the killed run last wrote
        assert stopped["state"] == "running" and stopped["files_total"] == len(objects)
        sizes = {f"s3://{b}/{k}": p.stat().st_size for b, k, p in objects}
        kept = {  # what the killed run left complete: never to be fetched again
            f"s3://{b}/{k}"
            for b, k, _ in objects
            if (state / "incoming" / k).is_file() and (state / "incoming" / k).stat().st_size == sizes[f"s3://{b}/{k}"]
        }
        assert killed.returncode == -signal.SIGKILL and kept  # killed mid-transfer
        configure()
        rest = [(b, k, p) for b, k, p in objects if "Breast_MRI_001" not in str(p)]
        missing = [o for o in rest if f"s3://{o[0]}/{o[1]}" not in kept]
        refused_bucket, refused_key, _ = missing[0]
        s3.put_object_acl(Bucket=refused_bucket, Key=refused_key, ACL="private")
        cut_bucket, cut_key, cut_path = missing[-1]
        cut = state / "incoming" / cut_key
        cut.parent.mkdir(parents=True, exist_ok=True)
        cut.write_bytes(cut_path.read_bytes()[:100])  # a copy cut short, as a kill leaves it
        failed = download(tmp_path, "duke", check=False)
        series = refused_key.split("/")[0]
        assert failed.returncode == 1 and series in failed.stderr and "1 of" in failed.stderr
        assert not (state / "complete.json").exists()
        progress = json.loads((state / "progress.json").read_text())
        assert progress["state"] == "incomplete" and progress["files_done"] == len(objects) - 1
        s3.put_object_acl(Bucket=refused_bucket, Key=refused_key, ACL="public-read")
        download(tmp_path, "duke")
        expected = {k: v for k, v in tree(duke).items() if k.endswith(".dcm")}
        assert {p.relative_to(raw).as_posix(): sha256(p) for p in raw.rglob("*.dcm")} == expected
        assert not list((state / "incoming").rglob("*"))
        # the progress of the whole cohort counts what every run fetched: the plan's files, the bucket's bytes
        progress = json.loads((state / "progress.json").read_text())
        planned = int(re.search(r"duke: \d+ series, (\d+) files", plan_all).group(1))
        assert progress["files_done"] == progress["files_total"] == planned == len(objects)
        assert progress["bytes_done"] == progress["bytes_total"] == sum(sizes.values())
        assert progress["state"] == "complete" and progress["eta_seconds"] is None
        line = run_cli("download-status", "duke", "--config", str(tmp_path / "config.yaml")).stdout
        assert line.startswith(f"duke: {planned}/{planned} files, ") and "(100.0 %)" in line and "; complete" in line
        logging.getLogger("werkzeug").removeHandler(served)
        wanted = {f"s3://{b}/{k}" for b, k, p in rest}
        assert set(served.served) == wanted  # every object of the cohort's other series, none of patient 001's
        assert all(served.served[k] == 1 for k in kept)  # nothing complete was fetched twice
        assert served.served[f"s3://{cut_bucket}/{cut_key}"] >= 1  # the cut one was fetched again, whole

        # the ledger records what the bucket said and what arrived
        ledger = [json.loads(line) for line in (state / "ledger.jsonl").read_text().splitlines()]
        recorded = {o["sha256"] for entry in ledger for o in entry["objects"].values()}
        assert recorded == set(expected.values()) and all(e["crdc_series_uuid"] for e in ledger)
        report = json.loads((state / "complete.json").read_text())
        assert report["transport"] == "idc" and report["idc_release"] == "v25"
        assert report["idc_index_data"].startswith("25.0.5")

        # 3. a rerun fetches nothing; an object changed in the bucket is a failure naming its series
        assert "0 fetched" in download(tmp_path, "duke").stdout
        bucket, key, path = objects[0]
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data), ACL="public-read")
        changed = download(tmp_path, "duke", check=False)
        assert changed.returncode == 1 and "changed in the bucket since it was fetched" in changed.stderr
        assert key.split("/")[0] in changed.stderr
        assert sha256(raw / next(k for k in expected if expected[k] == sha256(path))) == sha256(path)  # kept as fetched

        # 4. a newer index names a revised series (a new crdc_series_uuid, one object's content changed): a rerun
        # fetches that series alone, anew, and replaces its files in the mirror; every other series stays as fetched
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ACL="public-read")  # step 3's change undone
        uid, new_uuid, revised_file = revise_series(index, objects, s3, objects[0][1].split("/")[0])
        before = {p.relative_to(raw).as_posix(): sha256(p) for p in raw.rglob("*.dcm")}
        rerun = download(tmp_path, "duke")
        assert "1 fetched, 1 of them revised upstream" in rerun.stdout, rerun.stdout
        after = {p.relative_to(raw).as_posix(): sha256(p) for p in raw.rglob("*.dcm")}
        assert before.keys() == after.keys()
        assert [k for k in after if after[k] != before[k]] == [k for k in before if before[k] == sha256(revised_file)]
        ledger = {e["key"]: e for e in map(json.loads, (state / "ledger.jsonl").read_text().splitlines())}
        assert ledger[uid]["crdc_series_uuid"] == new_uuid


def test_progress_record_rate_eta_and_a_stopped_download(tmp_path):
    """The progress record's rate and ETA follow from what this run fetched; a running download whose record is
    older than `STALE` is reported stopped; without a byte total the ETA comes from the files."""
    from breastcurate.acquire.status import STALE, StatusFile, describe, record

    where = StatusFile(tmp_path / "progress.json", "embed", "s3")
    started = time.time() - 100
    status = record(where, "running", (60, 6_000_000_000), (100, 10_000_000_000), started, 5_000_000_000, 50)
    assert status["rate_bytes_per_second"] == pytest.approx(5e7, rel=0.01)
    assert status["eta_seconds"] == pytest.approx(80, rel=0.01)  # 4 GB left at 50 MB/s
    line = describe(status, now=status["updated_epoch"])
    assert line.startswith("embed: 60/100 files, 6.0 GB of 10.0 GB (60.0 %); 50.0 MB/s; running, about 1 min left")
    assert "stopped" in describe(status, now=status["updated_epoch"] + STALE + 1)
    by_files = record(where, "running", (60, 6_000), (100, None), started, 5_000, 50)
    assert by_files["eta_seconds"] == pytest.approx(80, rel=0.01)  # 40 files left at 0.5 files/s
    assert "total not listed" in describe(by_files)
    done = record(where, "complete", (100, 10_000), (100, 10_000), started, 0, 0)
    assert done["eta_seconds"] is None and "stopped" not in describe(done, now=time.time() + 2 * STALE)


@pytest.mark.e2e  # the demo mirrors it serves come from the CLI
def test_download_slots_bound_the_downloads_at_once(mirrors, tmp_path, monkeypatch):
    """Two datasets' downloads through Snakemake with `--resources download_slots=1` (what the profiles set, at 2):
    on 2 cores, the second starts only when the first has finished; each leaves its progress and summary line."""
    duke = mirrors / "duke"
    nbia = FakeNBIA(duke, "Duke-Breast-Cancer-MRI")
    routes = {
        **nbia.routes(),
        **{f"/supplementary/{p.name}": (lambda q, p=p: p.read_bytes()) for p in duke.glob("*.xlsx")},
    }
    physionet_tree(mirrors / "vindr_mammo", tmp_path / "site")
    monkeypatch.setenv("PHYSIONET_USERNAME", "reader")
    monkeypatch.setenv("PHYSIONET_PASSWORD", PASSWORD)
    with (
        http_server(routes=routes) as (_, url),
        http_server(tmp_path / "site", users={"reader": PASSWORD}) as (_, site),
    ):
        vindr = {"source": "download", "download": {"url": f"{site}/files/vindr-mammo/1.0.0/", **FAST}}
        config_for(tmp_path, {"duke": duke_block(url, duke), "vindr_mammo": vindr})
        targets = [f"results/restricted/downloads/{d}/complete.json" for d in ("duke", "vindr_mammo")]
        run = snakemake(tmp_path, "--resources", "download_slots=1", "--cores", "2", *targets)
    events = re.findall(r"^(?:local)?rule (download):|^Finished jobid: \d+ \(Rule: (download)\)", run.stderr, re.M)
    assert [("start" if started else "end") for started, _ in events] == ["start", "end", "start", "end"]
    for profile in ("local", "slurm"):
        assert yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())["resources"] == {
            "download_slots": 2
        }
    for dataset in ("duke", "vindr_mammo"):
        progress = json.loads((tmp_path / f"results/restricted/downloads/{dataset}/progress.json").read_text())
        assert progress["state"] == "complete" and progress["files_done"] == progress["files_total"] > 0
        log = (tmp_path / f"results/restricted/logs/download/{dataset}.log").read_text()
        assert f"{dataset}: {progress['files_total']}/{progress['files_total']} files, " in log
