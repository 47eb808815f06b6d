"""A download's progress for the whole dataset, in `restricted/downloads/<dataset>/progress.json`: files and bytes
done of the total (counting what earlier runs completed), this run's rate and an ETA. Written by the running
download; read by `breastcurate download-status`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_bytes
from ..errors import BreastcurateError

#: Seconds between two writes of the file while a download runs (it is also written when the run ends).
INTERVAL = 2.0
#: A running download whose file is older than this is said to have stopped (killed, or its node lost).
STALE = 15 * 60


@dataclass(frozen=True)
class StatusFile:
    """Where a download writes its progress, and what it is the progress of."""

    path: Path
    dataset: str
    transport: str


def record(
    where: StatusFile,
    state: str,
    done: tuple[int, int],
    total: tuple[int, int | None],
    started: float,
    fetched_bytes: int,
    fetched_files: int,
) -> dict:
    """The progress record: `done` and `total` are (files, bytes) of the whole dataset; `fetched_*` what this run
    fetched since `started` (a time.time()), from which the rate and the ETA follow."""
    now = time.time()
    elapsed = max(now - started, 1e-6)
    rate = fetched_bytes / elapsed
    files_left = total[0] - done[0]
    if total[1] is not None and rate > 0:
        eta: float | None = max(total[1] - done[1], 0) / rate
    elif fetched_files:
        eta = files_left * elapsed / fetched_files
    else:
        eta = None
    return {
        "dataset": where.dataset,
        "transport": where.transport,
        "state": state,
        "files_done": done[0],
        "files_total": total[0],
        "bytes_done": done[1],
        "bytes_total": total[1],
        "rate_bytes_per_second": round(rate, 1),
        "eta_seconds": None if state != "running" or eta is None else round(eta, 1),
        "started": _iso(started),
        "updated": _iso(now),
        "updated_epoch": round(now, 3),
    }


def write_status(where: StatusFile, status: dict) -> None:
    write_bytes(where.path, json.dumps(status, indent=1, sort_keys=True).encode() + b"\n")


def read(path: Path, dataset: str) -> dict:
    """The progress a download of `dataset` last wrote to `path`."""
    if not path.is_file():
        raise BreastcurateError(
            f"no download of {dataset} has started here ({path} does not exist): run snakemake, or "
            f"breastcurate download {dataset}"
        )
    return json.loads(path.read_text())


def describe(status: dict, now: float | None = None) -> str:
    """One line: files and bytes done of the total, the rate, the ETA, and whether the download stopped."""
    files = f"{status['files_done']}/{status['files_total']} files"
    done, total = status["bytes_done"], status["bytes_total"]
    volume = f"{_size(done)} of {_size(total)}" if total is not None else f"{_size(done)} (total not listed)"
    if total:
        volume += f" ({100 * done / total:.1f} %)"
    line = f"{status['dataset']}: {files}, {volume}; {_size(status['rate_bytes_per_second'])}/s; {status['state']}"
    if status["state"] == "running":
        if status["eta_seconds"] is not None:
            line += f", about {_duration(status['eta_seconds'])} left"
        age = (now if now is not None else time.time()) - status["updated_epoch"]
        if age > STALE:
            line += f"; no update for {_duration(age)}: the download has stopped (rerun to resume)"
    return line + f" (updated {status['updated']})"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _size(n: float) -> str:
    units = ("B", "kB", "MB", "GB", "TB")
    k = 0
    while abs(n) >= 1000 and k < len(units) - 1:
        n, k = n / 1000, k + 1
    return f"{n:.0f} B" if k == 0 else f"{n:.1f} {units[k]}"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h"
