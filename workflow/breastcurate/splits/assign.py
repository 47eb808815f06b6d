"""Assign patients to train/val/test per split version, stably, and refuse to move a frozen (released) version.

A person's position u = HMAC-SHA256(salt, person_id) / 2^256 is uniform in [0, 1); the split is the ratio interval u
falls in. It depends on nothing else, so adding patients never moves anyone, and a person in two datasets has one
split. Strata are independent under this rule, so each stratum's achieved ratios converge to the targets; they are
reported per stratum and checked where a stratum is large enough. (Rank-based balancing inside a stratum would move
existing patients whenever new ones arrive, which a frozen version forbids.)

Sources' own splits pin people: VinDr's official test (`official_splits`) and the test patients of the curated sets a
version is aligned with (`align_with`, splits/interop.py) stay in test; their other patients are split into train and
val by the same rule and never reach test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from ..atomic import write_bytes, write_parquet_if_changed
from ..config import read_yaml
from ..errors import BreastcurateError
from ..layout import SCHEMAS, Layout, Scope
from ..tables import empty_frame, read_table, table_schema
from .interop import SOURCES, pseudonymous

SPLITS = ("train", "val", "test")
DEFAULTS = {"stratify": {}, "official_splits": True, "accepts_additions": True, "tolerance": 0.1, "min_stratum": 50}


class FrozenSplitError(BreastcurateError):
    """A run would change a released split version."""


def load_versions(path: Path) -> dict[str, dict]:
    """config/splits.yaml, validated, with defaults filled in."""
    data = read_yaml(path, "split versions file")
    try:
        jsonschema.validate(data, yaml.safe_load((SCHEMAS / "splits.schema.yaml").read_text()))
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "top level"
        raise BreastcurateError(f"{path}: {where}: {exc.message}") from None
    versions = {}
    for name, block in data["versions"].items():
        total = sum(block["ratios"].values())
        if abs(total - 1) > 1e-9:
            raise BreastcurateError(f"split version {name}: ratios sum to {total}, not 1")
        versions[name] = {**DEFAULTS, **block}
    return versions


def load_external(path: Path) -> dict[str, str | None]:
    """config/splits.yaml's `external_splits`: each set's split file, relative paths taken from the file's folder."""
    data = read_yaml(path, "split versions file") or {}
    given = data.get("external_splits") or {}
    return {k: (str(Path(path).parent / v) if v and not Path(v).is_absolute() else v) for k, v in given.items()}


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def position(salt: str, person_id: str) -> float:
    digest = hmac.new(salt.encode(), person_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest, "big") / 2**256


def patient_strata(layout: Layout, scope: Scope, stratify: dict[str, list[str]]) -> pd.DataFrame:
    """One row per patient of `scope`: person, modality, stratum string and the source's official split."""
    patients = read_table(layout, scope, "patients")
    studies = read_table(layout, scope, "studies")
    images = read_table(layout, scope, "images")
    images = images[images.variant == "canonical"]
    clinical = read_table(layout, scope, "clinical").set_index(["dataset", "patient_id"])
    modality = studies.drop_duplicates(["dataset", "patient_id"]).set_index(["dataset", "patient_id"]).modality
    by_patient = {key: group for key, group in images.groupby(["dataset", "patient_id"])}
    rows = []
    for p in patients.itertuples(index=False):
        key = (p.dataset, p.patient_id)
        kind = modality.get(key, "MG" if key in by_patient else "MR")
        values, official = {}, None
        if kind == "MG" and key in by_patient:
            group = by_patient[key]
            for column in stratify.get("MG", []):
                known = group[column].dropna()
                if column == "birads":
                    values[column] = int(known.max()) if len(known) else None
                else:  # the most frequent value (ties: the last in sort order, e.g. the denser category)
                    counts = known.value_counts()
                    values[column] = max(counts[counts == counts.max()].index) if len(counts) else None
            splits = set(group.official_split.dropna())
            official = "test" if "test" in splits else ("train" if "train" in splits else None)
        elif kind == "MR":
            for column in stratify.get("MR", []):
                value = clinical[column].get(key) if key in clinical.index else None
                values[column] = None if pd.isna(value) else (int(value) if isinstance(value, float) else value)
        stratum = "|".join([kind] + [f"{c}={'na' if v is None else v}" for c, v in values.items()])
        rows.append(
            {
                "dataset": p.dataset,
                "patient_id": p.patient_id,
                "person_id": p.person_id,
                "stratum": stratum,
                "official_split": official,
            }
        )
    return pd.DataFrame(rows, columns=["dataset", "patient_id", "person_id", "stratum", "official_split"])


def aligned_splits(strata: pd.DataFrame, external: pd.DataFrame, sources: list[str]) -> pd.Series:
    """Per patient row: the side the aligned sets put its person on — test if any says test, else val, else train."""
    listed = external[external.source.isin(sources) & (external.status == "matched")]
    rank = {"train": 0, "val": 1, "test": 2}
    keyed = listed.merge(strata[["dataset", "patient_id", "person_id"]], on=["dataset", "patient_id"])
    per_person = keyed.groupby("person_id").source_split.agg(lambda s: max(s, key=rank.__getitem__))
    return strata.person_id.map(per_person)


def assign(settings: dict, strata: pd.DataFrame, external: pd.DataFrame) -> pd.DataFrame:
    """The split of every patient under one version's settings (`external`: the pseudonymous published splits)."""
    ratios = settings["ratios"]
    frame = strata.copy()
    frame["u"] = [position(settings["salt"], p) for p in frame.person_id]
    aligned = settings.get("align_with", [])
    frame["aligned_split"] = aligned_splits(frame, external, aligned) if aligned else pd.Series(None, frame.index)
    official_test = set(frame.person_id[frame.official_split == "test"]) if settings["official_splits"] else set()
    official = set(frame.person_id[frame.official_split.notna()]) if settings["official_splits"] else set()
    official_test |= set(frame.person_id[frame.aligned_split == "test"])
    official |= set(frame.person_id[frame.aligned_split.notna()])
    train_share = ratios["train"] / ((ratios["train"] + ratios["val"]) or 1)
    splits = []
    for person, u in zip(frame.person_id, frame.u):
        if person in official_test:
            splits.append("test")
        elif person in official:  # a source's training set (or an aligned set's train/val) → train and val
            splits.append("train" if u < train_share else "val")
        else:
            splits.append(
                "train" if u < ratios["train"] else ("val" if u < ratios["train"] + ratios["val"] else "test")
            )
    frame["split"] = splits
    return frame


def overlap(settings: dict, assigned: pd.DataFrame, external: pd.DataFrame) -> dict:
    """Per published split: how its ids mapped, and how many of our people on each side it puts on each of its
    sides (people of ours on our test that it trains on would leak into a test of ours, and the reverse)."""
    out = {}
    people = assigned.drop_duplicates(["dataset", "patient_id"])[["dataset", "patient_id", "person_id", "split"]]
    for key in sorted(set(external.source)):
        listed = external[external.source == key]
        keyed = listed[listed.status == "matched"].merge(people, on=["dataset", "patient_id"])
        pairs = keyed.drop_duplicates(["person_id", "source_split"])
        matrix = {ours: {theirs: 0 for theirs in SPLITS} for ours in SPLITS}
        for (ours, theirs), n in pairs.groupby(["split", "source_split"]).person_id.nunique().items():
            matrix[ours][theirs] = int(n)
        out[key] = {
            "title": SOURCES[key].title,
            "license": SOURCES[key].license,
            "file_sha256": str(listed.file_sha256.iloc[0]),
            "aligned": key in settings.get("align_with", []),
            "listed": int(len(listed)),
            "ids": {status: int(n) for status, n in sorted(listed.status.value_counts().items())},
            "overlap": matrix,
            "their_train_or_val_in_our_test": int(
                pairs[(pairs.split == "test") & (pairs.source_split != "test")].person_id.nunique()
            ),
            "their_test_in_our_train_or_val": int(
                pairs[(pairs.split != "test") & (pairs.source_split == "test")].person_id.nunique()
            ),
        }
    return out


