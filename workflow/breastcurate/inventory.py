"""Inventory: one row per DICOM file of a native mirror, sharded by patient; unreadable files become rejects."""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pydicom
from pydicom.errors import InvalidDicomError

from .atomic import write_bytes, write_parquet_if_changed
from .shards import shard_of
from .sources import get_adapter

# Columns of the restricted inventory (native ids: never copied to curated outputs).
INVENTORY_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("shard", pa.int32()), ("native_patient_id", pa.string()),
    ("path", pa.string()), ("bytes", pa.int64()), ("sha256", pa.string()),
    ("study_uid", pa.string()), ("series_uid", pa.string()), ("sop_uid", pa.string()),
    ("sop_class_uid", pa.string()), ("modality", pa.string()), ("transfer_syntax", pa.string()),
    ("rows", pa.int32()), ("columns", pa.int32()), ("frames", pa.int32()), ("series_number", pa.int32()),
    ("series_description", pa.string()), ("acquisition_time", pa.string()), ("temporal_position", pa.int32()),
    ("image_laterality", pa.string()), ("view_position", pa.string()), ("photometric", pa.string()),
    ("manufacturer", pa.string()),
])
REJECTS_SCHEMA = pa.schema([("dataset", pa.string()), ("stage", pa.string()), ("path", pa.string()),
                            ("reason", pa.string())])
RESTRICTED_MODE = 0o600


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return None if value is None or value == "" else str(value)


def _int(ds: pydicom.Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _pixel_problem(ds: pydicom.Dataset) -> str | None:
    """Why the pixel data is unusable, or None. Native data must have the full length its header promises."""
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if ds.get(keyword) in (None, ""):
            return f"missing attribute {keyword}"
    if "PixelData" not in ds:
        return "no Pixel Data element"
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return None
    expected = int(ds.Rows) * int(ds.Columns) * int(ds.get("NumberOfFrames", 1) or 1) * \
        int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated)
    expected = (expected + 7) // 8
    if len(ds.PixelData) < expected:
        return f"truncated Pixel Data ({len(ds.PixelData)} of {expected} bytes)"
    return None


def read_file(task: tuple[str, str, str, int, str]) -> dict[str, Any]:
    """Read one file; return an inventory row or a reject row (key 'reason')."""
    dataset, root, rel, n_shards, salt = task
    path = Path(root) / rel
    data = path.read_bytes()
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        if "SOPInstanceUID" not in ds or "SeriesInstanceUID" not in ds:
            return {"reason": "missing SOP or Series Instance UID", "path": rel}
        if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
            return {"reason": "no file meta information (Part 10 header)", "path": rel}
        problem = _pixel_problem(ds)
        if problem:
            return {"reason": problem, "path": rel}
        patient = get_adapter(dataset).native_patient_id(ds, PurePosixPath(rel))
    except InvalidDicomError:
        return {"reason": "not a DICOM file (no DICM prefix)", "path": rel}
    except Exception as exc:  # any parse failure of a corrupt file is a reject, never a crashed run
        return {"reason": f"unreadable DICOM: {type(exc).__name__}: {str(exc)[:200]}", "path": rel}
    return {
        "dataset": dataset, "shard": shard_of(dataset, patient, n_shards, salt), "native_patient_id": patient,
        "path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        "study_uid": _text(ds, "StudyInstanceUID"), "series_uid": _text(ds, "SeriesInstanceUID"),
        "sop_uid": _text(ds, "SOPInstanceUID"), "sop_class_uid": _text(ds, "SOPClassUID"),
        "modality": _text(ds, "Modality"), "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "rows": _int(ds, "Rows"), "columns": _int(ds, "Columns"), "frames": _int(ds, "NumberOfFrames") or 1,
        "series_number": _int(ds, "SeriesNumber"), "series_description": _text(ds, "SeriesDescription"),
        "acquisition_time": _text(ds, "AcquisitionTime"), "temporal_position": _int(ds, "TemporalPositionIdentifier"),
        "image_laterality": _text(ds, "ImageLaterality"), "view_position": _text(ds, "ViewPosition"),
        "photometric": _text(ds, "PhotometricInterpretation"), "manufacturer": _text(ds, "Manufacturer"),
    }


def build_inventory(dataset: str, root: Path, out_dir: Path, n_shards: int, salt: str,
                    workers: int = 1, select: dict | None = None) -> dict[str, Any]:
    """List every file of the mirror at `root`, write `shard-<k>.parquet` (only when changed) and rejects.

    Returns the manifest (also written as manifest.json): per-shard rows and sha256, reject count.
    """
    adapter = get_adapter(dataset)
    root = Path(root)
    if not any((root / image_root).is_dir() for image_root in adapter.image_roots):
        raise FileNotFoundError(f"{dataset}: no {' or '.join(repr(r) for r in adapter.image_roots)} folder under "
                                f"{root} (is this a {adapter.title} mirror?)")
    rels = [p.relative_to(root).as_posix() for p in adapter.candidate_files(root)]
    excluded = adapter.select(root, select or {}) if select is not None else {}
    selected = [{"dataset": dataset, "stage": "select", "path": rel, "reason": excluded[rel]}
                for rel in rels if rel in excluded]
    rels = [rel for rel in rels if rel not in excluded]
    tasks = [(dataset, str(root), rel, n_shards, salt) for rel in rels]
    if workers > 1 and len(tasks) > 64:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(read_file, tasks, chunksize=32))
    else:
        results = [read_file(t) for t in tasks]
    rows = sorted((r for r in results if "reason" not in r), key=lambda r: r["path"])
    rejects = selected + [{"dataset": dataset, "stage": "inventory", "path": r["path"], "reason": r["reason"]}
                          for r in results if "reason" in r]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"dataset": dataset, "n_shards": n_shards, "files": len(rows),
                                "rejects": len(rejects) - len(selected), "excluded": len(selected), "shards": []}
    for k in range(n_shards):
        part = [r for r in rows if r["shard"] == k]
        table = pa.Table.from_pylist(part, schema=INVENTORY_SCHEMA)
        path = out_dir / f"shard-{k}.parquet"
        written = write_parquet_if_changed(path, table, RESTRICTED_MODE)
        manifest["shards"].append({"shard": k, "files": len(part),
                                   "patients": len({r["native_patient_id"] for r in part}),
                                   "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        print(f"{dataset} shard {k}: {len(part)} files, {'rewritten' if written else 'unchanged'}")
    write_parquet_if_changed(out_dir / "rejects.parquet", pa.Table.from_pylist(rejects, schema=REJECTS_SCHEMA),
                             RESTRICTED_MODE)
    write_bytes(out_dir / "manifest.json", (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(),
                RESTRICTED_MODE)
    return manifest
