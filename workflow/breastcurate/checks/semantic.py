"""Semantic data checks: each returns the rows that violate it (an empty frame means the check passes).

They run as Great Expectations suites ("this violation table has 0 rows"), next to the suites generated from
schemas/tables, so every check appears in the Data Docs with its example rows.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..config import section
from ..convert.masks import MAX_LESION_SHARE
from ..layout import Layout, Scope
from ..tables import ARROW_TYPES, read_table, table_names, table_schema


@dataclass(frozen=True)
class CheckOptions:
    """The config's `checks` block (defaults from the config schema)."""

    max_reject_rate: float
    min_patients_for_split_check: int
    verify_sha256: bool
    min_coverage: dict

    @classmethod
    def from_config(cls, block: dict | None) -> CheckOptions:
        block = section("checks", block)
        return cls(
            max_reject_rate=float(block["max_reject_rate"]),
            min_patients_for_split_check=int(block["min_patients_for_split_check"]),
            verify_sha256=bool(block["verify_sha256"]),
            min_coverage=block["min_coverage"],
        )

    def coverage_floor(self, dataset: str, join: str) -> float:
        own = self.min_coverage.get(dataset, {})
        return float(own[join] if join in own else self.min_coverage["default"][join])


def load_tables(layout: Layout, scope: Scope) -> dict[str, pd.DataFrame]:
    """Every catalog table of `scope` as one frame."""
    return {name: read_table(layout, scope, name) for name in table_names()}