def report(settings: dict, assigned: pd.DataFrame, external: pd.DataFrame) -> dict:
    """Achieved ratios per dataset and stratum, which strata are large enough to check against the tolerance, and
    the overlap with every published split at hand."""
    out = {
        "ratios": settings["ratios"],
        "tolerance": settings["tolerance"],
        "min_stratum": settings["min_stratum"],
        "strata": [],
        "published_splits": overlap(settings, assigned, external),
    }
    for (dataset, stratum), group in assigned.groupby(["dataset", "stratum"], sort=True):
        persons = group.drop_duplicates("person_id")
        n = len(persons)
        achieved = {s: round(float((persons.split == s).mean()), 4) for s in SPLITS}
        pinned = persons.official_split.notna() | persons.aligned_split.notna()
        checked = n >= settings["min_stratum"] and not pinned.any()
        within = all(abs(achieved[s] - settings["ratios"][s]) <= settings["tolerance"] for s in SPLITS)
        out["strata"].append(
            {
                "dataset": dataset,
                "stratum": stratum,
                "persons": n,
                "achieved": achieved,
                "checked": checked,
                "within_tolerance": within if checked else None,
            }
        )
    return out


def frozen_release(layout: Layout, version: str) -> tuple[pd.DataFrame, str] | None:
    """The released assignment of `version` and the settings hash it was released with, if it was released (read
    by name: a release is a constraint on the splits, not an input, so releasing re-runs nothing)."""
    folder = layout.release(version)
    if not (folder / "release.json").exists():
        return None
    meta = json.loads((folder / "release.json").read_text())
    return pd.read_parquet(folder / "splits.parquet"), meta["split_settings_sha256"]


def read_external(path: Path | None, versions: dict[str, dict]) -> pd.DataFrame:
    """The pseudonymous columns of the restricted published-splits table; every set a version aligns with must be
    in it (else its split file was never given)."""
    found = path is not None and Path(path).exists()
    external = pseudonymous(pd.read_parquet(path) if found else empty_frame("external_splits"))
    for version, settings in versions.items():
        missing = sorted(set(settings.get("align_with", [])) - set(external.source))
        if missing:
            key = missing[0]
            raise BreastcurateError(
                f"split version {version} aligns with {key}, whose split file is not at hand: "
                f"{SOURCES[key].title} publishes it on {SOURCES[key].where}; name your copy in "
                f"external_splits.{key} of the split versions file"
            )
    return external


def build_splits(
    layout: Layout, scope: Scope, versions_file: Path, external_file: Path | None = None
) -> dict[str, pd.DataFrame]:
    """Write curated/splits/<version>.parquet and .json for every version of `versions_file` over the patients of
    `scope`; stop if a frozen one would change. `external_file`: the align-splits table (default: the restricted zone's, if any)."""
    built = {}
    versions = load_versions(versions_file)
    external = read_external(external_file or layout.external_splits(), versions)
    for version, settings in versions.items():
        assigned = assign(settings, patient_strata(layout, scope, settings["stratify"]), external)
        frozen = frozen_release(layout, version)
        if frozen is not None:
            released, released_hash = frozen
            if released_hash != settings_hash(settings):
                raise FrozenSplitError(
                    f"split version {version} is frozen (released) and its settings in {versions_file} changed "
                    "since; restore them or declare a new version name"
                )
            merged = assigned.merge(
                released[["dataset", "patient_id", "split"]],
                on=["dataset", "patient_id"],
                how="left",
                suffixes=("", "_released"),
            )
            moved = merged[merged.split_released.notna() & (merged.split != merged.split_released)]
            if len(moved):
                examples = ", ".join(
                    f"{r.dataset}/{r.patient_id} {r.split_released}→{r.split}" for r in moved.head(3).itertuples()
                )
                raise FrozenSplitError(
                    f"split version {version} is frozen (released) and this run would move "
                    f"{len(moved)} patient(s): {examples}. Use a new version name."
                )
            if not settings["accepts_additions"]:
                assigned = merged[merged.split_released.notna()]
        assigned = assigned.assign(version=version)
        schema = table_schema("splits")
        write_parquet_if_changed(layout.split(version), schema.to_arrow(assigned))
        write_bytes(
            layout.split_card(version),
            json.dumps(report(settings, assigned, external), indent=2, sort_keys=True).encode() + b"\n",
        )
        built[version] = assigned
    return built
