"""TCIA's NBIA REST API: list a collection's series, fetch each series' zip, extract it safely into NBIA's
'descriptive' folder layout, and record completed series in a ledger so a rerun skips them."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlencode

from ..dicomio import dcmread
from ..nbia_names import series_dir, study_dir
from .status import StatusFile
from .transfer import (
    Http,
    Ledger,
    Policy,
    Progress,
    TransferError,
    fetch_verified,
    transfer_all,
)

HEADER_TAGS = [
    "PatientID",
    "StudyDate",
    "StudyDescription",
    "StudyInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "SeriesInstanceUID",
]


class UnsafeArchive(TransferError):
    """A zip member would land outside the target folder (absolute path, '..', a link)."""


def list_series(
    http: Http, url: str, collections: list[str], modalities: list[str] | None, patients: list[str] | None
) -> list[dict]:
    """getSeries for each collection, limited to the configured modalities and patients, sorted by series UID; each
    row knows its collection (the mirror's top folder)."""
    rows = []
    for collection in collections:
        found = json.loads(
            http.read(f"{url}/getSeries?{urlencode({'Collection': collection, 'format': 'json'})}") or b"[]"
        )
        rows += [{**r, "Collection": r.get("Collection") or collection} for r in found]
    if modalities:
        rows = [r for r in rows if r.get("Modality") in modalities]
    if patients:
        wanted = set(patients)
        rows = [r for r in rows if r.get("PatientID") in wanted]
    return sorted(rows, key=lambda r: r["SeriesInstanceUID"])


def _members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's files; refuse any member that is absolute, climbs with '..' or is a link (zip-slip)."""
    files = []
    for info in archive.infolist():
        name = info.filename
        path = PurePosixPath(name)
        mode = info.external_attr >> 16
        if (
            name.startswith(("/", "\\"))
            or "\\" in name
            or re.match(r"^[A-Za-z]:", name)
            or ".." in path.parts
            or stat.S_ISLNK(mode)
        ):
            raise UnsafeArchive(f"unsafe member {name!r} (absolute, '..' or a link); archive refused")
        if not info.is_dir():
            files.append(info)
    return files


def _zip_problem(path: Path) -> str | None:
    """Why a downloaded zip is unusable (unreadable directory, a member failing its CRC), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"corrupt zip ({exc})"
    return f"corrupt zip (CRC error in {bad})" if bad else None


def folder_for(collection: str, first: Path) -> str:
    """Where a series goes in the mirror, from the header of one of its files."""
    ds = dcmread(first, stop_before_pixels=True, specific_tags=HEADER_TAGS)
    try:
        day = dt.datetime.strptime(str(ds.get("StudyDate", "")), "%Y%m%d").date()
    except ValueError:
        day = None
    number = ds.get("SeriesNumber")
    return (
        f"{study_dir(collection, str(ds.PatientID), day, str(ds.get('StudyDescription', '')), ds.StudyInstanceUID)}"
        f"/{series_dir(int(number) if number not in (None, '') else None, str(ds.get('SeriesDescription', '')), ds.SeriesInstanceUID)}"
    )


def _complete(mirror: Path, entry: dict | None) -> bool:
    """A ledger entry still describes what is on disk (the folder exists with as many files)."""
    if not entry:
        return False
    folder = mirror / entry["path"]
    return folder.is_dir() and sum(1 for p in folder.iterdir() if p.is_file()) == entry["files"]


def _fetch_series(
    http: Http, url: str, row: dict, collection: str, mirror: Path, state: Path, ledger: Ledger, progress: Progress
) -> None:
    uid = row["SeriesInstanceUID"]
    query = urlencode({"SeriesInstanceUID": uid, "NewFileNames": "Yes"})
    zipped = state / "zips" / f"{uid}.zip"
    fetch_verified(
        lambda part: http.fetch(f"{url}/getImage?{query}", part, progress.bytes),
        state / "parts" / f"{uid}.zip.part",
        zipped,
        _zip_problem,
        f"series {uid}",
    )
    partial = state / "partial" / uid
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with zipfile.ZipFile(zipped) as archive:
            members = _members(archive)
            names = [PurePosixPath(m.filename).name for m in members]
            if len(set(names)) != len(names):
                raise TransferError(f"series {uid}: the zip repeats a file name in different folders")
            partial.mkdir(parents=True)
            for info, name in zip(members, names):
                with archive.open(info) as src, open(partial / name, "wb") as out:
                    shutil.copyfileobj(src, out)
        expected = row.get("ImageCount")
        if expected is not None and int(expected) != len(members):
            raise TransferError(f"series {uid}: the zip holds {len(members)} files, NBIA lists {expected}")
        if not members:
            raise TransferError(f"series {uid}: empty zip")
        rel = folder_for(collection, partial / names[0])
        final = mirror / rel
        if final.exists():  # placed by a run killed before it wrote the ledger
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(final)
        ledger.add(uid, path=rel, files=len(members), bytes=sum(m.file_size for m in members))
        progress.file_done(len(members))
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        zipped.unlink(missing_ok=True)


def _pending(settings: dict, mirror: Path, state: Path) -> tuple[Http, list[dict], Ledger, list[dict]]:
    """The client, the collection's selected series, the ledger and the series still to fetch."""
    http = Http(Policy.from_settings(settings))
    rows = list_series(
        http, settings["url"], list(settings["collections"]), settings.get("modalities"), settings.get("patients")
    )
    ledger = Ledger(state / "ledger.jsonl")
    return http, rows, ledger, [r for r in rows if not _complete(mirror, ledger.get(r["SeriesInstanceUID"]))]


def _total(rows: list[dict], key: str) -> int:
    return sum(int(r.get(key) or 0) for r in rows)


def plan(settings: dict, mirror: Path, state: Path) -> dict:
    """Series, files and bytes the collection has and how many of them a download would fetch."""
    _, rows, _, todo = _pending(settings, mirror, state)
    return {
        "unit": "series",
        "items": len(rows),
        "files": _total(rows, "ImageCount"),
        "bytes": _total(rows, "FileSize"),
        "todo_items": len(todo),
        "todo_files": _total(todo, "ImageCount"),
        "todo_bytes": _total(todo, "FileSize"),
    }


def download(settings: dict, mirror: Path, state: Path, quiet: bool = False, status: StatusFile | None = None) -> dict:
    """Fetch every series not yet complete; return counts; raise TransferError listing the series that failed.
    The progress counts files and the bytes of the zips against the series' FileSize as NBIA lists it."""
    http, rows, ledger, todo = _pending(settings, mirror, state)
    pending = {r["SeriesInstanceUID"] for r in todo}
    done = [r for r in rows if r["SeriesInstanceUID"] not in pending]
    progress = Progress(
        f"{', '.join(settings['collections'])}: {len(todo)} series",
        _total(todo, "ImageCount"),
        _total(todo, "FileSize") or None,
        quiet,
        status,
        before=(_total(done, "ImageCount"), _total(done, "FileSize")),
        total=(_total(rows, "ImageCount"), _total(rows, "FileSize") or None),
    )
    transfer_all(
        (
            (
                f"series {r['SeriesInstanceUID']}",
                functools.partial(
                    _fetch_series, http, settings["url"], r, r["Collection"], mirror, state, ledger, progress
                ),
            )
            for r in todo
        ),
        settings.get("concurrency", 4),
        progress,
        len(rows),
        "series",
    )
    return {
        "unit": "series",
        "items": len(rows),
        "fetched": len(todo),
        "skipped": len(rows) - len(todo),
        "files": sum((ledger.get(r["SeriesInstanceUID"]) or {}).get("files", 0) for r in rows),
    }
