"""Wheels for the image, downloaded on the host once and cached by content.

Nothing is downloaded inside the build (it runs with networking off, and a Marketplace image
must hold every dependency: MP-SEC), so pip fetches binary wheels for the image's platform here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from .errors import BuildError

REQUIREMENTS = Path(__file__).resolve().parent.parent / "inference_image" / "requirements.txt"
PYTHON_VERSION = "3.11"  # the Python of the default base image and of the local fallback
PLATFORMS = ["manylinux2014_x86_64"] + [f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)]


def cache_root() -> Path:
    return Path(os.environ.get("MPKIT_CACHE", Path.home() / ".cache" / "mpkit"))


def ensure_wheelhouse(requirements: Path = REQUIREMENTS, python_version: str = PYTHON_VERSION, say=print) -> Path:
    key = hashlib.sha256(requirements.read_bytes() + python_version.encode() + " ".join(PLATFORMS).encode()).hexdigest()[:16]
    folder = cache_root() / "wheelhouse" / key
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    say(f"downloading wheels for the image into {folder} ...")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(folder),
               "--python-version", python_version, "--implementation", "cp", "-r", str(requirements)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"pip could not download the image's wheels:\n{result.stderr.strip()[-2000:]}",
                         hint="check that PyPI is reachable and that inference_image/requirements.txt pins existing versions")
    done.write_text(key + "\n")
    return folder
