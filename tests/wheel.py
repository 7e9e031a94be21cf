"""mpkit's wheel, built from a copy of the source as a fresh checkout has it, and a fresh virtual
environment with it installed (dependencies from PyPI): mpkit as a seller installs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_wheel(tmp: Path) -> Path:
    # From a copy: setuptools writes into build/, which is also mpkit's own output folder.
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".mpkit", "build", "reports", "artifacts", "__pycache__", "*.egg-info"))
    out = tmp / "dist"
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    (found,) = out.glob("mpkit-*.whl")
    return found


def fresh_venv(wheel: Path, folder: Path) -> Path:
    """A new venv with the wheel installed; returns its bin folder."""
    venv.create(folder, with_pip=True)
    run = subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    return folder / "bin"
