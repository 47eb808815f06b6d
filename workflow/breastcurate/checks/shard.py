"""The checks that read curated files, run per shard so that no job grows with the corpus: every file of the shard's
`files` part exists with its size and SHA-256, no unlisted file sits in the shard's folders, and the PHI scan of the
shard's files and table parts finds none of the shard's patients' values nor any dataset-wide value. The global
checks job then works on tables and these summaries only.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..atomic import sha256_file, write_bytes
from ..errors import BreastcurateError
from ..layout import Layout
from . import phi_scan

#: The empty file Snakemake leaves in a directory output to date it.
SNAKEMAKE_STAMP = ".snakemake_timestamp"


def verify_files(
    files_part: Path, results: Path, folders: list[Path], sha256: bool, workers: int = 1
) -> tuple[list[dict], int]:
    """Problems of the curated files one `files` part lists (missing, other size or SHA-256), and files under
    `folders` that it does not list; also the number of listed files."""
    files = pd.read_parquet(files_part, columns=["path", "bytes", "sha256"])
    listed = set(files.path)

    def problem(row: tuple[str, int, str]) -> dict | None:
        rel, size, digest = row
        path = results / rel
        if not path.is_file():
            return {"path": rel, "problem": "missing"}
        if path.stat().st_size != size:
            return {"path": rel, "problem": f"{path.stat().st_size} bytes, files says {size}"}
        if sha256 and sha256_file(path) != digest:
            return {"path": rel, "problem": "sha256 differs from the files table"}
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:  # hashing releases the GIL
        problems = [p for p in pool.map(problem, zip(files.path, files.bytes, files.sha256)) if p]
    for folder in folders:
        for dirpath, _, filenames in os.walk(folder):
            for name in filenames:
                if name == SNAKEMAKE_STAMP:
                    continue
                rel = (Path(dirpath) / name).relative_to(results).as_posix()
                if rel not in listed:
                    problems.append({"path": rel, "problem": "in the shard's folder but not in files"})
    return sorted(problems, key=lambda p: p["path"]), len(files)


def check_shard(
    results: Path,
    folders: list[Path],
    tables: list[Path],
    files_part: Path,
    term_files: list[Path],
    out: Path,
    sha256: bool = True,
    workers: int = 1,
) -> dict:
    """Verify and scan one shard; write the summary to `out`. PHI found raises (its masked report is printed for the
    restricted log) and leaves no summary, so the run stops."""
    results = Path(results)
    problems, verified = verify_files(Path(files_part), results, folders, sha256, workers)
    terms = phi_scan.terms_from_tables(term_files)
    hits, scanned = phi_scan.scan([*folders, *tables], Layout(results).curated, terms, workers)
    for hit in hits:  # the scan's report, the command's output (masked values only)
        print(f"PHI ({hit.kind}) {hit.masked!r} in {hit.path}")
    if hits:
        raise BreastcurateError(f"PHI scan: {len(hits)} hit(s) in {out.parent.name}/{out.stem} (masked values above)")
    summary = {"files_verified": verified, "problems": problems, "phi_scan": phi_scan.report(hits, len(terms), scanned)}
    write_bytes(out, json.dumps(summary, indent=1, sort_keys=True).encode() + b"\n")
    return summary
