"""The canonical table schemas in `schemas/tables/*.yaml`: the one source of the Parquet schemas, the data checks and
the data dictionary (`docs/catalog.md`)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from .atomic import write_parquet_if_changed
from .layout import SCHEMAS, Layout, Scope

ARROW_TYPES = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}


def path_item(path: str) -> str:
    """How the catalog names an input file: `sha256:<hex>` of its native path (never the path, which may hold PHI)."""
    return "sha256:" + hashlib.sha256(str(path).encode()).hexdigest()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str
    allowed: tuple | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class TableSchema:
    name: str
    description: str
    columns: tuple[Column, ...]
    order: tuple[str, ...]
    unique: tuple[str, ...]

    @property
    def location(self) -> str:
        """Glob of its Parquet files, relative to the results folder."""
        return Layout(".").table_glob(self.name)

    @property
    def arrow(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in self.columns])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_arrow(self, frame: pd.DataFrame) -> pa.Table:
        """`frame` in this schema's columns, types and deterministic row order (missing nullable columns → null)."""
        frame = frame.copy()
        for c in self.columns:
            if c.name not in frame:
                if not c.nullable and len(frame):
                    raise ValueError(f"{self.name}: required column {c.name} is missing")
                frame[c.name] = None
        frame = frame[self.names]
        if len(frame):
            keys = [frame[k].astype("string").fillna("") for k in self.order]
            order = (
                pd.DataFrame({i: k for i, k in enumerate(keys)})
                .sort_values(list(range(len(keys))), kind="stable")
                .index
            )
            frame = frame.loc[order]
        arrays = []
        for c in self.columns:
            values = frame[c.name].astype(object).where(frame[c.name].notna(), None).tolist()
            if c.type == "date":
                values = [None if v is None else pd.Timestamp(v).date() for v in values]
            arrays.append(pa.array(values, type=ARROW_TYPES[c.type]))
        return pa.Table.from_arrays(arrays, schema=self.arrow)


COLUMN_KEYS = {"name", "type", "nullable", "description", "allowed", "min", "max", "unit", "like"}


@functools.cache
def table_schema(name: str) -> TableSchema:
    """The schema of a catalog table (schemas/tables) or of a restricted table (schemas/restricted)."""
    path = SCHEMAS / "tables" / f"{name}.yaml"
    if not path.exists():
        path = SCHEMAS / "restricted" / f"{name}.yaml"
    if not path.exists():
        raise KeyError(f"no schema {name!r} under {SCHEMAS}/tables or {SCHEMAS}/restricted")
    return load_schema(path)


@functools.cache
def adapter_schema(name: str) -> TableSchema:
    """The schema of what an adapter method returns (schemas/adapter): `image_boxes`, `clinical`, …"""
    return load_schema(SCHEMAS / "adapter" / f"{name}.yaml")


def _column(c: dict, path: Path) -> Column:
    unknown = set(c) - COLUMN_KEYS
    if unknown:  # e.g. an unquoted comma in a flow mapping's description
        raise ValueError(f"{path}: column {c.get('name')!r} has unknown keys {sorted(unknown)}")
    if "like" in c:  # table.column: that catalog column's definition, with the keys given here overriding it
        table, column = c["like"].split(".")
        base = next(x for x in table_schema(table).columns if x.name == column)
        return replace(base, **{k: v for k, v in c.items() if k not in ("like", "allowed")})
    return Column(
        name=c["name"],
        type=c["type"],
        nullable=bool(c["nullable"]),
        description=str(c.get("description", "")),
        allowed=tuple(c["allowed"]) if "allowed" in c else None,
        min=c.get("min"),
        max=c.get("max"),
        unit=c.get("unit"),
    )


def load_schema(path: Path) -> TableSchema:
    data = yaml.safe_load(path.read_text())
    return TableSchema(
        name=data["name"],
        description=" ".join(str(data["description"]).split()),
        columns=tuple(_column(c, path) for c in data["columns"]),
        order=tuple(data["order"]),
        unique=tuple(data.get("unique", [])),
    )


def write_table(path: Path, name: str, rows: pd.DataFrame | list[dict], private: bool | None = None) -> bool:
    """Write `rows` as table `name` (schema types, deterministic order) unless the file already holds those bytes
    (mode by zone: see atomic.py). Returns whether the file was written."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=table_schema(name).names)
    return write_parquet_if_changed(path, table_schema(name).to_arrow(frame), private)


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame with table `name`'s columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in table_schema(name).names})


def read_parts(paths: list[Path], name: str, required: bool = False) -> pd.DataFrame:
    """Parquet files of table `name` as one frame (empty ones skipped; missing ones too unless `required`)."""
    frames = [pd.read_parquet(p) for p in paths if required or Path(p).exists()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_frame(name)


def read_table(layout: Layout, scope: Scope, name: str) -> pd.DataFrame:
    """Catalog table `name` within `scope`: exactly the parts `layout.parts` names (the rule declared them), as one
    frame (rows of other datasets left out: a split file holds every dataset's). A declared part that is missing is
    an error, not an empty table."""
    frame = read_parts(layout.parts(name, scope), name, required=True)
    return frame[frame.dataset.isin(scope.datasets)].reset_index(drop=True) if "dataset" in frame else frame


def table_names() -> list[str]:
    return sorted(p.stem for p in (SCHEMAS / "tables").glob("*.yaml"))


def harmonized_tables() -> list[str]:
    """The tables that harmonization writes per dataset and shard (curated/tables/<table>/dataset=<d>/)."""
    return [n for n in table_names() if table_schema(n).location.startswith(f"curated/tables/{n}/")]


def data_dictionary() -> str:
    """Markdown data dictionary of every canonical table."""
    lines = [
        "# Catalog data dictionary",
        "",
        "Generated from `schemas/tables/*.yaml` and the joined views (`catalog/build.py`) by `breastcurate "
        "data-dictionary`; do not edit by hand.",
        "",
    ]
    for name in table_names():
        t = table_schema(name)
        lines += [
            f"## `{t.name}`",
            "",
            t.description,
            "",
            f"Files: `{t.location}`. Row order: {', '.join(t.order)}."
            + (f" Unique: {', '.join(t.unique)}." if t.unique else ""),
            "",
            "| column | type | null | values | unit | description |",
            "|---|---|---|---|---|---|",
        ]
        for c in t.columns:
            values = (
                ", ".join(map(str, c.allowed))
                if c.allowed
                else (
                    f"{c.min if c.min is not None else ''}–{c.max if c.max is not None else ''}"
                    if c.min is not None or c.max is not None
                    else ""
                )
            )
            desc = c.description.replace("|", "\\|")
            lines.append(
                f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {values} | {c.unit or ''} | {desc} |"
            )
        lines.append("")
    return "\n".join(lines)
