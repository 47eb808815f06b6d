"""Where things live: the one place that knows every path of a results folder (see DESIGN.md).

The Snakefile builds every rule's inputs and outputs from a `Layout`, passing `"{dataset}"` and `"{shard}"` as the
arguments to get Snakemake patterns; the package receives those paths as arguments, or builds the same ones from
the same `Layout` where a job writes more files than a command line holds (a dataset's table parts).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .atomic import PUBLIC_DIR, make_dirs, private_modes

#: Folder of the package's data: schemas/ and the default config files ship inside the package.
PACKAGE_ROOT = Path(__file__).resolve().parent
SCHEMAS = PACKAGE_ROOT / "schemas"
#: The demo mirror's model of IDC's series index, at the mirror root (no adapter lists it as an image).
IDC_INDEX_NAME = "idc_index.parquet"

Key = str | int
#: The curated folders that hold one folder per dataset, and in it one per shard.
SHARD_FOLDERS = ("images", "volumes", "masks")
#: The restricted tables a shard's de-identification (`Layout.deid`, or `breastcurate deidentify --restricted`) and
#: conversion (`Layout.convert_tables`) write into their folders; `files` is the file map.
STAGE_TABLES = {
    "deid": ("audit", "linkage", "quarantine", "files", "rejects", "series"),
    "convert": ("images", "volumes", "findings", "files", "rejects", "phases"),
}


def stage_table(folder: str | Path, stage: str, name: str) -> Path:
    """One of `stage`'s restricted tables in its shard folder `folder` (STAGE_TABLES names them)."""
    if name not in STAGE_TABLES[stage]:
        raise KeyError(f"{stage} writes no table {name!r}; its tables: {', '.join(STAGE_TABLES[stage])}")
    return Path(folder) / f"{name}.parquet"


@dataclass(frozen=True)
class Scope:
    """What the config declares: its datasets, the shard count and the split versions. A rule declares the files
    `Layout.parts` names for its scope, and its command reads exactly those: no folder is globbed to find out what
    exists, so a dataset taken out of the config, or a shard beyond `n_shards`, is never read."""

    datasets: tuple[str, ...]
    n_shards: int
    versions: tuple[str, ...] = ()

    @property
    def shards(self) -> range:
        return range(self.n_shards)

    def only(self, dataset: str) -> Scope:
        """The same scope limited to one of its datasets."""
        if dataset not in self.datasets:
            raise KeyError(f"{dataset!r} is not in this scope's datasets {list(self.datasets)}")
        return Scope((dataset,), self.n_shards, self.versions)


def copy_order(path: str) -> tuple[int, str]:
    """Sort key of input files where copies of one instance compete: the first is kept, so the shortest path wins
    (`1-05.dcm` before its re-download `1-05 (1).dcm`), then the path."""
    return (len(path), path)


#: How every per-shard path names its shard (`shard-<k>`, `part-<k>`, `rejects-<k>`).
_SHARD_NAME = re.compile(r"(?:^|/)(?:shard|part|rejects|radiomics)-(\d+)(?:\.parquet|\.json|/|$)")


def shard_in_path(path: str) -> int | None:
    """The shard a per-shard path of a Layout belongs to, or None for a path of no one shard."""
    match = _SHARD_NAME.search(str(path))
    return int(match.group(1)) if match else None


