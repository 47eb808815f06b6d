"""Canonical tables and the DuckDB catalog: code mappings, determinism, relocation, the documented queries."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from breastcurate.layout import Layout
from breastcurate.sources import adapters
from conftest import DEMO_SHARDS, REPO, call_cli, run_cli

DATASETS = sorted(adapters())
MG = [d for d in DATASETS if adapters()[d].modality == "MG"]
MR = [d for d in DATASETS if adapters()[d].modality == "MR"]


def query(catalog, sql: str) -> pd.DataFrame:
    out = catalog.parent / "query.csv"
    run_cli("query", sql, "--catalog", str(catalog), "--format", "csv", "--out", str(out))
    return pd.read_csv(out)


def test_parquet_parts_follow_the_schemas(demo_run):
    work, _, _ = demo_run
    import yaml

    for schema_file in sorted((REPO / "schemas/tables").glob("*.yaml")):
        schema = yaml.safe_load(schema_file.read_text())
        parts = sorted((work / "results").glob(Layout(".").table_glob(schema["name"])))
        assert parts, schema["name"]
        for part in parts:
            table = pq.read_table(part)
            assert table.column_names == [c["name"] for c in schema["columns"]]
            for c in schema["columns"]:
                values = table.column(c["name"]).to_pylist()
                if not c["nullable"]:
                    assert None not in values, (schema["name"], c["name"])
                if "allowed" in c:
                    assert set(values) - {None} <= set(c["allowed"]), (schema["name"], c["name"])


def test_every_native_code_of_the_demo_maps(demo_run):
    """A native value that is present maps to a canonical one, except where the schema documents a null."""
    catalog = demo_run[0] / "results/catalog.duckdb"
    rejects = query(catalog, "SELECT * FROM rejects WHERE stage = 'harmonize'")
    assert rejects.empty, rejects.reason.tolist()
    images = query(catalog, "SELECT * FROM images WHERE dataset = 'vindr_mammo'")
    assert images.birads.notna().all() and images.density.isin(list("ABCD")).all()
    assert set(images.official_split) <= {"train", "test"} and images.official_split.notna().all()
    clinical = query(catalog, "SELECT * FROM clinical")
    assert set(clinical.dataset) == set(MR) and len(clinical) == 2 * len(MR)
    for column in ("er", "pr", "hr", "her2", "pcr"):
        known = clinical[column].dropna()
        assert set(known) <= {0, 1}
    assert clinical.subtype.dropna().isin(["hr+her2-", "her2+", "tn"]).all()
    duke = clinical[clinical.dataset == "duke"]
    assert (duke.hr == ((duke.er == 1) | (duke.pr == 1)).astype(int)).all()
    assert duke.hr_native.str.match(r"ER=\d;PR=\d").all()


def test_unknown_code_becomes_null_and_a_reject(demo_run, tmp_path):
    work, _, _ = demo_run
    results = tmp_path / "results"
    shutil.copytree(work / "results", results, ignore=shutil.ignore_patterns("*.duckdb"))
    raw = results / "restricted/raw/embed"
    clinical = raw / "tables/EMBED_OpenData_clinical.csv"
    table = pd.read_csv(clinical, dtype=str)
    table["tissueden"] = "7"  # not an EMBED code
    table.to_csv(clinical, index=False)
    run_cli(
        "harmonize",
        "embed",
        "--results",
        str(results),
        "--raw",
        str(raw),
        "--n-shards",
        str(DEMO_SHARDS),
        "--people",
        str(results / "restricted/people.parquet"),
        "--demo-key",
    )
    images = pd.concat(pd.read_parquet(p) for p in (results / "curated/tables/images/dataset=embed").glob("*.parquet"))
    assert images.density.isna().all() and (images.density_native == "7").all()
    rejects = pd.read_parquet(results / "curated/tables/rejects/dataset=embed/part-0.parquet")
    assert rejects.reason.str.contains("unknown code '7' for density").any()


def _plain_duckdb(catalog: Path, sql: str) -> list[str]:
    """`sql` through the duckdb CLI and DuckDB's Python client, each run from / with no setup."""
    cli = Path(sys.executable).with_name("duckdb")
    shell = subprocess.run(
        [str(cli), "-readonly", str(catalog), "-csv", "-noheader", "-c", sql], cwd="/", capture_output=True, text=True
    )
    code = f"import duckdb; print(duckdb.connect({str(catalog)!r}, read_only=True).execute({sql!r}).fetchone()[0])"
    python = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert shell.returncode == 0 and python.returncode == 0, shell.stderr + python.stderr
    return [shell.stdout.strip(), python.stdout.strip()]


