"""Write files atomically: to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if mode is not None:
            os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> None:
    """Atomically write `data` to `path`."""
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(data)


def parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a table to Parquet deterministically (zstd, no timestamps in the footer)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=True, store_schema=True)
    return sink.getvalue().to_pybytes()


def write_parquet_if_changed(path: str | Path, table: pa.Table, mode: int | None = None) -> bool:
    """Write `table` to `path` unless the file already holds exactly these bytes. Return True if written."""
    path = Path(path)
    data = parquet_bytes(table)
    if path.exists() and path.read_bytes() == data:
        return False
    write_bytes(path, data, mode)
    return True
