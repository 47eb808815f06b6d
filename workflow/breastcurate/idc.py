"""NCI Imaging Data Commons' series index, as the pinned `idc-index-data` package ships it (Parquet, read offline with
DuckDB): the collections' real series, used for Clean Descriptors' list of known descriptions, the role-rule tests,
and the IDC transport."""

from __future__ import annotations

import functools
from pathlib import Path

import duckdb


def index_path() -> Path:
    """The series-level index Parquet of the installed idc-index-data."""
    import idc_index_data

    return Path(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)


def index_version() -> str:
    """The idc-index-data version, which pins the IDC release (25.0.5 → IDC v25)."""
    import idc_index_data

    return str(idc_index_data.__version__)


@functools.cache
def known_descriptions(collections: tuple[str, ...]) -> frozenset[str]:
    """Every SeriesDescription and StudyDescription the index lists for `collections` (whitespace-squashed)."""
    if not collections:
        return frozenset()
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT d FROM (SELECT SeriesDescription AS d, collection_id FROM read_parquet(?) "
            "UNION ALL SELECT StudyDescription, collection_id FROM read_parquet(?)) "
            "WHERE collection_id IN (SELECT unnest(?)) AND d IS NOT NULL",
            [str(index_path()), str(index_path()), list(collections)]).fetchall()
    finally:
        con.close()
    return frozenset(" ".join(str(r[0]).split()) for r in rows)
