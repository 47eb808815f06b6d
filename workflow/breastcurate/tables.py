"""The canonical table schemas in `schemas/tables/*.yaml`: the one source of the Parquet schemas, the data checks and
the data dictionary (`docs/catalog.md`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml

from .atomic import write_parquet_if_changed
from .layout import SCHEMAS

ARROW_TYPES = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(),
               "bool": pa.bool_(), "date": pa.date32()}


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
    location: str  # glob of its Parquet files, relative to the results folder

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
            order = pd.DataFrame({i: k for i, k in enumerate(keys)}).sort_values(list(range(len(keys))),
                                                                                 kind="stable").index
            frame = frame.loc[order]
        arrays = []
        for c in self.columns:
            values = frame[c.name].astype(object).where(frame[c.name].notna(), None).tolist()
            if c.type == "date":
                values = [None if v is None else pd.Timestamp(v).date() for v in values]
            arrays.append(pa.array(values, type=ARROW_TYPES[c.type]))
        return pa.Table.from_arrays(arrays, schema=self.arrow)


#: File mode of everything in the restricted zone.
RESTRICTED_MODE = 0o600


@functools.cache
def table_schema(name: str) -> TableSchema:
    """The schema of a catalog table (schemas/tables) or of a restricted table (schemas/restricted)."""
    path = SCHEMAS / "tables" / f"{name}.yaml"
    if not path.exists():
        path = SCHEMAS / "restricted" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    columns = tuple(Column(name=c["name"], type=c["type"], nullable=bool(c["nullable"]),
                           description=str(c.get("description", "")),
                           allowed=tuple(c["allowed"]) if "allowed" in c else None, min=c.get("min"),
                           max=c.get("max"), unit=c.get("unit")) for c in data["columns"])
    return TableSchema(name=data["name"], description=" ".join(str(data["description"]).split()), columns=columns,
                       order=tuple(data["order"]), unique=tuple(data.get("unique", [])),
                       location=data.get("location", f"curated/tables/{data['name']}/*/*.parquet"))


def write_table(path: Path, name: str, rows: pd.DataFrame | list[dict], restricted: bool = False) -> bool:
    """Write `rows` as table `name` (schema types, deterministic order) unless the file already holds those bytes;
    restricted tables are mode 0600. Returns whether the file was written."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=table_schema(name).names)
    return write_parquet_if_changed(path, table_schema(name).to_arrow(frame), RESTRICTED_MODE if restricted else None)


def read_table(results: Path, name: str) -> pd.DataFrame:
    """All Parquet parts of a catalog table under the results folder, as one frame (empty parts skipped)."""
    frames = [pd.read_parquet(p) for p in sorted(Path(results).glob(table_schema(name).location))]
    frames = [f for f in frames if len(f)]
    if frames:
        return pd.concat(frames, ignore_index=True)
    return pd.DataFrame({c: pd.Series(dtype=object) for c in table_schema(name).names})


def table_names() -> list[str]:
    return sorted(p.stem for p in (SCHEMAS / "tables").glob("*.yaml"))


def harmonized_tables() -> list[str]:
    """The tables that harmonization writes per dataset and shard (curated/tables/<table>/dataset=<d>/)."""
    return [n for n in table_names() if table_schema(n).location == f"curated/tables/{n}/*/*.parquet"]


def data_dictionary() -> str:
    """Markdown data dictionary of every canonical table."""
    lines = ["# Catalog data dictionary", "",
             "Generated from `schemas/tables/*.yaml` by `breastcurate data-dictionary`; do not edit by hand.", ""]
    for name in table_names():
        t = table_schema(name)
        lines += [f"## `{t.name}`", "", t.description, "",
                  f"Files: `{t.location}`. Row order: {', '.join(t.order)}." +
                  (f" Unique: {', '.join(t.unique)}." if t.unique else ""), "",
                  "| column | type | null | values | unit | description |", "|---|---|---|---|---|---|"]
        for c in t.columns:
            values = ", ".join(map(str, c.allowed)) if c.allowed else \
                (f"{c.min if c.min is not None else ''}–{c.max if c.max is not None else ''}"
                 if c.min is not None or c.max is not None else "")
            desc = c.description.replace("|", "\\|")
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {values} | {c.unit or ''} "
                         f"| {desc} |")
        lines.append("")
    return "\n".join(lines)
