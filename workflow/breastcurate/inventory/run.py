"""Inventory in two steps, so that no job's work grows with the whole corpus:

1. `list_files` (one cheap job per dataset): paths and sizes, and each file's patient — from the adapter's
   path rule (TCIA folders, EMBED paths, VinDr study folders), or from a header read (PatientID only) where the
   layout carries none — which assigns the shard. Files the config's `select` leaves out are set aside here.
2. per shard: every listed file's header and SHA-256, unreadable files as rejects. In the pipeline the
   de-identification job does this as it reads each file (one read of the corpus, not two); `inventory_shard` does
   it alone for the `breastcurate inventory` command.

Each output is rewritten only when its content changes, so adding data re-runs only the shards it touches.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pydicom
from pydicom.errors import InvalidDicomError

from ..atomic import write_bytes_if_changed
from ..dicomio import BAD_INPUT, dcmread, parse_all
from ..errors import BreastcurateError, reason
from ..shards import shard_of
from ..sources import get_adapter
from ..tables import write_table


def _text(ds: pydicom.Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    return None if value is None or value == "" else str(value)


def _int(ds: pydicom.Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _header_patient(path: Path) -> str | None:
    """PatientID from the header alone (no pixel data read), or None."""
    try:
        value = parse_all(dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])).get("PatientID")
    except BAD_INPUT:  # not DICOM or corrupt: the listing reports it
        return None
    return None if value in (None, "") else str(value)


def mirror_state(dataset: str, root: Path) -> str:
    """A digest of what the listing sees in a mirror: every candidate file's path, size and mtime. The Snakefile
    gives it to the listing job of a `local` mirror, so a file added, removed or changed in place re-lists it (and,
    the listing's parts being rewritten only on change, re-runs only the shards whose files changed)."""
    adapter = get_adapter(dataset)
    digest = hashlib.sha256()
    for path in sorted(adapter.candidate_files(Path(root))):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def list_files(
    dataset: str,
    root: Path,
    listings: Sequence[Path],
    rejects: Path,
    manifest: Path,
    salt: str,
    select: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """List the mirror at `root` into one listing per shard (`listings[k]` for shard k), the files left out
    (`rejects`) and a manifest of counts. Returns the manifest."""
    adapter = get_adapter(dataset)
    root = Path(root)
    if not any((root / image_root).is_dir() for image_root in adapter.image_roots):
        raise BreastcurateError(
            f"{dataset}: no {' or '.join(repr(r) for r in adapter.image_roots)} folder under "
            f"{root} (is this a {adapter.title} mirror?)"
        )
    n_shards = len(listings)
    excluded = adapter.select(root, select or {})
    files, out = [], []
    for path in adapter.candidate_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in excluded:
            out.append({"dataset": dataset, "stage": "select", "path": rel, "reason": excluded[rel]})
        else:
            stat = path.stat()
            files.append((rel, stat.st_size, stat.st_mtime_ns, adapter.path_patient(PurePosixPath(rel))))
    unknown = [root / rel for rel, _, _, patient in files if patient is None]
    from_header: dict[str, str | None] = {}
    if unknown:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            from_header = dict(zip(map(str, unknown), pool.map(_header_patient, unknown)))
    rows = []
    for rel, size, mtime, patient in files:
        patient = patient or from_header.get(str(root / rel))
        if patient is None:
            out.append(
                {
                    "dataset": dataset,
                    "stage": "inventory",
                    "path": rel,
                    "reason": "no patient: the path names none and the header has no readable PatientID",
                }
            )
            continue
        rows.append(
            {
                "dataset": dataset,
                "shard": shard_of(dataset, patient, n_shards, salt),
                "native_patient_id": patient,
                "path": rel,
                "bytes": size,
                "mtime_ns": mtime,
            }
        )
    frame = pd.DataFrame(rows, columns=["dataset", "shard", "native_patient_id", "path", "bytes", "mtime_ns"])
    shards = []
    for k, target in enumerate(listings):
        part = frame[frame["shard"] == k]
        written = write_table(Path(target), "listing", part)
        shards.append(
            {
                "shard": k,
                "files": len(part),
                "bytes": int(part["bytes"].sum()),
                "patients": int(part["native_patient_id"].nunique()),
            }
        )
        logging.getLogger(__name__).info(
            "%s shard %d: %d files listed, %s", dataset, k, len(part), "rewritten" if written else "unchanged"
        )
    write_table(Path(rejects), "native_rejects", out)
    summary = {
        "dataset": dataset,
        "n_shards": n_shards,
        "listed": len(frame),
        "excluded": sum(r["stage"] == "select" for r in out),
        "unlisted": sum(r["stage"] != "select" for r in out),
        "shards": shards,
    }
    write_bytes_if_changed(manifest, (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode())
    return summary


def _pixel_problem(ds: pydicom.Dataset) -> str | None:
    """Why the pixel data is unusable, or None. Native data must have the full length its header promises."""
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if ds.get(keyword) in (None, ""):
            return f"missing attribute {keyword}"
    if ds.get("PixelData") is None:
        return "no Pixel Data element" if "PixelData" not in ds else "empty Pixel Data element"
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_transfer_syntax:
        return f"unknown transfer syntax {str(syntax)[:64]!r}"
    if syntax.is_compressed:
        return None
    expected = (
        int(ds.Rows)
        * int(ds.Columns)
        * int(ds.get("NumberOfFrames", 1) or 1)
        * int(ds.get("SamplesPerPixel", 1))
        * int(ds.BitsAllocated)
    )
    expected = (expected + 7) // 8
    if len(ds.PixelData) < expected:
        return f"truncated Pixel Data ({len(ds.PixelData)} of {expected} bytes)"
    return None


def inspect(dataset: str, listed: dict, data: bytes) -> tuple[dict[str, Any], pydicom.Dataset | None]:
    """One listed file's bytes → its inventory row and parsed dataset, or a reject row (key 'reason') and None."""
    rel = listed["path"]
    try:
        ds = parse_all(dcmread(io.BytesIO(data)))
        if "SOPInstanceUID" not in ds or "SeriesInstanceUID" not in ds:
            return {"reason": "missing SOP or Series Instance UID", "path": rel}, None
        if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
            return {"reason": "no file meta information (Part 10 header)", "path": rel}, None
        problem = _pixel_problem(ds)
        if problem:
            return {"reason": problem, "path": rel}, None
    except InvalidDicomError:
        return {"reason": "not a DICOM file (no DICM prefix)", "path": rel}, None
    except BAD_INPUT as exc:
        return {"reason": reason(exc, "unreadable DICOM"), "path": rel}, None
    return {
        "dataset": dataset,
        "shard": listed["shard"],
        "native_patient_id": listed["native_patient_id"],
        "path": rel,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "study_uid": _text(ds, "StudyInstanceUID"),
        "series_uid": _text(ds, "SeriesInstanceUID"),
        "sop_uid": _text(ds, "SOPInstanceUID"),
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "modality": _text(ds, "Modality"),
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "frames": _int(ds, "NumberOfFrames") or 1,
        "series_number": _int(ds, "SeriesNumber"),
        "series_description": _text(ds, "SeriesDescription"),
        "acquisition_time": _text(ds, "AcquisitionTime"),
        "temporal_position": _int(ds, "TemporalPositionIdentifier"),
        "image_laterality": _text(ds, "ImageLaterality"),
        "view_position": _text(ds, "ViewPosition"),
        "photometric": _text(ds, "PhotometricInterpretation"),
        "manufacturer": _text(ds, "Manufacturer"),
    }, ds


def read_file(task: tuple[str, str, dict]) -> dict[str, Any]:
    """Read and hash one listed file; return its inventory row, or a reject row (key 'reason')."""
    dataset, root, listed = task
    return inspect(dataset, listed, (Path(root) / listed["path"]).read_bytes())[0]


def write_inventory(dataset: str, results: list[dict], out: Path, rejects: Path) -> int:
    """Inventory rows → `out`, reject rows (key 'reason') → `rejects`; returns the rows written to `out`."""
    rows = [r for r in results if "reason" not in r]
    write_table(Path(out), "inventory", rows)
    write_table(
        Path(rejects),
        "native_rejects",
        [
            {"dataset": dataset, "stage": "inventory", "path": r["path"], "reason": r["reason"]}
            for r in results
            if "reason" in r
        ],
    )
    return len(rows)


def inventory_shard(dataset: str, root: Path, listing: Path, out: Path, rejects: Path, workers: int = 1) -> int:
    """Headers and SHA-256 of one shard's listed files → `out`; unreadable files → `rejects`. Returns the rows."""
    tasks = [(dataset, str(root), row) for row in pd.read_parquet(listing).to_dict("records")]
    if workers > 1 and len(tasks) > 64:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(read_file, tasks, chunksize=32))
    else:
        results = [read_file(t) for t in tasks]
    return write_inventory(dataset, results, out, rejects)
