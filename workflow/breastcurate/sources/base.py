"""The dataset adapter: the one extension point. Stages call these methods and never branch on dataset names.

An adapter only reads: the native layout, the native tables and codes, the series naming. The demo mirror that
imitates a dataset lives in `breastcurate.demo.<key>`; the evidence for every fact an adapter relies on is in
`docs/sources/<key>.md`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd

from ..codes import Codes
from ..errors import BreastcurateError, NativeTableError
from ..roles import RoleRule

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: Columns of `image_boxes`: one row per 2-D box, 0-based half-open, at the mirror path of its DICOM. `frame` is the
#: pixel frame the source's coordinates are in: `dicom` (the stored pixel grid) or `embed_png` (EMBED's PNG frame:
#: images whose PatientOrientation row direction is P are mirrored left-right, chest wall on the left).
IMAGE_BOX_COLUMNS = ["path", "roi", "xmin", "ymin", "xmax", "ymax", "frame", "labels"]
#: Optional column of `image_boxes`: the mirror path of a binary ROI mask image in the same pixel grid as the
#: mammogram. Its box is then the mask's bounding box (the x/y columns are ignored), the mask becomes a PNG aligned
#: to the canonical image, and the mask's own file is not converted as an image.
MASK_COLUMN = "mask_path"
#: Columns of `volume_boxes`: one row per 3-D box, 0-based half-open: x = DICOM column, y = DICOM row, z = slice in
#: `z_order` (`instance`: InstanceNumber order of the series' files; `position`: sorted along the slice normal).
VOLUME_BOX_COLUMNS = ["native_patient_id", "roi", "x0", "x1", "y0", "y1", "z0", "z1", "z_order", "labels"]
#: A BI-RADS assessment alone as a breast outcome (ACR BI-RADS Atlas, 5th ed.: 1 negative, 2 benign, 6 known
#: biopsy-proven malignancy); 0 (incomplete), 3, 4 and 5 decide none (docs/sources/exams.md).
ASSESSMENT_OUTCOME = {1: "normal", 2: "benign", 6: "malignant"}


def assessment_outcomes(out: pd.DataFrame, name: str) -> None:
    """Set `out`'s outcome columns from its `birads` (and `birads_native`, named `name` in outcome_native) where no
    stronger evidence set them already."""
    for column in ("outcome", "outcome_evidence", "outcome_native"):
        if column not in out:
            out[column] = None
    for i, (birads, native) in enumerate(zip(out.birads, out.birads_native)):
        outcome = ASSESSMENT_OUTCOME.get(int(birads)) if pd.notna(birads) else None
        if outcome and pd.isna(out.outcome.iat[i]):
            out.iat[i, out.columns.get_loc("outcome")] = outcome
            out.iat[i, out.columns.get_loc("outcome_evidence")] = "assessment"
            out.iat[i, out.columns.get_loc("outcome_native")] = f"{name}={native}"


#: How a native column is typed in the published file: `int` (whole numbers, nullable Int64), `float` (Float64),
#: `text` (str; a number a spreadsheet stored is written without a spurious `.0`).
NativeType = Literal["int", "float", "text"]


@dataclass(frozen=True)
class BitFlagSeg:
    """A lesion-mask SEG that is a SEG in form only: FRACTIONAL with MaximumFractionalValue 255, each voxel's stored
    byte a set of flags named by a private legend element. The adapter declares the layout its evidence
    establishes; convert/masks.py decodes it (the lesion: voxels with none of the flags set) and rejects a SEG whose
    legend or values do not fit."""

    #: The private data element (gggg,xxee as an int) that holds the legend, one `<8 bits> (<n>) : <name>` a value.
    legend_tag: int
    #: Flag value → the start of its name in the legend ("": a name the evidence does not give).
    flags: Mapping[int, str]
    #: The decoding rule as recorded with each mask (findings.mask_rule).
    rule: str


def read_native(path: Path, types: Mapping[str, NativeType], sheet: str | int = 0, header: int = 0) -> pd.DataFrame:
    """A native table (a sheet of an .xlsx/.xls, or a .csv) with its columns typed as declared, never as pandas
    would guess: cells are read as the file stores them, then each declared column present is converted to its
    type; a cell that does not fit is a NativeTableError naming the file, column and value."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        frame = pd.read_excel(path, sheet_name=sheet, header=header, dtype=object)
    else:
        frame = pd.read_csv(path, header=header, dtype=str, keep_default_na=False, na_values=[""])
    return _typed_frame(path, frame, types)


