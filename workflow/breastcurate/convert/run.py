"""Run conversion: the `to-png` / `to-nifti` commands on plain files, and one pipeline shard (de-identified DICOM →
curated PNG / NIfTI files plus per-shard tables in the restricted zone for harmonization)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pydicom

from .. import __version__
from ..atomic import make_dirs, sha256_file, write_bytes
from ..config import section
from ..dicomio import BAD_INPUT, dcmread, parse_all
from ..errors import BreastcurateError
from ..layout import stage_table
from ..roles import SeriesInfo, assign_all
from ..sources import adapters, get_adapter
from ..sources.base import MASK_COLUMN, BitFlagSeg
from ..tables import path_item, write_table
from . import mammo, masks, mri

#: The conversion's per-shard tables and their schemas (schemas/restricted, and the catalog's `files`).
TABLES = {
    "images": "convert_images",
    "volumes": "convert_volumes",
    "findings": "convert_findings",
    "files": "files",
    "rejects": "native_rejects",
    "phases": "convert_phases",
}


@dataclass(frozen=True)
class ConvertOptions:
    """What config says about conversion (defaults from the config schema)."""

    png_level: int
    gzip_level: int
    variants: tuple[mammo.VariantSpec, ...]
    threads: int  # volumes of a study are compressed in parallel (zlib-ng releases the GIL)

    @classmethod
    def from_config(cls, block: dict | None, threads: int = 1) -> ConvertOptions:
        block = section("convert", block)
        return cls(
            png_level=int(block["png_compression"]),
            gzip_level=int(block["gzip_level"]),
            variants=tuple(mammo.VariantSpec.from_config(v) for v in block["mammo_variants"]),
            threads=max(1, threads),
        )


@dataclass
class Output:
    """Rows of the per-shard tables, collected while files are written."""

    dataset: str
    results: Path
    rows: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    skipped: list[str] = field(default_factory=list)  # files of a plain folder that are not DICOM at all

    def write_file(self, path: Path, data: bytes, source_sha256: str) -> str:
        """Write a curated file atomically and list it; return its path relative to the results folder."""
        write_bytes(path, data)
        rel = path.relative_to(self.results).as_posix()
        self.rows["files"].append(
            {
                "dataset": self.dataset,
                "path": rel,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "source_sha256": source_sha256,
                "stage": "convert",
                "package_version": __version__,
            }
        )
        return rel

    def reject(self, path: str, reason: str) -> None:
        self.rows["rejects"].append({"dataset": self.dataset, "stage": "convert", "path": path, "reason": reason})

    def write_tables(self, folder: Path) -> None:
        """The shard's tables into `folder` (restricted: they name native paths)."""
        for name, schema in TABLES.items():
            write_table(stage_table(folder, "convert", name), schema, pd.DataFrame(self.rows[name]), private=True)


