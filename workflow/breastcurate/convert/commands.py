"""`breastcurate to-png`, `to-nifti` and the pipeline's `convert-shard`."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..commands import Registry, json_arg
from ..errors import BreastcurateError, require


def _options(args: argparse.Namespace):
    from .run import ConvertOptions

    block = json_arg(getattr(args, "options", None))
    for text in getattr(args, "variant", None) or []:
        fields = dict(part.split("=", 1) if "=" in part else (part, "1") for part in text.split(","))
        if "name" not in fields:
            raise BreastcurateError(f"--variant {text!r} needs name=…")
        block.setdefault("mammo_variants", []).append(
            {
                "name": fields["name"],
                "bits": int(fields.get("bits", 16)),
                "voi": fields.get("voi", "0") == "1",
                "long_side": int(fields["long_side"]) if "long_side" in fields else None,
                "flip_to": fields.get("flip_to"),
            }
        )
    return ConvertOptions.from_config(block, getattr(args, "threads", 1))


def _report_rejects(out) -> int:
    log = logging.getLogger(__name__)
    for line in out.skipped:
        log.warning("skipped %s", line)
    for row in out.rows["rejects"]:
        log.warning("rejected %s: %s", row["path"], row["reason"])
    return 1 if out.rows["rejects"] else 0


def _to_png(args: argparse.Namespace) -> int:
    from .run import to_png

    out = to_png([require(f, "each FILE") for f in args.files], Path(args.out), _options(args))
    print(f"to-png: {len(out.rows['images'])} PNG written to {args.out}, {len(out.rows['rejects'])} rejected")
    return _report_rejects(out)


def _to_nifti(args: argparse.Namespace) -> int:
    from .run import to_nifti

    out = to_nifti(require(args.input, "DIR", folder=True), Path(args.out), _options(args))
    if not out.rows["volumes"] and not out.rows["rejects"]:
        raise BreastcurateError(f"{args.input} holds no DICOM series to convert")
    print(
        f"to-nifti: {len(out.rows['volumes'])} volumes and {len(out.rows['findings'])} masks written to "
        f"{args.out}, {len(out.rows['rejects'])} files rejected"
    )
    return _report_rejects(out)


def _convert_shard(args: argparse.Namespace) -> int:
    from .run import convert_shard

    out = convert_shard(
        args.dataset,
        Path(args.deid),
        Path(args.dicom),
        Path(args.raw),
        Path(args.results),
        Path(args.tables),
        Path(args.images),
        Path(args.masks),
        _options(args),
    )
    if args.delete_dicom:  # its only reader is done: the shard's de-identified DICOM goes (deid.keep_dicom)
        from ..atomic import remove_tree

        remove_tree(args.dicom)
    print(
        f"{args.dataset}: {len(out.rows['images'])} images, {len(out.rows['volumes'])} volumes, "
        f"{len(out.rows['findings'])} findings, {len(out.rows['rejects'])} rejected"
    )
    return 0


def register(registry: Registry) -> None:
    p = registry.add("to-png", "mammograms → canonical 16-bit PNG (+ configured variants) and JSON metadata")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--variant",
        action="append",
        help="extra derived image, e.g. name=small,bits=8,voi=1,long_side=1024,flip_to=L (repeatable)",
    )
    p.set_defaults(func=_to_png)

    p = registry.add("to-nifti", "MR DICOM folder → one NIfTI per DCE phase (+ JSON sidecar, SEG masks)")
    p.add_argument("input", metavar="DIR")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="compression threads (default: all)")
    p.set_defaults(func=_to_nifti)

    p = registry.add("convert-shard", "convert one de-identified shard into curated files", pipeline=True)
    p.add_argument("dataset")
    p.add_argument("--deid", required=True, help="the shard's folder of de-identification tables (file map, series)")
    p.add_argument("--dicom", required=True, help="the shard's folder of de-identified DICOM")
    p.add_argument(
        "--delete-dicom", action="store_true", help="delete that folder once the shard is converted (its only reader)"
    )
    p.add_argument("--raw", required=True, help="the dataset's native mirror (annotation tables)")
    p.add_argument("--results", required=True, help="results folder (curated paths in the tables are relative to it)")
    p.add_argument("--tables", required=True, help="folder for the shard's tables (restricted)")
    p.add_argument("--images", required=True, help="the shard's curated folder of mammograms or MRI phases")
    p.add_argument("--masks", required=True, help="the shard's curated folder of lesion masks")
    p.add_argument("--options", help="the config's convert block as JSON")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_convert_shard)
