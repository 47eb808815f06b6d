"""The demo's model of NCI Imaging Data Commons: its series index (one row per demo series, in the pinned
idc-index-data Parquet's schema, with each collection's real DOI, licence and bucket) and its bucket objects, named
`<crdc_series_uuid>/<crdc_instance_uuid>.dcm` like IDC's. The UUIDs are derived from the DICOM UIDs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .. import idc
from ..dicomio import dcmread
from ..layout import IDC_INDEX_NAME
from ..sources.base import DatasetAdapter

HEADER = (
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPClassUID",
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "StudyDescription",
    "StudyDate",
    "SeriesDate",
    "PatientAge",
    "PatientSex",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "PhotometricInterpretation",
    "PixelRepresentation",
)


def crdc_uuid(uid: str) -> str:
    """A stable UUID standing in for IDC's CRDC uuid of a series or instance UID."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, uid))


def _series_folders(mirror: Path, top: str) -> Iterator[list[Path]]:
    folders: dict[Path, list[Path]] = {}
    for path in sorted((mirror / top).rglob("*.dcm")):
        folders.setdefault(path.parent, []).append(path)
    yield from folders.values()


def _published(index: Path, collection: str) -> dict[str, tuple[str, str, str]]:
    """Modality → the (DOI, licence, bucket) most of the real collection's series of that modality carry."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT Modality, source_DOI, license_short_name, aws_bucket, count(*) AS n FROM read_parquet(?) "
            "WHERE collection_id = ? GROUP BY ALL ORDER BY n DESC, source_DOI",
            [str(index), collection],
        ).fetchall()
    finally:
        con.close()
    found: dict[str, tuple[str, str, str]] = {}
    for modality, doi, licence, bucket, _ in rows:
        found.setdefault(modality, (doi, licence, bucket))
    return found


def _date(value: object) -> str | None:
    try:
        return dt.datetime.strptime(str(value), "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def index_rows(mirror: Path, adapter: DatasetAdapter) -> list[dict]:
    """One index row per series of the demo mirror."""
    real = idc.index_path()
    release = int(idc.release_of(real)[1:])
    rows = []
    for collection, top in adapter.idc_folders().items():
        published = _published(real, collection)
        fallback = next(iter(published.values()))
        for files in _series_folders(mirror, top):
            ds = dcmread(files[0], stop_before_pixels=True, specific_tags=list(HEADER))
            header = {k: (str(ds.get(k)) if ds.get(k) not in (None, "") else None) for k in HEADER}
            doi, licence, bucket = published.get(str(header["Modality"]), fallback)
            series_uuid = crdc_uuid(str(header["SeriesInstanceUID"]))
            rows.append(
                {
                    **header,
                    "StudyDate": _date(header["StudyDate"]),
                    "SeriesDate": _date(header["SeriesDate"]),
                    "collection_id": collection,
                    "source_DOI": doi,
                    "license_short_name": licence,
                    "instanceCount": len(files),
                    "series_init_idc_version": release,
                    "series_revised_idc_version": release,
                    "aws_bucket": bucket,
                    "crdc_series_uuid": series_uuid,
                    "series_aws_url": f"s3://{bucket}/{series_uuid}/*",
                    "series_size_MB": sum(f.stat().st_size for f in files) / 1e6,
                }
            )
    return sorted(rows, key=lambda r: (r["collection_id"], r["SeriesInstanceUID"]))


def write_index(mirror: Path, adapter: DatasetAdapter) -> Path:
    """Write the demo mirror's IDC index beside its collections, in the real index's schema and version metadata."""
    real = idc.index_path()
    schema = pq.read_schema(real)
    meta = {b"idc_index_data_version": (schema.metadata or {})[b"idc_index_data_version"]}
    rows = index_rows(mirror, adapter)
    table = pa.Table.from_pylist(
        [{name: row.get(name) for name in schema.names} for row in rows], schema=schema.remove_metadata()
    ).replace_schema_metadata(meta)
    target = mirror / IDC_INDEX_NAME
    pq.write_table(table, target)
    return target


def bucket_objects(mirror: Path, adapter: DatasetAdapter) -> Iterator[tuple[str, str, Path]]:
    """(bucket, key, file) of every demo file as IDC would serve it: `<crdc_series_uuid>/<crdc_instance_uuid>.dcm`."""
    index = pq.read_table(mirror / IDC_INDEX_NAME, columns=["SeriesInstanceUID", "aws_bucket"]).to_pylist()
    buckets = {r["SeriesInstanceUID"]: r["aws_bucket"] for r in index}
    for top in adapter.idc_folders().values():
        for files in _series_folders(mirror, top):
            for path in files:
                ds = dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "SOPInstanceUID"])
                series = str(ds.SeriesInstanceUID)
                yield buckets[series], f"{crdc_uuid(series)}/{crdc_uuid(str(ds.SOPInstanceUID))}.dcm", path
