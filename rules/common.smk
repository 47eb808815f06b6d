# Shared values and input functions (no lambdas in rules). Every path comes from LAYOUT; files of the checkout
# (split versions, radiomics parameters) are named relative to the working folder, so that a moved checkout
# re-runs nothing.
import json
import os
import shlex
import sys
from pathlib import Path

from breastcurate.atomic import GROUP_ENV
from breastcurate.inventory.run import mirror_state
from breastcurate.layout import IDC_INDEX_NAME, Layout, Scope
from breastcurate.sources import get_adapter
from breastcurate.splits.assign import load_external, load_versions
from breastcurate.tables import harmonized_tables, table_names

# Jobs run `python -m breastcurate …`: the interpreter that runs Snakemake comes first on their PATH (with
# --use-conda, the rule's environment's does).
shell.prefix(f'export PATH={shlex.quote(os.path.dirname(sys.executable))}:"$PATH"; ')
LAYOUT = Layout(config["results_dir"].rstrip("/"))
RESULTS = str(LAYOUT.root)
DATASETS = sorted(config["datasets"])
SHARDS = list(range(config["n_shards"]))
TABLES = harmonized_tables()
MG_DATASETS = [d for d in DATASETS if get_adapter(d).modality == "MG"]
MR_DATASETS = [d for d in DATASETS if get_adapter(d).modality == "MR"]
DEMO_DATASETS = [d for d in DATASETS if config["datasets"][d]["source"] == "demo"]
DOWNLOAD_DATASETS = [d for d in DATASETS if config["datasets"][d]["source"] == "download"]


def checkout_file(path):
    """A file of the checkout (or the user's own): relative to the working folder unless given absolute."""
    return path if os.path.isabs(path) else os.path.relpath(os.path.join(workflow.basedir, path))


SPLITS_FILE = checkout_file(config["splits_file"])
SPLIT_VERSIONS = sorted(load_versions(SPLITS_FILE))
#: other curated sets' split files the user names (the shipped ones are part of the package)
EXTERNAL_SPLIT_FILES = sorted(v for v in load_external(SPLITS_FILE).values() if v)
#: What this run declares: the global jobs read exactly the parts LAYOUT.parts names for it, and nothing else.
SCOPE = Scope(tuple(DATASETS), len(SHARDS), tuple(SPLIT_VERSIONS))
SHARD_ARGS = " ".join([*(f"--dataset {d}" for d in DATASETS), f"--n-shards {len(SHARDS)}"])
SCOPE_ARGS = " ".join([SHARD_ARGS, *(f"--split-version {v}" for v in SPLIT_VERSIONS)])

# The restricted zone is private by default: everything Snakemake and the jobs create (folders, logs, benchmark
# files) starts owner-only, or group-readable with config `restricted_group`; the package opens up what it writes
# to the curated zone. The main process closes it when a run starts (`onstart`, in the Snakefile), so that what a
# command that runs no job writes (`snakemake --report report.html`) keeps the user's own umask; a job's own
# Snakemake process (a cluster job, a group job) closes it at once.
RESTRICTED_UMASK = 0o027 if config["restricted_group"] else 0o077
if config["restricted_group"]:
    os.environ[GROUP_ENV] = config["restricted_group"]
if not workflow.is_main_process:
    os.umask(RESTRICTED_UMASK)


def results_param(wildcards):
    """The results folder, for the commands that find a dataset's many table parts through the Layout."""
    return RESULTS


def nonempty(names):
    return "|".join(names) if names else "none"


def raw_root(dataset):
    """Root of a dataset's native mirror: the restricted raw area (demo, download), or the user's local mirror."""
    block = config["datasets"][dataset]
    return block["path"] if block["source"] == "local" else str(LAYOUT.raw(dataset))


def raw_root_param(wildcards):
    return raw_root(wildcards.dataset)


def raw_ready(wildcards):
    """What marks the mirror complete: the demo mirror itself, a download's report, nothing for a local mirror."""
    source = config["datasets"][wildcards.dataset]["source"]
    if source == "download":
        return str(LAYOUT.download_report(wildcards.dataset))
    return raw_root(wildcards.dataset) if source == "demo" else []


def native_tables(wildcards, names=None):
    """The native tables a job reads (default all; harmonization): declared inputs where they are plain files of a
    local mirror, so editing one re-runs what depends on it; else what marks the mirror complete."""
    if config["datasets"][wildcards.dataset]["source"] != "local":
        return raw_ready(wildcards)
    adapter = get_adapter(wildcards.dataset)
    return [str(p) for p in adapter.table_files(Path(raw_root(wildcards.dataset)), names)]


def annotation_tables(wildcards):
    """The native tables of boxes and image selection (the listing and the conversion read only these)."""
    return native_tables(wildcards, get_adapter(wildcards.dataset).annotation_tables)


def deid_key_args():
    """How the de-identification jobs get the key: a file path (never the key itself) or the demo key."""
    secret_file = config["deid"]["secret_file"]
    if secret_file:
        return f"--secret-file {shlex.quote(secret_file)}"
    if os.environ.get("BREASTCURATE_SECRET"):
        return ""
    if all(config["datasets"][d]["source"] == "demo" for d in DATASETS):
        return "--demo-key"
    raise ValueError(
        "de-identification needs a key for non-demo data: set deid.secret_file in the config or "
        "$BREASTCURATE_SECRET (generate one with `openssl rand -hex 32 > key`)"
    )