class Layout:
    """Paths under one results directory (relative when `results_dir` is relative: moving a checkout moves them)."""

    def __init__(self, results_dir: str | Path):
        self.root = Path(results_dir)

    def prepare(self, group: str | None = None) -> None:
        """Create the results folder and its two zones with their modes: the restricted zone closed (0700, or 2750
        owned by `group`), the curated zone and the catalog's folder open to readers."""
        for folder in (self.root, self.curated):
            make_dirs(folder, private=False)
            os.chmod(folder, PUBLIC_DIR)
        make_dirs(self.restricted, private=True)
        if group:
            shutil.chown(self.restricted, group=group)
        os.chmod(self.restricted, private_modes()[1])

    # --- the two zones -------------------------------------------------------------------------------------------
    @property
    def restricted(self) -> Path:
        return self.root / "restricted"

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    # --- restricted: native data and everything that links back to it --------------------------------------------
    def raw(self, dataset: Key) -> Path:
        return self.restricted / "raw" / str(dataset)

    def downloads(self, dataset: Key) -> Path:
        """A download's ledger and partial files."""
        return self.restricted / "downloads" / str(dataset)

    def download_report(self, dataset: Key) -> Path:
        return self.downloads(dataset) / "complete.json"

    def download_progress(self, dataset: Key) -> Path:
        """The running (or last) download's progress for the whole dataset: `breastcurate download-status`."""
        return self.downloads(dataset) / "progress.json"

    def inventory_dir(self, dataset: Key) -> Path:
        return self.restricted / "inventory" / str(dataset)

    def listing(self, dataset: Key, shard: Key) -> Path:
        """The listing job's paths, sizes and patients of one shard."""
        return self.inventory_dir(dataset) / "listing" / f"shard-{shard}.parquet"

    def listing_rejects(self, dataset: Key) -> Path:
        """Files the listing left out: by the config's `select`, or with no patient to shard them by."""
        return self.inventory_dir(dataset) / "listing" / "rejects.parquet"

    def manifest(self, dataset: Key) -> Path:
        """Files listed, left out and per shard (the reject-rate checks' denominators)."""
        return self.inventory_dir(dataset) / "manifest.json"

    def inventory_shard(self, dataset: Key, shard: Key) -> Path:
        return self.inventory_dir(dataset) / f"shard-{shard}.parquet"

    def inventory_rejects(self, dataset: Key, shard: Key) -> Path:
        return self.inventory_dir(dataset) / f"rejects-{shard}.parquet"

    def deid(self, dataset: Key, shard: Key) -> Path:
        """The audit, linkage, quarantine, file map, rejects and series tables of one shard's de-identification."""
        return self.restricted / "deid" / str(dataset) / f"shard-{shard}"

    def linkage(self, dataset: Key, shard: Key) -> Path:
        """One shard's linkage of native ids to pseudonyms (in `deid`)."""
        return stage_table(self.deid(dataset, shard), "deid", "linkage")

    def deid_dicom(self, dataset: Key, shard: Key) -> Path:
        """One shard's de-identified DICOM, which only conversion reads: its own folder, so that the pipeline can
        delete it once the shard is converted (`deid.keep_dicom`) while the shard's tables stay."""
        return self.restricted / "deid_dicom" / str(dataset) / f"shard-{shard}"

    def phi_terms(self, dataset: Key, shard: Key) -> Path:
        """The PHI values the de-identification job saw in one shard's raw headers (what the scan searches for)."""
        return self.restricted / "phi" / str(dataset) / f"shard-{shard}.parquet"

    def phi_dataset_terms(self, dataset: Key) -> Path:
        """Dataset-wide PHI values (institutions, stations, physicians, addresses, phones) of every shard."""
        return self.restricted / "phi" / str(dataset) / "dataset.parquet"

    def convert_tables(self, dataset: Key, shard: Key) -> Path:
        """The conversion's per-shard tables (they name native paths, so they stay restricted)."""
        return self.restricted / "convert" / str(dataset) / f"shard-{shard}"

    def people(self) -> Path:
        return self.restricted / "people.parquet"

    def external_splits(self) -> Path:
        """Other curated sets' published splits mapped to native ids and pseudonyms (splits/interop.py)."""
        return self.restricted / "external_splits.parquet"

    def log(self, stage: str, name: Key) -> Path:
        return self.restricted / "logs" / stage / f"{name}.log"

    def benchmark(self, stage: str, name: Key) -> Path:
        return self.restricted / "benchmarks" / stage / f"{name}.tsv"

    # --- curated: no PHI, ever -----------------------------------------------------------------------------------
    def images(self, dataset: Key, shard: Key) -> Path:
        """A shard's mammograms: <patient>/<study>/<image>.png (+ variants)."""
        return self.curated / "images" / str(dataset) / f"shard-{shard}"

    def volumes(self, dataset: Key, shard: Key) -> Path:
        """A shard's MRI phases: <patient>/<study>/<phase>.nii.gz + .json."""
        return self.curated / "volumes" / str(dataset) / f"shard-{shard}"

    def masks(self, dataset: Key, shard: Key) -> Path:
        """A shard's lesion masks: <patient>/<study>/<roi>.nii.gz (MRI) or <image>_<roi>.png (mammograms)."""
        return self.curated / "masks" / str(dataset) / f"shard-{shard}"

    def table_part(self, table: str, dataset: Key, shard: Key) -> Path:
        return self.curated / "tables" / table / f"dataset={dataset}" / f"part-{shard}.parquet"

    def radiomics(self, dataset: Key, shard: Key) -> Path:
        return self.curated / "radiomics" / f"dataset={dataset}" / f"part-{shard}.parquet"

    def radiomics_rejects(self, dataset: Key, shard: Key) -> Path:
        return self.curated / "tables" / "rejects" / f"dataset={dataset}" / f"radiomics-{shard}.parquet"

    def split(self, version: str) -> Path:
        return self.curated / "splits" / f"{version}.parquet"

    def split_card(self, version: str) -> Path:
        return self.curated / "splits" / f"{version}.json"

    def parts(self, table: str, scope: Scope) -> list[Path]:
        """Every Parquet file of catalog table `table` within `scope`: what the rules declare and the commands read."""
        if table == "splits":
            return [self.split(v) for v in scope.versions]
        files = []
        for d in scope.datasets:
            for k in scope.shards:
                if table == "radiomics":
                    files.append(self.radiomics(d, k))
                    continue
                files.append(self.table_part(table, d, k))
                if table == "rejects":
                    files.append(self.radiomics_rejects(d, k))
        return files

    def orphans(self, scope: Scope) -> list[Path]:
        """What the results hold beyond `scope`, existing now: curated folders and parts of datasets taken out of the
        config, of shards at or beyond `n_shards`, split files of versions no longer defined; restricted per-shard
        files beyond `n_shards`. They belong to no declared output (`prune` removes them)."""
        c = self.curated
        per_dataset = [(t, "dataset=") for t in _subfolders(c / "tables")] + [(c / "radiomics", "dataset=")]
        per_dataset += [(c / kind, "") for kind in SHARD_FOLDERS] + [(self.checks / "shards", "")]
        found: list[Path] = []
        for folder, prefix in per_dataset:
            for entry in _subfolders(folder):
                if entry.name.removeprefix(prefix) not in scope.datasets or not entry.name.startswith(prefix):
                    found.append(entry)
                    continue
                found += [p for p in sorted(entry.iterdir()) if (_shard_of_name(p.name) or 0) >= scope.n_shards]
        found += [p for p in _subfolders(self.checks / "qc") if p != self.qc_summary and p.name not in scope.datasets]
        splits = c / "splits"
        if splits.is_dir():
            found += [p for p in sorted(splits.iterdir()) if p.is_file() and p.stem not in scope.versions]
        # Restricted: shards beyond n_shards of the datasets in scope (a dataset taken out keeps its mirror, and
        # what was derived from it, until its folders are deleted by hand: a download can cost days).
        r = self.restricted
        for d in scope.datasets:
            for folder in (
                self.inventory_dir(d),
                self.inventory_dir(d) / "listing",
                r / "deid" / d,
                r / "deid_dicom" / d,
                r / "phi" / d,
                r / "convert" / d,
            ):
                if folder.is_dir():
                    found += [p for p in sorted(folder.iterdir()) if (_shard_of_name(p.name) or 0) >= scope.n_shards]
        return found

    def prune(self, scope: Scope) -> list[Path]:
        """Remove `orphans(scope)`; return what was removed."""
        removed = self.orphans(scope)
        for path in removed:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        return removed

    def table_glob(self, table: str) -> str:
        """Glob of a catalog table's Parquet files relative to the results folder (what the catalog's views read)."""
        if table == "radiomics":
            return "curated/radiomics/*/*.parquet"
        if table == "splits":
            return "curated/splits/*.parquet"
        return f"curated/tables/{table}/*/*.parquet"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def checks(self) -> Path:
        return self.curated / "checks"

    def shard_check(self, dataset: Key, shard: Key) -> Path:
        """A shard's file verification and PHI scan summary (counts and pseudonymous paths only)."""
        return self.checks / "shards" / str(dataset) / f"shard-{shard}.json"

    @property
    def global_scan(self) -> Path:
        """The PHI scan of the files no shard owns (splits, catalog)."""
        return self.checks / "phi_scan.json"

    @property
    def checks_passed(self) -> Path:
        return self.checks / "checks.json"

    @property
    def checks_summary(self) -> Path:
        return self.checks / "summary.json"

    @property
    def data_docs(self) -> Path:
        """Great Expectations' project folder (suites, validations, Data Docs)."""
        return self.checks / "gx"

    def qc(self, dataset: Key) -> Path:
        return self.checks / "qc" / str(dataset)

    @property
    def qc_summary(self) -> Path:
        return self.checks / "qc" / "all"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    def release(self, version: str) -> Path:
        return self.releases / version

    def shard_outputs(self, dataset: Key, shard: Key, modality: str) -> list[Path]:
        """The curated folders the conversion of one shard writes."""
        first = self.images(dataset, shard) if modality == "MG" else self.volumes(dataset, shard)
        return [first, self.masks(dataset, shard)]


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _shard_of_name(name: str) -> int | None:
    """The shard number in a per-shard file or folder name (`shard-3`, `shard-3.json`, `part-3.parquet`,
    `radiomics-3.parquet`, `rejects-3.parquet`), or None for a name that is not per shard."""
    stem = name.split(".", 1)[0]
    head, _, number = stem.rpartition("-")
    return int(number) if head in ("shard", "part", "radiomics", "rejects") and number.isdigit() else None
