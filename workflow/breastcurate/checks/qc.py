"""QC figures and tables for `snakemake --report`: counts, thumbnails with boxes and mask outlines, intensity
histograms, reject reasons, check results and tool versions."""

from __future__ import annotations

import importlib.metadata as metadata
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from ..atomic import atomic_path, write_bytes  # noqa: E402
from ..layout import Layout, Scope  # noqa: E402
from .semantic import load_tables  # noqa: E402

TOOLS = [
    "breastcurate",
    "snakemake",
    "pydicom",
    "nibabel",
    "SimpleITK",
    "pyradiomics-bhklab",
    "great-expectations",
    "duckdb",
    "pyarrow",
    "pandas",
    "numpy",
    "pylibjpeg",
    "zlib-ng",
]
#: Figures are drawn for the report's page: at most 960 pixels wide, so that a 1280-pixel window shows them unscaled
#: beside the report's menu, with labels of 11 points (15 pixels) and titles of 13.
DPI = 100
WIDTH_IN = 9.6
LABEL_PT = 11
TITLE_PT = 13
COLUMNS = 3


def counts(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    splits = t["splits"]
    if splits.empty:
        return pd.DataFrame(columns=["version", "dataset", "split", "stratum", "patients"])
    return (
        splits.groupby(["version", "dataset", "split", "stratum"]).patient_id.nunique().rename("patients").reset_index()
    )


def reject_reasons(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rejects = t["rejects"]
    if rejects.empty:
        return pd.DataFrame([{"dataset": "all", "stage": "-", "reason": "no rejects", "inputs": 0}])
    return rejects.groupby(["dataset", "stage", "reason"]).size().rename("inputs").reset_index()


def check_results(summary: Path) -> pd.DataFrame:
    return pd.DataFrame(json.loads(Path(summary).read_text())["validations"])


def versions() -> pd.DataFrame:
    rows = []
    for tool in TOOLS:
        try:
            rows.append({"tool": tool, "version": metadata.version(tool)})
        except metadata.PackageNotFoundError:
            rows.append({"tool": tool, "version": "not installed"})
    return pd.DataFrame(rows)


def _mammo_panel(ax, results: Path, image: pd.Series, boxes: pd.DataFrame) -> None:
    pixels = np.asarray(Image.open(results / image.path)).astype(float)
    low, high = np.percentile(pixels, [1, 99.5])
    ax.imshow(pixels, cmap="gray", vmin=low, vmax=high)
    for b in boxes.itertuples():
        ax.add_patch(
            plt.Rectangle(
                (b.xmin - 0.5, b.ymin - 0.5),
                b.xmax - b.xmin,
                b.ymax - b.ymin,
                fill=False,
                edgecolor="red",
                linewidth=1.2,
            )
        )
    birads = "?" if pd.isna(image.birads) else int(image.birads)
    ax.set_title(f"{image.laterality or '?'} {image.view or '?'} · BI-RADS {birads}", fontsize=LABEL_PT)


def montage(results: Path, t: dict[str, pd.DataFrame], dataset: str, out: Path, panels: int = 6) -> None:
    """Mammograms with their boxes, or MRI slices through the lesion per phase with the mask outline."""
    images = t["images"][(t["images"].dataset == dataset) & (t["images"].variant == "canonical")]
    volumes = t["volumes"][t["volumes"].dataset == dataset]
    if len(images):
        with_boxes = set(t["findings"].image_uid.dropna())
        chosen = pd.concat([images[images.image_uid.isin(with_boxes)], images[~images.image_uid.isin(with_boxes)]])
        chosen = chosen.head(panels)
        rows = -(-len(chosen) // COLUMNS)
        fig, axes = plt.subplots(rows, COLUMNS, figsize=(WIDTH_IN, 3.9 * rows), squeeze=False)
        for ax in axes.ravel()[len(chosen) :]:
            ax.axis("off")
        for ax, image in zip(axes.ravel(), chosen.itertuples()):
            boxes = t["findings"][(t["findings"].image_uid == image.image_uid) & (t["findings"].variant == "canonical")]
            _mammo_panel(ax, results, pd.Series(image._asdict()), boxes)
    else:
        studies = volumes.study_uid.drop_duplicates().head(3).tolist()
        phases = sorted(volumes.phase.unique(), key=lambda p: (p != "pre", p))[:5]
        rows, cols = max(1, len(studies)), max(1, len(phases))
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, (WIDTH_IN / cols + 0.5) * rows), squeeze=False)
        for row, study in enumerate(studies):
            masks = t["findings"][(t["findings"].study_uid == study) & t["findings"].mask_path.notna()]
            mask = nib.load(results / masks.mask_path.iloc[0]).get_fdata() > 0 if len(masks) else None
            for col, phase in enumerate(phases):
                ax = axes[row][col]
                match = volumes[(volumes.study_uid == study) & (volumes.phase == phase)]
                if match.empty:
                    ax.axis("off")
                    continue
                data = nib.load(results / match.path.iloc[0]).get_fdata()
                k = int(np.argmax(mask.sum(axis=(0, 1)))) if mask is not None and mask.any() else data.shape[2] // 2
                ax.imshow(data[:, :, k].T, cmap="gray", origin="lower")
                if mask is not None and mask[:, :, k].any():
                    ax.contour(mask[:, :, k].T.astype(float), levels=[0.5], colors="red", linewidths=0.8)
                ax.set_title(f"{phase} · slice {k}", fontsize=LABEL_PT)
    for ax in np.ravel(fig.axes):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(dataset, fontsize=TITLE_PT)
    _save(fig, out)


def histograms(results: Path, t: dict[str, pd.DataFrame], out: Path, per_dataset: int = 4) -> None:
    """Intensity histograms per dataset: canonical mammograms, and each MRI dataset's pre and post_1 phases."""
    datasets = sorted(set(t["images"].dataset) | set(t["volumes"].dataset))
    cols = min(COLUMNS, max(1, len(datasets)))
    rows = -(-max(1, len(datasets)) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(datasets) :]:
        ax.axis("off")
    for ax, dataset in zip(axes.ravel(), datasets):
        images = t["images"][(t["images"].dataset == dataset) & (t["images"].variant == "canonical")]
        if len(images):
            for image in images.head(per_dataset).itertuples():
                values = np.asarray(Image.open(results / image.path)).ravel()
                ax.hist(values, bins=64, histtype="step", label=f"{image.laterality} {image.view}")
            ax.set_xlabel("stored value after Modality LUT", fontsize=LABEL_PT)
        else:
            volumes = t["volumes"][(t["volumes"].dataset == dataset) & t["volumes"].phase.isin(["pre", "post_1"])]
            for volume in volumes.head(per_dataset).itertuples():
                values = nib.load(results / volume.path).get_fdata().ravel()
                ax.hist(values, bins=64, histtype="step", label=volume.phase)
            ax.set_xlabel("voxel value", fontsize=LABEL_PT)
        ax.set_title(dataset, fontsize=TITLE_PT)
        ax.set_yscale("log")
        ax.tick_params(labelsize=LABEL_PT - 1)
        ax.legend(fontsize=LABEL_PT - 1)
    _save(fig, out)


def _save(fig, out: Path) -> None:
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)


def _table(frame: pd.DataFrame, out: Path) -> None:
    """`frame` as `<out>.csv` for programs and as an HTML table `<out>.html` for the report's page (values escaped)."""
    write_bytes(out.with_suffix(".csv"), frame.to_csv(index=False).encode())
    write_bytes(out.with_suffix(".html"), frame.to_html(index=False, border=0, na_rep="", escape=True).encode())


def write_dataset_qc(results: Path, scope: Scope, out_dir: Path) -> None:
    """One dataset's part of the report (`scope` names just it), into `out_dir`: counts and reject reasons (CSV and
    HTML), thumbnails, intensities."""
    results, out_dir = Path(results), Path(out_dir)
    (dataset,) = scope.datasets
    t = load_tables(Layout(results), scope)
    _table(counts(t), out_dir / "counts")
    _table(reject_reasons(t), out_dir / "rejects")
    histograms(results, t, out_dir / "histograms.png")
    montage(results, t, dataset, out_dir / "montage.png")


def write_summary_qc(summary: Path, out_dir: Path) -> None:
    """The run's part of the report: every validation's result and the tool versions (CSV and HTML)."""
    _table(check_results(summary), Path(out_dir) / "checks")
    _table(versions(), Path(out_dir) / "versions")
