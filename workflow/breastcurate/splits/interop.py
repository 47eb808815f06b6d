"""Split interop with other curated sets drawn from the same TCIA patients (MAMA-MIA, BreastDCEDL).

Their published split files name patients in their own id schemes. `map_published` reads them, maps every id to the
native TCIA PatientID of one of our datasets and, through the restricted linkage tables, to its pseudonym; the result
(`restricted/external_splits.parquet`) links native ids, so it stays in the restricted zone. The splits step reads
only its pseudonymous columns: a version with `align_with` keeps their test patients in our test, and every split
card reports how our splits overlap theirs. Sources, formats and licences: `published/README.md`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import sha256_file
from ..errors import BreastcurateError
from ..sources import adapters
from ..tables import read_parts, table_schema, write_table

PUBLISHED = Path(__file__).resolve().parent / "published"
SPLITS = ("train", "val", "test")

#: status of a published id
MATCHED, NOT_IN_CATALOG, NOT_CURATED, UNRECOGNISED = "matched", "not_in_catalog", "cohort_not_curated", "unrecognised"


@dataclass(frozen=True)
class Published:
    """One curated set's published split: where it is, how to read it, how its ids name TCIA patients."""

    title: str
    license: str
    where: str  # where the set publishes its split file
    shipped: str | None  # file under published/ (None: not redistributable or not reachable; users supply it)
    read: Callable[[Path], pd.DataFrame]  # → columns source_id, cohort, source_split
    not_curated: str | None = None  # regex of the ids of cohorts not curated here