def test_catalog_opens_anywhere(demo_run, tmp_path):
    """The duckdb CLI and the Python client open the catalog from /, with no setup, in place and in a copy of the
    results moved elsewhere; curated paths stay relative to the results folder."""
    work, _, _ = demo_run
    expected = str(query(work / "results/catalog.duckdb", "SELECT count(*) AS n FROM mammograms").n[0])
    assert _plain_duckdb(work / "results/catalog.duckdb", "SELECT count(*) FROM mammograms") == [expected] * 2
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(work / "results/curated", moved / "curated", ignore=shutil.ignore_patterns("checks"))
    shutil.copy(work / "results/catalog.duckdb", moved / "catalog.duckdb")
    assert _plain_duckdb(moved / "catalog.duckdb", "SELECT count(*) FROM mammograms") == [expected] * 2
    path = _plain_duckdb(moved / "catalog.duckdb", "SELECT path FROM volumes ORDER BY path LIMIT 1")[0]
    assert (moved / path).is_file()
    mri = _plain_duckdb(moved / "catalog.duckdb", "SELECT count(*) FROM mri_cases")
    assert int(mri[0]) > 0


def test_joined_views(demo_run):
    catalog = demo_run[0] / "results/catalog.duckdb"
    mammo = query(catalog, "SELECT * FROM mammograms WHERE variant = 'canonical'")
    assert set(mammo.dataset) == set(MG) and mammo.finding_id.notna().any()
    boxes = mammo.dropna(subset=["finding_id"])
    assert ((boxes.xmin < boxes.xmax) & (boxes.xmax <= boxes["columns"])).all()
    cases = query(catalog, "SELECT dataset, phases, mask_paths, pcr, subtype FROM mri_cases")
    assert set(cases.dataset) == set(MR)
    assert cases.phases.str.startswith("[pre, post_1").all()
    assert cases[cases.dataset.isin(["duke", "ispy2"])].mask_paths.str.contains(".nii.gz").all()


def test_tables_hold_pseudonyms_and_relative_paths(demo_run):
    work, _, _ = demo_run
    catalog = work / "results/catalog.duckdb"
    patients = query(catalog, "SELECT * FROM patients")
    assert patients.patient_id.str.fullmatch(r"P-[0-9a-f]{16}").all()
    assert len(patients) == 2 * len(DATASETS) and (patients.person_id == patients.patient_id).all()
    files = query(catalog, "SELECT * FROM files")
    assert files.path.str.startswith("curated/").all()
    sample = files.sample(10, random_state=1)
    for row in sample.itertuples():
        assert hashlib.sha256((work / "results" / row.path).read_bytes()).hexdigest() == row.sha256


def test_same_person_in_two_datasets_is_linked(tmp_path):
    rows = [
        ("duke", "TCIA-0001", "P-aaaa000000000001"),
        ("ispy2", "TCIA-0001", "P-bbbb000000000002"),
        ("ispy2", "TCIA-0002", "P-cccc000000000003"),
    ]
    paths = []
    for i, (dataset, native, pseudonym) in enumerate(rows):
        frame = pd.DataFrame({"dataset": [dataset], "native_patient_id": [native], "patient_id": [pseudonym]})
        paths.append(tmp_path / f"linkage-{i}.parquet")
        frame.to_parquet(paths[-1])
    run_cli("link-people", *map(str, paths), "--out", str(tmp_path / "people.parquet"))
    people = pd.read_parquet(tmp_path / "people.parquet").set_index("patient_id")
    assert people.loc["P-aaaa000000000001", "person_id"] == people.loc["P-bbbb000000000002", "person_id"]
    assert people.loc["P-aaaa000000000001", "in_other_datasets"]
    assert not people.loc["P-cccc000000000003", "in_other_datasets"]
    assert "TCIA" not in (tmp_path / "people.parquet").read_bytes().decode("latin-1")


@pytest.mark.parametrize("page,least", [("README.md", 1), ("docs/querying.md", 5)])
def test_documented_queries_run(demo_run, page, least):
    """Every ```sql block of the README and of the querying page runs against the demo catalog and returns rows."""
    blocks = re.findall(r"```sql\n(.*?)```", (REPO / page).read_text(), flags=re.S)
    assert len(blocks) >= least
    for sql in blocks:
        result = query(demo_run[0] / "results/catalog.duckdb", sql.strip().rstrip(";"))
        assert len(result) > 0, sql


def test_data_dictionary_is_current(tmp_path):
    call_cli("data-dictionary", "--out", str(tmp_path / "catalog.md"))
    assert (tmp_path / "catalog.md").read_text() == (REPO / "docs/catalog.md").read_text()
