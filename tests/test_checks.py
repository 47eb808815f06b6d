"""Data checks (Great Expectations) gate the run; the QC report and the Data Docs render in headless Chromium."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from breastcurate.checks.semantic import (
    CheckOptions,
    Evidence,
    load_tables,
    semantic_checks,
)
from breastcurate.checks.shard import verify_files
from breastcurate.layout import Layout, Scope
from browser import dom, keep, non_blank, render
from conftest import DEMO_SHARDS, snakemake


def test_checks_pass_on_the_demo_and_write_data_docs(demo_run):
    work, _, _ = demo_run
    checks = work / "results/curated/checks"
    assert json.loads((checks / "checks.json").read_text())["passed"]
    summary = json.loads((checks / "summary.json").read_text())
    names = {v["name"].split(" (")[0] for v in summary["validations"]}
    assert {
        "table images",
        "table splits",
        "table radiomics",
        "check references",
        "check mask_grids",
        "check phi_scan",
    } <= names
    assert (work / "results" / summary["data_docs"]).exists()


@pytest.fixture(scope="module")
def baseline(demo_run, tmp_path_factory):
    """A results folder for in-process checks: copies of the demo run's tables and masks (mutated per test), its
    images and volumes linked; the evidence the checks job reads."""
    work = demo_run[0]
    results = tmp_path_factory.mktemp("checks") / "results"
    layout, demo = Layout(results), Layout(work / "results")
    for name in ("tables", "splits", "radiomics", "masks"):
        shutil.copytree(demo.curated / name, layout.curated / name)
    for name in ("images", "volumes"):
        (layout.curated / name).symlink_to(demo.curated / name)
    datasets = sorted(p.name for p in (demo.curated / "masks").iterdir())
    evidence = Evidence.read(
        [demo.manifest(d) for d in datasets], sorted((demo.checks / "shards").rglob("*.json")), [demo.global_scan]
    )
    versions = sorted(p.stem for p in (demo.curated / "splits").glob("*.parquet"))
    return results, evidence, Scope(tuple(datasets), DEMO_SHARDS, tuple(versions))


def _failing(results, scope, tables, evidence, options) -> set[str]:
    checks = semantic_checks(Layout(results), scope, tables, options, evidence)
    return {name for name, (_, violations) in checks.items() if len(violations())}


def _mutate(check: str, results, t: dict, evidence: Evidence, tmp_path) -> Evidence:
    """Break exactly what `check` guards, in the tables `t`, the files under `results` or the evidence."""
    if check == "references":  # a volume of a study that does not exist
        t["volumes"].loc[t["volumes"].index[0], "study_uid"] = "2.25.1"
    elif check == "curated_files":  # a PNG whose bytes changed, found by the shard's file check
        files = t["files"][t["files"].path.str.endswith(".png")]
        png = tmp_path / "results" / files.path.iloc[0]
        png.parent.mkdir(parents=True)
        png.write_bytes((results / files.path.iloc[0]).read_bytes() + b"x")
        part = tmp_path / "files.parquet"
        files.to_parquet(part, index=False)
        problems, _ = verify_files(part, tmp_path / "results", [], sha256=True)
        name = next(iter(evidence.shards))
        return replace(evidence, shards={**evidence.shards, name: {**evidence.shards[name], "problems": problems}})
    elif check == "boxes_inside_images":  # a box wider than its image
        t["findings"].loc[t["findings"].image_uid.first_valid_index(), "xmax"] = 10_000.0
    elif check == "mask_grids":  # a (plausible) mask in another grid
        path = results / t["findings"].dropna(subset=["mask_path", "phase"]).mask_path.iloc[0]  # an MRI mask
        other = np.zeros((60, 60, 60), np.uint8)
        other[10:12, 10:12, 10:12] = 1
        nib.save(nib.Nifti1Image(other, nib.load(path).affine), path)
    elif check == "lesion_masks":  # an I-SPY2 mask read the old way: empty, in its phase's grid
        findings = t["findings"].dropna(subset=["mask_path", "phase"])
        path = results / findings[findings.dataset == "ispy2"].mask_path.iloc[0]
        image = nib.load(path)
        nib.save(nib.Nifti1Image(np.zeros(image.shape, np.uint8), image.affine), path)
    elif check == "one_split_per_person":  # one person (not pinned to test) in train and val
        splits = t["splits"]
        free = splits[splits.official_split.isna() & splits.aligned_split.isna()].iloc[[0]]
        t["splits"] = pd.concat([splits, free.assign(split="val" if free.split.iloc[0] != "val" else "train")])
    elif check == "pinned_tests_kept":  # a person an aligned set tests on, in our train
        row = t["splits"].index[t["splits"].split == "train"][0]
        t["splits"].loc[row, "aligned_split"] = "test"
    elif check == "splits_non_empty":  # a dataset large enough for every split, with everyone in train
        patients = t["patients"][t["patients"].dataset == "duke"]
        more = pd.concat(
            [patients.iloc[[0]].assign(patient_id=f"P-{k:016x}", person_id=f"P-{k:016x}") for k in range(30)],
            ignore_index=True,
        )
        t["patients"] = pd.concat([t["patients"], more], ignore_index=True)
        template = t["splits"][t["splits"].dataset == "duke"].iloc[[0]]
        added = pd.concat([template.assign(patient_id=p, person_id=p) for p in more.patient_id], ignore_index=True)
        splits = pd.concat([t["splits"], added], ignore_index=True)
        duke = splits.dataset == "duke"
        t["splits"] = splits.assign(
            split=splits.split.where(~duke, "train"), aligned_split=splits.aligned_split.where(~duke)
        )
    elif check == "reject_rates":  # a reject for every input of duke's convert stage
        extra = pd.DataFrame(
            [
                {"dataset": "duke", "stage": "convert", "item": f"sha256:{i:064x}", "reason": "broken"}
                for i in range(500)
            ]
        )
        t["rejects"] = pd.concat([t["rejects"], extra], ignore_index=True)
    elif check == "exams_and_breasts":  # a prior 0 days old: views of one exam taken for two
        exams = t["exams"]
        row = exams.index[exams.prior_exam_id.notna()][0]
        t["exams"].loc[row, "days_since_prior"] = 0
        t["exams"].loc[row, "exam_day"] = exams.set_index("exam_id").exam_day[exams.loc[row, "prior_exam_id"]]
    elif check == "coverage":  # a join that covers too little
        t["coverage"].loc[t["coverage"].index[0], "coverage"] = 0.0
    elif check == "phi_scan":  # a shard with no clean scan on record
        return replace(evidence, shards={**evidence.shards, "duke/shard-9": {}})
    elif check == "parquet_types":  # bits_stored written as text
        part = next(
            p for p in sorted((results / "curated/tables/images").rglob("*.parquet")) if len(pd.read_parquet(p))
        )
        pd.read_parquet(part).astype({"bits_stored": str}).to_parquet(part, index=False)
    return evidence


CHECKS = [
    "references",
    "curated_files",
    "boxes_inside_images",
    "exams_and_breasts",
    "mask_grids",
    "lesion_masks",
    "one_split_per_person",
    "pinned_tests_kept",
    "splits_non_empty",
    "reject_rates",
    "coverage",
    "phi_scan",
    "parquet_types",
]


def test_every_check_has_a_mutation_test():
    options = CheckOptions.from_config(None)
    assert set(CHECKS) == set(semantic_checks(Layout("."), Scope((), 1), {}, options, Evidence({}, {}, {})))


@pytest.mark.parametrize("check", CHECKS)
def test_each_check_fails_alone_on_its_mutation(baseline, check, tmp_path):
    """One mutation of the demo's clean results makes exactly one semantic check fail: its own."""
    source, evidence, scope = baseline
    results = tmp_path / "copy"
    shutil.copytree(source, results, symlinks=True)
    tables = load_tables(Layout(results), scope)
    options = CheckOptions.from_config({"min_patients_for_split_check": 20})
    assert _failing(results, scope, {k: v.copy() for k, v in tables.items()}, evidence, options) == set()
    evidence = _mutate(check, results, tables, evidence, tmp_path)
    assert _failing(results, scope, tables, evidence, options) == {check}


