"""NCI Imaging Data Commons' series index, as the pinned `idc-index-data` package ships it (Parquet, read offline with
DuckDB): the collections' real series, used for Clean Descriptors' list of known descriptions, the role-rule tests,
the IDC transport's cohort selection (SQL over the index) and the series' provenance (release, DOI, licence)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from .errors import BreastcurateError
from .roles import SeriesInfo


def index_path() -> Path:
    """The series-level index Parquet of the installed idc-index-data."""
    import idc_index_data

    return Path(str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH))


def index_version() -> str:
    """The idc-index-data version, which pins the IDC release (25.0.5 → IDC v25)."""
    import idc_index_data

    return str(idc_index_data.__version__)


#: The index columns a selection reads (a test or demo index has the real index's schema).
SELECTED = (
    "collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID, Modality, SeriesDescription, Manufacturer, "
    "ManufacturerModelName, instanceCount, series_size_MB, source_DOI, license_short_name, aws_bucket, "
    "crdc_series_uuid, series_aws_url"
)
#: The provenance every series row carries (index column → series table column).
PROVENANCE = {
    "collection_id": "collection",
    "source_DOI": "source_DOI",
    "license_short_name": "license_short_name",
    "crdc_series_uuid": "crdc_series_uuid",
}


def data_version(index: Path) -> str:
    """The idc-index-data version an index Parquet was written by (its metadata; '25.0.5-0-gf08b112')."""
    import pyarrow.parquet as pq

    version = (pq.read_schema(index).metadata or {}).get(b"idc_index_data_version", b"").decode()
    if not version.split(".", 1)[0].isdigit():
        raise BreastcurateError(f"{index}: no idc_index_data_version in its Parquet metadata (not an IDC index?)")
    return version


def release_of(index: Path) -> str:
    """The IDC release an index describes ('v25': the major version of idc-index-data)."""
    return "v" + data_version(index).split(".", 1)[0]


def select_series(
    index: Path,
    collections: Sequence[str],
    where: str | None = None,
    modalities: Sequence[str] | None = None,
    patients: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The index's series of `collections` that satisfy the SQL predicate `where` (over the index's columns, as in
    idc-index's `index` table), the modalities and patients; sorted by collection and series UID."""
    con = duckdb.connect()
    try:
        literal = str(index).replace("'", "''")
        # the predicate sees only the collections' rows, whatever it says
        con.execute(
            f"CREATE TEMP TABLE \"index\" AS SELECT * FROM read_parquet('{literal}') "
            "WHERE collection_id IN (SELECT unnest(?))",
            [list(collections)],
        )
        query = f'SELECT {SELECTED} FROM "index" WHERE TRUE'
        params: list[Any] = []
        if modalities:
            query += " AND Modality IN (SELECT unnest(?))"
            params.append(list(modalities))
        if patients:
            query += " AND PatientID IN (SELECT unnest(?))"
            params.append(list(patients))
        if where:
            query += f" AND ({where})"
        try:
            cursor = con.execute(query + " ORDER BY collection_id, SeriesInstanceUID", params)
        except duckdb.Error as exc:
            raise BreastcurateError(
                f"download.where {where!r} is not a valid predicate over IDC's index: {exc}"
            ) from exc
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()


def provenance(index: Path, collections: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Native SeriesInstanceUID → IDC provenance (release, collection, DOI, licence, CRDC uuid) of every series the
    index lists in `collections` (read once per dataset: a few thousand rows per collection)."""
    if not collections:
        return {}
    release = release_of(index)
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT SeriesInstanceUID, {', '.join(PROVENANCE)} FROM read_parquet(?) "
            "WHERE collection_id IN (SELECT unnest(?))",
            [str(index), list(collections)],
        ).fetchall()
    finally:
        con.close()
    return {
        uid: {"idc_release": release, **{column: value for column, value in zip(PROVENANCE.values(), values)}}
        for uid, *values in rows
    }


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
