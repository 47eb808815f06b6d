"""`breastcurate diff-release A B`: what changed between two releases, local or remote (a folder, http(s):// or
s3:// URL of the release itself): patients added and removed per dataset and split, patients who moved to another
split (none, in a frozen lineage), files added, removed and changed, and row counts per table."""

from __future__ import annotations

import io
import json
from collections import Counter

import pandas as pd
import pyarrow.parquet as pq

from .pull import safe_path, source_for


def read_release(location: str) -> tuple[dict, pd.DataFrame, dict[str, int]]:
    """A release's manifest, split assignments and rows per table (read from the table parts' Parquet footers)."""
    source = source_for(location)
    manifest = json.loads(source.read("manifest.json"))
    splits = pd.read_parquet(io.BytesIO(source.read("splits.parquet")))
    rows: Counter[str] = Counter({"splits": len(splits)})
    for f in manifest["files"]:
        path = safe_path(f["path"])
        if path.startswith("tables/") and path.endswith(".parquet"):
            rows[path.split("/")[1]] += pq.ParquetFile(io.BytesIO(source.read(path))).metadata.num_rows
    return manifest, splits, dict(rows)


def diff(a: str, b: str) -> dict:
    """The differences from release `a` to release `b`."""
    (ma, sa, ra), (mb, sb, rb) = read_release(a), read_release(b)
    left = {(d, p): s for d, p, s in zip(sa.dataset, sa.patient_id, sa.split)}
    right = {(d, p): s for d, p, s in zip(sb.dataset, sb.patient_id, sb.split)}

    def per_group(keys: set[tuple[str, str]], side: dict) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        for dataset, patient in sorted(keys):
            out.setdefault(dataset, {}).setdefault(side[(dataset, patient)], []).append(patient)
        return out

    moved = [
        {"dataset": d, "patient_id": p, "from": left[(d, p)], "to": right[(d, p)]}
        for d, p in sorted(left.keys() & right.keys())
        if left[(d, p)] != right[(d, p)]
    ]
    fa = {f["path"]: f["sha256"] for f in ma["files"]}
    fb = {f["path"]: f["sha256"] for f in mb["files"]}
    return {
        "a": {"location": a, "version": ma["version"]},
        "b": {"location": b, "version": mb["version"]},
        "patients": {
            "added": per_group(right.keys() - left.keys(), right),
            "removed": per_group(left.keys() - right.keys(), left),
            "moved": moved,
        },
        "files": {
            "added": sorted(fb.keys() - fa.keys()),
            "removed": sorted(fa.keys() - fb.keys()),
            "changed": sorted(p for p in fa.keys() & fb.keys() if fa[p] != fb[p]),
        },
        "rows": {t: {"a": ra.get(t, 0), "b": rb.get(t, 0)} for t in sorted(ra.keys() | rb.keys())},
    }


def summary(result: dict) -> str:
    """The diff as text for the terminal."""
    a, b = result["a"]["version"], result["b"]["version"]
    lines = [f"{a} → {b}"]
    for what in ("added", "removed"):
        for dataset, splits in result["patients"][what].items():
            for split, patients in splits.items():
                lines.append(f"patients {what}: {dataset} {split}: {len(patients)}")
    moved = result["patients"]["moved"]
    lines.append(f"patients moved to another split: {len(moved)}" + (" (a frozen lineage moves none)" if moved else ""))
    lines += [f"  {m['dataset']} {m['patient_id']}: {m['from']} → {m['to']}" for m in moved[:20]]
    files = result["files"]
    lines.append(
        f"files: {len(files['added'])} added, {len(files['removed'])} removed, {len(files['changed'])} changed"
    )
    lines += [f"rows {t}: {n['a']} → {n['b']}" for t, n in result["rows"].items()]
    return "\n".join(lines)
