"""Harmonize one dataset: its shards' conversion tables, the native label tables (through the adapter's code maps), the
series roles and the linkage → canonical tables under curated/tables/<table>/dataset=<dataset>/part-<shard>.parquet,
and the coverage of every join (curated/tables/coverage/…/part-0.parquet), which the checks gate on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .. import idc
from ..codes import Codes
from ..deid.keys import Keyed
from ..layout import Layout, stage_table
from ..sources import get_adapter
from ..tables import harmonized_tables, path_item, table_schema, write_table
from . import exams as exam_tables

VIEWS = set(next(c.allowed for c in table_schema("images").columns if c.name == "view" and c.allowed))
PLANE = {"S": "axial", "I": "axial", "L": "sagittal", "R": "sagittal", "A": "coronal", "P": "coronal"}
EXAMPLES = 5


def _age(text) -> float | None:
    match = re.fullmatch(r"(\d{3})([DWMY])", str(text or ""))
    if not match:
        return None
    return round(int(match.group(1)) / {"D": 365.25, "W": 52.18, "M": 12, "Y": 1}[match.group(2)], 2)


def _date(text) -> str | None:
    text = str(text or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if re.fullmatch(r"\d{8}", text) else None


def _image_type(dicom_type: str | None) -> str:
    values = set(dicom_type.upper().split("\\")) if isinstance(dicom_type, str) else set()
    if "TOMO" in values or "TOMOSYNTHESIS" in values:
        return "synthetic2d" if {"GENERATED_2D", "SYNTHETIC"} & values else "dbt"
    if "SCREEN SAVE" in values:
        return "roi_screenshot"
    return "2d"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def harmonize_dataset(
    dataset: str, results: Path, raw_root: Path, n_shards: int, people: Path, key: bytes, idc_index: Path | None = None
) -> dict[str, int]:
    """Write every canonical table's parts for `dataset`; return row counts per table. `idc_index`: the IDC series
    index the series' provenance (release, collection, DOI, licence, CRDC uuid) is looked up in (default: the pinned
    idc-index-data Parquet, for datasets IDC holds)."""
    adapter = get_adapter(dataset)
    if idc_index is None and adapter.idc_collections:
        idc_index = idc.index_path()
    sources = idc.provenance(idc_index, adapter.idc_collections) if idc_index else {}
    results, raw_root = Path(results), Path(raw_root)
    codes = Codes(dataset)
    image_labels = adapter.read("image_labels", raw_root, codes)
    finding_labels = adapter.read("finding_labels", raw_root, codes)
    clinical = adapter.read("clinical", raw_root, codes)
    demographics = adapter.read("demographics", raw_root, codes)
    persons = pd.read_parquet(people)
    layout = Layout(results)
    excluded = _read(layout.listing_rejects(dataset))
    excluded = set(excluded[excluded.stage == "select"].path) if len(excluded) else set()
    counts = {name: 0 for name in harmonized_tables()}
    seen: dict[str, list[pd.DataFrame]] = {
        "linkage": [],
        "images": [],
        "findings": [],
        "studies": [],
        "series": [],
        "phases": [],
        "breasts": [],
    }
    keyed = Keyed(key)
    for shard in range(n_shards):
        convert, deid = layout.convert_tables(dataset, shard), layout.deid(dataset, shard)
        linkage = pd.read_parquet(layout.linkage(dataset, shard)).drop_duplicates("patient_id")
        images = _read(stage_table(convert, "convert", "images"))
        volumes = _read(stage_table(convert, "convert", "volumes"))
        phases = _read(stage_table(convert, "convert", "phases"))
        findings = _findings(_read(stage_table(convert, "convert", "findings")), images, finding_labels)
        studies = _studies(images, volumes)
        grouped = exam_tables.build(
            dataset,
            keyed,
            _images(images, image_labels),
            _volumes(volumes, phases),
            studies,
            _tumor_sides(linkage, clinical),
            adapter.visit_label,
        )
        tables = {
            "images": grouped.images,
            "findings": findings,
            "volumes": grouped.volumes,
            "exams": grouped.exams,
            "breasts": grouped.breasts,
            "series": _series(_read(stage_table(deid, "deid", "series")), volumes, findings, sources),
            "files": _read(stage_table(convert, "convert", "files")),
            "clinical": linkage[["patient_id", "native_patient_id"]].merge(clinical, on="native_patient_id"),
            "patients": linkage[["patient_id", "native_patient_id"]]
            .merge(demographics, on="native_patient_id", how="left")
            .merge(
                persons[persons.dataset == dataset][["patient_id", "person_id", "in_other_datasets"]],
                on="patient_id",
                how="left",
            ),
            "rejects": _rejects(layout, dataset, shard, codes if shard == 0 else None),
            "studies": studies,
        }
        seen["linkage"].append(linkage)
        seen["images"].append(images)
        seen["findings"].append(findings)
        seen["studies"].append(studies)
        seen["series"].append(tables["series"])
        seen["phases"].append(phases)
        seen["breasts"].append(grouped.breasts)
        for name, frame in tables.items():
            counts[name] += _write(layout, dataset, adapter.license, name, shard, frame)
    coverage = _coverage(
        dataset,
        adapter,
        raw_root,
        keyed,
        clinical,
        demographics,
        image_labels,
        excluded,
        {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in seen.items()},
    )
    for shard in range(n_shards):
        counts["coverage"] += _write(
            layout, dataset, adapter.license, "coverage", shard, coverage if shard == 0 else pd.DataFrame()
        )
    return counts


def _tumor_sides(linkage: pd.DataFrame, clinical: pd.DataFrame) -> dict[str, tuple[str | None, str | None]]:
    """patient_id → the side of the cancer (L, R or B) and its native value, for sources that publish it."""
    if clinical.empty or "tumor_side" not in clinical:
        return {}
    sides = linkage[["patient_id", "native_patient_id"]].merge(clinical, on="native_patient_id")
    return {
        p: (s if isinstance(s, str) else None, n if isinstance(n, str) else None)
        for p, s, n in zip(sides.patient_id, sides.tumor_side, sides.tumor_side_native)
    }


def _write(layout: Layout, dataset: str, license: str, name: str, shard: int, frame: pd.DataFrame) -> int:
    frame = frame.assign(dataset=dataset)
    if "license" in table_schema(name).names:
        frame = frame.assign(license=license)
    write_table(layout.table_part(name, dataset, shard), name, frame)
    return len(frame)


def _images(images: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    if images.empty:
        return images
    labels = labels.drop_duplicates("path").rename(
        columns={
            "path": "source_path",
            "image_type": "label_image_type",
            "image_type_native": "label_image_type_native",
        }
    )
    frame = images.merge(labels, on="source_path", how="left", suffixes=("", "_label"))
    frame["view_native"] = frame["view"]
    frame["view"] = [None if v is None else (v if v in VIEWS else "other") for v in frame["view_native"]]
    derived = [_image_type(t) for t in frame["image_type"]]
    if "label_image_type" in frame:
        known = frame["label_image_type"].notna()
        frame["image_type_native"] = frame["label_image_type_native"].where(known, frame["image_type"])
        frame["image_type"] = frame["label_image_type"].where(known, pd.Series(derived, index=frame.index))
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
    frame["finding_id"] = [
        f"{img if isinstance(img, str) else study}/{var if isinstance(var, str) else ''}/{roi}"
        for img, var, study, roi in zip(frame.image_uid, frame.variant, frame.study_uid, frame.roi)
    ]
    return frame


def _volumes(volumes: pd.DataFrame, phases: pd.DataFrame) -> pd.DataFrame:
    """The volumes with their plane and the study's lost DCE phases (from the conversion's phases table)."""
    if volumes.empty:
        return volumes
    lost = (
        phases[~phases.converted.astype(bool)]
        .groupby("study_uid")
        .phase.agg(lambda s: ",".join(sorted(s, key=_phase_order)))
        if len(phases)
        else pd.Series(dtype=object)
    )
    return volumes.assign(plane=[PLANE[o[2]] for o in volumes.orientation], phases_lost=volumes.study_uid.map(lost))


def _series(
    series: pd.DataFrame, volumes: pd.DataFrame, findings: pd.DataFrame, sources: dict[str, dict]
) -> pd.DataFrame:
    """The shard's series with the phases each produced (and whether it was converted at all) and their provenance
    in IDC's index (`sources`: native series UID → provenance; null for a series the index does not list)."""
    if series.empty:
        return series
    for column in ("idc_release", *idc.PROVENANCE.values()):
        series[column] = [sources.get(uid, {}).get(column) for uid in series.native_series_uid]
    phases = (
        volumes.groupby("series_uid").phase.agg(lambda s: ",".join(sorted(s, key=_phase_order)))
        if len(volumes)
        else pd.Series(dtype=object)
    )
    frame = series.drop(columns=["native_series_uid", "description_native"])
    frame["phases"] = frame.series_uid.map(phases)
    masked = set()
    if len(findings) and "mask_path" in findings:
        masked = {roi.split("_")[1] for roi in findings.roi.dropna() if str(roi).startswith("seg_")}
    frame["converted"] = frame.phases.notna() | (frame.lesion_mask & frame.series_number.astype(str).isin(masked))
    return frame


