"""Fast in-process tests of pure functions: phase naming and ordering, box transforms, code maps, S3 ETag checks,
PNG encoding (read back by Pillow), zone modes and the stale-file sweep, and the CLI's error handling."""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import pandas as pd
import pytest
from breastcurate import atomic, cli
from breastcurate.acquire.s3 import etag_problem
from breastcurate.codes import Codes, native_text
from breastcurate.convert import mammo, mri
from breastcurate.layout import Layout
from PIL import Image


def _volume(study: str, series: int, seconds: float | None, shape=(4, 4, 3), temporal=None) -> mri.Volume:
    return mri.Volume(
        study_uid=study,
        series_uid=f"{study}.{series}",
        series_number=series,
        temporal_position=temporal,
        acquisition_seconds=seconds,
        data=np.zeros(shape, np.int16),
        affine=np.eye(4),
        slope=1.0,
        intercept=0.0,
        header=None,
        sources=[f"{series}.dcm"],
    )


def test_phases_are_named_by_acquisition_time_not_series_number():
    volumes = [_volume("s", 7, 300.0), _volume("s", 3, 0.0), _volume("s", 5, 150.0)]
    assert mri.name_phases(volumes) == []
    assert {v.series_number: v.name for v in volumes} == {3: "pre", 5: "post_1", 7: "post_2"}


def test_missing_times_sort_last_then_temporal_position():
    volumes = [_volume("s", 1, None, temporal=2), _volume("s", 1, None, temporal=1), _volume("s", 2, 10.0)]
    mri.name_phases(volumes)
    assert [v.name for v in volumes] == ["post_2", "post_1", "pre"]


def test_strict_naming_rejects_a_dce_series_of_another_grid():
    volumes = [_volume("s", 1, 0.0), _volume("s", 2, 60.0), _volume("s", 3, 120.0, shape=(8, 8, 3))]
    rejects = mri.name_phases(volumes, strict=True)
    assert [v.name for v in volumes] == ["pre", "post_1", ""] and rejects == [
        ("3.dcm", "a DCE series whose grid differs from the study's other phases")
    ]
    loose = [_volume("t", 1, 0.0), _volume("t", 2, 60.0), _volume("t", 3, 120.0, shape=(8, 8, 3))]
    assert mri.name_phases(loose) == [] and loose[2].name == "series_3"


def _lost(study: str, series: int, seconds: float) -> mri.LostPhase:
    return mri.LostPhase(study, f"{study}.{series}", series, None, seconds, None, [f"{series}.dcm"], "broken")


def test_a_lost_phase_leaves_a_gap_and_never_renames_the_next():
    """The 2nd post-contrast series fails: the 3rd stays post_3, the lost one is post_2 (its files' reason says so)."""
    volumes = [_volume("s", 3, 0.0), _volume("s", 4, 135.0), _volume("s", 6, 405.0), _volume("s", 7, 540.0)]
    gap = _lost("s", 5, 270.0)
    assert mri.name_phases(volumes, strict=True, lost=[gap]) == []
    assert [v.name for v in volumes] == ["pre", "post_1", "post_3", "post_4"] and gap.name == "post_2"


def test_without_the_lost_phase_the_names_would_shift():
    """The failure the issue saw: naming only the phases that converted publishes the 3rd pass as post_2."""
    volumes = [_volume("s", 3, 0.0), _volume("s", 4, 135.0), _volume("s", 6, 405.0)]
    mri.name_phases(volumes, strict=True)
    assert [v.name for v in volumes] == ["pre", "post_1", "post_2"]


@pytest.mark.parametrize(
    "flipped, scale, expected",
    [
        (False, 1.0, (10.0, 20.0, 30.0, 60.0)),
        (True, 1.0, (70.0, 20.0, 90.0, 60.0)),  # mirrored: x → W − x, edges swap
        (True, 0.5, (35.0, 10.0, 45.0, 30.0)),
    ],
)
def test_box_follows_the_variant_transform(flipped, scale, expected):
    transform = mammo.Transform(width=100, height=80, scale_x=scale, scale_y=scale, flipped=flipped)
    assert transform.box(10, 20, 30, 60) == expected


