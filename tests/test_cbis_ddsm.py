"""CBIS-DDSM, the sixth dataset, through the demo run: persons from image folders, secondary captures kept, cropped
images left out with a reason, and each ROI mask image as a PNG aligned to its canonical mammogram."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from breastcurate.convert.run import ConvertOptions, Output, convert_mammogram
from breastcurate.layout import Layout
from breastcurate.sources import cbis_ddsm
from PIL import Image

DATASET = "cbis_ddsm"


def _tables(results: Path, table: str) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(p) for p in sorted(results.glob(Layout(".").table_glob(table)))).query(
        f"dataset == '{DATASET}'"
    )


def test_persons_images_and_left_out_crops(demo_run):
    results = demo_run[0] / "results"
    raw = Layout(results).raw(DATASET)
    described = cbis_ddsm.read_descriptions(raw)
    images = _tables(results, "images")
    canonical = images[images.variant == "canonical"]
    # TCIA's "patients" are image folders; the persons are the P_ ids (the same person in the mass and calc sets).
    folders = {p.split("/")[1] for p in described.image}
    assert len(folders) > described.patient_id.nunique() == _tables(results, "patients").patient_id.nunique()
    assert len(canonical) == described.image.nunique()  # every full mammogram, and no cropped image or mask
    assert set(canonical.laterality) == {"L", "R"} and set(canonical["view"]) == {"CC", "MLO"}  # from the folders
    assert canonical.density.notna().all() and set(canonical.official_split) == {"train", "test"}
    rejects = _tables(results, "rejects")
    crops = rejects[rejects.stage == "select"]
    assert len(crops) == described.crop.nunique() and crops.reason.str.contains("cropped ROI image").all()
    assert not rejects.stage.isin(["deid", "convert"]).any()  # secondary captures are not quarantined here


def test_roi_masks_align_with_the_canonical_image(demo_run):
    results = demo_run[0] / "results"
    raw = Layout(results).raw(DATASET)
    described = cbis_ddsm.read_descriptions(raw)
    findings = _tables(results, "findings")
    images = _tables(results, "images").set_index(["image_uid", "variant"])
    masks = findings[findings.source == "mask"]
    assert len(masks) == len(described) and (masks.variant == "canonical").all()
    published = sorted(int((pydicom.dcmread(raw / p).pixel_array > 0).sum()) for p in described["mask"])
    assert sorted(masks.voxels) == published  # the published masks, pixel for pixel
    for m in masks.itertuples():
        mask = np.asarray(Image.open(results / m.mask_path)) > 0
        image = np.asarray(Image.open(results / images.loc[(m.image_uid, "canonical")].path))
        assert mask.shape == image.shape and int(mask.sum()) == m.voxels
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (m.xmin, m.ymin, m.xmax, m.ymax)
        assert image[mask].mean() > image[~mask & (image > 0)].mean()  # it covers the (brighter) lesion
    assert findings.pathology.notna().all() and set(findings.category) <= {"mass", "calcification"}
    variants = findings[findings.variant != "canonical"]
    assert len(variants) == len(masks) and variants.mask_path.isna().all()  # variants carry the box only


def test_a_cropped_image_listed_as_the_mask_is_a_reject(demo_root, tmp_path):
    """A mask that is not the mammogram's size (a crop named as the mask) leaves the ROI out, with the reason."""
    root = demo_root / DATASET
    row = cbis_ddsm.read_descriptions(root).iloc[0]
    ds = pydicom.dcmread(root / row.image)
    boxes = cbis_ddsm.ADAPTER.image_boxes(root)
    boxes = boxes[boxes.path == row.image].assign(mask_path=row.crop)
    out = Output(dataset=DATASET, results=tmp_path)
    convert_mammogram(
        root / row.image,
        ds,
        tmp_path / "images/x",
        out,
        ConvertOptions.from_config(None),
        boxes,
        {"source_path": row.image},
        tmp_path / "masks/x",
        lambda p: root / p,
    )
    assert out.rows["images"] and not out.rows["findings"]
    assert any("not a mask of this image" in r["reason"] for r in out.rows["rejects"])
    assert not (tmp_path / "masks").exists()
    assert Image.open(io.BytesIO((tmp_path / "images/x.png").read_bytes())).size == (ds.Columns, ds.Rows)


def test_the_folder_rule_holds_for_every_real_patient_id():
    """IDC's index (pinned idc-index-data): every real CBIS-DDSM PatientID is an image folder the adapter reads,
    1,566 persons behind 6,671 ids, and every file a secondary capture."""
    from pathlib import PurePosixPath

    import duckdb
    import idc_index_data

    index = idc_index_data.IDC_INDEX_PARQUET_FILEPATH
    rows = duckdb.sql(
        f"SELECT DISTINCT PatientID, sop_class_name FROM '{index}' WHERE collection_id = 'cbis_ddsm'"
    ).fetchall()
    adapter = cbis_ddsm.ADAPTER
    persons = {adapter.path_patient(PurePosixPath(cbis_ddsm.COLLECTION, pid, "x.dcm")) for pid, _ in rows}
    views = {adapter.path_view(PurePosixPath(cbis_ddsm.COLLECTION, pid, "x.dcm")) for pid, _ in rows}
    assert None not in persons and len({pid for pid, _ in rows}) == 6671 and len(persons) == 1566
    assert views == {(side, view) for side in "LR" for view in ("CC", "MLO")}
    assert {sop for _, sop in rows} == {"Secondary Capture Image Storage"}


def test_the_demo_is_published_like_cbis_ddsm(demo_root):
    """The facts docs/sources/cbis_ddsm.md lists, in the demo mirror."""
    from pydicom.uid import ImplicitVRLittleEndian

    root = demo_root / DATASET
    headers = [pydicom.dcmread(p) for p in sorted((root / cbis_ddsm.COLLECTION).rglob("*.dcm"))]
    assert {str(h.SOPClassUID) for h in headers} == {"1.2.840.10008.5.1.4.1.1.7"}
    assert {h.file_meta.TransferSyntaxUID for h in headers} == {ImplicitVRLittleEndian}
    assert not any(k in h for h in headers for k in ("ImageLaterality", "ViewPosition", "PatientAge", "WindowCenter"))
    per_series = pd.Series([h.SeriesInstanceUID for h in headers]).value_counts()
    assert per_series.max() == 2  # an ROI series with the cropped image and the mask
    headers_of = {name: pd.read_csv(root / f, nrows=0).columns for name, f in cbis_ddsm.TABLES.items()}
    assert "breast_density" in headers_of["mass_train"] and "breast density" in headers_of["calc_train"]
    raw = pd.read_csv(root / cbis_ddsm.TABLES["mass_train"], dtype=str)
    assert raw["ROI mask file path"].str.endswith("\n").all()