def _text(ds, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    return "\\".join(str(v) for v in value) if isinstance(value, (list, pydicom.multival.MultiValue)) else str(value)


def _spacing(ds) -> float | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        if keyword in ds and ds[keyword].value:
            return float(ds[keyword].value[0])
    return None


# --- mammography -------------------------------------------------------------------------------------------------


def convert_mammogram(
    source: Path,
    ds,
    target_stem: Path,
    out: Output,
    options: ConvertOptions,
    boxes: pd.DataFrame | None = None,
    ids: dict | None = None,
    mask_dir: Path | None = None,
    read_mask: Callable[[str], Path | None] | None = None,
    box_mirrored: Callable[[str, Any], bool] | None = None,
) -> None:
    """One mammogram → `<stem>.png` and each variant `<stem>_<name>.png`; image and finding rows into `out`. A box
    with a `mask_path` (an ROI mask image of the source, found through `read_mask`) becomes `<mask_dir>/<roi>.png`,
    aligned to the canonical image, and its box is the mask's bounding box. `box_mirrored(frame, ds)`: the adapter's
    rule for boxes published in a mirrored frame."""
    image, meta = mammo.canonical(ds)
    source_sha = sha256_file(source)
    ids = ids or {}
    laterality = mammo.laterality_of(ds) or ids.get("laterality")
    base = {
        "dataset": out.dataset,
        "patient_id": ids.get("patient_id", _text(ds, "PatientID")),
        "study_uid": _text(ds, "StudyInstanceUID"),
        "image_uid": _text(ds, "SOPInstanceUID"),
        "source_path": ids.get("source_path", source.as_posix()),
        "study_date": _text(ds, "StudyDate"),
        "laterality": laterality,
        "view": mammo.view_of(ds) or ids.get("view"),
        "image_type": _text(ds, "ImageType"),
        "series_description": _text(ds, "SeriesDescription"),
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "pixel_spacing_mm": _spacing(ds),
        "patient_age": _text(ds, "PatientAge"),
        "patient_orientation": _text(ds, "PatientOrientation"),
        **{
            k: meta[k]
            for k in (
                "photometric_native",
                "inverted",
                "bits_stored",
                "rescale_slope",
                "rescale_intercept",
                "value_offset",
                "windows",
                "voi_lut_function",
                "voi_lut_sequence_items",
            )
        },
    }
    masked = _roi_masks(image.shape, boxes, mask_dir, read_mask, out, base["source_path"])
    if boxes is not None and MASK_COLUMN in boxes:  # a box named by a mask that was rejected is left out
        boxes = boxes[boxes.roi.isin(masked) | boxes[MASK_COLUMN].isna()].copy()
        for roi, mask in masked.items():
            boxes.loc[boxes.roi == roi, ["xmin", "ymin", "xmax", "ymax"]] = list(mask.box)
    products = [("canonical", image, mammo.Transform(width=image.shape[1], height=image.shape[0]), False)]
    for spec in options.variants:
        arr, transform = mammo.variant(ds, image, laterality, spec)
        products.append((spec.name, arr, transform, spec.voi))
    for name, arr, transform, voi in products:
        stem = target_stem.name if name == "canonical" else f"{target_stem.name}_{name}"
        rel = out.write_file(target_stem.with_name(f"{stem}.png"), mammo.encode_png(arr, options.png_level), source_sha)
        out.rows["images"].append(
            {
                **base,
                "variant": name,
                "path": rel,
                "rows": int(arr.shape[0]),
                "columns": int(arr.shape[1]),
                "bit_depth": 16 if arr.dtype == np.uint16 else 8,
                "voi_applied": voi,
                "flipped": transform.flipped,
                "scale_x": transform.scale_x,
                "scale_y": transform.scale_y,
            }
        )
        for box in boxes.itertuples(index=False) if boxes is not None else []:
            xmin, xmax, flipped = box.xmin, box.xmax, False
            if box_mirrored is not None and box_mirrored(box.frame, ds):  # back to the stored pixel grid
                xmin, xmax, flipped = image.shape[1] - box.xmax, image.shape[1] - box.xmin, True
            if not (0 <= xmin < xmax <= image.shape[1] and 0 <= box.ymin < box.ymax <= image.shape[0]):
                if name == "canonical":
                    out.reject(
                        base["source_path"],
                        f"{box.roi}: box ({xmin}, {box.ymin}, {xmax}, {box.ymax}) lies "
                        f"outside the {image.shape[1]}×{image.shape[0]} image",
                    )
                continue
            x0, y0, x1, y1 = transform.box(xmin, box.ymin, xmax, box.ymax)
            out.rows["findings"].append(
                {
                    "dataset": out.dataset,
                    "patient_id": base["patient_id"],
                    "study_uid": base["study_uid"],
                    "image_uid": base["image_uid"],
                    "variant": name,
                    "roi": box.roi,
                    "source": "box",
                    "xmin": x0,
                    "ymin": y0,
                    "xmax": x1,
                    "ymax": y1,
                    "label": None,
                    "labels_native": box.labels,
                    "box_frame": box.frame,
                    "box_flipped": flipped,
                    **(
                        {"source": "mask", "mask_path": masked[box.roi].path, "voxels": masked[box.roi].pixels}
                        if name == "canonical" and box.roi in masked
                        else {}
                    ),
                }
            )


@dataclass(frozen=True)
class RoiMask:
    """A mammogram's ROI mask as written: its bounding box (0-based, half-open), curated path and pixel count."""

    box: tuple[float, float, float, float]
    path: str
    pixels: int


def _roi_masks(
    shape: tuple[int, ...],
    boxes: pd.DataFrame | None,
    mask_dir: Path | None,
    read_mask: Callable[[str], Path | None] | None,
    out: Output,
    source_path: str,
) -> dict[str, RoiMask]:
    """roi → its RoiMask, for the boxes that name an ROI mask image: the mask
    (nonzero pixels) as an 8-bit 0/255 PNG in the canonical grid. A mask that is missing, empty or not the
    mammogram's size is a reject; the ROI is then left out."""
    found: dict[str, RoiMask] = {}
    if boxes is None or MASK_COLUMN not in boxes or mask_dir is None or read_mask is None:
        return found
    for roi, mask_path in zip(boxes.roi, boxes[MASK_COLUMN]):
        if not isinstance(mask_path, str):
            continue
        where = read_mask(mask_path)
        if where is None:
            out.reject(source_path, f"{roi}: its ROI mask is not among the files of this shard")  # no native path
            continue
        pixels = dcmread(where, force=True).pixel_array
        if pixels.shape != shape[:2]:
            out.reject(
                mask_path,
                f"{roi}: ROI mask is {pixels.shape[1]}×{pixels.shape[0]}, the mammogram {shape[1]}×{shape[0]} "
                "(not a mask of this image: a cropped ROI image listed as the mask?)",
            )
            continue
        binary = pixels > 0
        if not binary.any():
            out.reject(mask_path, f"{roi}: ROI mask is empty")
            continue
        ys, xs = np.nonzero(binary.any(axis=1))[0], np.nonzero(binary.any(axis=0))[0]
        png = mammo.encode_png(binary.astype(np.uint8) * 255, 6)
        rel = out.write_file(mask_dir / f"{roi}.png", png, sha256_file(where))
        found[roi] = RoiMask((float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1)), rel, int(binary.sum()))
    return found