def _phase_order(phase: str) -> tuple[int, int]:
    return (0, 0) if phase == "pre" else (1, int(phase.split("_")[1])) if phase.startswith("post_") else (2, 0)


def _studies(images: pd.DataFrame, volumes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for modality, frame in (("MG", images), ("MR", volumes)):
        if frame.empty:
            continue
        for study, group in frame.groupby("study_uid", sort=True):
            first = group.iloc[0]
            rows.append(
                {
                    "patient_id": first.patient_id,
                    "study_uid": study,
                    "modality": modality,
                    "study_date": _date(first.study_date),
                    "age_years": _age(first.patient_age),
                    "manufacturer": first.manufacturer,
                    "model": first.model,
                    "field_strength_t": first.get("field_strength_t"),
                    "n_images": int((group.get("variant") == "canonical").sum()) if modality == "MG" else 0,
                    "n_phases": int(group.phase.str.match(r"^(pre|post_\d+)$").sum()) if modality == "MR" else 0,
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "patient_id",
            "study_uid",
            "modality",
            "study_date",
            "age_years",
            "manufacturer",
            "model",
            "field_strength_t",
            "n_images",
            "n_phases",
        ],
    )
    order = frame.sort_values(["patient_id", "study_date", "study_uid"], kind="stable", na_position="last")
    frame["visit"] = order.groupby("patient_id").cumcount().reindex(frame.index)
    return frame


def _rejects(layout: Layout, dataset: str, shard: int, codes: Codes | None) -> pd.DataFrame:
    """Rejects of every stage, inputs named by the SHA-256 of their native path; dataset-level ones in part 0."""
    rows = []
    deid = layout.deid(dataset, shard)
    sources = [
        layout.inventory_rejects(dataset, shard),
        stage_table(deid, "deid", "quarantine"),
        stage_table(deid, "deid", "rejects"),
        stage_table(layout.convert_tables(dataset, shard), "convert", "rejects"),
    ]
    if codes is not None:
        sources.append(layout.listing_rejects(dataset))
        rows += codes.rejects
    for source in sources:
        for row in _read(source).to_dict("records"):
            rows.append({"stage": row["stage"], "item": path_item(row["path"]), "reason": row["reason"]})
    return pd.DataFrame(rows, columns=["stage", "item", "reason"])


def _row(join: str, matched: int, total: int, here: list, there: list) -> dict:
    return {
        "join": join,
        "matched": int(matched),
        "total": int(total),
        "coverage": 1.0 if total == 0 else round(matched / total, 6),
        "unmatched_here": json.dumps(sorted(map(str, here))[:EXAMPLES]) if here else None,
        "unmatched_there": json.dumps(sorted(map(str, there))[:EXAMPLES]) if there else None,
    }


def _coverage(
    dataset: str,
    adapter,
    raw_root: Path,
    keyed: Keyed,
    clinical: pd.DataFrame,
    demographics: pd.DataFrame,
    image_labels: pd.DataFrame,
    excluded: set[str],
    seen: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Coverage of every join this dataset has (pseudonyms only in the examples)."""
    rows = []
    linkage = (
        seen["linkage"].drop_duplicates("native_patient_id")
        if len(seen["linkage"])
        else pd.DataFrame(columns=["native_patient_id", "patient_id"])
    )
    for join, table in (("clinical", clinical), ("demographics", demographics)):
        if table.empty or len(table.columns) <= 1:
            continue
        known = set(table.native_patient_id.dropna())
        imaged = set(linkage.native_patient_id)
        here = linkage[~linkage.native_patient_id.isin(known)].patient_id.tolist()
        there = [keyed.patient(dataset, n) for n in sorted(known - imaged)]
        rows.append(_row(join, len(imaged & known), len(imaged), here, there))
    images = seen["images"]
    if len(images):
        canonical = images[images.variant == "canonical"]
        labelled = set(image_labels.path) if len(image_labels) else set()
        here = canonical[~canonical.source_path.isin(labelled)].image_uid.tolist()
        there = [path_item(p) for p in sorted(labelled - set(canonical.source_path) - excluded)]
        rows.append(_row("image_labels", int(canonical.source_path.isin(labelled).sum()), len(canonical), here, there))
        boxes = adapter.read("image_boxes", raw_root)
        boxes = boxes[~boxes.path.isin(excluded)]
        converted = set(canonical.source_path)
        missing = boxes[~boxes.path.isin(converted)]
        rows.append(
            _row(
                "findings_images",
                len(boxes) - len(missing),
                len(boxes),
                [],
                [f"{path_item(p)}/{r}" for p, r in zip(missing.path, missing.roi)],
            )
        )
    publishes_masks = bool(adapter.lesion_masks) or len(adapter.read("volume_boxes", raw_root)) > 0
    studies = seen["studies"]
    if publishes_masks and len(studies) and (studies.modality == "MR").any():
        dce = studies[(studies.modality == "MR") & (studies.n_phases > 0)]
        findings = seen["findings"]
        masked = (  # a mask counts when it holds a voxel (conversion publishes no empty one; this does not trust it)
            set(findings[findings.mask_path.notna() & (findings.voxels > 0)].study_uid)
            if len(findings) and "mask_path" in findings
            else set()
        )
        here = dce[~dce.study_uid.isin(masked)].study_uid.tolist()
        rows.append(_row("masks", int(dce.study_uid.isin(masked).sum()), len(dce), here, []))
    phases = seen["phases"]
    if len(phases):  # every DCE time point of the studies' DCE series, converted or lost
        lost = phases[~phases.converted.astype(bool)]
        here = [f"{s}/{p}" for s, p in zip(lost.study_uid, lost.phase)]
        rows.append(_row("phases", int(phases.converted.astype(bool).sum()), len(phases), here, []))
    breasts = seen["breasts"]
    if len(breasts):
        known = breasts.outcome.notna()
        rows.append(_row("breast_outcome", int(known.sum()), len(breasts), breasts[~known].breast_id.tolist(), []))
    series = seen["series"]
    if adapter.idc_collections and len(series):
        listed = series.crdc_series_uuid.notna()
        rows.append(_row("idc_index", int(listed.sum()), len(series), series[~listed].series_uid.tolist(), []))
    return pd.DataFrame(rows, columns=["join", "matched", "total", "coverage", "unmatched_here", "unmatched_there"])
