"""Load and validate the pipeline configuration against schemas/config.schema.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import BreastcurateError
from .layout import SCHEMAS
from .sources import adapters

CONFIG_SCHEMA = SCHEMAS / "config.schema.yaml"
#: The pipeline config a command reads when none is named: the checkout's, relative to the working folder.
DEFAULT_CONFIG = Path("config") / "config.yaml"


class ConfigError(BreastcurateError, ValueError):
    """The configuration is invalid; the message names the key and the reason."""


def _with_defaults(validator_class):
    """A validator that fills in `default` values, as snakemake.utils.validate(set_default=True) does."""
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate `config` in place (filling defaults) and return it; raise ConfigError naming the key."""
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        key = ".".join(str(p) for p in first.absolute_path) or "<top level>"
        raise ConfigError(f"invalid config at '{key}': {first.message}")
    check_datasets(config)
    return config


def check_datasets(config: dict[str, Any]) -> None:
    """Every configured dataset must have an adapter module under breastcurate/sources."""
    known = adapters()
    for name in config.get("datasets", {}):
        if name not in known:
            raise ConfigError(
                f"invalid config at 'datasets.{name}': unknown dataset; known: {', '.join(sorted(known))}"
            )


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read a YAML config (the default demo config when `path` is None) and validate it."""
    path = Path(path) if path else DEFAULT_CONFIG
    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    return validate_config(config)


def section(name: str, block: dict[str, Any] | None = None, dataset: str | None = None) -> dict[str, Any]:
    """A config section (e.g. `checks`, or a dataset's `select` with `dataset`) with the schema's defaults filled
    in: the one place defaults live, for stage commands that get a block, or none, instead of a whole config."""
    block = copy.deepcopy(block) if block else {}
    datasets = {dataset: {"source": "demo", name: block}} if dataset else {"duke": {"source": "demo"}}
    config: dict[str, Any] = {"results_dir": "results", "n_shards": 1, "datasets": datasets}
    if not dataset:
        config[name] = block
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        key = ".".join(str(p) for p in errors[0].absolute_path)
        raise ConfigError(f"invalid config at '{key}': {errors[0].message}")
    return config["datasets"][dataset][name] if dataset else config[name]
