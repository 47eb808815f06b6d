"""Data checks (Great Expectations) gate the run; the QC report and the Data Docs render in headless Chromium."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd

from browser import non_blank, render
from conftest import run_cli, snakemake


def test_checks_pass_on_the_demo_and_write_data_docs(demo_run):
    work, _, _ = demo_run
    checks = work / "results/curated/checks"
    assert json.loads((checks / "checks.json").read_text())["passed"]
    summary = json.loads((checks / "summary.json").read_text())
    names = {v["name"].split(" (")[0] for v in summary["validations"]}
    assert {"table images", "table splits", "table radiomics", "check references", "check mask_grids",
            "check phi_scan"} <= names
    assert (work / "results" / summary["data_docs"]).exists()


def _parts(results, table, dataset=None):
    root = results / "curated/tables" / table
    return sorted(p for p in root.rglob("*.parquet") if len(pd.read_parquet(p)) and
                  (dataset is None or f"dataset={dataset}" in str(p)))


def test_every_semantic_check_fails_on_a_broken_table(demo_run, tmp_path):
    work, _, _ = demo_run
    results = tmp_path / "results"
    shutil.copytree(work / "results", results, ignore=shutil.ignore_patterns("raw", "deid", "convert", "gx"))
    # references: a volume row of a study that does not exist
    part = _parts(results, "volumes")[0]
    frame = pd.read_parquet(part)
    frame.loc[0, "study_uid"] = "2.25.1"
    frame.to_parquet(part, index=False)
    # boxes_inside_images: a box wider than its image
    part = next(p for p in _parts(results, "findings") if pd.read_parquet(p).image_uid.notna().any())
    frame = pd.read_parquet(part)
    row = frame.index[frame.image_uid.notna()][0]
    frame.loc[row, "xmax"] = 10_000.0
    frame.to_parquet(part, index=False)
    # curated_files: a PNG whose bytes changed
    files = pd.concat(pd.read_parquet(p) for p in _parts(results, "files"))
    png = next(p for p in files.path if p.endswith(".png"))
    (results / png).write_bytes((results / png).read_bytes() + b"x")
    # mask_grids: a mask in another grid
    mask_path = pd.concat(pd.read_parquet(p) for p in _parts(results, "findings")).mask_path.dropna().iloc[0]
    mask = nib.load(results / mask_path)
    nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.uint8), mask.affine), results / mask_path)
    # one_split_per_person and splits_non_empty
    splits = pd.read_parquet(results / "curated/splits/v1.parquet")
    twin = splits.iloc[[0]].assign(dataset="other", split="test")
    splits = pd.concat([splits, twin]).assign(split=lambda f: f.split.where(f.dataset == "other", "train"))
    splits.to_parquet(results / "curated/splits/v1.parquet", index=False)
    # reject_rates: a reject for every input of duke's convert stage
    part = _parts(results, "rejects", "duke")[0] if _parts(results, "rejects", "duke") else \
        results / "curated/tables/rejects/dataset=duke/part-0.parquet"
    extra = pd.DataFrame([{"dataset": "duke", "stage": "convert", "item": f"sha256:{i:064x}", "reason": "broken"}
                          for i in range(500)])
    pd.concat([pd.read_parquet(part), extra]).to_parquet(part, index=False)
    # parquet_types and a schema expectation: a laterality outside L/R, bits_stored stored as text
    part = _parts(results, "images")[0]
    frame = pd.read_parquet(part)
    frame.loc[0, "laterality"] = "X"
    frame["bits_stored"] = frame.bits_stored.astype(str)
    frame.to_parquet(part, index=False)
    # phi_scan: no clean scan on record
    (results / "curated/checks/phi_scan.json").unlink()
    options = json.dumps({"min_patients_for_split_check": 1})
    proc = run_cli("checks", "--results", str(results), "--out", str(tmp_path / "checks.json"), "--options",
                   options, check=False)
    assert proc.returncode == 1 and not (tmp_path / "checks.json").exists()
    for check in ("references", "curated_files", "boxes_inside_images", "mask_grids", "one_split_per_person",
                  "splits_non_empty", "reject_rates", "phi_scan", "parquet_types"):
        assert f"check {check}" in proc.stderr, check
    assert "table images: expect_column_values_to_be_in_set" in proc.stderr and '"X"' in proc.stderr
    assert "10000" in proc.stderr  # example rows are shown


def test_report_and_data_docs_render(demo_run, tmp_path):
    work, _, _ = demo_run
    report = tmp_path / "report.html"
    snakemake(work, "--report", str(report))
    assert report.stat().st_size > 10_000
    errors = render(report.as_uri(), tmp_path / "report.png")
    assert not errors, errors
    assert non_blank(tmp_path / "report.png")
    docs = work / "results/curated/checks/gx/uncommitted/data_docs/local_site/index.html"
    errors = render(docs.as_uri(), tmp_path / "docs.png")
    assert not errors, errors
    assert non_blank(tmp_path / "docs.png")