def to_png(files: list[Path], out_dir: Path, options: ConvertOptions) -> Output:
    """`breastcurate to-png`: each file → `<out>/<stem>.png` (+ variants) and `<stem>.json` metadata."""
    out = Output(dataset="files", results=Path(out_dir))
    for path in files:
        path = Path(path)
        try:
            ds = parse_all(dcmread(path, force=True))
            before = len(out.rows["images"])
            convert_mammogram(path, ds, Path(out_dir) / path.stem, out, options)
            write_bytes(
                Path(out_dir) / f"{path.stem}.json",
                json.dumps(out.rows["images"][before:], indent=2, sort_keys=True).encode() + b"\n",
            )
        except BAD_INPUT as exc:
            out.reject(path.as_posix(), _reason(exc))
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, (mammo.UndecodableError, mri.ConversionError, BreastcurateError)):
        return str(exc)
    return f"cannot convert: {type(exc).__name__}: {str(exc)[:200]}"


# --- MRI ---------------------------------------------------------------------------------------------------------


def convert_study_files(
    files: list[Path],
    target_dir: Path,
    mask_dir: Path,
    out: Output,
    options: ConvertOptions,
    ids: dict | None = None,
    box_rows: list | None = None,
    roles: dict[str, dict] | None = None,
    phase_series: set[str] | None = None,
    seg_layout: BitFlagSeg | None = None,
) -> list[mri.Volume]:
    """The MR files of one study → phases under `target_dir`, SEG and box masks under `mask_dir`. With `roles` (series
    UID → its row of the deid series table; the pipeline) only `dce` series are read and become phases, and only
    lesion-mask SEGs become masks, decoded as `seg_layout` when the dataset declares one; without (a plain folder)
    every volume is converted, only those of `phase_series` (None: any) can be phases, and a SEG carrying the legend
    of any adapter's bit-flag layout is decoded as that layout. Every DCE phase, converted or lost, is a row of the
    phases table; an empty or implausibly large mask is a reject, never published."""
    headers, unreadable = mri.read_headers(sorted(files))
    for failed, reason in unreadable:
        out.reject(_source(failed, ids), reason)
    if roles is not None:
        phase_series = {uid for uid, r in roles.items() if r["role"] == "dce"}

    def kept(path: str) -> str:  # a pipeline's reasons reach the catalog: the kept file by its item, never its path
        return path_item(_source(path, ids)) if ids else path

    volumes, lost, rejected = mri.build_volumes(headers, phase_series, strict=roles is not None, name=kept)
    for failed, reason in rejected:
        if ids is None and reason.startswith(mri.DUPLICATE):  # a plain folder: a dropped copy loses nothing
            out.skipped.append(f"{failed}: {reason}")
        else:
            out.reject(_source(failed, ids), reason)
    patient = (ids or {}).get("patient_id") or next((_text(ds, "PatientID") for _, ds in headers), None)
    phases: list[mri.Volume | mri.LostPhase] = [*volumes, *lost]
    for phase in phases:
        if phase.name == "pre" or phase.name.startswith("post_"):
            out.rows["phases"].append(
                {
                    "dataset": out.dataset,
                    "patient_id": patient,
                    "study_uid": phase.study_uid,
                    "series_uid": phase.series_uid,
                    "phase": phase.name,
                    "converted": isinstance(phase, mri.Volume),
                    "reason": None if isinstance(phase, mri.Volume) else phase.reason,
                }
            )
    shas = {str(p): sha256_file(p) for p, _ in headers}
    with ThreadPoolExecutor(options.threads) as pool:
        encoded = list(
            pool.map(lambda v: mri.write_volume(v, mri.pre_phase(volumes, v.study_uid), options.gzip_level), volumes)
        )
    for volume, (nii, meta) in zip(volumes, encoded):
        pre = mri.pre_phase(volumes, volume.study_uid)
        source_sha = hashlib.sha256("".join(sorted(shas[s] for s in volume.sources)).encode()).hexdigest()
        rel = out.write_file(target_dir / f"{volume.name}.nii.gz", nii, source_sha)
        rel_json = out.write_file(target_dir / f"{volume.name}.json", meta, source_sha)
        out.rows["volumes"].append(_volume_row(out.dataset, volume, pre, rel, rel_json, ids))
    found: list[tuple[masks.Mask, str, str]] = []
    layouts = (seg_layout,) if seg_layout else tuple(a.bit_flag_seg for a in adapters().values() if a.bit_flag_seg)
    for path, ds in headers:
        if str(ds.get("Modality", "")) != "SEG":
            continue
        if roles is not None and not roles.get(str(ds.SeriesInstanceUID), {}).get("lesion_mask"):
            continue
        try:
            seg = parse_all(dcmread(path, force=True))
            found += [
                (m, shas[str(path)], _source(path, ids))
                for m in masks.seg_masks(seg, volumes, layouts, seg_layout is not None)
            ]
        except BAD_INPUT as exc:
            out.reject(_source(path, ids), _reason(exc))
    for row in box_rows or []:
        pre = next((v for v in volumes if v.name == "pre"), None)
        if pre is None:
            out.reject(f"{row['native_patient_id']}:{row['roi']}", "a lesion box without a converted pre phase")
            continue
        x0, x1, y0, y1, z0, z1 = (int(row[k]) for k in ("x0", "x1", "y0", "y1", "z0", "z1"))
        try:
            found.append(
                (
                    masks.box_mask(pre, row["roi"], x0, x1, y0, y1, z0, z1, z_order=row.get("z_order", "position")),
                    "",
                    f"{row['native_patient_id']}:{row['roi']}",
                )
            )
        except mri.ConversionError as exc:
            out.reject(f"{row['native_patient_id']}:{row['roi']}", str(exc))
    for mask, source_sha, item in found:
        problem = masks.plausible(mask)
        if problem:
            out.reject(item, problem)
            continue
        data = mri.nifti_bytes(mask.data, mask.volume.affine, options.gzip_level)
        rel = out.write_file(mask_dir / f"{mask.roi}.nii.gz", data, source_sha)
        out.rows["findings"].append(
            {
                "dataset": out.dataset,
                "patient_id": (ids or {}).get("patient_id", _text(mask.volume.header, "PatientID")),
                "study_uid": mask.volume.study_uid,
                "roi": mask.roi,
                "source": mask.source,
                "mask_path": rel,
                "phase": mask.volume.name,
                "voxels": int(mask.data.sum()),
                "label": mask.label or None,
                "labels_native": "{}",
                "repairs": "; ".join(mask.repairs) or None,
                "mask_encoding": mask.encoding,
                "mask_legend": mask.legend,
                "mask_rule": mask.rule,
            }
        )
    return volumes


