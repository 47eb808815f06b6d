"""Load and validate the pipeline configuration against schemas/config.schema.yaml."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import BreastcurateError
from .layout import SCHEMAS

if TYPE_CHECKING:
    import jsonschema

CONFIG_SCHEMA = SCHEMAS / "config.schema.yaml"
#: The pipeline config a command reads when none is named: the checkout's, relative to the working folder.
DEFAULT_CONFIG = Path("config") / "config.yaml"


class ConfigError(BreastcurateError, ValueError):
    """The configuration is invalid; the message names the key and the reason."""


def _with_defaults(validator_class):
    """A validator that fills in `default` values, as snakemake.utils.validate(set_default=True) does."""
    import jsonschema

    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


#: Most config errors one message names (each on its own line).
MAX_ERRORS = 3


def _choices(error: jsonschema.ValidationError) -> list[str]:
    """The values or keys the broken rule allows, where it names them."""
    if error.validator == "enum":
        return [str(v) for v in error.validator_value]
    if error.validator == "additionalProperties":
        return sorted(error.schema.get("properties", {}))
    if error.validator == "type":
        types = error.validator_value
        return [str(t) for t in (types if isinstance(types, list) else [types])]
    return []


def describe(error: jsonschema.ValidationError) -> str:
    """One line: the key, the value, the rule it breaks and the valid choices (never the schema)."""
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    line = f"invalid config at '{key}': {error.message[:200]} (rule: {error.validator}"
    choices = _choices(error)
    if choices:
        line += f"; valid: {', '.join(choices)}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        unknown = [k for k in error.instance if k not in choices]
        close = [m for k in unknown for m in difflib.get_close_matches(str(k), choices, n=1)]
        if close:
            line += f"; did you mean {', '.join(repr(c) for c in close)}?"
    return line + ")"


def _validate(config: dict[str, Any]) -> None:
    """Validate `config` in place, filling defaults; raise ConfigError with a few one-line descriptions."""
    import jsonschema

    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        lines = [describe(e) for e in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            lines.append(f"… and {len(errors) - MAX_ERRORS} more")
        raise ConfigError("\n".join(lines))


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate `config` in place (filling defaults) and return it; raise ConfigError naming the key."""
    _validate(config)
    check_datasets(config)
    return config


def check_datasets(config: dict[str, Any]) -> None:
    """Every configured dataset must have an adapter module under breastcurate/sources."""
    from .sources import adapters

    known = adapters()
    for name in config.get("datasets", {}):
        if name not in known:
            raise ConfigError(
                f"invalid config at 'datasets.{name}': unknown dataset; known: {', '.join(sorted(known))}"
            )


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML file a user names, or ConfigError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{what} {path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read a YAML config (the default demo config when `path` is None) and validate it."""
    path = Path(path) if path else DEFAULT_CONFIG
    config = read_yaml(path, "config file")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} holds a {type(config).__name__}, not a mapping of keys")
    return validate_config(config)


def section(name: str, block: dict[str, Any] | None = None, dataset: str | None = None) -> dict[str, Any]:
    """A config section (e.g. `checks`, or a dataset's `select` with `dataset`) with the schema's defaults filled
    in: the one place defaults live, for stage commands that get a block, or none, instead of a whole config."""
    from .sources import adapters

    block = copy.deepcopy(block) if block else {}
    stand_in = dataset or min(adapters())  # a global section is validated inside a config of any one dataset
    datasets = {stand_in: {"source": "demo", **({name: block} if dataset else {})}}
    config: dict[str, Any] = {"results_dir": "results", "n_shards": 1, "datasets": datasets}
    if not dataset:
        config[name] = block
    _validate(config)
    return config["datasets"][stand_in][name] if dataset else config[name]
