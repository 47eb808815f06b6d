"""`breastcurate.data` on the demo run and on a pulled release, with CPU torch and MONAI: batches of the expected
shapes and labels, boxes on their lesions in every variant's grid, masks on the enhancing lesion, the
documented training loops."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from breastcurate.data import DCEDataset, MammogramDataset, collate, items
from breastcurate.errors import BreastcurateError
from conftest import REPO, run_cli
from scipy import ndimage


@pytest.fixture(scope="module")
def roots(demo_run, tmp_path_factory):
    """The demo results folder, and release v1 of a copy of it pulled into another folder."""
    work = demo_run[0]
    copy = tmp_path_factory.mktemp("data") / "results"
    shutil.copytree(work / "results", copy, ignore=shutil.ignore_patterns("raw", "deid"))
    run_cli(
        "release", "v1", "--results", str(copy), "--config", str(REPO / "config/config.yaml"),
        "--versions", str(REPO / "config/splits.yaml"),
    )  # fmt: skip
    pulled = copy.parent / "pulled"
    run_cli("pull", "--from", str(copy / "releases"), "--version", "v1", "--to", str(pulled))
    return {"results": work / "results", "release": pulled}


def _on_lesion(image: np.ndarray, box: list[float]) -> tuple[float, float]:
    """How bright the box is, and the same box mirrored left-right, against the breast (the demo's lesions add a
    bright blob exactly where their box is): smoothed maximum over the 95th percentile of breast pixels."""
    smooth = ndimage.gaussian_filter(image, 2)
    breast = np.percentile(smooth[image > 0.25 * image.max()], 95)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    width = image.shape[1]
    return smooth[y0:y1, x0:x1].max() / breast, smooth[y0:y1, width - x1 : width - x0].max() / breast


@pytest.mark.parametrize("where", ["results", "release"])
def test_mammograms_batches_boxes_and_labels(roots, where):
    root = roots[where]
    splits = pd.read_parquet(root / ("curated/splits/v1.parquet" if where == "results" else "splits.parquet"))
    # a release carries no VinDr-Mammo or EMBED images (their licences): those records are left out, with a warning
    with_images = ["vindr_mammo", "embed", "cbis_ddsm"] if where == "results" else ["cbis_ddsm"]
    checked = 0
    for variant in ("canonical", "voi8_1024"):
        for split in ("train", "val", "test"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                data = MammogramDataset(root, "v1", split, variant=variant)
            mg = splits[(splits.split == split) & splits.dataset.isin(with_images)]
            assert {r["patient_id"] for r in data.records} == set(mg.patient_id)
            if where == "release" and {"vindr_mammo", "embed"} & set(splits[splits.split == split].dataset):
                assert any("not in this folder" in str(w.message) for w in caught)
            for item in data:
                image = item["image"]
                assert image.dtype == torch.float32 and image.shape[0] == 1 and 0 <= image.min() <= image.max() <= 1
                assert image.max() > 0.5  # the source's range fills [0, 1]
                for box in item["boxes"].tolist():  # each box marks the demo's lesion, in this variant's grid
                    here, mirrored = _on_lesion(image[0].numpy(), box)
                    assert mirrored < here, (variant, item["ids"], box)
                    if item["ids"]["dataset"] != "cbis_ddsm":  # CBIS-DDSM's ROI masks may cover faint calcifications
                        assert here > 1.0, (variant, item["ids"], box)
                    checked += 1
    assert checked >= 8

    loader = torch.utils.data.DataLoader(MammogramDataset(root, "v1", "train"), batch_size=3, collate_fn=collate)
    batch = next(iter(loader))
    images = batch["image"]
    shapes = {tuple(i.shape) for i in images}
    assert len(images) == 3 and all(len(s) == 3 and s[0] == 1 for s in shapes)
    assert len(batch["boxes"]) == 3 and all(b.shape[1:] == (4,) for b in batch["boxes"])
    assert set(batch["labels"]) == {"birads", "density", "categories", "pathology", "finding_birads"}
    assert all(b is None or 0 <= b <= 6 for b in batch["labels"]["birads"])
    assert all(d is None or d in "ABCD" for d in batch["labels"]["density"])


@pytest.mark.parametrize("where", ["results", "release"])
def test_dce_studies_and_monai_items(roots, where):
    root = roots[where]
    data = DCEDataset(root, "v1", "train")
    assert len(data) > 0
    loader = torch.utils.data.DataLoader(data, batch_size=1, collate_fn=collate)
    for batch in loader:
        image, mask = batch["image"], batch["mask"]
        assert image.shape[:2] == (1, 3) and mask.shape == (1, 1, *image.shape[2:]) and mask.dtype == torch.uint8
        enhancement = (image[0, 1] - image[0, 0]).numpy()
        inside = mask[0, 0].numpy() > 0
        assert inside.any() and enhancement[inside].mean() > 10 * abs(enhancement[~inside].mean())
        assert batch["labels"]["pcr"][0] in (0, 1, None) and batch["labels"]["hr"][0] in (0, 1, None)

    from monai.data import DataLoader, Dataset
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

    mr = items(root, "v1", "train", "MR")
    assert len(mr) == len(data) and all(len(m["image"]) == 3 for m in mr)
    load = Compose([LoadImaged(keys=["image", "label"], image_only=True), EnsureChannelFirstd(keys=["label"])])
    batch = next(iter(DataLoader(Dataset(mr, transform=load), batch_size=1)))
    first = data[0]
    assert batch["image"].shape[1] == 3 and batch["label"].shape[1] == 1
    assert batch["image"].shape[2:] == first["image"].shape[1:][::-1]  # MONAI reads (x, y, z), we give (z, y, x)
    assert int(batch["label"].sum()) == int(first["mask"].sum())
    mg = items(root, "v1", "train", "MG")
    assert mg and all(set(m) >= {"image", "boxes", "birads", "density"} for m in mg)


@pytest.mark.parametrize("page,heading", [("README.md", "## A first release"), ("docs/training.md", "# Training")])
def test_documented_training_loop_runs(demo_run, page, heading):
    """The training loop of the README and of the training page runs on the demo, from the checkout."""
    text = (REPO / page).read_text()
    section = text[text.index(heading) :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], cwd=demo_run[0], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\d+ mammograms, last loss \d+\.\d+", proc.stdout)


@pytest.mark.parametrize("size", [None, (300, 240)])
def test_exam_batches_stack_the_views_with_present_flags_labels_and_boxes_on_their_lesions(roots, size):
    from breastcurate.data import ExamDataset

    root = roots["results"]
    views = ("L-CC", "L-MLO", "R-CC", "R-MLO")
    data = ExamDataset(root, "v1", "train", views=views, size=size)
    records = {r["exam_id"]: r for r in data.records}
    assert data.records and {r["dataset"] for r in data.records} >= {"vindr_mammo"}
    loader = torch.utils.data.DataLoader(data, batch_size=len(data), collate_fn=collate)
    batch = next(iter(loader))
    assert batch["image"].shape[:2] == (len(data), 4) and batch["present"].dtype == torch.bool
    if size:
        assert tuple(batch["image"].shape[2:]) == size
    on_lesion = 0
    for k, exam_id in enumerate(batch["ids"]["exam_id"]):
        record = records[exam_id]
        for v, view in enumerate(views):
            shown = record["views"][view]
            assert bool(batch["present"][k, v]) == (shown is not None)
            if shown is None:
                assert float(batch["image"][k, v].abs().sum()) == 0.0
                continue
            assert batch["ids"]["image_uids"][k][v] == shown["image_uid"]
            for box in batch["boxes"][k][v].tolist():
                inside, mirrored = _on_lesion(batch["image"][k, v].numpy(), box)
                assert inside > mirrored, (exam_id, view, box)
                assert inside > 1.0 or record["dataset"] == "cbis_ddsm", (exam_id, view, box)  # faint calcifications
                on_lesion += 1
        for side in "LR":  # labels are the breasts table's, per side
            assert batch["labels"][side]["outcome"][k] == record["breasts"][side]["outcome"]
    assert on_lesion > 0
    complete = ExamDataset(root, "v1", "train", views=views, complete_only=True)
    assert all(r["complete_screening_views"] for r in complete.records) and len(complete) <= len(data)


def test_exam_priors_and_dce_visits(roots):
    from breastcurate.data import ExamDataset

    root = roots["results"]
    with_priors, visited = [], 0
    for split in ("train", "val", "test"):
        data = ExamDataset(root, "v1", split, priors=1, size=(128, 104))
        for k in range(len(data)):
            item = data[k]
            assert item["prior"]["image"].shape == item["image"].shape
            if data.records[k]["prior_exam_id"]:
                with_priors.append(item["prior"]["ids"]["days_since_prior"])
                assert item["prior"]["present"].any()
            else:
                assert not item["prior"]["present"].any()
        visits = DCEDataset(root, "v1", split, phases=("pre", "post_1"), with_mask=False, visits=("T0", "T1"))
        visited += len(visits)
        for k in range(len(visits)):
            item = visits[k]
            assert item["ids"]["visit_label"] == "T0" and set(item["visits"]) == {"T0", "T1"}
            assert item["visits"]["T1"]["ids"]["patient_id"] == item["ids"]["patient_id"]
            assert item["visits"]["T1"]["ids"]["exam_id"] != item["ids"]["exam_id"]
    assert with_priors and all(d >= 1 for d in with_priors) and visited > 0


@pytest.mark.parametrize("page", ["README.md", "docs/training.md"])
def test_documented_multi_view_loop_runs(demo_run, page):
    """The multi-view training loop (ExamDataset with priors) of the README and the training page runs on the demo."""
    text = (REPO / page).read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index("Multi-view and longitudinal") :], re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], cwd=demo_run[0], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"[1-9]\d* exams, last loss \d+\.\d+", proc.stdout)


@pytest.mark.parametrize("where", ["results", "release"])
def test_monai_items_load_in_the_datasets_order(roots, where):
    """`load_transform` loads `items()` with the channels and axes of MammogramDataset and DCEDataset; mammogram
    items take the README's LoadImaged keys with `with_mask` (their ROI masks as `label`)."""
    from breastcurate.data import load_transform
    from monai.data import Dataset
    from monai.transforms import LoadImaged

    root = roots[where]
    mr = items(root, "v1", "train", "MR", phases=("post_1", "pre"))
    dce = DCEDataset(root, "v1", "train", phases=("post_1", "pre"))
    assert mr and len(mr) == len(dce)
    loaded, item = Dataset(mr, transform=load_transform("MR"))[0], dce[0]
    assert tuple(loaded["image"].shape) == tuple(item["image"].shape)
    assert np.allclose(np.asarray(loaded["image"]), item["image"].numpy())  # the same phase in each channel
    assert np.array_equal(np.asarray(loaded["label"]).max(axis=0) > 0, item["mask"][0].numpy() > 0)

    mg = items(root, "v1", "train", "MG")
    assert mg and all("label" not in m and m["image_type"] in ("2d", "synthetic2d") for m in mg)
    data = MammogramDataset(root, "v1", "train")
    loaded = Dataset(mg, transform=load_transform("MG", keys=["image"]))[0]
    assert tuple(loaded["image"].shape) == tuple(data[0]["image"].shape)
    masked = items(root, "v1", "train", "MG", with_mask=True)
    assert masked and all(m["label"] and m["dataset"] == "cbis_ddsm" for m in masked)
    readme = Dataset(masked, transform=LoadImaged(keys=["image", "label"], image_only=True))[0]
    assert readme["image"].shape[-2:] == readme["label"].shape[-2:]


