"""The image's base: an official slim Python image when it can be had, else one made locally.

Real sellers pull `python:3.11-slim`. Machines that reach no container registry make an
equivalent from Debian's own packages (debootstrap, then `docker import`), trimmed of apt lists,
docs and locales it never uses at run time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import BuildError

DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "local/debian-python:bookworm"
TRIM = ["usr/share/doc", "usr/share/locale", "usr/share/man", "usr/share/info", "var/cache/apt",
        "var/lib/apt/lists", "var/log"]


def resolve_base(engine, requested: str = DEFAULT_BASE, say=print) -> str:
    """The base image to build on: the requested one if present or pullable, else the local one."""
    if engine.image_exists(requested) or engine.pull(requested):
        return requested
    if requested != DEFAULT_BASE:
        raise BuildError(f"base image {requested!r} is neither present nor pullable",
                         hint="pull or build it first, or leave --base-image at its default")
    if not engine.image_exists(LOCAL_BASE):
        say(f"{requested} cannot be pulled here; making {LOCAL_BASE} from Debian packages (about a minute) ...")
        make_local_base(engine)
    else:
        say(f"{requested} cannot be pulled here; using {LOCAL_BASE}")
    return LOCAL_BASE


def make_local_base(engine, suite: str = "bookworm") -> None:
    if not shutil.which("debootstrap"):
        raise BuildError("no base image can be pulled and debootstrap is not installed",
                         hint="apt-get install -y debootstrap (scripts/setup.sh does it), or make a Python 3.11 base available")
    with tempfile.TemporaryDirectory(prefix="mpkit-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", suite, str(rootfs)],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"debootstrap failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}",
                             hint="it needs root and Debian's package mirror")
        for relative in TRIM:
            shutil.rmtree(rootfs / relative, ignore_errors=True)
        (rootfs / "var" / "log").mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        engine.import_image(tar.stdout, LOCAL_BASE)
        tar.wait()
