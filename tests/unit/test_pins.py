"""The example is trained on the host with the image's default versions, and the tests run the
image's server on the host: both extras pin what inference_image/requirements.txt pins."""

import re
import tomllib

from tests.conftest import ROOT


def _pins(lines):
    return dict(m.groups() for m in (re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s;]+)", line) for line in lines) if m)


def test_host_and_image_pin_the_same_versions():
    image = _pins((ROOT / "inference_image" / "requirements.txt").read_text().splitlines())
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    host = _pins(extras["example"] + extras["serve"])
    shared = {"numpy", "scipy", "scikit-learn", "xgboost-cpu", "pandas", "gunicorn", "uvicorn",
              "uvicorn-worker", "uvloop", "httptools"}
    assert {k: image[k] for k in shared} == {k: host[k] for k in shared}


def test_image_uses_the_cpu_only_xgboost_wheel():
    text = (ROOT / "inference_image" / "requirements.txt").read_text()
    assert "xgboost-cpu==" in text and not re.search(r"^xgboost==", text, re.M)
