"""The configuration reference (`docs/configuration.md`), generated from `schemas/config.schema.yaml` as the data
dictionary is from the table schemas: every key with its type, default, allowed values and description."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from .config import CONFIG_SCHEMA

#: What a map's free keys stand for in a dotted key path, by the map's own key.
FREE_KEYS = {"datasets": "<dataset>", "min_coverage": "<dataset>"}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """`node` with its `$ref` merged in (the node's own keys win), and the name of the definition it refers to."""
    ref = node.get("$ref")
    if not ref:
        return node, None
    name = ref.rsplit("/", 1)[-1]
    return {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}, name


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"] if v is not None)
    kinds = node.get("type", "")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k]
    if "array" in kinds and "items" in node and "enum" in node["items"]:
        return "list of " + ", ".join(f"`{v}`" for v in node["items"]["enum"])
    return " or ".join(kinds)


def _values(node: dict[str, Any]) -> str:
    lo, hi = node.get("minimum"), node.get("maximum")
    parts = [f"{'' if lo is None else lo}–{'' if hi is None else hi}"] if lo is not None or hi is not None else []
    pattern = node.get("pattern") or node.get("items", {}).get("pattern")
    if pattern:
        parts.append(f"`{pattern}`")
    return ", ".join(parts)


def _default(node: dict[str, Any]) -> str:
    if "default" not in node or node["default"] in ({}, []) and node.get("type") == "object":
        return ""
    return f"`{json.dumps(node['default'], ensure_ascii=False)}`"


def _escape(text: str) -> str:
    """`<` and `>` outside code spans as entities, so that Markdown does not take `<name>` for a tag."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def config_keys(
    node: dict[str, Any] | None = None, path: str = "", defs: dict[str, Any] | None = None, seen: dict | None = None
) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """Every key of the config schema as (dotted path, its schema node, the path whose keys it shares or None)."""
    if node is None:
        node = yaml.safe_load(CONFIG_SCHEMA.read_text())
    defs = node.get("$defs", {}) if defs is None else defs
    seen = {} if seen is None else seen
    free = FREE_KEYS.get(path.rsplit(".", 1)[-1], "<key>")
    children = list(node.get("properties", {}).items())
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):  # the free key is listed last, but named keys of its kind point to it
        children.append((free, extra))
        if "$ref" in extra:
            seen.setdefault(extra["$ref"].rsplit("/", 1)[-1], f"{path}.{free}" if path else free)
    if node.get("type") == "array" and node.get("items", {}).get("properties"):
        children = [(k, v) for k, v in node["items"]["properties"].items()]
        path += "[]"
    for key, child in children:
        child, ref = _resolve(child, defs)
        here = f"{path}.{key}" if path else key
        if ref in seen and seen[ref] != here:
            yield here, child, seen[ref]
            continue
        if ref:
            seen[ref] = here
        yield here, child, None
        yield from config_keys(child, here, defs, seen)


def config_reference() -> str:
    """Markdown reference of every configuration key."""
    schema = yaml.safe_load(CONFIG_SCHEMA.read_text())
    lines = [
        "---",
        "hide: [toc]  # the docs site: the table takes the page's width",
        "---",
        "",
        "# Configuration",
        "",
        "Generated from `schemas/config.schema.yaml` by `breastcurate config-reference`; do not edit by hand.",
        "",
        " ".join(schema["description"].split()),
        "The config is validated when the Snakefile loads and by `breastcurate check-config FILE`; a wrong key or",
        "value stops the run in a few lines naming the key, the value, the rule it breaks and the valid choices; both",
        "also check offline what the run needs (the key file, local mirrors, split versions, radiomics parameters).",
        "Keys are dotted paths; `<dataset>` stands for a dataset's",
        "adapter name and `[]` for each item of a list.",
        "",
        "| key | type | default | values | description |",
        "|---|---|---|---|---|",
    ]
    for key, node, shares in config_keys(schema):
        text = " ".join(str(node.get("description", "")).split())
        if shares:
            text = (text.rstrip(".") + ". " if text else "") + f"Same keys as `{shares}`."
        cells = [f"`{key}`", _type(node), _default(node), _values(node), _escape(text)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