def read_native_sheets(path: Path, types: Mapping[str, NativeType], header: int = 0) -> dict[str, pd.DataFrame]:
    """Every sheet of a workbook, typed as `read_native` types one (column names with their spaces squashed)."""
    sheets = pd.read_excel(path, sheet_name=None, header=header, dtype=object)
    return {name: _typed_frame(path, frame, types) for name, frame in sheets.items()}


def _typed_frame(path: Path, frame: pd.DataFrame, types: Mapping[str, NativeType]) -> pd.DataFrame:
    frame.columns = [" ".join(str(c).split()) for c in frame.columns]
    for column, kind in types.items():
        if column in frame:
            frame[column] = _typed(path, column, kind, frame[column])
    return frame


def _typed(path: Path, column: str, kind: NativeType, values: pd.Series) -> pd.Series:
    """`values` as `kind`: blanks become nulls; a value that is not of that kind is an error."""
    out: list = []
    for value in values:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
            continue
        text = " ".join(str(value).split())
        try:
            if not text:
                out.append(None)
            elif kind == "text":
                whole = isinstance(value, float) and value.is_integer()
                out.append(str(int(value)) if whole else text)
            elif kind == "int":
                number = float(text)
                if isinstance(value, bool) or not number.is_integer():
                    raise ValueError
                out.append(int(number))
            else:
                out.append(float(text))
        except ValueError:
            raise NativeTableError(f"{path.name}: column {column!r} holds {text!r}, not {kind}") from None
    dtype = {"int": "Int64", "float": "Float64", "text": object}[kind]
    return pd.Series(out, index=values.index, dtype=dtype)


