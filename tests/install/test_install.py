"""mpkit installs as a tool: its wheel into a fresh virtual environment, with everything it needs
at run time inside (the Dockerfile, the schema, the image's code and helper programs), and its
dependencies have wheels for macOS as well as Linux. These ask PyPI, so they are their own tier."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.wheel import build_wheel, fresh_venv

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.install


def _dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.mark.parametrize("platform", ["macosx_14_0_arm64", "macosx_12_0_x86_64"])
def test_the_clis_dependencies_have_wheels_for_macos(tmp_path, platform):
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(tmp_path / "r.json"),
                          "--ignore-installed", "--only-binary=:all:", "--platform", platform, "--python-version", "3.11",
                          "--target", str(tmp_path / "t"), *_dependencies()], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"a dependency has no wheel for {platform}:\n{run.stderr[-2000:]}"
    names = {item["metadata"]["name"].lower() for item in json.loads((tmp_path / "r.json").read_text())["install"]}
    # None of the image's libraries or its server stack is a dependency of the CLI.
    assert not names & {"numpy", "scipy", "scikit-learn", "xgboost", "xgboost-cpu", "pandas", "gunicorn", "uvloop", "uvicorn"}


def test_the_wheel_installs_into_a_fresh_venv_and_carries_what_it_needs(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    python = fresh_venv(wheel, env_dir) / "python"
    version = subprocess.run([str(env_dir / "bin" / "mpkit"), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("mpkit "), version.stderr
    probe = ("import json, package.build as b, package.manifest as m, package.docker_engine as d, validation.egress_audit as e, "
             "package.runtime as r; print(json.dumps([str(p) for p in (b.DOCKERFILE, m.SCHEMA_PATH, b.IMAGE_CODE / 'server.py', "
             "r.DEFAULT_REQUIREMENTS)] + [len(d.SIDECAR), len(e.SITECUSTOMIZE)]))")
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    *paths, sidecar, hook = json.loads(out.stdout)
    for path in paths:
        assert Path(path).is_file() and str(env_dir) in path, path
    assert "FROM ${BASE_IMAGE}" in Path(paths[0]).read_text() and sidecar > 0 and hook > 0
    # Nothing of the image's model libraries came along.
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    assert not {p["name"].lower() for p in json.loads(listed.stdout)} & {"numpy", "scikit-learn", "xgboost-cpu", "gunicorn"}
