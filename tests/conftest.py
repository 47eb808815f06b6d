"""Shared fixtures: a small demo mirror and a demo run, each built once per session — once for all pytest-xdist
workers, under a file lock —, and a helper to run Snakemake."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
DEMO_PATIENTS = 3
DEMO_SEED = 7
#: Shards of the shared demo run (and of the runs compared with it byte for byte).
DEMO_SHARDS = 2


def demo_scope() -> list[str]:
    """The scope arguments of the demo run's global jobs (`splits`, `catalog`, `checks`): its datasets and shards."""
    from breastcurate.sources import adapters

    return [*(a for d in sorted(adapters()) for a in ("--dataset", d)), "--n-shards", str(DEMO_SHARDS)]


def shared(tmp_path_factory, name: str, build: Callable[[Path], dict]) -> tuple[Path, dict]:
    """`build(folder)` once per test session, whatever the number of xdist workers: the first worker to ask builds it
    in a folder all workers see, the others wait for it and reuse it. Returns the folder and what `build` returned
    (JSON-able)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's
    folder, done = root / f"shared-{name}", root / f"shared-{name}.json"
    with FileLock(str(root / f"shared-{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what an earlier, failed attempt left
            folder.mkdir()
            done.write_text(json.dumps(build(folder)))
    return folder, json.loads(done.read_text())


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """Native demo mirrors of all five datasets, 3 patients each (via the CLI)."""

    def build(out: Path) -> dict:
        run_cli("demo-data", "--out", str(out), "--patients", str(DEMO_PATIENTS), "--seed", str(DEMO_SEED))
        return {}

    return shared(tmp_path_factory, "demo", build)[0]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `breastcurate ARGS` as a user would."""
    proc = subprocess.run([sys.executable, "-m", "breastcurate", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"breastcurate {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def call_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run `breastcurate ARGS` in this process (`cli.main`, its output captured): a stage's command tested without
    the start-up of a subprocess. A bug raises here with its traceback, as it would fail the command."""
    import contextlib
    import io

    from breastcurate.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        returncode = main(list(args))
    proc = subprocess.CompletedProcess(["breastcurate", *args], returncode, out.getvalue(), err.getvalue())
    if check and returncode != 0:
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


def build_demo_run(work: Path) -> dict:
    """A full run of the default workflow with 2 patients per dataset and DEMO_SHARDS shards."""
    write_config(work, n_shards=DEMO_SHARDS, demo={"patients": 2, "seed": 11})
    plan = snakemake(work, "-n")
    run = snakemake(work, "--cores", "2")
    return {"plan": plan.stdout + plan.stderr, "stdout": run.stdout, "stderr": run.stderr}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[Path, str, dict]:
    """The demo run (shared by several modules): its folder, the dry run's output and the run's `stdout`/`stderr`."""
    work, built = shared(tmp_path_factory, "run", build_demo_run)
    return work, built["plan"], built


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


def _uses(item, fixture: str) -> bool:
    return fixture in getattr(item, "fixturenames", ())


#: Session fixtures that run the CLI or the workflow in subprocesses: a test that needs one (directly or through
#: another fixture) is an `e2e` test, left out of `make test-fast`.
E2E_FIXTURES = ("demo_run", "demo_root")


def pytest_collection_modifyitems(session, config, items) -> None:
    """Mark the tests that need a demo mirror or the demo run `e2e`. Within a file, the tests that need the demo run
    go after the others (each keeps its order; no test here depends on running before a later one, and the stateful
    files' demo-run tests only compare what their fixture recorded), so a worker runs a file's other tests while a
    background thread builds the demo run. Files go in xdist's order (the files with the most tests first), which
    measured faster here than running every file that does not need the demo run first. Every worker sorts alike."""
    for item in items:
        if any(_uses(item, fixture) for fixture in E2E_FIXTURES):
            item.add_marker(pytest.mark.e2e)
    position = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (item.path, _uses(item, "demo_run"), position[id(item)]))


def pytest_collection_finish(session) -> None:
    """Start the session's long builds in background threads as soon as the session knows a selected test needs
    them: the demo run in the first xdist worker (or the only process), the SLURM run (it mostly waits for the
    scheduler) in the last. A test that needs one waits for it under `shared`'s lock; a build that fails here is
    tried again by the test, which then reports the failure (or skip)."""
    import threading

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    last = f"gw{int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1')) - 1}"
    factory = session.config._tmp_path_factory
    builds = []
    if worker == "gw0" and any(_uses(item, "demo_run") for item in session.items):
        builds.append(("run", build_demo_run))
    if worker == last and any(item.path.name == "test_slurm.py" for item in session.items):
        from slurm import build_slurm_run

        builds.append(("slurm", build_slurm_run))
    for name, build in builds:

        def background(name=name, build=build) -> None:
            try:
                shared(factory, name, build)
            except BaseException:  # pytest's skip too: the test builds again and reports it
                return

        threading.Thread(target=background, name=f"build-{name}", daemon=True).start()
