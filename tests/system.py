"""System software the tests need beyond Python packages (Debian's chromium, slurm-wlm, munge). On a user's machine
the tests never install system packages: a test whose software is missing is skipped and says why. In CI
(CI=true, as `.ci/run` sets it) the tests install what is missing with apt, and a failure to do so fails them."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def apt_install(packages: list[str], binaries: list[str]) -> dict[str, str]:
    """Paths of `binaries`; in CI, `packages` are installed first if any is missing (apt-get update only when
    needed); elsewhere a missing one skips the test."""
    if not all(shutil.which(b) for b in binaries):
        if not in_ci():
            missing = [b for b in binaries if not shutil.which(b)]
            pytest.skip(
                f"{', '.join(missing)} not installed (apt-get install {' '.join(packages)}); the tests "
                "install system packages only in CI (CI=true)"
            )
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if install.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env)
            install = subprocess.run(cmd, capture_output=True, text=True, env=env)
        missing = [b for b in binaries if not shutil.which(b)]
        if missing:
            unavailable(
                f"{', '.join(packages)} could not be installed with apt: "
                f"{(install.stderr or install.stdout).strip()[-300:]}"
            )
    return {b: shutil.which(b) for b in binaries}


def unavailable(message: str) -> None:
    """Skip with `message`, except in CI (CI=true), where missing system software is a failure."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