class DatasetAdapter:
    """What a stage needs to know about one dataset. Subclass it in one module under `sources/`."""

    key: ClassVar[str]
    title: ClassVar[str]
    modality: ClassVar[str]  # "MG" (mammography) or "MR" (DCE-MRI)
    license: ClassVar[str]
    #: Whether the licence lets us pass the images on in a release (else releases carry tables and checksums only).
    redistributable: ClassVar[bool] = False
    #: Folders (relative to the mirror root) that hold the DICOM files; every file below them is inventoried.
    image_roots: ClassVar[tuple[str, ...]]
    #: Collections of NCI Imaging Data Commons that hold this dataset (collection_id in IDC's index).
    idc_collections: ClassVar[tuple[str, ...]] = ()
    #: How `source: download` fetches the mirror: each transport the dataset offers (idc, nbia, physionet, s3) with its
    #: defaults. The first is the default; the config's `download.transport` picks another and its block overrides.
    downloads: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Files at the mirror root that the image API does not serve; a download needs their url and sha256 in config.
    supplementary: ClassVar[tuple[str, ...]] = ()
    #: Regexes of descriptions (series/study/protocol, segment labels) that Clean Descriptors may keep.
    descriptor_patterns: ClassVar[tuple[str, ...]] = ()
    #: Why this collection's secondary-capture images carry no burned-in text (e.g. digitized film that the
    #: publisher reviewed and re-saved as secondary capture); None: they are quarantined like any screen capture.
    #: BurnedInAnnotation YES is quarantined regardless.
    secondary_capture_reviewed: ClassVar[str | None] = None
    #: MRI series roles the collection's own naming decides (see roles.py; tried before the generic rules).
    role_rules: ClassVar[tuple[RoleRule, ...]] = ()
    #: Regexes of the SeriesDescription of DICOM SEG series that are lesion masks (become findings and radiomics).
    lesion_masks: ClassVar[tuple[str, ...]] = ()
    #: How the lesion-mask SEGs encode their voxels when they are not standard SEGs (None: read with highdicom).
    bit_flag_seg: ClassVar[BitFlagSeg | None] = None
    #: Native tables harmonization reads: logical name → accepted file names (the first one present is used).
    native_tables: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: Native tables a mirror may lack (used when present).
    optional_tables: ClassVar[frozenset[str]] = frozenset()
    #: The native tables that hold boxes or decide which images are kept (`image_boxes`, `volume_boxes`, `select`):
    #: the listing and the conversion read these; the others only harmonization reads.
    annotation_tables: ClassVar[tuple[str, ...]] = ()
    #: How other curated sets' published split files name this dataset's patients (splits/interop.py): set key →
    #: (regex of their id, matched in full; the native PatientID as a format string of the match's groups: `{0}` the
    #: first group as written, `{n}` it as a number), tried in order.
    published_ids: ClassVar[Mapping[str, tuple[tuple[str, str], ...]]] = {}
    #: How the source names its visits, from their 0-based order (I-SPY: "T{visit}"); None: no names.
    visit_label: ClassVar[str | None] = None

    def box_mirrored(self, frame: str, ds: Dataset) -> bool:
        """Whether a box published in pixel frame `frame` (image_boxes' `frame`) is mirrored left-right against the
        stored pixel grid of the image `ds` (default: a source's boxes are in the stored grid)."""
        return False

    def read(self, method: str, *args: Any) -> pd.DataFrame:
        """What adapter method `method` (image_boxes, volume_boxes, image_labels, finding_labels, clinical,
        demographics) returns, checked against schemas/adapter/<method>.yaml: stages call this, not the method."""
        from .contract import checked

        return checked(self.key, method, getattr(self, method)(*args))

    def native_ids_from(self, published_set: str, source_id: str) -> list[str]:
        """The native PatientIDs that `source_id` of a published split file may name in this dataset (none: not an
        id of this dataset's patients)."""
        found = []
        for pattern, template in self.published_ids.get(published_set, ()):
            match = re.fullmatch(pattern, source_id)
            if match:
                first = match.group(1) if match.groups() else match.group(0)
                found.append(template.format(first, n=int(first) if first.isdigit() else None))
        return found

    def idc_folders(self) -> dict[str, str]:
        """IDC collection id → the mirror's top folder (the TCIA collection name) it is placed under."""
        if len(self.idc_collections) != len(self.image_roots):
            raise BreastcurateError(f"{self.key}: idc_collections and image_roots must pair up")
        return dict(zip(self.idc_collections, self.image_roots))

    def candidate_files(self, root: Path) -> Iterator[Path]:
        """Every file under the image folders, in sorted order (non-DICOM ones end as rejects)."""
        for image_root in self.image_roots:
            base = root / image_root
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                for name in sorted(filenames):
                    yield Path(dirpath) / name

    def path_patient(self, relpath: PurePosixPath) -> str | None:
        """The native patient id carried by a file's path below the mirror root (None: read it from the header)."""
        return None

    def path_view(self, relpath: PurePosixPath) -> tuple[str | None, str | None]:
        """(laterality L/R, view) that a mammogram's path carries, for headers without them (default: none)."""
        return None, None

    def native_patient_id(self, ds: Dataset, relpath: PurePosixPath) -> str:
        """The dataset's own patient identifier for a file: from its path where the layout carries it, else the
        DICOM PatientID."""
        from_path = self.path_patient(relpath)
        if from_path:
            return from_path
        value = ds.get("PatientID")
        if value in (None, ""):
            raise ValueError("no PatientID and the path names no patient")
        return str(value)

    def table_path(self, root: Path, name: str) -> Path:
        """The file of native table `name` in the mirror: the first accepted file name that exists (else the first)."""
        names = self.native_tables[name]
        for candidate in names:
            if (root / candidate).exists():
                return root / candidate
        return root / names[0]

    def table_files(self, root: Path, names: tuple[str, ...] | None = None) -> list[Path]:
        """The files of the native tables `names` (default: all), as jobs that read them declare them."""
        names = tuple(self.native_tables) if names is None else names
        paths = [self.table_path(root, name) for name in names]
        return [p for name, p in zip(names, paths) if name not in self.optional_tables or p.exists()]

    def select(self, root: Path, options: Mapping[str, Any]) -> dict[str, str]:
        """Mirror paths the config's `select` block leaves out, with the reason (MG datasets: image types, spot and
        magnification views)."""
        return {}

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """2-D finding boxes from the native tables (`IMAGE_BOX_COLUMNS`; `labels` a JSON object of native values)."""
        return pd.DataFrame(columns=IMAGE_BOX_COLUMNS)

    def volume_boxes(self, root: Path) -> pd.DataFrame:
        """3-D lesion boxes from the native tables (`VOLUME_BOX_COLUMNS`)."""
        return pd.DataFrame(columns=VOLUME_BOX_COLUMNS)

    # --- harmonization: native tables → canonical columns (schemas/tables); `codes` keeps natives, rejects unknowns

    def image_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Per mirror `path`: image_type, spot_mag, birads, density, official_split (+ `_native` columns)."""
        return pd.DataFrame(columns=["path"])

    def finding_labels(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Per (`path`, `roi`) of `image_boxes`: category, birads, pathology (+ `_native`)."""
        return pd.DataFrame(columns=["path", "roi"])

    def clinical(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Per `native_patient_id`: the clinical table's columns (+ `_native`)."""
        return pd.DataFrame(columns=["native_patient_id"])

    def demographics(self, root: Path, codes: Codes) -> pd.DataFrame:
        """Per `native_patient_id`: race, ethnicity (+ `_native`)."""
        return pd.DataFrame(columns=["native_patient_id"])

    def person_key(self, native_patient_id: str) -> str:
        """A key equal across datasets for the same person (default: the native id, e.g. a TCIA patient id)."""
        return native_patient_id
