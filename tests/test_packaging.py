"""pyproject.toml and environment.yml must list the same dependencies."""

import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {
        _name(r): r.replace(" ", "")
        for r in project["dependencies"] + extras["test"] + extras["bench"] + extras["docs"]
    }
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-e")}
    assert listed == wanted


@pytest.mark.e2e
def test_console_script_runs():
    """The `breastcurate` script the install puts next to the interpreter answers (and names its version)."""
    import subprocess
    import sys

    script = Path(sys.executable).with_name("breastcurate")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("breastcurate ")


@pytest.mark.e2e
def test_a_wheel_not_only_an_editable_install_runs_the_demo(tmp_path):
    """`pip install .` ships schemas/ and every other file the package reads: the pipeline runs on the wheel's copy
    (its dependencies come from this environment)."""
    import subprocess
    import sys

    from conftest import write_config

    wheel = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            *map(str, wheel.glob("breastcurate-*.whl")),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import breastcurate.tables as t; print(t.SCHEMAS)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(site)) and (Path(where) / "tables" / "images.yaml").is_file()
    work = tmp_path / "run"
    work.mkdir()
    write_config(work, n_shards=1, demo={"patients": 1, "seed": 3}, datasets={"vindr_mammo": {"source": "demo"}})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(work),
            "--configfile",
            str(work / "config.yaml"),
            "--cores",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "results/curated/checks/checks.json").exists()
    log = (work / "results/restricted/logs/harmonize/vindr_mammo.log").read_text()
    assert "Traceback" not in log
