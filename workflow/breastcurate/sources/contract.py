"""What an adapter method returns is checked against its schema (schemas/adapter/<method>.yaml) where a stage calls
it. A frame outside its schema is a bug in the adapter, not bad input: it fails the job with `AdapterOutputError`."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa

from ..tables import ARROW_TYPES, adapter_schema


class AdapterOutputError(Exception):
    """An adapter returned a frame outside its schema."""


def checked(dataset: str, method: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame`, as adapter `dataset`'s `method` returned it, once it fits schemas/adapter/<method>.yaml: only
    declared columns, every required one present and filled, values of the declared type (integers integral), in
    the allowed set and range."""
    schema = adapter_schema(method)
    where = f"{dataset}.{method}()"
    unknown = sorted(set(frame.columns) - set(schema.names))
    if unknown:
        raise AdapterOutputError(f"{where}: columns {unknown} are not in schemas/adapter/{method}.yaml")
    for column in schema.columns:
        if column.name not in frame:
            if not column.nullable and len(frame):
                raise AdapterOutputError(f"{where}: required column {column.name} is missing")
            continue
        values = [v for v in frame[column.name].tolist() if not _missing(v)]
        if not column.nullable and len(values) < len(frame):
            raise AdapterOutputError(f"{where}: column {column.name} has nulls")
        try:
            pa.array(values, type=ARROW_TYPES[column.type])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise AdapterOutputError(f"{where}: column {column.name} is not {column.type}: {exc}") from None
        if column.type.startswith("int") and any(float(v) != int(v) for v in values):
            raise AdapterOutputError(f"{where}: column {column.name} holds non-integral values")
        if column.allowed is not None and set(values) - set(column.allowed):
            bad = sorted(map(str, set(values) - set(column.allowed)))[:5]
            raise AdapterOutputError(f"{where}: column {column.name} holds {bad}, not in {list(column.allowed)}")
        low = column.min if column.min is not None else -math.inf
        high = column.max if column.max is not None else math.inf
        if any(not low <= v <= high for v in values if isinstance(v, int | float)):
            raise AdapterOutputError(f"{where}: column {column.name} outside [{column.min}, {column.max}]")
    return frame


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT
