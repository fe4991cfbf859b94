"""Finding (and if need be building) the control-plane binaries."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .install import REPO

BUILD_SCRIPT = REPO / "hack" / "k8s-bins" / "build.sh"


class BinariesUnavailable(RuntimeError):
    """The binaries are missing and could not be built; the message says why in one line."""


def have_go() -> bool:
    return shutil.which("go") is not None


def ensure_binaries() -> Path:
    """Runs build.sh (instant when cached) and returns the folder holding the binaries."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BinariesUnavailable(f"building the control plane failed: {last}")
    return Path(result.stdout.strip().splitlines()[-1])
