"""NCI Imaging Data Commons' series index, as the pinned `idc-index-data` package ships it (Parquet, read offline with
DuckDB): the collections' real series, used for Clean Descriptors' list of known descriptions, the role-rule tests,
and the IDC transport."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import duckdb

from .roles import SeriesInfo


def index_path() -> Path:
    """The series-level index Parquet of the installed idc-index-data."""
    import idc_index_data

    return Path(str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH))


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
            [str(index_path()), str(index_path()), list(collections)],
        ).fetchall()
    finally:
        con.close()
    return frozenset(" ".join(str(r[0]).split()) for r in rows)


def series_infos(collection: str) -> list[SeriesInfo]:
    """Every series of an IDC collection, as the role rules see them (instances: the index's instance count)."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT SeriesInstanceUID, StudyInstanceUID, Modality, SeriesDescription, SeriesNumber, "
            "instanceCount FROM read_parquet(?) WHERE collection_id = ?",
            [str(index_path()), collection],
        ).fetchall()
    finally:
        con.close()
    return [
        SeriesInfo(
            uid,
            study,
            modality or "",
            description or "",
            int(number) if number and str(number).isdigit() else None,
            (),
            int(count),
        )
        for uid, study, modality, description, number, count in rows
    ]


#: Descriptions of derived maps in the DCE grid (SER, PE, subtraction, MIP): one volume, so their instance count
#: is the DCE's slice count.
MAP = re.compile(r"\b(SER|PE\d*)\b|sub(traction)?\b|_SUB\b|\bMIP\b", re.IGNORECASE)


def study_phases(dce: list[SeriesInfo], maps: list[SeriesInfo]) -> tuple[int, int] | None:
    """(phases, slices per phase) a study's DCE series make: one DCE series holds instances/slices phases, where a
    map (one volume in the DCE grid) gives the slice count; several single-phase series (Duke) count one each. None
    when the index cannot tell (one series and no map)."""
    if maps:
        slices = min(m.instances for m in maps)
    elif len(dce) > 1:
        slices = min(s.instances for s in dce)
    else:
        return None
    slices = max(slices, 1)
    return sum(s.instances // slices for s in dce), slices
