"""Headless Debian Chromium for page tests: installed by the test setup where missing (apt), skipped with a message
only when it cannot be installed and CI is not 'true'."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from system import apt_install

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
    "--window-size=1280,900",
]


#: Where page tests keep their screenshots for a person to look at (CI keeps the folder as an artefact).
ARTEFACTS = Path(os.environ.get("BREASTCURATE_TEST_ARTEFACTS", Path(__file__).resolve().parents[1] / "test-artefacts"))


def keep(screenshot: Path, name: str) -> Path:
    """A copy of `screenshot` in ARTEFACTS as `name`."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(screenshot, ARTEFACTS / name))


def dom(url: str) -> str:
    """The page's DOM as serialized after its scripts ran."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert proc.returncode == 0 and proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def chromium() -> str:
    return apt_install(["chromium"], ["chromium"])["chromium"]


def render(url: str, screenshot: Path) -> list[str]:
    """Open `url`, save a screenshot; return the console error lines Chromium logged."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert screenshot.exists(), proc.stderr[-2000:]
    return [line for line in proc.stderr.splitlines() if "CONSOLE" in line and re.search(r"Uncaught|Error|error", line)]


def non_blank(screenshot: Path) -> bool:
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    return pixels.std() > 5 and (pixels < 200).mean() > 0.01
