"""Wheels for the image, downloaded on the host once and cached by content.

Nothing is downloaded inside the build (it runs with networking off, and a Marketplace image
must hold every dependency: MP-SEC), so pip fetches binary wheels for the image's Python and
platform here, for exactly the runtime's requirements.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import BuildError, ConfigurationError
from .runtime import version_tuple

PLATFORMS = ["manylinux2014_x86_64"] + [f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)]
# pip's words when no wheel of a pinned version fits the image.
_NO_MATCH = re.compile(r"Could not find a version that satisfies the requirement (\S+?)(?:==|\s)(\S*).*?"
                       r"\(from versions: ([^)]*)\)", re.S)


def cache_root() -> Path:
    return Path(os.environ.get("MPKIT_CACHE", Path.home() / ".cache" / "mpkit"))


def nearest(wanted: str, available: list[str]) -> list[str]:
    """The closest versions below and above `wanted` among those pip lists."""
    if not available:
        return []
    key = version_tuple(wanted)
    below = [v for v in available if version_tuple(v) < key]
    above = [v for v in available if version_tuple(v) > key]
    return [v for v in (below[-1] if below else None, above[0] if above else None) if v]


def ensure_wheelhouse(requirements: str, python_version: str, say=print) -> Path:
    """A folder holding a wheel of every requirement for `python_version` on linux/x86_64."""
    key = hashlib.sha256(requirements.encode() + python_version.encode() + " ".join(PLATFORMS).encode()).hexdigest()[:16]
    folder = cache_root() / "wheelhouse" / key
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    say(f"downloading wheels for the image (Python {python_version}, linux/x86_64) into {folder} ...")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(requirements)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(folder),
               "--python-version", python_version, "--implementation", "cp", "-r", handle.name]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        missing = _NO_MATCH.search(result.stderr)
        if missing:
            name, version, listed = missing.group(1), missing.group(2), [v.strip() for v in missing.group(3).split(",")]
            close = nearest(version, [v for v in listed if v and v != "none"]) if version else []
            raise ConfigurationError(
                f"no wheel of {name} {version} for Python {python_version} on linux/x86_64 (the image's platform)"
                + (f"; the nearest that exist: {', '.join(close)}" if close else ""),
                hint="declare a version that has a wheel in runtime.packages (and save the model with it), or "
                     "use a base image with another Python (runtime.python, --base-image)")
        raise BuildError(f"pip could not download the image's wheels:\n{result.stderr.strip()[-2000:]}",
                         hint="check that PyPI is reachable and that the runtime pins existing versions")
    done.write_text(key + "\n")
    return folder

