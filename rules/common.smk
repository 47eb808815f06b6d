# Shared values and input functions (no lambdas in rules). Every path comes from LAYOUT; files of the checkout
# (split versions, radiomics parameters) are named relative to the working folder, so that a moved checkout
# re-runs nothing.
import json
import os
import shlex
import sys
from pathlib import Path

from breastcurate.atomic import GROUP_ENV
from breastcurate.layout import Layout
from breastcurate.sources import get_adapter
from breastcurate.splits.assign import load_versions
from breastcurate.tables import harmonized_tables

PY = sys.executable
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

# The restricted zone is private by default: everything Snakemake and the jobs create (folders, logs, benchmark
# files) starts owner-only, or group-readable with config `restricted_group`; the package opens up what it writes
# to the curated zone.
if config["restricted_group"]:
    os.environ[GROUP_ENV] = config["restricted_group"]
os.umask(0o027 if config["restricted_group"] else 0o077)


onstart:
    LAYOUT.prepare(config["restricted_group"])


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    shard=r"\d+",


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


def select_param(wildcards):
    return as_json(config["datasets"][wildcards.dataset]["select"])


def shard_paths(method, dataset, shards=SHARDS):
    return [str(method(dataset, k)) for k in shards]