def _missing(frame: pd.DataFrame, keys: list[str], target: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    known = set(map(tuple, target[keys].astype(str).values)) if len(target) else set()
    mask = [tuple(row) not in known for row in frame[keys].astype(str).values]
    return frame[mask]


def parquet_types(layout: Layout, scope: Scope) -> pd.DataFrame:
    """Files whose Parquet column types differ from the schema's."""
    rows = []
    results = layout.root
    for name in table_names():
        schema = table_schema(name)
        expected = {c.name: ARROW_TYPES[c.type] for c in schema.columns}
        for path in layout.parts(name, scope):
            actual = pq.read_schema(path)
            for field in actual:
                if field.name in expected and field.type != expected[field.name]:
                    rows.append(
                        {
                            "table": name,
                            "file": path.relative_to(results).as_posix(),
                            "column": field.name,
                            "type": str(field.type),
                            "expected": str(expected[field.name]),
                        }
                    )
            for column in set(expected) - set(actual.names):
                rows.append(
                    {
                        "table": name,
                        "file": path.relative_to(results).as_posix(),
                        "column": column,
                        "type": "missing",
                        "expected": str(expected[column]),
                    }
                )
    return pd.DataFrame(rows, columns=["table", "file", "column", "type", "expected"])


def references(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows that refer to a study or patient (or finding) that does not exist."""
    rows = []
    for name in ("studies", "images", "volumes", "findings", "clinical", "splits"):
        bad = _missing(t[name], ["dataset", "patient_id"], t["patients"])
        rows += [{"table": name, "key": f"{r.dataset}/{r.patient_id}", "missing": "patient"} for r in bad.itertuples()]
    for name in ("images", "volumes", "findings"):
        bad = _missing(t[name], ["dataset", "study_uid"], t["studies"])
        rows += [{"table": name, "key": f"{r.dataset}/{r.study_uid}", "missing": "study"} for r in bad.itertuples()]
    bad = _missing(t["radiomics"], ["finding_id"], t["findings"])
    rows += [{"table": "radiomics", "key": r.finding_id, "missing": "finding"} for r in bad.itertuples()]
    return pd.DataFrame(rows, columns=["table", "key", "missing"])


def exams_and_breasts(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Images outside exactly one exam and one breast, volumes outside an exam, and priors that are 0 days old,
    more recent than their exam, or another patient's or modality's."""
    rows = []
    exams, breasts = t["exams"], t["breasts"]
    known_exams, known_breasts = set(exams.exam_id), set(breasts.breast_id)
    for name, key in (("images", "image_uid"), ("volumes", "path")):
        frame = t[name]
        for r in frame[~frame.exam_id.isin(known_exams)].itertuples():
            rows.append({"table": name, "key": getattr(r, key), "problem": f"exam {r.exam_id} is not in exams"})
    images = t["images"]
    for r in images[~images.breast_id.isin(known_breasts)].itertuples():
        rows.append({"table": "images", "key": r.image_uid, "problem": f"breast {r.breast_id} is not in breasts"})
    per_image = images.groupby("image_uid")[["exam_id", "breast_id"]].nunique(dropna=False)
    for uid in per_image[(per_image > 1).any(axis=1)].index:
        rows.append({"table": "images", "key": uid, "problem": "the image's variants name different exams or breasts"})
    priors = exams[exams.prior_exam_id.notna()].merge(
        exams[["exam_id", "patient_id", "modality", "exam_day"]],
        left_on="prior_exam_id",
        right_on="exam_id",
        how="left",
        suffixes=("", "_prior"),
    )
    for r in priors.itertuples():
        if r.patient_id_prior != r.patient_id or r.modality_prior != r.modality:
            problem = f"prior {r.prior_exam_id} is not an exam of this patient and modality"
        elif not (r.days_since_prior >= 1 and r.exam_day_prior < r.exam_day):
            problem = f"prior {r.prior_exam_id} is {r.days_since_prior} days old, not before its exam"
        else:
            continue
        rows.append({"table": "exams", "key": r.exam_id, "problem": problem})
    return pd.DataFrame(rows, columns=["table", "key", "problem"])


def curated_files(summaries: dict[str, dict], t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """What the shards' file checks found (missing files, other sizes or SHA-256, unlisted files), and referenced
    files that `files` does not list."""
    rows = [p for summary in summaries.values() for p in summary.get("problems", [])]
    listed = set(t["files"].path)
    for name, column in (
        ("images", "path"),
        ("volumes", "path"),
        ("volumes", "sidecar_path"),
        ("findings", "mask_path"),
    ):
        for value in t[name][column].dropna():
            if value not in listed:
                rows.append({"path": value, "problem": f"referenced by {name}.{column} but not in files"})
    return pd.DataFrame(rows, columns=["path", "problem"])


def boxes_inside(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """2-D boxes that are empty or reach outside their PNG's grid."""
    boxes = t["findings"].dropna(subset=["image_uid"])
    if boxes.empty:
        return pd.DataFrame(columns=["finding_id", "xmin", "ymin", "xmax", "ymax", "columns", "rows"])
    grid = t["images"][["image_uid", "variant", "columns", "rows"]]
    joined = boxes.merge(grid, on=["image_uid", "variant"], how="left")
    bad = joined[
        joined["columns"].isna()
        | (joined.xmin < 0)
        | (joined.ymin < 0)
        | (joined.xmin >= joined.xmax)
        | (joined.ymin >= joined.ymax)
        | (joined.xmax > joined["columns"])
        | (joined.ymax > joined["rows"])
    ]
    return bad[["finding_id", "xmin", "ymin", "xmax", "ymax", "columns", "rows"]]


def mask_grids(results: Path, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Masks whose voxel grid (shape and affine) is not the grid of the phase they name, and mammogram masks whose
    PNG size is not their canonical image's."""
    rows = []
    masks = t["findings"].dropna(subset=["mask_path"])
    images = t["images"][t["images"].variant == "canonical"].set_index("image_uid") if len(t["images"]) else None
    for r in masks[masks.phase.isna()].itertuples():
        width, height = struct.unpack(">II", (Path(results) / r.mask_path).read_bytes()[16:24])  # PNG IHDR
        image = images.loc[r.image_uid] if images is not None and r.image_uid in images.index else None
        if image is None or (height, width) != (image.rows, image.columns):
            rows.append({"finding_id": r.finding_id, "problem": f"mask {width}×{height} is not its image's size"})
    volumes = t["volumes"].set_index(["study_uid", "phase"]) if len(t["volumes"]) else None
    for r in masks[masks.phase.notna()].itertuples():
        key = (r.study_uid, r.phase)
        if volumes is None or key not in volumes.index:
            rows.append({"finding_id": r.finding_id, "problem": f"no {r.phase} volume in its study"})
            continue
        mask = nib.load(Path(results) / r.mask_path)
        phase = nib.load(Path(results) / volumes.loc[key].path)
        if mask.shape != phase.shape or not np.allclose(mask.affine, phase.affine, atol=1e-4):
            rows.append(
                {
                    "finding_id": r.finding_id,
                    "problem": f"mask grid {mask.shape} differs from {r.phase} grid {phase.shape} or its affine",
                }
            )
    return pd.DataFrame(rows, columns=["finding_id", "problem"])


def lesion_masks(results: Path, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """MRI lesion masks that are empty, or cover more than MAX_LESION_SHARE of their phase's voxels (counted in the
    mask files, not taken from the table)."""
    rows = []
    for r in t["findings"].dropna(subset=["mask_path", "phase"]).itertuples():
        data = np.asarray(nib.load(Path(results) / r.mask_path).dataobj)
        voxels = int(np.count_nonzero(data))
        share = voxels / data.size if data.size else 0.0
        if voxels == 0 or share > MAX_LESION_SHARE:
            rows.append({"dataset": r.dataset, "finding_id": r.finding_id, "voxels": voxels, "share": round(share, 4)})
    return pd.DataFrame(rows, columns=["dataset", "finding_id", "voxels", "share"])


def one_split_per_person(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    splits = t["splits"]
    if splits.empty:
        return pd.DataFrame(columns=["version", "person_id", "splits"])
    counts = splits.groupby(["version", "person_id"]).split.agg(lambda s: ",".join(sorted(set(s)))).reset_index()
    return counts[counts.split.str.contains(",")].rename(columns={"split": "splits"})


def pinned_tests_kept(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows a source's own test (VinDr) or an aligned set's test puts in test that are elsewhere, and rows an aligned
    set trains or validates on that are in test."""
    splits = t["splits"]
    columns = ["version", "dataset", "patient_id", "split", "official_split", "aligned_split"]
    if splits.empty:
        return pd.DataFrame(columns=columns)
    pinned = (splits.official_split == "test") | (splits.aligned_split == "test")
    leaked = splits.aligned_split.isin(["train", "val"]) & ~pinned
    bad = (pinned & (splits.split != "test")) | (leaked & (splits.split == "test"))
    return splits.loc[bad, columns]


def splits_non_empty(t: dict[str, pd.DataFrame], options: CheckOptions) -> pd.DataFrame:
    """Datasets (with enough patients to expect all three) that have an empty split in some version."""
    rows = []
    for (version, dataset), group in t["splits"].groupby(["version", "dataset"]):
        if group.person_id.nunique() < options.min_patients_for_split_check:
            continue
        for split in ("train", "val", "test"):
            if not (group.split == split).any():
                rows.append(
                    {"version": version, "dataset": dataset, "split": split, "patients": int(group.person_id.nunique())}
                )
    return pd.DataFrame(rows, columns=["version", "dataset", "split", "patients"])


def reject_rates(manifests: dict[str, dict], t: dict[str, pd.DataFrame], options: CheckOptions) -> pd.DataFrame:
    """(dataset, stage) whose rejects exceed the configured share of the dataset's input files."""
    rows = []
    failures = t["rejects"][t["rejects"].stage != "select"]  # left out by the config's choice, not a failure
    for (dataset, stage), group in failures.groupby(["dataset", "stage"]):
        inputs = manifests.get(dataset, {})
        total = int(inputs.get("listed", 0)) + int(inputs.get("unlisted", 0))
        rate = len(group) / total if total else 1.0
        if rate > options.max_reject_rate:
            rows.append(
                {
                    "dataset": dataset,
                    "stage": stage,
                    "rejects": len(group),
                    "inputs": total,
                    "rate": round(rate, 4),
                    "reason_example": group.reason.iloc[0],
                }
            )
    return pd.DataFrame(rows, columns=["dataset", "stage", "rejects", "inputs", "rate", "reason_example"])


def coverage(t: dict[str, pd.DataFrame], options: CheckOptions) -> pd.DataFrame:
    """Joins whose coverage is below checks.min_coverage, with unmatched examples from both sides."""
    rows = []
    for r in t["coverage"].itertuples():
        floor = options.coverage_floor(r.dataset, r.join)
        if r.coverage < floor:
            rows.append(
                {
                    "dataset": r.dataset,
                    "join": r.join,
                    "coverage": round(float(r.coverage), 4),
                    "min_coverage": floor,
                    "matched": int(r.matched),
                    "total": int(r.total),
                    "unmatched_here": r.unmatched_here,
                    "unmatched_there": r.unmatched_there,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "join",
            "coverage",
            "min_coverage",
            "matched",
            "total",
            "unmatched_here",
            "unmatched_there",
        ],
    )


def phi_scan(summaries: dict[str, dict]) -> pd.DataFrame:
    """Scans (per shard, and the global one) that did not pass: each summary must be present with 0 hits."""
    rows = []
    for name, summary in sorted(summaries.items()):
        scan = summary.get("phi_scan", summary)
        if not summary:
            rows.append({"scan": name, "problem": "no summary: the PHI scan has not passed"})
        elif scan.get("hits", 1):
            rows.append({"scan": name, "problem": f"{scan.get('hits')} PHI hits"})
    return pd.DataFrame(rows, columns=["scan", "problem"])


@dataclass(frozen=True)
class Evidence:
    """What the global checks read besides the tables: per-dataset manifests, the shard checks' summaries and
    the global PHI scan's summary (name → parsed JSON; an empty dict for a missing file)."""

    manifests: dict[str, dict]
    shards: dict[str, dict]
    scan: dict[str, dict]

    @classmethod
    def read(cls, manifests: list[Path], shards: list[Path], scans: list[Path]) -> Evidence:
        def load(paths: list[Path], key) -> dict[str, dict]:
            return {key(Path(p)): json.loads(Path(p).read_text()) if Path(p).exists() else {} for p in paths}

        return cls(
            load(manifests, lambda p: p.parent.name),
            load(shards, lambda p: f"{p.parent.name}/{p.stem}"),
            load(scans, lambda p: p.stem),
        )


def semantic_checks(
    layout: Layout, scope: Scope, t: dict[str, pd.DataFrame], options: CheckOptions, evidence: Evidence
) -> dict[str, tuple[str, Callable[[], pd.DataFrame]]]:
    """name → (what it asserts, a function returning the violating rows), over the tables `t` of `scope`."""
    results = layout.root
    return {
        "parquet_types": ("every Parquet column has the schema's type", lambda: parquet_types(layout, scope)),
        "references": (
            "every image, volume, finding, clinical and split row refers to an existing study and "
            "patient; every radiomics row to a finding",
            lambda: references(t),
        ),
        "exams_and_breasts": (
            "every image belongs to exactly one exam and one breast, every volume to an exam; no prior is 0 days "
            "old or more recent than its exam",
            lambda: exams_and_breasts(t),
        ),
        "curated_files": (
            "every curated file exists with the size and sha256 in files, no unlisted file is in a "
            "shard's folders, and every referenced file is listed",
            lambda: curated_files(evidence.shards, t),
        ),
        "boxes_inside_images": ("every box lies inside its image", lambda: boxes_inside(t)),
        "mask_grids": (
            "each mask's grid equals its phase's grid, or its mammogram's size",
            lambda: mask_grids(results, t),
        ),
        "lesion_masks": (
            f"no MRI lesion mask is empty or covers more than {MAX_LESION_SHARE:.0%} of its phase",
            lambda: lesion_masks(results, t),
        ),
        "one_split_per_person": ("no person in two splits of a version", lambda: one_split_per_person(t)),
        "pinned_tests_kept": (
            "a source's official test and an aligned set's test stay in test; an aligned set's train and val stay "
            "out of it",
            lambda: pinned_tests_kept(t),
        ),
        "splits_non_empty": (
            f"every split non-empty per dataset (datasets with ≥ {options.min_patients_for_split_check} patients)",
            lambda: splits_non_empty(t, options),
        ),
        "reject_rates": (
            f"rejects ≤ {options.max_reject_rate:.0%} of inputs per dataset and stage",
            lambda: reject_rates(evidence.manifests, t, options),
        ),
        "coverage": (
            "every join covers at least checks.min_coverage of its items (per dataset and join)",
            lambda: coverage(t, options),
        ),
        "phi_scan": (
            "the PHI scans (every shard's and the global one) found nothing",
            lambda: phi_scan({**evidence.shards, **evidence.scan}),
        ),
    }
