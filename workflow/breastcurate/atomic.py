"""Write files atomically (a temporary name in the same folder, then rename) with the mode of their zone.

Two zones (DESIGN.md): anything under a folder named `restricted` (or `<name>-restricted`) is private — owner only,
or owner and the group named by $BREASTCURATE_RESTRICTED_GROUP — and everything else the pipeline writes is meant to
be shared (0644 files, 0755 folders). A temporary file that a killed writer left behind (`.<name>.*.tmp`) is removed
the next time anything is written into its folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

PUBLIC_FILE, PUBLIC_DIR = 0o644, 0o755
GROUP_ENV = "BREASTCURATE_RESTRICTED_GROUP"
_SWEPT: set[Path] = set()
#: Temporary files name their writer (`.<name>.<host>.<pid>.<random>.tmp`), so a sweep spares running writers.
HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"
TMP_NAME = re.compile(r"\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
_OPENED: set[Path] = set()


def restricted_group() -> str | None:
    """The group that may read the restricted zone (config `restricted_group`, passed on by the Snakefile)."""
    return os.environ.get(GROUP_ENV) or None


def private_modes() -> tuple[int, int]:
    """(file mode, folder mode) of the restricted zone. With a group, folders are setgid so files inherit it."""
    return (0o640, 0o2750) if restricted_group() else (0o600, 0o700)


def is_private(path: str | Path) -> bool:
    """Whether `path` lies in a restricted zone (a folder named `restricted` or ending in `-restricted`)."""
    return any(part == "restricted" or part.endswith("-restricted") for part in Path(path).parts[:-1])


def make_dirs(folder: str | Path, private: bool | None = None) -> Path:
    """Create `folder` and its missing parents with the zone's folder mode (existing folders are left alone)."""
    folder = Path(folder)
    private = is_private(folder / "x") if private is None else private
    mode = private_modes()[1] if private else PUBLIC_DIR
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        os.chmod(candidate, mode)
    if not private:
        _open_up(folder)
    return folder


def _open_up(folder: Path) -> None:
    """Make the folders between `folder` and its `curated` ancestor readable by all: the pipeline runs under a
    private umask (the Snakefile sets it), so folders Snakemake creates for curated outputs start private."""
    chain = []
    for candidate in (folder, *folder.parents):
        if candidate.name == "curated":
            break
        chain.append(candidate)
    else:
        return  # not in a curated tree: only folders created here get a mode
    for candidate in chain:
        if candidate in _OPENED:
            continue
        if candidate.stat().st_mode & 0o7777 != PUBLIC_DIR:
            os.chmod(candidate, PUBLIC_DIR)
        _OPENED.add(candidate)


def remove_tree(folder: str | Path) -> None:
    """Delete `folder` as one step: renamed aside first (`.<name>.deleting`), then removed, so that a kill midway
    leaves no half folder under its name (only the aside one, removed next time)."""
    folder = Path(folder)
    aside = folder.with_name(f".{folder.name}.deleting")
    if aside.exists():
        shutil.rmtree(aside)
    if folder.exists():
        folder.rename(aside)
        shutil.rmtree(aside)


def publish_tree(root: str | Path) -> None:
    """Give every file and folder under `root` (written by a library under the private umask, e.g. Great
    Expectations' Data Docs) the shared modes."""
    root = Path(root)
    _open_up(root)
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, PUBLIC_DIR)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), PUBLIC_FILE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _stale(entry: os.DirEntry) -> bool:
    """A temporary file no writer will finish: its writer (named in it) is gone from this host, it was left on
    another host more than a day ago, or it does not name a writer (not ours, or from before names did)."""
    match = TMP_NAME.search(entry.name)
    if not match:
        return True
    if match["host"] != HOST:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > 86400
    return not _alive(int(match["pid"]))


def _sweep(folder: Path) -> None:
    """Remove stale temporary files that a killed writer left in `folder` (once per folder and process); the
    temporary files of writers still running, in this or another job, stay."""
    if folder in _SWEPT:
        return
    _SWEPT.add(folder)
    with os.scandir(folder) as entries:
        for entry in entries:
            if (
                entry.name.startswith(".")
                and entry.name.endswith(".tmp")
                and entry.is_file(follow_symlinks=False)
                and _stale(entry)
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def atomic_path(path: str | Path, private: bool | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path`, with the zone's mode, only if the block
    succeeds. `private` overrides the zone read from the path."""
    path = Path(path)
    private = is_private(path) if private is None else private
    make_dirs(path.parent, private)
    _sweep(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{HOST}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, private_modes()[0] if private else PUBLIC_FILE)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file (hashlib.file_digest: read in blocks, the GIL released while hashing)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_bytes(path: str | Path, data: bytes, private: bool | None = None) -> None:
    """Atomically write `data` to `path`."""
    with atomic_path(path, private) as tmp:
        tmp.write_bytes(data)


def write_bytes_if_changed(path: str | Path, data: bytes, private: bool | None = None) -> bool:
    """Write `data` to `path` unless the file already holds exactly these bytes (its mtime then stays, so nothing
    downstream re-runs). Return True if written."""
    path = Path(path)
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        _sweep(path.parent)
        return False
    write_bytes(path, data, private)
    return True


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a table to Parquet deterministically (zstd, no timestamps in the footer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=True, store_schema=True)
    return sink.getvalue().to_pybytes()


def write_parquet_if_changed(path: str | Path, table: pa.Table, private: bool | None = None) -> bool:
    """Write `table` to `path` unless the file already holds exactly these bytes. Return True if written."""
    return write_bytes_if_changed(path, parquet_bytes(table), private)
