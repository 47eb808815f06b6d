"""What a run will need that can be checked offline, before any job starts: the pseudonymization key, local mirrors,
a given IDC index, split versions and radiomics parameter files. `check-config` and the Snakefile call `check_run`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import ConfigError, read_yaml
from .deid.keys import SECRET_ENV, load_secret
from .splits.assign import load_external, load_versions


def checkout_file(path: str, base: Path) -> Path:
    """A file of the checkout named in the config: relative to the workflow folder `base` unless absolute."""
    return Path(path) if os.path.isabs(path) else base / path


def check_run(config: dict[str, Any], base: Path) -> list[str]:
    """Raise a BreastcurateError naming the first thing a run of the (validated) `config` would miss; return the
    split versions defined. Relative checkout files are taken from `base` (the workflow folder)."""
    datasets = config["datasets"]
    secret_file = config["deid"]["secret_file"]
    if secret_file:
        load_secret(secret_file)
    elif not os.environ.get(SECRET_ENV) and any(b["source"] != "demo" for b in datasets.values()):
        raise ConfigError(
            "de-identification needs a key for non-demo data: set deid.secret_file in the config or "
            f"${SECRET_ENV} (generate one with `openssl rand -hex 32 > key`)"
        )
    for name, block in sorted(datasets.items()):
        if block["source"] == "local" and not Path(block["path"]).is_dir():
            raise ConfigError(f"datasets.{name}.path: the local mirror {block['path']} is not a folder")
        index = (block.get("download") or {}).get("index")
        if block["source"] == "download" and index and not Path(index).is_file():
            raise ConfigError(f"datasets.{name}.download.index: the IDC index {index} is not a file")
    splits_file = checkout_file(config["splits_file"], base)
    versions = sorted(load_versions(splits_file))
    for source, path in sorted(load_external(splits_file).items()):
        if path and not Path(path).is_file():
            raise ConfigError(f"{splits_file}: external_splits.{source}: {path} does not exist")
    for key in ("params_mr", "params_mg"):
        if not isinstance(read_yaml(checkout_file(config["radiomics"][key], base), f"radiomics.{key}"), dict):
            raise ConfigError(f"radiomics.{key}: {config['radiomics'][key]} is not a pyradiomics parameter mapping")
    return versions
