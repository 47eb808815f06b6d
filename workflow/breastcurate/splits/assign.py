"""Assign patients to train/val/test per split version, stably, and refuse to move a frozen (released) version.

A person's position u = HMAC-SHA256(salt, person_id) / 2^256 is uniform in [0, 1); the split is the ratio interval u
falls in. It depends on nothing else, so adding patients never moves anyone, and a person in two datasets has one
split. Strata are independent under this rule, so each stratum's achieved ratios converge to the targets; they are
reported per stratum and checked where a stratum is large enough. (Rank-based balancing inside a stratum would move
existing patients whenever new ones arrive, which a frozen version forbids.)
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
from ..errors import BreastcurateError
from ..layout import SCHEMAS, Layout
from ..tables import read_table, table_schema

SPLITS = ("train", "val", "test")
DEFAULTS = {"stratify": {}, "official_splits": True, "accepts_additions": True, "tolerance": 0.1, "min_stratum": 50}


class FrozenSplitError(BreastcurateError):
    """A run would change a released split version."""


def load_versions(path: Path) -> dict[str, dict]:
    """config/splits.yaml, validated, with defaults filled in."""
    data = yaml.safe_load(Path(path).read_text())
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


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def position(salt: str, person_id: str) -> float:
    digest = hmac.new(salt.encode(), person_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest, "big") / 2**256


def patient_strata(results: Path, stratify: dict[str, list[str]]) -> pd.DataFrame:
    """One row per patient: person, modality, stratum string and the source's official split."""
    results = Path(results)
    patients = read_table(results, "patients")
    studies = read_table(results, "studies")
    images = read_table(results, "images")
    images = images[images.variant == "canonical"]
    clinical = read_table(results, "clinical").set_index(["dataset", "patient_id"])
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


def assign(settings: dict, strata: pd.DataFrame) -> pd.DataFrame:
    """The split of every patient under one version's settings."""
    ratios = settings["ratios"]
    frame = strata.copy()
    frame["u"] = [position(settings["salt"], p) for p in frame.person_id]
    official_test = set(frame.person_id[frame.official_split == "test"]) if settings["official_splits"] else set()
    official = set(frame.person_id[frame.official_split.notna()]) if settings["official_splits"] else set()
    train_share = ratios["train"] / ((ratios["train"] + ratios["val"]) or 1)
    splits = []
    for person, u in zip(frame.person_id, frame.u):
        if person in official_test:
            splits.append("test")
        elif person in official:  # the source's training set is split into train and val
            splits.append("train" if u < train_share else "val")
        else:
            splits.append(
                "train" if u < ratios["train"] else ("val" if u < ratios["train"] + ratios["val"] else "test")
            )
    frame["split"] = splits
    return frame


def report(settings: dict, assigned: pd.DataFrame) -> dict:
    """Achieved ratios per dataset and stratum, and which strata are large enough to check against the tolerance."""
    out = {
        "ratios": settings["ratios"],
        "tolerance": settings["tolerance"],
        "min_stratum": settings["min_stratum"],
        "strata": [],
    }
    for (dataset, stratum), group in assigned.groupby(["dataset", "stratum"], sort=True):
        persons = group.drop_duplicates("person_id")
        n = len(persons)
        achieved = {s: round(float((persons.split == s).mean()), 4) for s in SPLITS}
        checked = n >= settings["min_stratum"] and not persons.official_split.notna().any()
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


def frozen_release(results: Path, version: str) -> tuple[pd.DataFrame, str] | None:
    """The released assignment of `version` and the settings hash it was released with, if it was released."""
    folder = Layout(results).release(version)
    if not (folder / "release.json").exists():
        return None
    meta = json.loads((folder / "release.json").read_text())
    return pd.read_parquet(folder / "splits.parquet"), meta["split_settings_sha256"]


def build_splits(results: Path, versions_file: Path) -> dict[str, pd.DataFrame]:
    """Write curated/splits/<version>.parquet and .json for every version; stop if a frozen one would change."""
    results = Path(results)
    built = {}
    for version, settings in load_versions(versions_file).items():
        assigned = assign(settings, patient_strata(results, settings["stratify"]))
        frozen = frozen_release(results, version)
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
        write_parquet_if_changed(Layout(results).split(version), schema.to_arrow(assigned))
        write_bytes(
            Layout(results).split_card(version),
            json.dumps(report(settings, assigned), indent=2, sort_keys=True).encode() + b"\n",
        )
        built[version] = assigned
    return built
