# Shared values and input functions (no lambdas in rules).
import json
import os
import shlex
import sys

from breastcurate.layout import Layout
from breastcurate.splits.assign import load_versions
from breastcurate.tables import harmonized_tables

PY = sys.executable
RESULTS = config["results_dir"].rstrip("/")
DATASETS = sorted(config["datasets"])
SHARDS = list(range(config["n_shards"]))
TABLES = harmonized_tables()
SPLITS_FILE = os.path.join(workflow.basedir, config["splits_file"]) if not os.path.isabs(config["splits_file"]) \
    else config["splits_file"]
SPLIT_VERSIONS = sorted(load_versions(SPLITS_FILE))
DEMO_DATASETS = [d for d in DATASETS if config["datasets"][d]["source"] == "demo"]
DOWNLOAD_DATASETS = [d for d in DATASETS if config["datasets"][d]["source"] == "download"]
LAYOUT = Layout(RESULTS)


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    shard=r"\d+",


def raw_root(dataset):
    """Root of a dataset's native mirror: the restricted raw area (demo, download), or the user's local mirror."""
    block = config["datasets"][dataset]
    if block["source"] == "local":
        return block["path"]
    return str(LAYOUT.raw(dataset))


def raw_input(wildcards):
    """What marks the raw mirror complete: the demo mirror itself, a download's report, nothing for a local mirror."""
    source = config["datasets"][wildcards.dataset]["source"]
    if source == "download":
        return str(LAYOUT.downloads(wildcards.dataset) / "complete.json")
    return raw_root(wildcards.dataset) if source == "demo" else []


def raw_root_param(wildcards):
    return raw_root(wildcards.dataset)


def deid_key_args():
    """How the de-identification jobs get the key: a file path (never the key itself) or the demo key."""
    secret_file = config["deid"].get("secret_file")
    if secret_file:
        return f"--secret-file {secret_file}"
    if os.environ.get("BREASTCURATE_SECRET"):
        return ""
    if all(config["datasets"][d]["source"] == "demo" for d in DATASETS):
        return "--demo-key"
    raise ValueError(
        "de-identification needs a key for non-demo data: set deid.secret_file in the config or "
        "$BREASTCURATE_SECRET (generate one with `openssl rand -hex 32 > key`)"
    )


def deid_option_args():
    opts = config["deid"].get("options", {})
    on = [f"--option {k}" for k, v in sorted(opts.items()) if v]
    off = [f"--no-option {k}" for k, v in sorted(opts.items()) if not v]
    return " ".join(on + off)


def select_param(wildcards):
    return json.dumps(config["datasets"][wildcards.dataset].get("select", {}), sort_keys=True)