def _source(path, ids: dict | None) -> str:
    mapping = (ids or {}).get("native_paths", {})
    return mapping.get(str(path), str(path))


def _volume_row(dataset: str, v: mri.Volume, pre: mri.Volume | None, rel: str, rel_json: str, ids: dict | None) -> dict:
    h = v.header
    zooms = np.sqrt((v.affine[:3, :3] ** 2).sum(axis=0))

    def num(keyword):
        value = h.get(keyword)
        return None if value in (None, "") else float(value)

    offset = None
    if pre is not None and v.acquisition_seconds is not None and pre.acquisition_seconds is not None:
        offset = round(v.acquisition_seconds - pre.acquisition_seconds, 3)
    return {
        "dataset": dataset,
        "patient_id": (ids or {}).get("patient_id", _text(h, "PatientID")),
        "study_uid": v.study_uid,
        "series_uid": v.series_uid,
        "phase": v.name,
        "path": rel,
        "sidecar_path": rel_json,
        "study_date": _text(h, "StudyDate"),
        "series_description": _text(h, "SeriesDescription"),
        "manufacturer": _text(h, "Manufacturer"),
        "model": _text(h, "ManufacturerModelName"),
        "patient_age": _text(h, "PatientAge"),
        "field_strength_t": num("MagneticFieldStrength"),
        "repetition_time_ms": num("RepetitionTime"),
        "echo_time_ms": num("EchoTime"),
        "flip_angle_deg": num("FlipAngle"),
        "temporal_position": v.temporal_position,
        "acquisition_offset_s": offset,
        "size_x": int(v.data.shape[0]),
        "size_y": int(v.data.shape[1]),
        "size_z": int(v.data.shape[2]),
        "spacing_x_mm": round(float(zooms[0]), 6),
        "spacing_y_mm": round(float(zooms[1]), 6),
        "spacing_z_mm": round(float(zooms[2]), 6),
        "orientation": "".join(nib.aff2axcodes(v.affine)),
        "n_source_files": len(v.sources),
    }