def test_cbis_ddsm_masks_and_image_types_from_the_mammogram_dataset(roots):
    data = MammogramDataset(roots["results"], "v1", "train", with_mask=True)
    assert len(data) > 0
    for item in data:
        assert item["ids"]["dataset"] == "cbis_ddsm" and item["ids"]["image_type"] == "2d"
        mask = item["mask"]
        assert mask.dtype == torch.uint8 and mask.shape == item["image"].shape and mask.sum() > 0
    assert all(item["ids"]["image_type"] for item in MammogramDataset(roots["results"], "v1", "test"))
    with pytest.raises(BreastcurateError, match="canonical grid"):
        MammogramDataset(roots["results"], "v1", "train", variant="voi8_1024", with_mask=True)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda r: MammogramDataset(r, "v1", "train", variant="voi8"), "'voi8'"),
        (lambda r: DCEDataset(r, "v1", "train", phases=("pre", "post_9")), "'post_9'"),
        (lambda r: items(r, "v1", "trian", "MG"), "'trian'"),
        (lambda r: items(r, "v1", "train", "MR", phases=("pre", "post1")), "'post1'"),
        (lambda r: items(r, "v7", "train", "MG"), "'v7'"),
    ],
    ids=["variant", "phase", "split", "phase in items", "version"],
)
def test_unknown_names_are_errors_not_empty_splits(roots, make, name):
    with pytest.raises(BreastcurateError) as err:
        make(roots["results"])
    assert name in str(err.value)
