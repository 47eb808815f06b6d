"""Harmonize one dataset: its shards' conversion tables, the native label tables (through the adapter's code maps)
and the linkage → canonical tables under curated/tables/<table>/dataset=<dataset>/part-<shard>.parquet."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from ..atomic import write_parquet_if_changed
from ..sources import get_adapter
from ..tables import harmonized_tables, table_schema
from .codes import Codes

VIEWS = set(next(c.allowed for c in table_schema("images").columns if c.name == "view"))
PLANE = {"S": "axial", "I": "axial", "L": "sagittal", "R": "sagittal", "A": "coronal", "P": "coronal"}


def _item(path: str) -> str:
    return "sha256:" + hashlib.sha256(str(path).encode()).hexdigest()


def _age(text) -> float | None:
    match = re.fullmatch(r"(\d{3})([DWMY])", str(text or ""))
    if not match:
        return None
    return round(int(match.group(1)) / {"D": 365.25, "W": 52.18, "M": 12, "Y": 1}[match.group(2)], 2)


def _date(text) -> str | None:
    text = str(text or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if re.fullmatch(r"\d{8}", text) else None


def _image_type(dicom_type: str | None) -> str:
    values = set((dicom_type or "").upper().split("\\"))
    if "TOMO" in values or "TOMOSYNTHESIS" in values:
        return "synthetic2d" if {"GENERATED_2D", "SYNTHETIC"} & values else "dbt"
    return "2d"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def harmonize_dataset(dataset: str, results: Path, raw_root: Path, n_shards: int, people: Path) -> dict[str, int]:
    """Write every canonical table's parts for `dataset`; return row counts per table."""
    adapter = get_adapter(dataset)
    results, raw_root = Path(results), Path(raw_root)
    codes = Codes(dataset)
    image_labels = adapter.image_labels(raw_root, codes)
    finding_labels = adapter.finding_labels(raw_root, codes)
    clinical = adapter.clinical(raw_root, codes)
    demographics = adapter.demographics(raw_root, codes)
    persons = pd.read_parquet(people)
    counts = {name: 0 for name in harmonized_tables()}
    for shard in range(n_shards):
        convert = results / "restricted" / "convert" / dataset / f"shard-{shard}"
        deid = results / "restricted" / "deid" / dataset / f"shard-{shard}"
        linkage = pd.read_parquet(deid / "linkage.parquet").drop_duplicates("patient_id")
        images, volumes = _read(convert / "images.parquet"), _read(convert / "volumes.parquet")
        tables = {
            "images": _images(images, image_labels),
            "findings": _findings(_read(convert / "findings.parquet"), images, finding_labels),
            "volumes": _volumes(volumes),
            "files": _read(convert / "files.parquet").assign(dataset=dataset),
            "clinical": linkage[["patient_id", "native_patient_id"]].merge(clinical, on="native_patient_id"),
            "patients": linkage[["patient_id", "native_patient_id"]]
            .merge(demographics, on="native_patient_id", how="left")
            .merge(persons[persons.dataset == dataset][["patient_id", "person_id", "in_other_datasets"]],
                   on="patient_id", how="left"),
            "rejects": _rejects(results, dataset, shard, codes if shard == 0 else None),
            "studies": _studies(images, volumes),
        }
        for name, frame in tables.items():
            frame = frame.assign(dataset=dataset)
            if "license" in table_schema(name).names:
                frame = frame.assign(license=adapter.license)
            table = table_schema(name).to_arrow(frame)
            counts[name] += table.num_rows
            write_parquet_if_changed(results / "curated" / "tables" / name / f"dataset={dataset}" /
                                     f"part-{shard}.parquet", table)
    return counts


def _images(images: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    if images.empty:
        return images
    labels = labels.drop_duplicates("path")
    frame = images.merge(labels.rename(columns={"path": "source_path", "image_type": "label_image_type"}),
                         on="source_path", how="left", suffixes=("", "_label"))
    frame["view_native"] = frame["view"]
    frame["view"] = [None if v is None else (v if v in VIEWS else "other") for v in frame["view_native"]]
    derived = [_image_type(t) for t in frame["image_type"]]
    if "label_image_type" in frame:
        frame["image_type_native"] = frame.get("image_type_native").where(frame["label_image_type"].notna(),
                                                                          frame["image_type"])
        frame["image_type"] = frame["label_image_type"].where(frame["label_image_type"].notna(), derived)
    else:
        frame["image_type_native"] = frame["image_type"]
        frame["image_type"] = derived
    return frame


def _findings(findings: pd.DataFrame, images: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    if findings.empty:
        return findings
    frame = findings.drop(columns=["label"])
    if not images.empty:
        sources = images.drop_duplicates("image_uid")[["image_uid", "source_path"]]
        frame = frame.merge(sources, on="image_uid", how="left")
        frame = frame.merge(labels.rename(columns={"path": "source_path"}), on=["source_path", "roi"], how="left")
    else:  # MRI lesion masks
        frame["category"], frame["category_native"] = "lesion", findings["label"]
    frame["finding_id"] = [f"{img if isinstance(img, str) else study}/{var if isinstance(var, str) else ''}/{roi}"
                           for img, var, study, roi in zip(frame.image_uid, frame.variant, frame.study_uid,
                                                           frame.roi)]
    return frame


def _volumes(volumes: pd.DataFrame) -> pd.DataFrame:
    if volumes.empty:
        return volumes
    return volumes.assign(plane=[PLANE[o[2]] for o in volumes.orientation])


def _studies(images: pd.DataFrame, volumes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for modality, frame in (("MG", images), ("MR", volumes)):
        if frame.empty:
            continue
        for study, group in frame.groupby("study_uid", sort=True):
            first = group.iloc[0]
            rows.append({"patient_id": first.patient_id, "study_uid": study, "modality": modality,
                         "study_date": _date(first.study_date), "age_years": _age(first.patient_age),
                         "manufacturer": first.manufacturer, "model": first.model,
                         "field_strength_t": first.get("field_strength_t"),
                         "n_images": int((group.get("variant") == "canonical").sum()) if modality == "MG" else 0,
                         "n_phases": int(group.phase.str.match(r"^(pre|post_\d+)$").sum()) if modality == "MR"
                         else 0})
    return pd.DataFrame(rows)


def _rejects(results: Path, dataset: str, shard: int, codes: Codes | None) -> pd.DataFrame:
    """Rejects of every stage, inputs named by the SHA-256 of their native path; dataset-level ones in part 0."""
    rows = []
    sources = [results / "restricted" / "deid" / dataset / f"shard-{shard}" / name
               for name in ("quarantine.parquet", "rejects.parquet")]
    sources.append(results / "restricted" / "convert" / dataset / f"shard-{shard}" / "rejects.parquet")
    if codes is not None:
        sources.append(results / "restricted" / "inventory" / dataset / "rejects.parquet")
        rows += codes.rejects
    for source in sources:
        for row in _read(source).to_dict("records"):
            rows.append({"stage": row["stage"], "item": _item(row["path"]), "reason": row["reason"]})
    return pd.DataFrame(rows, columns=["stage", "item", "reason"]) if rows else \
        pd.DataFrame(columns=["stage", "item", "reason"])
