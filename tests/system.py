"""System software the tests need beyond Python packages (Debian's chromium, slurm-wlm, munge): installed by the test
setup with apt where missing; a test is skipped with the reason only when that fails and CI is not 'true'."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def apt_install(packages: list[str], binaries: list[str]) -> dict[str, str]:
    """Paths of `binaries`, installing `packages` first if any is missing (apt-get update only when needed)."""
    if not all(shutil.which(b) for b in binaries):
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if install.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env)
            install = subprocess.run(cmd, capture_output=True, text=True, env=env)
        missing = [b for b in binaries if not shutil.which(b)]
        if missing:
            unavailable(f"{', '.join(packages)} could not be installed with apt: "
                        f"{(install.stderr or install.stdout).strip()[-300:]}")
    return {b: shutil.which(b) for b in binaries}


def unavailable(message: str) -> None:
    """Skip with `message`, except in CI (CI=true), where missing system software is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
