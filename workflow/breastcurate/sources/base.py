"""The dataset adapter: the one extension point. Stages call these methods and never branch on dataset names."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import ClassVar, Iterator

from pydicom.dataset import Dataset


class DatasetAdapter:
    """What a stage needs to know about one dataset. Subclass it in one module under `sources/`."""

    key: ClassVar[str]
    title: ClassVar[str]
    modality: ClassVar[str]  # "MG" (mammography) or "MR" (DCE-MRI)
    license: ClassVar[str]
    #: Folder (relative to the mirror root) that holds the DICOM files; every file below it is inventoried.
    image_root: ClassVar[str]
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

    def write_demo(self, out: Path, patients: int, seed: int) -> None:
        """Write a synthetic mirror in the native layout under `out`; patient k depends only on seed and k."""
        raise NotImplementedError