def as_json(block):
    return json.dumps(block, sort_keys=True)


def mirror_state_param(wildcards):
    """What the listing of a `local` mirror saw (paths, sizes, mtimes): a change re-lists it. A demo mirror is a
    declared output and a download has its report, so theirs is empty."""
    if config["datasets"][wildcards.dataset]["source"] != "local":
        return ""
    return mirror_state(wildcards.dataset, Path(raw_root(wildcards.dataset)))


def select_param(wildcards):
    return as_json(config["datasets"][wildcards.dataset]["select"])


def shard_paths(method, dataset, shards=SHARDS):
    return [str(method(dataset, k)) for k in shards]


# --- input functions and values the rules files use (the rules files hold rules only) ---------------------------


def download_settings(wildcards):
    return shlex.quote(as_json(config["datasets"][wildcards.dataset]))


def download_upstream(wildcards):
    """The upstream version a download fetches (the IDC index's): a newer one re-runs it."""
    from breastcurate.acquire.run import upstream_state  # only for datasets that download

    return upstream_state(wildcards.dataset, config["datasets"][wildcards.dataset])


def curated_folders(dataset, shard):
    """The curated folders the conversion of one shard writes."""
    modality = get_adapter(dataset).modality
    return [str(p) for p in LAYOUT.shard_outputs(dataset, shard, modality)]


def shard_folders(wildcards):
    return curated_folders(wildcards.dataset, wildcards.shard)


def dataset_folders(wildcards):
    return [f for k in SHARDS for f in curated_folders(wildcards.dataset, k)]


def shard_terms(wildcards):
    return shard_paths(LAYOUT.phi_terms, wildcards.dataset)


def all_linkage(wildcards):
    """The de-identification folders that hold every shard's linkage (`LAYOUT.linkage`)."""
    return [str(LAYOUT.deid(d, k)) for d in DATASETS for k in SHARDS]


def deid_dicom(folder):
    """A shard's de-identified DICOM as an output: kept with `deid.keep_dicom`, else temporary. The conversion job,
    its only reader, deletes it once the shard is converted (`DELETE_DICOM`; Snakemake's own temp handling left it
    behind after a failed run and its resume), and `temp` lets it be missing then; a later rerun of that conversion
    de-identifies the shard again first."""
    return directory(folder) if config["deid"]["keep_dicom"] else temp(directory(folder))


DELETE_DICOM = "" if config["deid"]["keep_dicom"] else "--delete-dicom"


def idc_index(dataset):
    """The IDC series index a dataset's series provenance comes from, when not the pinned idc-index-data Parquet
    (which harmonize reads by default, as part of the installed package): the one a mirror comes with (the demo's
    model of it, also in a local copy of a demo mirror), or the `download.index` setting."""
    if not get_adapter(dataset).idc_collections:
        return None
    block = config["datasets"][dataset]
    if block["source"] == "download":
        return (block.get("download") or {}).get("index")
    own = Path(raw_root(dataset)) / IDC_INDEX_NAME
    return str(own) if block["source"] == "demo" or own.is_file() else None


def idc_index_arg(wildcards):
    given = idc_index(wildcards.dataset)
    return f"--idc-index {shlex.quote(given)}" if given else ""


def harmonize_inputs(wildcards):
    d = wildcards.dataset
    return {
        "idc_index": [i for i in [idc_index(d)] if i and config["datasets"][d]["source"] != "demo"],  # demo: the mirror
        "convert": shard_paths(LAYOUT.convert_tables, d),
        "deid": shard_paths(LAYOUT.deid, d),
        "rejects": [*shard_paths(LAYOUT.inventory_rejects, d), str(LAYOUT.listing_rejects(d))],
        "people": str(LAYOUT.people()),
        "native": native_tables(wildcards),
        "manifest": str(LAYOUT.manifest(d)),  # decided afresh after the listing checkpoint (see convert_mg)
    }


def all_parts(tables=TABLES):
    return [str(LAYOUT.table_part(t, d, k)) for t in tables for d in DATASETS for k in SHARDS]


def catalog_parts(scope=SCOPE):
    """Every Parquet part the catalog holds: the tables', radiomics' and splits' parts of the run's scope."""
    return [str(p) for t in table_names() for p in LAYOUT.parts(t, scope)]


def dataset_parts(wildcards):
    return catalog_parts(SCOPE.only(wildcards.dataset))


SHARD_SCANNED = [t for t in TABLES if t != "coverage"]  # coverage is dataset-wide: the global scan reads it


def check_shard_inputs(wildcards):
    d, k = wildcards.dataset, wildcards.shard
    return {
        "folders": shard_folders(wildcards),
        "tables": [
            *[str(LAYOUT.table_part(t, d, k)) for t in SHARD_SCANNED],
            str(LAYOUT.radiomics(d, k)),
            str(LAYOUT.radiomics_rejects(d, k)),
        ],
        "files": str(LAYOUT.table_part("files", d, k)),
        "terms": [str(LAYOUT.phi_terms(d, k)), str(LAYOUT.phi_dataset_terms(d))],
    }


GLOBAL_SCANNED = [
    *[str(LAYOUT.split(v)) for v in SPLIT_VERSIONS],
    *[str(LAYOUT.split_card(v)) for v in SPLIT_VERSIONS],
    *all_parts(["coverage", "rejects"]),
    *[str(LAYOUT.radiomics_rejects(d, k)) for d in DATASETS for k in SHARDS],
]
