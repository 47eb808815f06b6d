# Shared values and input functions (no lambdas in rules).
import sys

PY = sys.executable
RESULTS = config["results_dir"].rstrip("/")
DATASETS = sorted(config["datasets"])
SHARDS = list(range(config["n_shards"]))
DEMO_DATASETS = [d for d in DATASETS if config["datasets"][d]["source"] == "demo"]


wildcard_constraints:
    dataset="|".join(DATASETS) if DATASETS else "none",
    shard=r"\d+",


def raw_root(dataset):
    """Root of a dataset's native mirror: the restricted raw area, or the user's local mirror."""
    block = config["datasets"][dataset]
    if block["source"] == "local":
        return block["path"]
    return f"{RESULTS}/restricted/raw/{dataset}"


def raw_input(wildcards):
    """The raw mirror as a rule input when the pipeline makes it (demo); nothing for a local mirror."""
    if config["datasets"][wildcards.dataset]["source"] == "local":
        return []
    return raw_root(wildcards.dataset)


def raw_root_param(wildcards):
    return raw_root(wildcards.dataset)
