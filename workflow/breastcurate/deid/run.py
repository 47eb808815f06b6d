"""Run de-identification over a folder (`breastcurate deidentify`) or an inventory shard (the pipeline rule)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pydicom

from ..atomic import atomic_path, write_parquet_if_changed
from ..idc import known_descriptions
from ..sources import adapters, get_adapter
from ..tables import write_table
from .engine import Deidentifier, Outcome
from .keys import Keyed
from .profile import load_profile
from .series import SeriesLog, raw_series_values

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
AUDIT_SCHEMA = pa.schema([("file", pa.string()), ("element", pa.string()), ("action", pa.string())])
LINKAGE_SCHEMA = pa.schema([("dataset", pa.string()), ("native_patient_id", pa.string()), ("patient_id", pa.string()),
                            ("native_accession", pa.string()), ("accession", pa.string()),
                            ("date_offset_days", pa.int32())])
FILEMAP_SCHEMA = pa.schema([("path", pa.string()), ("deid_path", pa.string()), ("patient_id", pa.string())])
ISSUES_SCHEMA = pa.schema([("dataset", pa.string()), ("stage", pa.string()), ("path", pa.string()),
                           ("reason", pa.string())])


def make_deidentifier(key: bytes, source: str, options: tuple[str, ...]) -> Deidentifier:
    """A de-identifier for `source` (a dataset key, or any name for a plain folder of DICOM)."""
    known = adapters()
    chosen = [known[source]] if source in known else list(known.values())
    patterns = [p for a in chosen for p in a.descriptor_patterns]
    collections = tuple(sorted({c for a in chosen for c in a.idc_collections}))
    return Deidentifier(Keyed(key), load_profile(options), source, patterns, known_descriptions(collections))


def output_name(ds: pydicom.Dataset, outcome: Outcome) -> str:
    """<pseudonym>/<study uid>/<series uid>/<sop uid>.dcm — names built from de-identified values only."""
    return f"{outcome.patient_id}/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"


class Collector:
    """Gathers audit, linkage, file map (native path → de-identified path), quarantine and reject rows, and writes them to the restricted folder."""

    def __init__(self, source: str):
        self.source = source
        known = adapters()
        self.series = SeriesLog(known[source]) if source in known and known[source].modality == "MR" else None
        self.audit: list[dict] = []
        self.linkage: dict[tuple[str, str], dict] = {}
        self.quarantine: list[dict] = []
        self.rejects: list[dict] = []
        self.filemap: list[dict] = []

    def add(self, outcome: Outcome, rel_in: str, rel_out: str | None, raw: dict | None = None,
            ds: pydicom.Dataset | None = None) -> None:
        if self.series is not None and raw is not None and ds is not None and not outcome.quarantined:
            self.series.add(raw, ds, outcome.patient_id)
        if outcome.quarantined:
            self.quarantine.append({"dataset": self.source, "stage": "deid", "path": rel_in,
                                    "reason": outcome.quarantined})
            return
        self.filemap.append({"path": rel_in, "deid_path": rel_out, "patient_id": outcome.patient_id})
        self.audit += [{"file": rel_out, "element": e, "action": a} for e, a in outcome.audit]
        self.linkage[(outcome.native_patient_id, outcome.native_accession)] = {
            "dataset": self.source, "native_patient_id": outcome.native_patient_id, "patient_id": outcome.patient_id,
            "native_accession": outcome.native_accession, "accession": outcome.accession,
            "date_offset_days": outcome.date_offset_days}

    def reject(self, rel_in: str, reason: str) -> None:
        self.rejects.append({"dataset": self.source, "stage": "deid", "path": rel_in, "reason": reason})

    def write(self, restricted: Path) -> None:
        restricted.mkdir(parents=True, exist_ok=True)
        os.chmod(restricted, PRIVATE_DIR)
        tables = {
            "audit.parquet": pa.Table.from_pylist(sorted(self.audit, key=lambda r: (r["file"], r["element"])),
                                                  schema=AUDIT_SCHEMA),
            "linkage.parquet": pa.Table.from_pylist([self.linkage[k] for k in sorted(self.linkage)],
                                                    schema=LINKAGE_SCHEMA),
            "quarantine.parquet": pa.Table.from_pylist(sorted(self.quarantine, key=lambda r: r["path"]),
                                                       schema=ISSUES_SCHEMA),
            "files.parquet": pa.Table.from_pylist(sorted(self.filemap, key=lambda r: r["path"]),
                                                  schema=FILEMAP_SCHEMA),
            "rejects.parquet": pa.Table.from_pylist(sorted(self.rejects, key=lambda r: r["path"]),
                                                    schema=ISSUES_SCHEMA),
        }
        for name, table in tables.items():
            write_parquet_if_changed(restricted / name, table, PRIVATE_FILE)
        if self.series is not None:
            write_table(restricted / "series.parquet", "deid_series", self.series.rows(self.source), restricted=True)


def _process(deid: Deidentifier, source: Path, native_patient_id: str | None, rel_in: str, out_root: Path,
             collector: Collector, mode: int | None) -> None:
    try:
        ds = pydicom.dcmread(source, force=True)
        if "SOPInstanceUID" not in ds:
            collector.reject(rel_in, "not a DICOM instance (no SOP Instance UID)")
            return
        raw = raw_series_values(ds) if collector.series is not None else None
        outcome = deid(ds, native_patient_id)
        rel_out = None if outcome.quarantined else output_name(ds, outcome)
        if rel_out:
            target = out_root / rel_out
            with atomic_path(target, mode) as tmp:
                ds.save_as(tmp, enforce_file_format="TransferSyntaxUID" in getattr(ds, "file_meta", {}))
        collector.add(outcome, rel_in, rel_out, raw, ds)
    except Exception as exc:  # a corrupt file is a reject row, never a crashed run
        collector.reject(rel_in, f"cannot de-identify: {type(exc).__name__}: {str(exc)[:200]}")


def deidentify_folder(in_dir: Path, out_dir: Path, restricted: Path, key: bytes, options: tuple[str, ...],
                      source: str = "folder") -> Collector:
    """Every file under `in_dir` → de-identified into `out_dir`; audit, linkage and quarantine into `restricted`."""
    in_dir, out_dir, restricted = Path(in_dir), Path(out_dir), Path(restricted)
    if restricted.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError("the restricted folder must not be inside OUT (OUT is meant to be shared)")
    deid = make_deidentifier(key, source, options)
    collector = Collector(source)
    for path in sorted(p for p in in_dir.rglob("*") if p.is_file()):
        _process(deid, path, None, path.relative_to(in_dir).as_posix(), out_dir, collector, None)
    collector.write(restricted)
    return collector


def deidentify_shard(dataset: str, inventory_shard: Path, raw_root: Path, out_dir: Path, key: bytes,
                     options: tuple[str, ...]) -> Collector:
    """De-identify the files of one inventory shard into `out_dir/dicom` (restricted zone, mode 0600)."""
    get_adapter(dataset)
    deid = make_deidentifier(key, dataset, options)
    collector = Collector(dataset)
    rows = pq.read_table(inventory_shard, columns=["path", "native_patient_id"]).to_pylist()
    out_dir = Path(out_dir)
    (out_dir / "dicom").mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, PRIVATE_DIR)
    for row in rows:
        _process(deid, Path(raw_root) / row["path"], row["native_patient_id"], row["path"], out_dir / "dicom",
                 collector, PRIVATE_FILE)
    collector.write(out_dir)
    return collector