@pytest.mark.system
def test_report_and_data_docs_render(demo_run, tmp_path):
    """The report shows its tables on its first page (their text is in the rendered DOM), is readable like the
    curated zone, and the Data Docs load nothing remote and no missing file; screenshots go to the artefacts."""
    import html
    import os
    import re
    import stat

    work, _, _ = demo_run
    report = tmp_path / "report.html"
    snakemake(work, "--report", str(report))
    assert report.stat().st_size > 10_000
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(report.stat().st_mode) == 0o666 & ~umask  # the user's umask, not the restricted zone's
    errors = render(report.as_uri(), tmp_path / "report.png")
    keep(tmp_path / "report.png", "report.png")
    assert not errors, errors
    assert non_blank(tmp_path / "report.png")
    page = dom(report.as_uri())
    qc = work / "results/curated/checks/qc"
    expected = [pd.read_csv(qc / "all/checks.csv").name, pd.read_csv(qc / "all/versions.csv").tool]
    for dataset in ("duke", "vindr_mammo"):
        expected += [pd.read_csv(qc / dataset / "counts.csv").stratum, pd.read_csv(qc / dataset / "rejects.csv").reason]
    for column in expected:
        for value in column.dropna().astype(str):
            assert f">{html.escape(value, quote=False)}<" in page, value
    docs = work / "results/curated/checks/gx/uncommitted/data_docs/local_site/index.html"
    errors = render(docs.as_uri(), tmp_path / "docs.png")
    keep(tmp_path / "docs.png", "data-docs.png")
    assert not errors, errors
    assert non_blank(tmp_path / "docs.png")
    for doc in docs.parent.rglob("*.html"):
        for ref in re.findall(r'<(?:img|script)[^>]*\ssrc="([^"]*)"|<link[^>]*\shref="([^"]*)"', doc.read_text()):
            target = next((r for r in ref if r), "")
            assert target and not re.match(r"https?:", target), (doc, ref)
            assert (doc.parent / target.split("#")[0].split("?")[0]).exists(), (doc, target)


def test_qc_figures_fit_the_report_page(demo_run):
    """Thumbnails and histograms are drawn at most 960 pixels wide, so the report shows them unscaled with their
    11-point labels (15 pixels) legible."""
    from breastcurate.checks import qc
    from PIL import Image

    work, _, _ = demo_run
    figures = sorted((work / "results/curated/checks/qc").glob("*/*.png"))
    assert len(figures) >= 12
    for figure in figures:
        assert Image.open(figure).width <= 960, figure
    assert qc.LABEL_PT * qc.DPI / 72 >= 14
