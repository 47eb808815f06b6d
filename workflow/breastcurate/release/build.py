"""`breastcurate release VERSION`: a frozen, checksummed folder of one split version that teams pull.

results/releases/<version>/
  manifest.json      every file: relative path, bytes, sha256, dataset, patient, split, included
  release.json       version, package version, config and split-settings hashes, licences
  README.md          the data card
  splits.parquet     the frozen assignment (later runs compare against it)
  splits/split=…/    the same rows, one Parquet per split (Croissant's split filter; `pull --split`)
  tables/…           the canonical tables and radiomics limited to the released patients
  curated/…          images, volumes, masks of redistributable datasets
  croissant.json     MLCommons Croissant 1.0 card (with Responsible-AI fields): licences, de-identification,
                     label harmonization, splits and tables as record sets, every file's sha256
  catalog.sql        what catalog.duckdb holds, as SQL: the tables above copied in, and the joined views;
                     catalog.duckdb (self-contained) is built here and on pull
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from .. import __version__
from ..atomic import make_dirs, parquet_bytes, publish_tree, sha256_file, write_bytes
from ..catalog.build import JOINED_VIEWS, connect, fill_catalog, new_database
from ..errors import BreastcurateError
from ..layout import Layout
from ..sources import get_adapter
from ..splits.assign import load_versions, settings_hash
from ..tables import table_names, table_schema

RELEASED_TABLES = [n for n in table_names() if n != "splits"]  # splits.parquet is written on its own
IMAGE_TABLES = {"images": ("path",), "volumes": ("path", "sidecar_path"), "findings": ("mask_path",)}


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def release(
    version: str, results: Path, config_file: Path, versions_file: Path, include_restricted_images: bool = False
) -> tuple[Path, bool]:
    """Build release `version`; return its folder and whether it was written (False: identical one existed)."""
    results = Path(results)
    settings = load_versions(versions_file).get(version)
    if settings is None:
        raise BreastcurateError(f"no split version {version!r} in {versions_file}")
    layout = Layout(results)
    split_file = layout.split(version)
    if not split_file.exists():
        raise BreastcurateError(f"{split_file} does not exist: run the pipeline before releasing")
    splits = pd.read_parquet(split_file)
    keys = splits[["dataset", "patient_id", "split"]]
    target = layout.release(version)
    make_dirs(layout.releases)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=layout.releases))
    try:
        rows = _write_content(staging, layout, version, settings, splits, keys, config_file, include_restricted_images)
        manifest = json.dumps({"version": version, "files": rows}, indent=1, sort_keys=True).encode() + b"\n"
        if (target / "manifest.json").exists():
            if (target / "manifest.json").read_bytes() == manifest:
                return target, False
            raise BreastcurateError(
                f"release {version} already exists at {target} with different content; "
                "releases are immutable — choose a new version name"
            )
        write_bytes(staging / "manifest.json", manifest)
        publish_tree(staging)  # made private by mkdtemp; a release is for sharing
        os.replace(staging, target)
        return target, True
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_content(
    out: Path,
    layout: Layout,
    version: str,
    settings: dict,
    splits: pd.DataFrame,
    keys: pd.DataFrame,
    config_file: Path,
    include_restricted: bool,
) -> list[dict]:
    rows: list[dict] = []
    results = layout.root
    split_of = {(d, p): s for d, p, s in zip(keys.dataset, keys.patient_id, keys.split)}
    datasets = sorted(set(keys.dataset))
    images_ok = {d: get_adapter(d).redistributable or include_restricted for d in datasets}

    def add(rel: str, data: bytes | None = None, source: Path | None = None, **extra) -> None:
        path = out / rel
        if data is not None:
            write_bytes(path, data)
        elif source is not None and extra.get("included", True):
            _link_or_copy(source, path)
        origin = path if (data is not None or extra.get("included", True)) or source is None else source
        rows.append(
            {
                "path": rel,
                "bytes": origin.stat().st_size,
                "sha256": sha256_file(origin),
                "dataset": extra.get("dataset"),
                "patient_id": extra.get("patient_id"),
                "split": extra.get("split"),
                "included": extra.get("included", True),
                "kind": extra.get("kind", "table"),
            }
        )

    add("splits.parquet", parquet_bytes(table_schema("splits").to_arrow(splits)))
    for name in ("train", "val", "test"):  # the same rows by split, for Croissant's split filter and `pull --split`
        part = splits[splits.split == name]
        add(f"splits/split={name}/part-0.parquet", parquet_bytes(table_schema("splits").to_arrow(part)), split=name)
    released = set(zip(keys.dataset, keys.patient_id))
    frames = {}
    with connect(layout.catalog) as catalog:  # what the last run declared, and nothing else
        tables = {name: catalog.sql(f"SELECT * FROM {name}").to_arrow_table().to_pandas() for name in RELEASED_TABLES}
    for name, frame in tables.items():
        if "patient_id" in frame:
            frame = frame[[k in released for k in zip(frame.dataset, frame.patient_id)]]
        frames[name] = frame
    owner = {}  # curated file → (dataset, patient)
    for name, columns in IMAGE_TABLES.items():
        for row in frames[name].itertuples(index=False):
            for column in columns:
                value = getattr(row, column)
                if isinstance(value, str):
                    owner[value] = (row.dataset, row.patient_id)
    frames["files"] = frames["files"][frames["files"].path.isin(owner)]
    for name, frame in frames.items():
        schema = table_schema(name)
        for dataset in datasets:
            part = frame[frame.dataset == dataset] if len(frame) else frame
            add(
                f"tables/{name}/dataset={dataset}/part-0.parquet", parquet_bytes(schema.to_arrow(part)), dataset=dataset
            )
    for rel in sorted(owner):
        dataset, patient = owner[rel]
        add(
            rel,
            source=results / rel,
            dataset=dataset,
            patient_id=patient,
            split=split_of[(dataset, patient)],
            included=images_ok[dataset],
            kind="image",
        )
    config_sha = hashlib.sha256(
        json.dumps(yaml.safe_load(Path(config_file).read_text()), sort_keys=True).encode()
    ).hexdigest()
    card = layout.split_card(version)
    published = json.loads(card.read_text()).get("published_splits", {}) if card.exists() else {}
    meta = {
        "version": version,
        "package_version": __version__,
        "config_sha256": config_sha,
        "split_settings_sha256": settings_hash(settings),
        "split_settings": settings,
        "datasets": {
            d: {
                "license": get_adapter(d).license,
                "redistributable": get_adapter(d).redistributable,
                "images_included": images_ok[d],
                "idc_sources": idc_sources(frames.get("series"), d),
            }
            for d in datasets
        },
        "published_splits": published,
        "datasets_left_out": left_out(layout, version, datasets),
    }
    add("release.json", json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n")
    add("README.md", data_card(version, meta, splits, frames).encode())
    add("catalog.sql", catalog_sql().encode())
    from .croissant import croissant  # mlcroissant takes 2 s to import: only releases need it

    add("croissant.json", croissant(version, meta, rows, RELEASED_TABLES))  # after the files whose sha256 it holds
    make_catalog(out)  # a convenience copy; DuckDB files are not byte-stable, so the manifest has catalog.sql
    return sorted(rows, key=lambda r: r["path"])


def left_out(layout: Layout, version: str, datasets: list[str]) -> dict[str, list[str]]:
    """Datasets that earlier releases of this results folder hold and this one does not (taken out of the config,
    e.g. because their licence changed): dataset → the releases that hold it."""
    found: dict[str, list[str]] = {}
    folders = sorted(p for p in layout.releases.iterdir() if p.name != version) if layout.releases.is_dir() else []
    for folder in folders:
        meta = folder / "release.json"
        if meta.is_file():
            for dataset in json.loads(meta.read_text())["datasets"]:
                if dataset not in datasets:
                    found.setdefault(dataset, []).append(folder.name)
    return found


def idc_sources(series: pd.DataFrame | None, dataset: str) -> list[dict]:
    """The dataset's series per IDC release, collection, DOI and licence (licences can differ within a collection:
    Duke's images are CC BY-NC 4.0, some AI segmentations CC BY 4.0)."""
    if series is None or series.empty or "idc_release" not in series:
        return []
    keys = ["idc_release", "collection", "source_DOI", "license_short_name"]
    listed = series[(series.dataset == dataset) & series.idc_release.notna()]
    counts = listed.groupby(keys).size().reset_index(name="series")
    return [{k: (int(v) if k == "series" else str(v)) for k, v in row.items()} for row in counts.to_dict("records")]


