"""The dataset adapter: the one extension point. Stages call these methods and never branch on dataset names."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import ClassVar, Iterator

import pandas as pd
from pydicom.dataset import Dataset

#: Columns of `image_boxes`: one row per 2-D box, 0-based half-open in the stored pixel grid of the DICOM at `path`.
IMAGE_BOX_COLUMNS = ["path", "roi", "xmin", "ymin", "xmax", "ymax", "labels"]
#: Columns of `volume_boxes`: one row per 3-D box, 0-based half-open voxel indices (column, row, slice sorted along
#: the slice normal) in the grid of the patient's `pre` phase.
VOLUME_BOX_COLUMNS = ["native_patient_id", "roi", "x0", "x1", "y0", "y1", "z0", "z1", "labels"]


class DatasetAdapter:
    """What a stage needs to know about one dataset. Subclass it in one module under `sources/`."""

    key: ClassVar[str]
    title: ClassVar[str]
    modality: ClassVar[str]  # "MG" (mammography) or "MR" (DCE-MRI)
    license: ClassVar[str]
    #: Whether the licence lets us pass the images on in a release (else releases carry tables and checksums only).
    redistributable: ClassVar[bool] = False
    #: Folder (relative to the mirror root) that holds the DICOM files; every file below it is inventoried.
    image_root: ClassVar[str]
    #: How `source: download` fetches the mirror: transport (nbia, physionet, s3) and its defaults, overlaid by the
    #: config's `download` block.
    download: ClassVar[dict] = {}
    #: Files at the mirror root that the image API does not serve; a download needs their url and sha256 in config.
    supplementary: ClassVar[tuple[str, ...]] = ()
    #: Regexes of descriptions (series/study/protocol, segment labels) that Clean Descriptors may keep.
    descriptor_patterns: ClassVar[tuple[str, ...]] = ()

    def candidate_files(self, root: Path) -> Iterator[Path]:
        """Every file under the image folder, in sorted order (non-DICOM ones end as rejects)."""
        base = root / self.image_root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                yield Path(dirpath) / name

    def native_patient_id(self, ds: Dataset, relpath: PurePosixPath) -> str:
        """The dataset's own patient identifier for a file (default: the DICOM PatientID)."""
        return str(ds.PatientID)

    def image_boxes(self, root: Path) -> pd.DataFrame:
        """2-D finding boxes from the native tables (`IMAGE_BOX_COLUMNS`; `labels` a JSON object of native values)."""
        return pd.DataFrame(columns=IMAGE_BOX_COLUMNS)

    def volume_boxes(self, root: Path) -> pd.DataFrame:
        """3-D lesion boxes from the native tables (`VOLUME_BOX_COLUMNS`)."""
        return pd.DataFrame(columns=VOLUME_BOX_COLUMNS)

    # --- harmonization: native tables → canonical columns (schemas/tables); `codes` keeps natives, rejects unknowns

    def image_labels(self, root: Path, codes) -> pd.DataFrame:
        """Per mirror `path`: image_type, birads, density, official_split (+ `_native` columns)."""
        return pd.DataFrame(columns=["path"])

    def finding_labels(self, root: Path, codes) -> pd.DataFrame:
        """Per (`path`, `roi`) of `image_boxes`: category, birads, pathology (+ `_native`)."""
        return pd.DataFrame(columns=["path", "roi"])

    def clinical(self, root: Path, codes) -> pd.DataFrame:
        """Per `native_patient_id`: the clinical table's columns (+ `_native`)."""
        return pd.DataFrame(columns=["native_patient_id"])

    def demographics(self, root: Path, codes) -> pd.DataFrame:
        """Per `native_patient_id`: race, ethnicity (+ `_native`)."""
        return pd.DataFrame(columns=["native_patient_id"])

    def person_key(self, native_patient_id: str) -> str:
        """A key equal across datasets for the same person (default: the native id, e.g. a TCIA patient id)."""
        return native_patient_id

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        """Write a synthetic mirror in the native layout under `out`; patient k depends only on seed and k."""
        raise NotImplementedError