def _read_csv(path: Path, required: set[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BreastcurateError(f"{path}: not a readable CSV file ({exc})") from None
    missing = required - set(frame.columns)
    if missing:
        raise BreastcurateError(f"{path}: missing column(s) {sorted(missing)}; found {list(frame.columns)}")
    return frame


def read_mama_mia(path: Path) -> pd.DataFrame:
    """`train_test_splits.csv`: two columns of patient ids, `train_split` and `test_split`, of different lengths
    (the shorter padded with empty cells)."""
    frame = _read_csv(path, {"train_split", "test_split"})
    rows = [
        {"source_id": value.strip(), "cohort": value.strip().split("_")[0].upper(), "source_split": split}
        for column, split in (("train_split", "train"), ("test_split", "test"))
        for value in frame[column]
        if value.strip()
    ]
    return pd.DataFrame(rows, columns=["source_id", "cohort", "source_split"])


#: MAMA-MIA's cohort Breast-MRI-NACT-Pilot (NACT_<n>) is not curated here.
MAMA_MIA_NOT_CURATED = r"(?i)NACT_\d+"


#: BreastDCEDL's `test` codes. 1 = test and 2 = validation: its README's pCR-labelled counts per split (1,099
#: training, 176 validation, 177 test) are exactly the counts of codes 0, 2 and 1 in the file (published/README.md).
BREASTDCEDL_SPLIT = {"0": "train", "1": "test", "2": "val"}


def read_breastdcedl(path: Path) -> pd.DataFrame:
    """`BreastDCEDL_metadata.csv` (or a per-cohort metadata file): native ids in `pid`, the split code in `test`
    (0, 1, 2, written 0.0 …; empty: in no split)."""
    frame = _read_csv(path, {"pid", "test"})
    codes = frame.test.str.strip().str.replace(r"\.0+$", "", regex=True)
    unknown = sorted(set(codes) - set(BREASTDCEDL_SPLIT) - {""})
    if unknown:
        raise BreastcurateError(f"{path}: unknown split codes in column test: {unknown} (expected 0, 1, 2)")
    cohort = frame["dataset"] if "dataset" in frame else pd.Series([""] * len(frame))
    out = pd.DataFrame(
        {"source_id": frame.pid.str.strip(), "cohort": cohort.str.strip(), "source_split": codes.map(BREASTDCEDL_SPLIT)}
    )
    return out[out.source_split.notna()].reset_index(drop=True)


SOURCES = {
    "mama_mia": Published(
        title="MAMA-MIA (Garrucho et al., Sci Data 2025)",
        license="CC BY-NC 4.0",
        where="Synapse syn60868042 (train_test_splits.csv; a Synapse account is needed)",
        shipped=None,
        read=read_mama_mia,
        not_curated=MAMA_MIA_NOT_CURATED,
    ),
    "breastdcedl": Published(
        title="BreastDCEDL (Fridman et al., Sci Data 2026)",
        license="CC BY 4.0",
        where="github.com/naomifridman/BreastDCEDL (BreastDCEDL_metadata.csv, column test)",
        shipped="breastdcedl.csv",
        read=read_breastdcedl,
    ),
}


def natives(key: str, source_id: str) -> list[tuple[str, str]] | None:
    """The (dataset, native PatientID) pairs a published id of set `key` may name, from each adapter's
    `published_ids`; None for a cohort not curated here; empty for an id nobody recognises."""
    found = [(d, n) for d, adapter in sorted(adapters().items()) for n in adapter.native_ids_from(key, source_id)]
    pattern = SOURCES[key].not_curated
    return None if not found and pattern and re.fullmatch(pattern, source_id) else found


def source_files(configured: dict[str, str | None]) -> dict[str, Path]:
    """The split file of every set that has one: the configured path, else the copy shipped in the package."""
    unknown = set(configured) - set(SOURCES)
    if unknown:
        raise BreastcurateError(f"external_splits: unknown set(s) {sorted(unknown)}; known: {sorted(SOURCES)}")
    files = {}
    for key, source in SOURCES.items():
        given = configured.get(key)
        if given:
            if not Path(given).is_file():
                raise BreastcurateError(f"external_splits.{key}: {given} does not exist")
            files[key] = Path(given)
        elif source.shipped:
            files[key] = PUBLISHED / source.shipped
    return files


def map_published(files: dict[str, Path], linkage_files: list[Path], out: Path) -> pd.DataFrame:
    """Map every published id to a native id of ours and its pseudonym; write the restricted table `out`."""
    linkage = read_parts([Path(f) for f in linkage_files], "linkage")
    pseudonym = {
        (d, n): p for d, n, p in zip(linkage.dataset, linkage.native_patient_id, linkage.patient_id, strict=True)
    }
    rows = []
    for key, path in sorted(files.items()):
        source, digest = SOURCES[key], sha256_file(path)
        listed = source.read(path)
        duplicated = listed[listed.source_id.duplicated(keep=False)]
        if len(duplicated):
            conflicting = duplicated.groupby("source_id").source_split.nunique()
            if (conflicting > 1).any():
                ids = ", ".join(conflicting[conflicting > 1].index[:3])
                raise BreastcurateError(f"{path}: patient(s) listed in two splits: {ids}")
        for row in listed.drop_duplicates("source_id").itertuples(index=False):
            candidates = natives(key, row.source_id)
            found = [(d, n) for d, n in candidates or [] if (d, n) in pseudonym]
            if candidates is None:
                status, dataset, native, patient = NOT_CURATED, None, None, None
            elif not candidates:
                status, dataset, native, patient = UNRECOGNISED, None, None, None
            elif found:
                (dataset, native), status = found[0], MATCHED
                patient = pseudonym[found[0]]
            else:
                (dataset, native), status, patient = candidates[0], NOT_IN_CATALOG, None
            rows.append(
                {
                    "source": key,
                    "source_id": row.source_id,
                    "cohort": row.cohort,
                    "source_split": row.source_split,
                    "dataset": dataset,
                    "native_patient_id": native,
                    "patient_id": patient,
                    "status": status,
                    "file_sha256": digest,
                }
            )
    frame = pd.DataFrame(rows, columns=table_schema("external_splits").names)
    write_table(out, "external_splits", frame, private=True)
    return frame


def pseudonymous(external: pd.DataFrame) -> pd.DataFrame:
    """The columns the curated zone may see: which of our patients each set puts on which side."""
    return external[["source", "source_split", "dataset", "patient_id", "status", "file_sha256"]]