def catalog_sources() -> dict[str, str]:
    """The release catalog's tables: table → the glob of its Parquet files, relative to the release folder (a
    release, or a partial pull of one, holds what it holds: its own folder is what it describes)."""
    return {**{name: f"tables/{name}/*/*.parquet" for name in RELEASED_TABLES}, "splits": "splits.parquet"}


def catalog_sql() -> str:
    """What `catalog.duckdb` holds, as SQL (the manifest lists this file: DuckDB files are not byte-stable)."""
    tables = [
        f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{glob}');" for name, glob in catalog_sources().items()
    ]
    views = [f"CREATE VIEW {name} AS {' '.join(sql.split())};" for name, sql in JOINED_VIEWS.items()]
    return "\n".join(tables + views) + "\n"


def make_catalog(folder: Path) -> Path:
    """`<folder>/catalog.duckdb`, self-contained, from the release's Parquet files (written atomically; a table a
    partial pull lacks is empty)."""
    from ..atomic import atomic_path

    target = Path(folder) / "catalog.duckdb"
    with atomic_path(target) as tmp:
        tmp.unlink()
        con = new_database(tmp)
        fill_catalog(con, {name: sorted(Path(folder).glob(glob)) for name, glob in catalog_sources().items()})
        con.close()
    return target


def published_splits_section(published: dict) -> list[str]:
    """The card's account of how this release's splits overlap other curated sets' published splits."""
    if not published:
        return []
    lines = [
        "",
        "## Overlap with other curated sets' splits",
        "",
        "People of this release per our split (rows) and theirs (columns). Training on their train and testing on "
        "our test leaks the people counted in *their train/val in our test*; an aligned set (`align_with`) has none "
        "unless two aligned sets disagree.",
    ]
    for info in published.values():
        ids = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in info["ids"].items())
        lines += [
            "",
            f"### {info['title']} ({info['license']}){' — aligned' if info['aligned'] else ''}",
            "",
            f"{info['listed']} patients listed ({ids}); split file sha256 `{info['file_sha256']}`.",
            "",
            "| ours \\ theirs | train | val | test |",
            "|---|---|---|---|",
            *[
                f"| {ours} | " + " | ".join(str(info["overlap"][ours][t]) for t in ("train", "val", "test")) + " |"
                for ours in ("train", "val", "test")
            ],
            "",
            f"Their train/val in our test: {info['their_train_or_val_in_our_test']}; their test in our train/val: "
            f"{info['their_test_in_our_train_or_val']}.",
        ]
    return lines


