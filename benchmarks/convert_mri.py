"""MR DICOM → NIfTI on a realistic DCE study (512×512×160, 5 phases in 5 series, Duke's layout): breastcurate's
converter against dcm2niix (PyPI `dcm2niix`) at the same gzip level, plus dicom2nifti and SimpleITK for the record.

Prints one JSON line: {"slices": …, "phases": …, "seconds": {"breastcurate": …, "dcm2niix": …, …}, "ratio": …}
where ratio = breastcurate / dcm2niix; target ≤ 1.2. Arguments: [SIZE] [SLICES] [PHASES], default 512 160 5;
`--smoke`: 64 8 2. breastcurate compresses
a study's phases in parallel on all cores, as the convert rule does with its threads; dcm2niix's internal gzip
(`-z i`) is single-threaded (with pigz installed, `-z y` would use several cores too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from breastcurate.config import section
from breastcurate.convert.run import ConvertOptions, Output, convert_study_files
from breastcurate.demo.dicomgen import uid
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from sizes import parse

LEVEL = section("convert")["gzip_level"]


def make_study(folder: Path, size: int, slices: int, phases: int) -> list[Path]:
    """One series folder per phase: smooth anatomy (a low-resolution random field, upsampled) plus scanner noise,
    int16 values like a real DCE series, brightening phase by phase."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    coarse = ndimage.gaussian_filter(rng.standard_normal((slices // 4, size // 8, size // 8)), 2)
    smooth = ndimage.zoom(coarse, (slices / coarse.shape[0], 8, 8), order=1)
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) or 1) * 700 + 100
    base = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, None).astype(np.int16)
    study = uid("bench-mri", "study")
    series_dirs = []
    for p in range(phases):
        series = uid("bench-mri", "series", p)
        target = folder / f"series_{p + 1}"
        target.mkdir(parents=True)
        volume = base + np.int16(40 * p)
        for k in range(slices):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = uid("bench-mri", p, k)
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = pydicom.Dataset()
            ds.file_meta = meta
            ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
            ds.PatientName, ds.PatientID, ds.Modality = "BENCH^MRI", "BENCH", "MR"
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, uid("bench-mri", "for")
            ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20200101", p + 1, k + 1
            ds.AcquisitionTime = f"10{p * 2:02d}00.000000"
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [-160.0, -160.0, -80.0 + 1.0 * k]
            ds.PixelSpacing, ds.SliceThickness = [0.625, 0.625], 1.0
            ds.RepetitionTime, ds.EchoTime, ds.FlipAngle, ds.MagneticFieldStrength = 5.0, 2.0, 10.0, 3.0
            ds.Rows = ds.Columns = size
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.PixelData = volume[k].tobytes()
            ds.save_as(target / f"{k + 1:04d}.dcm", enforce_file_format=True)
        series_dirs.append(target)
    return series_dirs


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return round(time.perf_counter() - start, 3)


def main(size: int, slices: int, phases: int, smoke: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        series = make_study(tmp / "in", size, slices, phases)
        seconds = {}

        def ours() -> None:
            out = Output(dataset="bench", results=tmp / "ours")
            files = sorted(p for s in series for p in s.iterdir())
            convert_study_files(
                files,
                tmp / "ours",
                tmp / "ours",
                out,
                ConvertOptions.from_config({"gzip_level": LEVEL}, threads=os.cpu_count() or 1),
            )
            assert len(out.rows["volumes"]) == phases, out.rows["rejects"][:3]

        seconds["breastcurate"] = timed(ours)
        dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).with_name("dcm2niix"))
        (tmp / "d2n").mkdir()
        seconds["dcm2niix"] = timed(
            lambda: subprocess.run(
                [dcm2niix, "-z", "i", f"-{LEVEL}", "-b", "y", "-o", str(tmp / "d2n"), str(tmp / "in")],
                check=True,
                capture_output=True,
            )
        )
        try:
            import dicom2nifti

            (tmp / "d2nii").mkdir()
            seconds["dicom2nifti"] = timed(
                lambda: [
                    dicom2nifti.dicom_series_to_nifti(
                        str(s), str(tmp / "d2nii" / f"{s.name}.nii.gz"), reorient_nifti=False
                    )
                    for s in series
                ]
            )
        except Exception as exc:  # recorded, not fatal: the comparison is informative
            seconds["dicom2nifti"] = f"failed: {type(exc).__name__}"
        import SimpleITK as sitk

        def simpleitk() -> None:
            for s in series:
                reader = sitk.ImageSeriesReader()
                reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(s)))
                sitk.WriteImage(reader.Execute(), str(tmp / f"sitk_{s.name}.nii.gz"), True, LEVEL)

        seconds["simpleitk"] = timed(simpleitk)
    print(
        json.dumps(
            {
                "size": size,
                "slices": slices,
                "smoke": smoke,
                "phases": phases,
                "gzip_level": LEVEL,
                "seconds": seconds,
                "ratio": round(seconds["breastcurate"] / seconds["dcm2niix"], 2),
            }
        )
    )


if __name__ == "__main__":
    sizes, smoke = parse(__doc__, {"size": 512, "slices": 160, "phases": 5}, {"size": 64, "slices": 8, "phases": 2})
    main(**sizes, smoke=smoke)
