"""A bug fails its job; bad input becomes a reject (issue 24 §3). A `TypeError` injected into a conversion function
(in-process with monkeypatch, and in the job's own process through a `sitecustomize` on PYTHONPATH) propagates with
its traceback and writes no reject row; a broken file next to it is still a reject row with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from breastcurate.convert import mammo
from breastcurate.convert.run import ConvertOptions, to_png
from breastcurate.deid.run import Collector, _process, make_deidentifier
from breastcurate.dicomio import BAD_INPUT
from breastcurate.layout import Layout
from conftest import REPO, copy_checkout, write_config

MAMMOGRAM = REPO / "tests/data/convert/mammography/dclunie_mg_pixel_spacing/MG_Explicit_Little.dcm"
MESSAGE = "injected bug in mammo.canonical"
#: Patches `mammo.canonical` in any Python process that has this folder on its path (the CLI, a Snakemake job).
SITECUSTOMIZE = f"""
import breastcurate.convert.mammo as mammo

def canonical(ds):
    raise TypeError({MESSAGE!r})

mammo.canonical = canonical
"""


def _broken(tmp_path: Path, size: int = 2000) -> Path:
    """The mammogram cut short: at 2000 bytes no pixel data is left, at 200 not even the SOP Instance UID."""
    path = tmp_path / "broken.dcm"
    path.write_bytes(MAMMOGRAM.read_bytes()[:size])
    return path


def test_bad_input_tuple_leaves_bugs_out():
    assert not any(issubclass(TypeError, t) or issubclass(AttributeError, t) for t in BAD_INPUT)


def test_injected_type_error_propagates_from_to_png(tmp_path, monkeypatch):
    out = to_png([_broken(tmp_path)], tmp_path / "out", ConvertOptions.from_config(None))
    assert len(out.rows["rejects"]) == 1 and out.rows["rejects"][0]["reason"]  # bad input: a reject

    def canonical(ds):
        raise TypeError(MESSAGE)

    monkeypatch.setattr(mammo, "canonical", canonical)
    with pytest.raises(TypeError, match=MESSAGE):
        to_png([MAMMOGRAM], tmp_path / "out2", ConvertOptions.from_config(None))
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").rglob("*.png"))


def test_injected_type_error_propagates_from_deid(tmp_path, monkeypatch):
    deid = make_deidentifier(b"k" * 32, "folder", ())
    collector = Collector("folder")
    _process(deid, _broken(tmp_path, 200), None, "broken.dcm", tmp_path / "out", collector)
    assert [r["path"] for r in collector.rejects] == ["broken.dcm"]

    def burned_in_reason(ds, reviewed):
        raise TypeError("injected bug in the de-identification")

    monkeypatch.setattr("breastcurate.deid.engine.burned_in_reason", burned_in_reason)
    with pytest.raises(TypeError, match="injected"):
        _process(deid, MAMMOGRAM, None, "mg.dcm", tmp_path / "out", collector)
    assert len(collector.rejects) == 1 and not collector.filemap


def _inject(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "inject"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join([str(folder), str(REPO / "workflow"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.e2e
def test_injected_type_error_fails_the_cli_with_its_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "breastcurate", "to-png", str(MAMMOGRAM), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=_inject(tmp_path),
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and f"TypeError: {MESSAGE}" in proc.stderr
    assert "rejected" not in proc.stderr and not list((tmp_path / "out").rglob("*.json"))


@pytest.mark.e2e
def test_injected_type_error_fails_the_conversion_job(tmp_path):
    """Through Snakemake: CBIS-DDSM only, one demo patient, up to conversion. The convert job fails, its log holds
    the traceback, and it leaves no tables (so no reject row) behind."""
    copy_checkout(tmp_path)
    write_config(tmp_path, n_shards=1, demo={"patients": 1, "seed": 11}, datasets={"cbis_ddsm": {"source": "demo"}})
    cmd = [sys.executable, "-m", "snakemake", "-s", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)]
    tables = Layout(tmp_path / "results").convert_tables("cbis_ddsm", 0)  # the convert job's output
    cmd += ["--configfile", str(tmp_path / "config.yaml"), "--cores", "1", str(tables.relative_to(tmp_path))]
    env = {k: v for k, v in _inject(tmp_path).items() if k != "BREASTCURATE_SECRET"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode != 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Error in rule convert_mg" in proc.stdout + proc.stderr
    log = Layout(tmp_path / "results").log("convert", "cbis_ddsm-0")
    assert log.exists(), proc.stderr[-3000:]
    text = log.read_text()
    assert "Traceback" in text and f"TypeError: {MESSAGE}" in text
    assert not tables.exists()  # Snakemake removed the failed job's outputs: no reject row anywhere
