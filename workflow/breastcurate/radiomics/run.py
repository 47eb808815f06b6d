"""Radiomics per (dataset, shard) — every finding's ROI on the configured MRI phases or on the canonical mammogram —
and the `breastcurate radiomics IMAGE MASK` command. ROIs run in parallel processes (the rule's threads)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from ..atomic import sha256_file
from ..dicomio import BAD_INPUT
from ..errors import BreastcurateError
from ..tables import write_table
from . import extract as ex


def _task(task: dict) -> tuple[dict, dict[str, float] | None, str | None]:
    """One ROI on one image → (task, features, None) or (task, None, reason)."""
    try:
        image = ex.read_image(Path(task["image"]))
        if task.get("box"):
            image, box = ex.crop_to_box(image, *task["box"])
            mask = ex.box_mask(image, *box)
        else:
            mask = ex.read_image(Path(task["mask"]))
        return task, ex.extract(image, mask, Path(task["params"])), None
    except ex.RoiError as exc:
        return task, None, str(exc)
    except BAD_INPUT as exc:  # a broken file is a reject; a bug fails the shard
        return task, None, f"cannot compute features: {type(exc).__name__}: {str(exc)[:200]}"


def run_tasks(tasks: list[dict], workers: int) -> list[tuple[dict, dict | None, str | None]]:
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_task, tasks))
    return [_task(t) for t in tasks]


def feature_rows(task: dict, features: dict[str, float], version: str, params_sha: str) -> list[dict]:
    return [
        {
            **{k: task[k] for k in ("dataset", "patient_id", "study_uid", "finding_id", "roi", "phase")},
            "feature": name,
            "value": None if value != value else value,
            "pyradiomics_version": version,
            "params_sha256": params_sha,
        }
        for name, value in sorted(features.items())
    ]


def shard_tasks(
    dataset: str, results: Path, parts: dict[str, Path], params: dict[str, Path], phases: list[str]
) -> list[dict]:
    """The ROIs of one shard (`parts`: its findings, volumes and images table parts): MRI masks × configured phases;
    mammogram boxes on the canonical PNG. Curated paths in the tables are relative to `results`."""
    findings = pd.read_parquet(parts["findings"])
    tasks: list[dict] = []
    if findings.empty:
        return tasks
    volumes = pd.read_parquet(parts["volumes"])
    images = pd.read_parquet(parts["images"])
    for f in findings.itertuples(index=False):
        base = {
            "dataset": dataset,
            "patient_id": f.patient_id,
            "study_uid": f.study_uid,
            "finding_id": f.finding_id,
            "roi": f.roi,
        }
        if isinstance(f.mask_path, str) and isinstance(f.phase, str):  # MRI; a mammogram's mask has its box
            for phase in phases:
                match = volumes[(volumes.study_uid == f.study_uid) & (volumes.phase == phase)]
                if match.empty:
                    tasks.append({**base, "phase": phase, "missing": f"no {phase} phase in the study"})
                    continue
                tasks.append(
                    {
                        **base,
                        "phase": phase,
                        "image": str(results / match.path.iloc[0]),
                        "mask": str(results / f.mask_path),
                        "params": str(params["MR"]),
                    }
                )
        elif f.variant == "canonical":
            image = images[(images.image_uid == f.image_uid) & (images.variant == "canonical")]
            tasks.append(
                {
                    **base,
                    "phase": "image",
                    "image": str(results / image.path.iloc[0]),
                    "box": [f.xmin, f.ymin, f.xmax, f.ymax],
                    "params": str(params["MG"]),
                }
            )
    return tasks


def radiomics_shard(
    dataset: str,
    results: Path,
    parts: dict[str, Path],
    params: dict[str, Path],
    phases: list[str],
    out: Path,
    rejects_out: Path,
    workers: int = 1,
) -> tuple[int, int]:
    """Write the shard's features to `out` and its radiomics rejects to `rejects_out`; return their counts."""
    results = Path(results)
    tasks = shard_tasks(dataset, results, parts, params, phases)
    ready = [t for t in tasks if "missing" not in t]
    rejects = [
        {"dataset": dataset, "stage": "radiomics", "item": t["finding_id"] + "/" + t["phase"], "reason": t["missing"]}
        for t in tasks
        if "missing" in t
    ]
    version = ex.pyradiomics_version()
    shas = {str(p): sha256_file(p) for p in params.values()}
    rows = []
    for task, features, reason in run_tasks(ready, workers):
        if reason:
            rejects.append(
                {
                    "dataset": dataset,
                    "stage": "radiomics",
                    "item": f"{task['finding_id']}/{task['phase']}",
                    "reason": reason,
                }
            )
        elif features is not None:
            rows += feature_rows(task, features, version, shas[task["params"]])
    write_table(out, "radiomics", pd.DataFrame(rows))
    write_table(rejects_out, "rejects", pd.DataFrame(rejects))
    return len(rows), len(rejects)


def radiomics_files(image: Path, mask: Path, params: Path, out: Path) -> int:
    """`breastcurate radiomics IMAGE MASK`: the long table for one image and mask (ids are the file names)."""
    task = {
        "dataset": "files",
        "patient_id": "",
        "study_uid": "",
        "finding_id": Path(mask).name,
        "roi": Path(mask).name,
        "phase": Path(image).name,
        "image": str(image),
        "mask": str(mask),
        "params": str(params),
    }
    _, features, reason = _task(task)
    if features is None:
        raise BreastcurateError(f"{mask} on {image}: {reason}")
    rows = feature_rows(task, features, ex.pyradiomics_version(), sha256_file(params))
    write_table(out, "radiomics", pd.DataFrame(rows))
    return len(rows)
