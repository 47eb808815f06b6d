"""Run de-identification over a folder (`breastcurate deidentify`) or an inventory shard (the pipeline rule)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydicom

from ..atomic import atomic_path, make_dirs
from ..dicomio import BAD_INPUT, dcmread, parse_all
from ..errors import BreastcurateError, reason
from ..idc import known_descriptions
from ..inventory.run import inspect, write_inventory
from ..layout import copy_order, stage_table
from ..sources import adapters, get_adapter
from ..tables import path_item, write_table
from .engine import Deidentifier, Outcome
from .keys import Keyed
from .phi_terms import TermLog
from .profile import load_profile
from .series import SeriesLog, raw_series_values


def make_deidentifier(key: bytes, source: str, options: tuple[str, ...]) -> Deidentifier:
    """A de-identifier for `source` (a dataset key, or any name for a plain folder of DICOM)."""
    known = adapters()
    chosen = [known[source]] if source in known else list(known.values())
    patterns = [p for a in chosen for p in a.descriptor_patterns]
    collections = tuple(sorted({c for a in chosen for c in a.idc_collections}))
    reviewed = source in known and known[source].secondary_capture_reviewed is not None
    return Deidentifier(Keyed(key), load_profile(options), source, patterns, known_descriptions(collections), reviewed)


def output_name(ds: pydicom.Dataset, outcome: Outcome) -> str:
    """<pseudonym>/<study uid>/<series uid>/<sop uid>.dcm — names built from de-identified values only."""
    return f"{outcome.patient_id}/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"


class Collector:
    """Gathers audit, linkage, file map (native path → de-identified path), quarantine, reject rows and the PHI
    values of the raw headers, and writes them to the restricted folder."""

    def __init__(self, source: str):
        self.source = source
        known = adapters()
        self.series = SeriesLog(known[source]) if source in known and known[source].modality == "MR" else None
        self.audit: list[dict] = []
        self.linkage: dict[tuple[str, str], dict] = {}
        self.quarantine: list[dict] = []
        self.rejects: list[dict] = []
        self.filemap: list[dict] = []
        self.terms = TermLog()
        self.written: dict[str, str] = {}  # output name → the input written there
        self.conflicts: set[str] = set()  # output names whose inputs disagree: none of them is used

    def add(
        self,
        outcome: Outcome,
        rel_in: str,
        rel_out: str | None,
        raw: dict | None = None,
        ds: pydicom.Dataset | None = None,
    ) -> None:
        if self.series is not None and raw is not None and ds is not None and not outcome.quarantined:
            self.series.add(raw, ds, outcome.patient_id)
        if outcome.quarantined:
            self.quarantine.append(
                {"dataset": self.source, "stage": "deid", "path": rel_in, "reason": outcome.quarantined}
            )
            return
        self.filemap.append({"path": rel_in, "deid_path": rel_out, "patient_id": outcome.patient_id})
        self.audit += [{"file": rel_out, "element": e, "action": a} for e, a in outcome.audit]
        self.linkage[(outcome.native_patient_id, outcome.native_accession)] = {
            "dataset": self.source,
            "native_patient_id": outcome.native_patient_id,
            "patient_id": outcome.patient_id,
            "native_accession": outcome.native_accession,
            "accession": outcome.accession,
            "date_offset_days": outcome.date_offset_days,
        }

    def reject(self, rel_in: str, reason: str) -> None:
        self.rejects.append({"dataset": self.source, "stage": "deid", "path": rel_in, "reason": reason})

    def copy_of(self, rel_out: str, rel_in: str, ds: pydicom.Dataset, target: Path) -> bool:
        """Whether an earlier input of this run was written to `rel_out` (at `target`: same study, series and SOP
        Instance UID): then `ds` is a reject naming that input by its catalog item (its path may hold PHI). Same pixel
        data: a copy (a re-download's `1-05 (1).dcm`; dcm2niix drops these too). Other pixel data: which one is the
        instance cannot be known, so neither is used (the first is taken back; a DCE phase then lacks that slice and
        is lost alone, leaving a gap, as `to-nifti` rejects such a phase)."""
        if rel_out not in self.written:
            self.written[rel_out] = rel_in
            return False
        kept = self.written[rel_out]
        if rel_out in self.conflicts:
            self.reject(rel_in, f"same SOP Instance UID as {path_item(kept)} but other pixel data; neither is used")
        elif dcmread(target, force=True).get("PixelData") == ds.get("PixelData"):
            self.reject(rel_in, f"duplicate of {path_item(kept)} (same SOP Instance UID and pixel data)")
        else:
            self.conflicts.add(rel_out)
            target.unlink()
            self.filemap = [row for row in self.filemap if row["deid_path"] != rel_out]
            self.audit = [row for row in self.audit if row["file"] != rel_out]
            for one, other in ((kept, rel_in), (rel_in, kept)):
                self.reject(one, f"same SOP Instance UID as {path_item(other)} but other pixel data; neither is used")
        return True

    def write(self, restricted: Path, terms: Path | None = None) -> None:
        """The shard's tables into `restricted` (always private, whatever its name); the PHI values into `terms`."""
        make_dirs(restricted, private=True)
        tables = {
            "audit": ("audit", self.audit),
            "linkage": ("linkage", list(self.linkage.values())),
            "quarantine": ("native_rejects", self.quarantine),
            "files": ("file_map", self.filemap),
            "rejects": ("native_rejects", self.rejects),
        }
        for name, (schema, rows) in tables.items():
            write_table(stage_table(restricted, "deid", name), schema, pd.DataFrame(rows), private=True)
        if self.series is not None:
            series = self.series.rows(self.source)
            write_table(stage_table(restricted, "deid", "series"), "deid_series", series, private=True)
        if terms is not None:
            write_table(terms, "phi_terms", self.terms.rows(), private=True)


def _process(
    deid: Deidentifier,
    source: Path | pydicom.Dataset,
    native_patient_id: str | None,
    rel_in: str,
    out_root: Path,
    collector: Collector,
) -> None:
    """De-identify one file (a path, or a dataset already read) into `out_root`; every outcome goes to
    `collector`."""
    try:
        ds = source if isinstance(source, pydicom.Dataset) else parse_all(dcmread(source, force=True))
        missing = [k for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID") if not ds.get(k)]
        if missing:
            collector.reject(rel_in, f"not a DICOM instance (no {', '.join(missing)})")
            return
        collector.terms.add(ds)
        raw = raw_series_values(ds) if collector.series is not None else None
        outcome = deid(ds, native_patient_id)
        rel_out = None if outcome.quarantined else output_name(ds, outcome)
        if rel_out and collector.copy_of(rel_out, rel_in, ds, out_root / rel_out):
            return
        if rel_out:
            target = out_root / rel_out
            with atomic_path(target) as tmp:
                ds.save_as(tmp, enforce_file_format="TransferSyntaxUID" in getattr(ds, "file_meta", {}))
        collector.add(outcome, rel_in, rel_out, raw, ds)
    except BAD_INPUT as exc:  # a corrupt file is a reject row; a bug fails the run
        collector.reject(rel_in, reason(exc, "cannot de-identify"))


def deidentify_folder(
    in_dir: Path, out_dir: Path, restricted: Path, key: bytes, options: tuple[str, ...], source: str = "folder"
) -> Collector:
    """Every file under `in_dir` → de-identified into `out_dir`; audit, linkage and quarantine into `restricted`."""
    in_dir, out_dir, restricted = Path(in_dir), Path(out_dir), Path(restricted)
    if restricted.resolve().is_relative_to(out_dir.resolve()):
        raise BreastcurateError("the restricted folder must not be inside OUT (OUT is meant to be shared)")
    if not in_dir.is_dir():
        raise BreastcurateError(f"{in_dir} is not a folder: IN is the folder of DICOM files to de-identify")
    paths = sorted(p for p in in_dir.rglob("*") if p.is_file())
    if not paths:
        raise BreastcurateError(f"{in_dir} holds no files to de-identify")
    deid = make_deidentifier(key, source, options)
    collector = Collector(source)
    for path in sorted(paths, key=lambda p: copy_order(p.as_posix())):
        _process(deid, path, None, path.relative_to(in_dir).as_posix(), out_dir, collector)
    collector.write(restricted)
    return collector


@dataclass(frozen=True)
class ShardOutputs:
    """Where one pipeline shard's de-identification writes (all restricted)."""

    deid: Path  # the tables: audit, linkage, quarantine, file map, rejects, series
    dicom: Path  # the de-identified DICOM
    inventory: Path  # the shard's inventory: every readable file's header fields and SHA-256
    inventory_rejects: Path
    terms: Path  # PHI values of the raw headers, for the PHI scan


def deidentify_shard(
    dataset: str, listing: Path, raw_root: Path, out: ShardOutputs, key: bytes, options: tuple[str, ...]
) -> Collector:
    """Read each listed file of one shard once: inventory it (header fields, SHA-256, or a reject with the reason)
    and de-identify it into `out.dicom`."""
    get_adapter(dataset)
    deid = make_deidentifier(key, dataset, options)
    collector = Collector(dataset)
    make_dirs(out.dicom, private=True)
    inventory = []
    for listed in sorted(pd.read_parquet(listing).to_dict("records"), key=lambda r: copy_order(r["path"])):
        row, ds = inspect(dataset, listed, (Path(raw_root) / listed["path"]).read_bytes())
        inventory.append(row)
        if ds is not None:
            _process(deid, ds, listed["native_patient_id"], listed["path"], out.dicom, collector)
    write_inventory(dataset, inventory, out.inventory, out.inventory_rejects)
    collector.write(out.deid, out.terms)
    return collector