def test_code_map_keeps_natives_and_rejects_unknown_codes_once():
    codes = Codes("duke")
    frame = pd.DataFrame({"er": [1.0, 0.0, float("nan"), "2", "2"]})
    codes.map(frame, "er", "er", {"1": 1, "0": 0})
    assert frame.er.iloc[:2].tolist() == [1, 0] and frame.er.iloc[2:].isna().all()
    assert [None if pd.isna(v) else v for v in frame.er_native] == ["1", "0", None, "2", "2"]
    assert len(codes.rejects) == 1 and "unknown code '2' for er" in codes.rejects[0]["reason"]
    assert native_text(" a   b ") == "a b" and native_text(3.0) == "3" and native_text("") is None


def test_etags_single_and_multipart(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert etag_problem(path, len(data), hashlib.md5(data).hexdigest()) is None
    assert etag_problem(path, len(data), "0" * 32) is not None
    big = os.urandom(17 * 1024 * 1024)
    path.write_bytes(big)
    parts = [big[i : i + 8 * 1024 * 1024] for i in range(0, len(big), 8 * 1024 * 1024)]
    etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
    assert etag_problem(path, len(big), etag) is None
    assert etag_problem(path, len(big), etag.replace("-3", "-4")) is not None


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_png_encoder_round_trips_through_pillow(dtype):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, np.iinfo(dtype).max, size=(37, 53), dtype=dtype)
    data = mammo.encode_png(arr, 2)
    with Image.open(io.BytesIO(data)) as image:
        back = np.asarray(image)
    assert back.dtype.itemsize == np.dtype(dtype).itemsize and np.array_equal(back.astype(dtype), arr)
    assert data == mammo.encode_png(arr, 2)  # deterministic


def test_zone_modes_and_stale_sweep(tmp_path):
    layout = Layout(tmp_path / "results")
    layout.prepare()
    private, public = layout.restricted / "x" / "a.bin", layout.curated / "y" / "b.bin"
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not atomic._alive(pid))
    stale = [public.parent / ".b.bin.dead.tmp", public.parent / f".b.bin.{atomic.HOST}.{dead}.x1.tmp"]
    running = public.parent / f".c.bin.{atomic.HOST}.{os.getppid()}.x2.tmp"  # another job's write in flight
    public.parent.mkdir(parents=True)
    for path in [*stale, running]:
        path.write_bytes(b"half a file")
    atomic.write_bytes(private, b"1")
    atomic.write_bytes(public, b"2")
    assert private.stat().st_mode & 0o777 == 0o600 and private.parent.stat().st_mode & 0o777 == 0o700
    assert public.stat().st_mode & 0o777 == 0o644 and layout.restricted.stat().st_mode & 0o777 == 0o700
    assert not any(p.exists() for p in stale) and running.exists()


def test_expected_failure_exits_1_with_one_line(capsys, tmp_path):
    assert cli.main(["query", "SELECT 1", "--catalog", str(tmp_path / "none.duckdb")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("breastcurate query: error: no catalog at") and "Traceback" not in err


def test_a_shard_job_logs_its_stage_dataset_and_shard(capsys):
    """A pipeline command's log lines name the command, the dataset and the one shard its Layout paths name."""
    import logging

    from breastcurate import log

    layout = Layout("results")
    argv = [
        "convert-shard",
        "duke",
        "--deid",
        str(layout.deid("duke", 1)),
        "--dicom",
        str(layout.deid_dicom("duke", 1)),
    ]
    argv += ["--raw", "raw", "--results", "results"]
    argv += ["--tables", "t/shard-1", "--images", "i/shard-1", "--masks", "m/shard-1"]
    args = cli.build_parser().parse_args(argv)
    assert cli._shard(args) == 1
    log.configure(args.command, args.dataset, cli._shard(args))
    logging.getLogger("breastcurate.convert").warning("a note")
    assert capsys.readouterr().err == "breastcurate convert-shard duke shard 1: warning: a note\n"
    several = cli.build_parser().parse_args(["merge-phi-terms", "--out", "o", "a/shard-0.parquet", "a/shard-1.parquet"])
    assert cli._shard(several) is None  # a job of every shard names none
