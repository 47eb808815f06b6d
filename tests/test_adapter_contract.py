"""One contract over every adapter: what each method returns on its demo mirror fits schemas/adapter/<method>.yaml,
and a frame outside it fails (a bug in the adapter, never a reject)."""

from __future__ import annotations

import pandas as pd
import pytest
from breastcurate.codes import Codes
from breastcurate.sources import adapters
from breastcurate.sources.contract import AdapterOutputError, checked
from breastcurate.tables import adapter_schema, table_schema

BOXES = ("image_boxes", "volume_boxes")
LABELS = ("image_labels", "finding_labels", "clinical", "demographics")


@pytest.mark.parametrize("key", sorted(adapters()))
def test_every_adapter_method_fits_its_schema(demo_root, key):
    adapter, root = adapters()[key], demo_root / key
    produced = {m: adapter.read(m, root) for m in BOXES} | {m: adapter.read(m, root, Codes(key)) for m in LABELS}
    assert sum(len(f) for f in produced.values()) > 0, f"{key}: the contract must see rows"
    for method, frame in produced.items():
        assert set(frame.columns) <= set(adapter_schema(method).names), method


def test_adapter_schemas_take_catalog_columns_as_they_are():
    """`like: table.column` copies the catalog column's type and allowed values: one place for each fact."""
    column = next(c for c in adapter_schema("clinical").columns if c.name == "her2")
    assert column == next(c for c in table_schema("clinical").columns if c.name == "her2")


@pytest.mark.parametrize(
    "method, frame, message",
    [
        ("clinical", pd.DataFrame({"native_patient_id": ["a"], "her2": ["1"]}), "not int32"),
        ("clinical", pd.DataFrame({"native_patient_id": ["a"], "her2": [2]}), "not in [0, 1]"),
        ("clinical", pd.DataFrame({"native_patient_id": ["a"], "pcr": [0.5]}), "non-integral"),
        ("clinical", pd.DataFrame({"native_patient_id": [None]}), "has nulls"),
        ("demographics", pd.DataFrame({"native_patient_id": ["a"], "nickname": ["x"]}), "not in schemas/adapter"),
        ("volume_boxes", pd.DataFrame({"native_patient_id": ["a"], "roi": ["r"]}), "required column x0"),
        ("image_labels", pd.DataFrame({"path": ["a.dcm"], "birads": [7]}), "outside [0, 6]"),
    ],
)
def test_a_frame_outside_its_schema_is_an_adapter_bug(method, frame, message):
    with pytest.raises(AdapterOutputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        checked("demo", method, frame)
