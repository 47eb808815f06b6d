"""Shared fixtures: a small demo mirror built once per session, and a helper to run Snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_PATIENTS = 3
DEMO_SEED = 7
#: Shards of the shared demo run (and of the runs compared with it byte for byte).
DEMO_SHARDS = 2


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """Native demo mirrors of all five datasets, 3 patients each (via the CLI)."""
    out = tmp_path_factory.mktemp("demo")
    run_cli("demo-data", "--out", str(out), "--patients", str(DEMO_PATIENTS), "--seed", str(DEMO_SEED))
    return out


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `breastcurate ARGS` as a user would."""
    proc = subprocess.run([sys.executable, "-m", "breastcurate", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"breastcurate {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_config(workdir: Path, **overrides) -> Path:
    """A config for a run in `workdir`: the default demo config with `overrides` applied."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key, value in overrides.items():
        config[key] = value
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 900, snakefile: Path = REPO / "Snakefile"
) -> subprocess.CompletedProcess:
    """Run the workflow with `workdir` as working directory and its config.yaml."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *args,
    ]
    env = {k: v for k, v in os.environ.items() if k != "BREASTCURATE_SECRET"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A full run of the default workflow with 2 patients per dataset and DEMO_SHARDS shards (shared by several
    modules)."""
    work = tmp_path_factory.mktemp("run")
    write_config(work, n_shards=DEMO_SHARDS, demo={"patients": 2, "seed": 11})
    plan = snakemake(work, "-n")
    run = snakemake(work, "--cores", "2")
    return work, plan.stdout + plan.stderr, run


def copy_checkout(target: Path) -> Path:
    """The workflow's files (Snakefile, conda environment, rules, config, schemas, report templates) copied to
    `target`, as a clone would hold them; returns its Snakefile."""
    import shutil

    for name in ("Snakefile", "environment.yml", "rules", "config", "schemas", "workflow/report"):
        source, dest = REPO / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, symlinks=False)
        else:
            shutil.copy2(source, dest)
    return target / "Snakefile"


def executed_jobs(log: str) -> list[str]:
    """The jobs a Snakemake run executed, as `rule[wildcard values]`, from its output."""
    import re

    jobs = []
    for block in re.split(r"\n\[[^\]]*\]\n", log):
        rule = re.search(r"^(?:local)?(?:rule|checkpoint) (\w+):", block, re.M)
        if rule:
            wildcards = re.search(r"wildcards: (.*)", block)
            values = ",".join(v.split("=", 1)[1] for v in wildcards.group(1).split(", ")) if wildcards else ""
            jobs.append(f"{rule.group(1)}[{values}]" if values else rule.group(1))
    return jobs


def pytest_collection_finish(session) -> None:
    """Start the SLURM run in the background as soon as the session knows test_slurm.py is selected."""
    if any(item.path.name == "test_slurm.py" for item in session.items):
        import tempfile

        from slurm import BackgroundRun

        session.config.slurm_background = BackgroundRun(Path(tempfile.mkdtemp(prefix="breastcurate-slurm-")))
        session.config.slurm_background.start()


def pytest_sessionfinish(session) -> None:
    background = getattr(session.config, "slurm_background", None)
    if background is not None:
        background.join()
        if background.error is None and background.proc is not None and background.proc.returncode == 0:
            import shutil

            shutil.rmtree(background.root, ignore_errors=True)