def phase_candidates(headers: list[tuple[Path, pydicom.Dataset]]) -> set[str]:
    """The series of a plain folder that may be DCE phases, by the pipeline's dataset-independent role rules
    (`roles.py`): a study's `dce` series, or, if the rules find none, every series that is not a derived image (SER,
    PE, subtraction, MIP, ImageType DERIVED/SECONDARY) or a SEG. A derived map is never a phase."""
    series: dict[str, SeriesInfo] = {}
    for _, ds in headers:
        uid = str(ds.SeriesInstanceUID)
        if uid not in series:
            series[uid] = SeriesInfo(
                series_uid=uid,
                study_uid=str(ds.get("StudyInstanceUID", "")),
                modality=str(ds.get("Modality", "") or ""),
                description=" ".join(str(ds.get("SeriesDescription", "") or "").split()),
                series_number=mri.optional_int(ds.get("SeriesNumber")),
                image_type=tuple(str(v) for v in (ds.get("ImageType") or [])),
            )
        series[uid].instances += 1
    roles = assign_all(series.values())
    chosen: set[str] = set()
    for study in {s.study_uid for s in series.values()}:
        uids = [uid for uid, s in series.items() if s.study_uid == study]
        dce = {uid for uid in uids if roles[uid].role == "dce"}
        chosen |= dce or {uid for uid in uids if roles[uid].role not in ("derived", "seg")}
    return chosen


def to_nifti(in_dir: Path, out_dir: Path, options: ConvertOptions) -> Output:
    """`breastcurate to-nifti`: every study under `in_dir` → `<out>/<phase>.nii.gz` (one study) or
    `<out>/<StudyInstanceUID>/<phase>.nii.gz` (several)."""
    out = Output(dataset="files", results=Path(out_dir))
    files = sorted(p for p in Path(in_dir).rglob("*") if p.is_file())
    by_study: dict[str, list[Path]] = defaultdict(list)
    headers, unreadable = mri.read_headers(files)
    for failed, reason in unreadable:
        if reason.startswith(mri.NOT_DICOM):
            out.skipped.append(f"{failed}: {reason}")
        else:
            out.reject(failed, reason)
    for path, ds in headers:
        by_study[str(ds.StudyInstanceUID)].append(path)
    phases = phase_candidates(headers)
    for study, paths in sorted(by_study.items()):
        target = Path(out_dir) if len(by_study) == 1 else Path(out_dir) / study
        convert_study_files(paths, target, target, out, options, phase_series=phases)
    if not headers and not out.rows["rejects"]:
        raise BreastcurateError(f"no DICOM images under {in_dir}")
    return out


# --- one pipeline shard --------------------------------------------------------------------------------------------


