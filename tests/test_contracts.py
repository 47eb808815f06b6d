"""The catalog is exactly what the config and the inputs say: a dataset taken out of the config leaves every table,
split, check and the next release (whose card says so), and a release dirties nothing. On a copy of the demo run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from breastcurate.layout import Layout
from conftest import REPO, executed_jobs, run_cli, snakemake

DROPPED = "cbis_ddsm"


def release(work: Path, version: str) -> Path:
    config, versions = str(work / "config.yaml"), str(REPO / "config/splits.yaml")
    run_cli("release", version, "--results", str(work / "results"), "--config", config, "--versions", versions)
    return work / "results" / "releases" / version


def rows_of(catalog: Path, dataset: str) -> dict[str, int]:
    """Rows of `dataset` in every catalog table that has a dataset column."""
    with duckdb.connect(str(catalog), read_only=True) as con:
        tables = [
            t
            for (t,) in con.sql(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'dataset' "
                "AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')"
            ).fetchall()
        ]
        return {t: con.execute(f"SELECT count(*) FROM {t} WHERE dataset = '{dataset}'").fetchone()[0] for t in tables}


@pytest.fixture(scope="module")
def dropped(demo_run, tmp_path_factory) -> dict:
    """A copy of the demo run: release v1, a dry run, then the run with CBIS-DDSM taken out of the config, then
    release v2; what each step showed."""
    # beside the demo run, so that the checkout's files (split versions, radiomics parameters) have the same relative
    # paths from it and the copy alone re-runs nothing
    work = demo_run[0].parent / "contracts-work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(demo_run[0], work, symlinks=True)
    seen: dict = {"work": work, "before": rows_of(work / "results/catalog.duckdb", DROPPED)}
    release(work, "v1")
    seen["after_release"] = snakemake(work, "-n")
    config = yaml.safe_load((work / "config.yaml").read_text())
    del config["datasets"][DROPPED]
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    run = snakemake(work, "--cores", "2")
    seen["run"] = run.stdout + run.stderr
    seen["after"] = rows_of(work / "results/catalog.duckdb", DROPPED)
    seen["v2"] = release(work, "v2")
    seen["clean"] = snakemake(work, "-n")
    return seen


def test_a_release_leaves_the_workflow_clean(dropped):
    proc = dropped["after_release"]
    assert "Nothing to be done" in proc.stdout + proc.stderr, executed_jobs(proc.stdout + proc.stderr)
    proc = dropped["clean"]
    assert "Nothing to be done" in proc.stdout + proc.stderr, executed_jobs(proc.stdout + proc.stderr)


def test_a_dropped_dataset_leaves_every_catalog_table(dropped):
    before, after = dropped["before"], dropped["after"]
    assert before["patients"] > 0 and before["images"] > 0 and before["splits"] > 0 and before["radiomics"] > 0
    assert set(after) == set(before) and all(n == 0 for n in after.values()), after
    assert f"removed results/curated/images/{DROPPED}" in dropped["run"]


def test_a_dropped_dataset_leaves_the_curated_zone_splits_and_checks(dropped):
    layout = Layout(dropped["work"] / "results")
    assert [p for p in layout.curated.rglob("*") if DROPPED in p.as_posix()] == []
    for split in layout.curated.glob("splits/*.parquet"):
        assert DROPPED not in set(pd.read_parquet(split).dataset)
    summary = json.loads(layout.checks_summary.read_text())
    assert summary["passed"] and DROPPED not in json.dumps(summary)
    assert json.loads(layout.checks_passed.read_text())["passed"]


def test_the_next_release_leaves_it_out_and_its_card_says_so(dropped):
    v2 = dropped["v2"]
    meta = json.loads((v2 / "release.json").read_text())
    assert DROPPED not in meta["datasets"] and meta["datasets_left_out"] == {DROPPED: ["v1"]}
    assert f"- {DROPPED}: in v1" in (v2 / "README.md").read_text()
    assert [p for p in v2.rglob("*") if DROPPED in p.as_posix()] == []
    for part in (v2 / "tables").rglob("*.parquet"):
        frame = pd.read_parquet(part)
        assert "dataset" not in frame or DROPPED not in set(frame.dataset), part
    v1 = json.loads((dropped["work"] / "results/releases/v1/release.json").read_text())
    assert DROPPED in v1["datasets"]  # released before it was taken out: a release is immutable