def data_card(version: str, meta: dict, splits: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> str:
    """README.md of a release: what is in it, under which licences, and how to load it."""
    lines = [
        f"# breastcurate release `{version}`",
        "",
        f"Package version {meta['package_version']}; pipeline config sha256 `{meta['config_sha256']}`; "
        f"split settings sha256 `{meta['split_settings_sha256']}`.",
        "",
        "Patient-level splits: every image of a person is on one side. This release is frozen: its "
        "assignments never change; a later version has a new name.",
        "",
        "## Licences",
        "",
        "| dataset | licence | images in this release |",
        "|---|---|---|",
    ]
    for dataset, info in meta["datasets"].items():
        note = (
            "yes"
            if info["images_included"]
            else "**no** — the licence forbids redistribution: tables and checksums only; get the images from the source"
        )
        lines.append(f"| {dataset} | {info['license']} | {note} |")
    sources = [(d, src) for d, info in meta["datasets"].items() for src in info.get("idc_sources", [])]
    if sources:
        lines += [
            "",
            "Series as NCI Imaging Data Commons publishes them (cite the DOI; the `series` table has each series' "
            "licence in `license_short_name`):",
            "",
            "| dataset | IDC release | collection | source DOI | licence | series |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {d} | {s['idc_release']} | {s['collection']} | {s['source_DOI']} | {s['license_short_name']} | "
            f"{s['series']} |"
            for d, s in sources
        ]
    if meta.get("datasets_left_out"):
        lines += [
            "",
            "Not in this release, although earlier releases of these results hold them (taken out of the "
            "pipeline's config):",
            "",
        ]
        lines += [f"- {d}: in {', '.join(vs)}" for d, vs in sorted(meta["datasets_left_out"].items())]
    lines += published_splits_section(meta.get("published_splits", {}))
    lines += [
        "",
        "## Patients per dataset, split and stratum (label)",
        "",
        "| dataset | split | stratum | patients |",
        "|---|---|---|---|",
    ]
    counts = splits.groupby(["dataset", "split", "stratum"]).patient_id.nunique()
    for (dataset, split, stratum), n in counts.items():
        lines.append(f"| {dataset} | {split} | `{stratum}` | {n} |")
    lines += ["", "## Contents", "", "| table | rows |", "|---|---|"]
    lines += [f"| `{name}` | {len(frame)} |" for name, frame in sorted(frames.items())]
    lines += [
        "",
        "`manifest.json` lists every file with its size and sha256 (`breastcurate pull` verifies them).",
        "",
        "## Loading",
        "",
        "```python",
        "import pandas as pd",
        "splits = pd.read_parquet('splits.parquet')",
        "images = pd.read_parquet('tables/images')  # all datasets",
        "```",
        "",
        "```python",
        "import duckdb",
        "con = duckdb.connect('catalog.duckdb', read_only=True)",
        'con.sql("SELECT split, count(*) FROM splits GROUP BY 1").show()',
        "```",
        "",
        "`catalog.duckdb` holds the tables themselves: open it from any folder, with any DuckDB client (e.g. "
        "`duckdb -readonly catalog.duckdb`). Image paths in the tables are relative to the release folder.",
        "",
    ]
    return "\n".join(lines)