def convert_shard(
    dataset: str,
    deid_dir: Path,
    dicom: Path,
    raw_root: Path,
    results: Path,
    tables_dir: Path,
    images_dir: Path,
    masks_dir: Path,
    options: ConvertOptions,
) -> Output:
    """De-identified DICOM of one shard (`dicom`; its file map, linkage and series tables in `deid_dir`) → curated
    files under `images_dir` (mammograms, or MRI phases) and `masks_dir`; the shard's tables into `tables_dir`
    (restricted). Curated paths in the tables are relative to `results`."""
    adapter = get_adapter(dataset)
    results, deid_dir, dicom = Path(results), Path(deid_dir), Path(dicom)
    out = Output(dataset=dataset, results=results)
    filemap = pq.read_table(stage_table(deid_dir, "deid", "files")).to_pandas()
    if adapter.modality == "MG":
        boxes = adapter.read("image_boxes", Path(raw_root))
        boxes_by_path = {p: g for p, g in boxes.groupby("path", sort=True)}
        deid_of = dict(zip(filemap.path, filemap.deid_path))
        mask_files = set(boxes[MASK_COLUMN].dropna()) if MASK_COLUMN in boxes else set()

        def read_mask(mirror_path: str) -> Path | None:
            return dicom / deid_of[mirror_path] if mirror_path in deid_of else None

        for row in filemap.itertuples(index=False):
            if row.path in mask_files:  # an ROI mask: converted with its mammogram
                continue
            source = dicom / row.deid_path
            try:
                ds = parse_all(dcmread(source, force=True))
                target = Path(images_dir) / row.patient_id / str(ds.StudyInstanceUID) / str(ds.SOPInstanceUID)
                convert_mammogram(
                    source,
                    ds,
                    target,
                    out,
                    options,
                    boxes_by_path.get(row.path),
                    dict(zip(("laterality", "view"), adapter.path_view(PurePosixPath(row.path))))
                    | {"patient_id": row.patient_id, "source_path": row.path},
                    Path(masks_dir) / row.patient_id / str(ds.StudyInstanceUID) / str(ds.SOPInstanceUID),
                    read_mask,
                    adapter.box_mirrored,
                )
            except BAD_INPUT as exc:
                out.reject(row.path, _reason(exc))
    else:
        linkage = pq.read_table(stage_table(deid_dir, "deid", "linkage")).to_pandas()
        pseudonym = dict(zip(linkage.native_patient_id, linkage.patient_id))
        series_table = stage_table(deid_dir, "deid", "series")
        series = (
            pd.read_parquet(series_table)
            if series_table.exists()
            else pd.DataFrame(columns=["series_uid", "role", "lesion_mask"])
        )
        roles = {r["series_uid"]: r for r in series.to_dict("records")}
        wanted = {uid for uid, r in roles.items() if r["role"] == "dce" or r["lesion_mask"]}
        patient_boxes: dict[str, list] = defaultdict(list)
        for box in adapter.read("volume_boxes", Path(raw_root)).to_dict("records"):
            if box["native_patient_id"] in pseudonym:
                patient_boxes[pseudonym[box["native_patient_id"]]].append(box)
        studies: dict[tuple[str, str], list[Path]] = defaultdict(list)
        native_paths = {}
        for row in filemap.itertuples(index=False):
            patient, study, series_uid = row.deid_path.split("/")[:3]
            if series_uid not in wanted:  # only DCE phases and lesion masks are read (the series table says why)
                continue
            studies[(patient, study)].append(dicom / row.deid_path)
            native_paths[str(dicom / row.deid_path)] = row.path
        first_study: dict[str, str] = {}  # box tables (Duke) describe a patient's one DCE study
        for patient, study in sorted(studies):
            first_study.setdefault(patient, study)
        for (patient, study), paths in sorted(studies.items()):
            box_rows = patient_boxes.get(patient, []) if first_study[patient] == study else []
            convert_study_files(
                paths,
                Path(images_dir) / patient / study,
                Path(masks_dir) / patient / study,
                out,
                options,
                {"patient_id": patient, "native_paths": native_paths},
                box_rows,
                roles,
                seg_layout=adapter.bit_flag_seg,
            )
    for folder in (images_dir, masks_dir):  # declared outputs, even when the shard has no file for them
        make_dirs(folder)
    out.write_tables(Path(tables_dir))
    return out
