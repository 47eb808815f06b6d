"""One split's records from a results folder or a pulled release, read from its self-contained `catalog.duckdb`:
the mammograms with their boxes and labels, the DCE studies with their phases, lesion masks and clinical labels.
Paths come back absolute (the tables hold them relative to the folder)."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from ..errors import BreastcurateError

SPLITS = ("train", "val", "test")


def _connect(root: Path) -> duckdb.DuckDBPyConnection:
    catalog = Path(root) / "catalog.duckdb"
    if not catalog.is_file():
        raise BreastcurateError(f"{root}: no catalog.duckdb (give a results folder or a pulled release)")
    return duckdb.connect(str(catalog), read_only=True)


def _split_patients(con: duckdb.DuckDBPyConnection, version: str, split: str) -> None:
    """A temporary table `chosen` (dataset, patient_id) of the split; errors name what exists."""
    if split not in SPLITS:
        raise BreastcurateError(f"split {split!r}: one of {', '.join(SPLITS)}")
    versions = [r[0] for r in con.execute("SELECT DISTINCT version FROM splits ORDER BY 1").fetchall()]
    if version not in versions:
        raise BreastcurateError(f"split version {version!r} is not in this catalog (it has {', '.join(versions)})")
    con.execute(
        "CREATE TEMP TABLE chosen AS SELECT dataset, patient_id FROM splits WHERE version = ? AND split = ?",
        [version, split],
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _known(con: duckdb.DuckDBPyConnection, what: str, sql: str, asked: Sequence[str]) -> None:
    """Every name `asked` is one the catalog has (`sql` lists them); else an error naming the others."""
    known = [r[0] for r in con.execute(sql).fetchall()]
    unknown = [a for a in asked if a not in known]
    if unknown:
        raise BreastcurateError(
            f"{what} {', '.join(map(repr, unknown))} not in this catalog (it has {', '.join(known)})"
        )


def mammogram_records(root: str | Path, version: str, split: str, variant: str = "canonical") -> list[dict[str, Any]]:
    """One record per mammogram of the split in `variant`: path, size, bit depth, ids, image type, BI-RADS,
    density, its boxes (x0, y0, x1, y1 in this variant's pixel grid, x1/y1 exclusive) with each box's category and
    pathology, and its ROI masks (`masks`: PNG paths in the canonical grid, CBIS-DDSM; empty for other variants)."""
    root = Path(root)
    con = _connect(root)
    try:
        _split_patients(con, version, split)
        _known(con, "image variant", "SELECT DISTINCT variant FROM images ORDER BY 1", [variant])
        images = _rows(
            con,
            "SELECT i.dataset, i.patient_id, i.exam_id, i.breast_id, i.study_uid, i.image_uid, i.variant, i.path, "
            "i.rows, i.columns, "
            "i.bit_depth, i.bits_stored, i.value_offset, i.laterality, i.view, i.image_type, i.birads, i.density "
            "FROM images i JOIN chosen USING (dataset, patient_id) "
            "WHERE i.variant = ? ORDER BY i.dataset, i.patient_id, i.study_uid, i.image_uid",
            [variant],
        )
        boxes = _rows(
            con,
            "SELECT f.image_uid, f.roi, f.xmin, f.ymin, f.xmax, f.ymax, f.category, f.pathology, f.birads "
            "FROM findings f JOIN chosen USING (dataset, patient_id) "
            "WHERE f.variant = ? AND f.xmin IS NOT NULL ORDER BY f.image_uid, f.roi",
            [variant],
        )
        masks = _rows(
            con,
            "SELECT f.image_uid, f.mask_path FROM findings f JOIN chosen USING (dataset, patient_id) "
            "WHERE f.variant = ? AND f.image_uid IS NOT NULL AND f.mask_path IS NOT NULL ORDER BY f.image_uid, f.roi",
            [variant],
        )
    finally:
        con.close()
    by_image: dict[str, list[dict[str, Any]]] = {}
    for box in boxes:
        by_image.setdefault(box["image_uid"], []).append(box)
    mask_paths: dict[str, list[str]] = {}
    for m in masks:
        mask_paths.setdefault(m["image_uid"], []).append(str(root / m["mask_path"]))
    for image in images:
        image["path"] = str(root / image["path"])
        image["boxes"] = by_image.get(image["image_uid"], [])
        image["masks"] = mask_paths.get(image["image_uid"], [])
    return _present(images, lambda r: [r["path"], *r["masks"]])


SCREENING_VIEWS = ("L-CC", "L-MLO", "R-CC", "R-MLO")
BREAST_LABELS = ("birads", "density", "outcome", "outcome_evidence")


def exam_records(
    root: str | Path,
    version: str,
    split: str,
    views: Sequence[str] = SCREENING_VIEWS,
    variant: str = "canonical",
    complete_only: bool = False,
) -> list[dict[str, Any]]:
    """One record per mammography exam of the split: its `views` (`<laterality>-<view>` → the mammogram record of
    `mammogram_records`, None when absent; of several 2-D images of one view, the first by image_uid), its breasts'
    labels per side (BI-RADS, density, outcome, outcome_evidence; all None for a breast the exam lacks), the exam's ids, `prior_exam_id` and
    `days_since_prior`. With `complete_only`, only exams with all four screening views."""
    root = Path(root)
    con = _connect(root)
    try:
        _split_patients(con, version, split)
        exams = _rows(
            con,
            "SELECT e.dataset, e.patient_id, e.exam_id, e.exam_day, e.visit, e.prior_exam_id, e.days_since_prior, "
            "e.complete_screening_views FROM exams e JOIN chosen USING (dataset, patient_id) "
            "WHERE e.modality = 'MG' ORDER BY e.dataset, e.patient_id, e.visit",
        )
        breasts = _rows(
            con,
            "SELECT b.exam_id, b.laterality, b.birads, b.density, b.outcome, b.outcome_evidence "
            "FROM breasts b JOIN chosen USING (dataset, patient_id)",
        )
        images = _rows(
            con,
            "SELECT i.image_uid, i.exam_id FROM images i JOIN chosen USING (dataset, patient_id) "
            "WHERE i.variant = ? AND i.image_type = '2d'",
            [variant],
        )
    finally:
        con.close()
    exam_of = {i["image_uid"]: i["exam_id"] for i in images}
    shown: dict[str, dict[str, dict[str, Any]]] = {}
    for image in sorted(mammogram_records(root, version, split, variant), key=lambda r: r["image_uid"]):
        if image["image_uid"] in exam_of:
            shown.setdefault(exam_of[image["image_uid"]], {}).setdefault(
                f"{image['laterality']}-{image['view']}", image
            )
    sides: dict[str, dict[str, dict[str, Any]]] = {}
    for b in breasts:
        sides.setdefault(b["exam_id"], {})[b.pop("laterality")] = {k: v for k, v in b.items() if k != "exam_id"}
    records = []
    for exam in exams:
        if complete_only and not exam["complete_screening_views"]:
            continue
        found = shown.get(exam["exam_id"], {})
        exam["views"] = {v: found.get(v) for v in views}
        exam["breasts"] = {s: sides.get(exam["exam_id"], {}).get(s) or dict.fromkeys(BREAST_LABELS) for s in "LR"}
        if any(exam["views"].values()):
            records.append(exam)
    return records


def dce_records(root: str | Path, version: str, split: str, phases: Sequence[str]) -> list[dict[str, Any]]:
    """One record per DCE study of the split that has every phase in `phases`: the phase paths (in that order),
    the lesion mask paths (in the pre grid), the clinical labels and ids (with the visit: `exam_id`, `visit`,
    `visit_label`)."""
    root = Path(root)
    con = _connect(root)
    try:
        _split_patients(con, version, split)
        _known(con, "phase", "SELECT DISTINCT phase FROM volumes ORDER BY 1", phases)
        studies = _rows(
            con,
            "SELECT s.dataset, s.patient_id, s.study_uid, e.exam_id, e.visit, e.visit_label, "
            "c.pcr, c.hr, c.her2, c.subtype, c.er, c.pr "
            "FROM studies s JOIN chosen USING (dataset, patient_id) LEFT JOIN clinical c USING (dataset, patient_id) "
            "LEFT JOIN (SELECT DISTINCT study_uid, exam_id FROM volumes) ve ON ve.study_uid = s.study_uid "
            "LEFT JOIN exams e ON e.exam_id = ve.exam_id "
            "WHERE s.modality = 'MR' ORDER BY s.dataset, s.patient_id, e.visit, s.study_uid",
        )
        volumes = _rows(
            con,
            "SELECT v.study_uid, v.phase, v.path FROM volumes v JOIN chosen USING (dataset, patient_id) "
            "WHERE v.phase IN (SELECT unnest(?))",
            [list(phases)],
        )
        masks = _rows(
            con,
            "SELECT f.study_uid, f.mask_path FROM findings f JOIN chosen USING (dataset, patient_id) "
            "WHERE f.mask_path IS NOT NULL AND f.phase = 'pre' ORDER BY f.study_uid, f.roi",
        )
    finally:
        con.close()
    paths: dict[str, dict[str, str]] = {}
    for v in volumes:
        paths.setdefault(v["study_uid"], {})[v["phase"]] = str(root / v["path"])
    lesions: dict[str, list[str]] = {}
    for m in masks:
        lesions.setdefault(m["study_uid"], []).append(str(root / m["mask_path"]))
    records = []
    for study in studies:
        found = paths.get(study["study_uid"], {})
        if all(p in found for p in phases):
            records.append(
                {**study, "phases": [found[p] for p in phases], "masks": lesions.get(study["study_uid"], [])}
            )
    return _present(records, lambda r: r["phases"] + r["masks"])


def _present(records: list[dict[str, Any]], files: Callable[[dict[str, Any]], list[str]]) -> list[dict[str, Any]]:
    """The records whose files are all here; a warning counts the others by dataset (a release carries no images
    of VinDr-Mammo and EMBED, a partial pull only some)."""
    here = [all(Path(f).is_file() for f in files(r)) for r in records]
    kept = [r for r, ok in zip(records, here) if ok]
    if len(kept) < len(records):
        absent = Counter(r["dataset"] for r, ok in zip(records, here) if not ok)
        warnings.warn(
            "left out, their files are not in this folder (licence or partial pull): "
            + ", ".join(f"{n} of {d}" for d, n in sorted(absent.items())),
            stacklevel=3,
        )
    return kept


MG_IDS = ("dataset", "patient_id", "exam_id", "breast_id", "study_uid", "image_uid", "laterality", "view", "image_type")
MR_IDS = ("dataset", "patient_id", "exam_id", "visit", "visit_label", "study_uid")


def items(
    root: str | Path,
    version: str,
    split: str,
    modality: str,
    phases: Sequence[str] = ("pre", "post_1", "post_2"),
    with_mask: bool | None = None,
) -> list[dict[str, Any]]:
    """The split as MONAI-style dicts of file paths and labels, for `LoadImaged` (`load_transform` loads them in
    the order of MammogramDataset and DCEDataset). MG: `image` (the canonical PNG), `boxes`, `birads`, `density`,
    and with `with_mask` `label` (its ROI masks; images without one are left out); MR: `image` (the phase files,
    which `LoadImaged` stacks as channels in `phases` order), `label` (the lesion masks, stacked the same way; with
    `with_mask`, the default for MR, studies without one are left out), `pcr`, `hr`, `her2`, `subtype`. Each dict
    also carries the ids."""
    if modality == "MG":
        records = mammogram_records(root, version, split)
        return [
            {
                "image": r["path"],
                **({"label": r["masks"]} if with_mask else {}),
                "boxes": [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in r["boxes"]],
                **{k: r[k] for k in ("birads", "density", *MG_IDS)},
            }
            for r in records
            if r["masks"] or not with_mask
        ]
    if modality == "MR":
        with_mask = True if with_mask is None else with_mask
        return [
            {
                "image": r["phases"],
                **({"label": r["masks"]} if with_mask else {}),
                **{k: r[k] for k in ("pcr", "hr", "her2", "subtype", *MR_IDS) if k != "visit_label"},
            }
            for r in dce_records(root, version, split, phases)
            if r["masks"] or not with_mask
        ]
    raise BreastcurateError(f"modality {modality!r}: MG or MR")
