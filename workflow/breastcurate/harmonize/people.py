"""One person, several datasets: patients whose adapters give the same person key get one `person_id`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ..atomic import write_parquet_if_changed
from ..sources import get_adapter

PEOPLE_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("patient_id", pa.string()),
        ("person_id", pa.string()),
        ("in_other_datasets", pa.bool_()),
    ]
)


def link_people(linkage_files: list[Path], out: Path) -> pd.DataFrame:
    """Read the restricted linkage tables of every dataset; write pseudonym → person id (no native ids in it).

    The person id is the smallest pseudonym among a person's patients, so it is keyed like them and stable."""
    frames = [pd.read_parquet(f, columns=["dataset", "native_patient_id", "patient_id"]) for f in linkage_files]
    linkage = (
        pd.concat(frames, ignore_index=True).drop_duplicates(["dataset", "patient_id"])
        if frames
        else pd.DataFrame(columns=["dataset", "native_patient_id", "patient_id"])
    )
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in linkage.itertuples(index=False):
        groups[get_adapter(row.dataset).person_key(row.native_patient_id)].append((row.dataset, row.patient_id))
    rows = []
    for members in groups.values():
        person = min(p for _, p in members)
        datasets = {d for d, _ in members}
        rows += [
            {"dataset": d, "patient_id": p, "person_id": person, "in_other_datasets": len(datasets) > 1}
            for d, p in members
        ]
    table = pa.Table.from_pylist(sorted(rows, key=lambda r: (r["dataset"], r["patient_id"])), schema=PEOPLE_SCHEMA)
    write_parquet_if_changed(out, table, private=True)
    return table.to_pandas()
