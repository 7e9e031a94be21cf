"""The runtime follows the model, on models the seller made elsewhere: a scikit-learn model pickled
by an older scikit-learn and a bare XGBoost booster saved by an older XGBoost, each trained in a
virtual environment of its own with those versions from PyPI, are served by images carrying
those versions, and answer as they do in the seller's own process."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
import yaml

from package.build import build
from package.errors import ConfigurationError
from package.manifest import load_manifest
from package.runtime import recorded_versions
from validation import static_checks
from validation.runner import _installed

pytestmark = pytest.mark.docker
ROLE = "arn:aws:iam::123456789012:role/mpkit-validation"
OLD_SKLEARN = "1.5.2"
OLD_XGBOOST = "2.1.4"

TRAIN = r'''
import json, sys
from pathlib import Path
import numpy as np
out, kind = Path(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(7)
x = rng.normal(size=(300, 6)).round(4)
y = x @ np.array([3.0, -2.0, 0.5, 0.0, 1.5, -1.0]) + np.sin(x[:, 0]) * 4 + rng.normal(scale=0.1, size=300)
if kind == "sklearn":
    import joblib
    from sklearn.ensemble import GradientBoostingRegressor
    model = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x[:250], y[:250])
    joblib.dump(model, out / "model.joblib")
    predictions = model.predict(x[250:])
else:
    import xgboost
    booster = xgboost.train({"max_depth": 3, "eta": 0.3, "seed": 0}, xgboost.DMatrix(x[:250], label=y[:250]), 30)
    booster.save_model(str(out / "model.ubj"))
    predictions = booster.predict(xgboost.DMatrix(x[250:]))
np.savetxt(out / "rows.csv", x[250:], delimiter=",", fmt="%.4f")
np.savetxt(out / "sample.csv", x[250:253], delimiter=",", fmt="%.4f")
(out / "expected.json").write_text(json.dumps([float(p) for p in predictions]))
'''


def _seller_env(tmp_path_factory, name: str, packages: list[str]) -> Path:
    """A virtual environment of the seller's, with its own library versions from PyPI."""
    folder = tmp_path_factory.mktemp(name)
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    return python


def _product(tmp_path_factory, python: Path, kind: str, **changes) -> Path:
    folder = tmp_path_factory.mktemp(f"product-{kind}")
    (folder / "train.py").write_text(TRAIN)
    run = subprocess.run([str(python), str(folder / "train.py"), str(folder), kind], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    model = "model.joblib" if kind == "sklearn" else "model.ubj"
    manifest = {
        "name": f"mpkit-test-{kind}-old", "version": "1.0.0",
        "model": {"framework": kind, "files": {"model": model}, "features": [{"name": f"x{i}"} for i in range(6)]},
        "serving": {"content_types": ["text/csv"], "accept_types": ["text/csv", "application/json"]},
        "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]},
        "validation": {"input": "rows.csv", "content_type": "text/csv", "split_type": "Line", "accept": "text/csv",
                       "instance_type": "ml.m5.large", "role": ROLE},
        "samples": [{"file": "sample.csv", "content_type": "text/csv", "accept": "text/csv"}],
        **changes,
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def old_sklearn(tmp_path_factory):
    python = _seller_env(tmp_path_factory, "seller-sklearn", [f"scikit-learn=={OLD_SKLEARN}"])
    return _product(tmp_path_factory, python, "sklearn")


@pytest.fixture(scope="module")
def old_xgboost(tmp_path_factory):
    python = _seller_env(tmp_path_factory, "seller-xgboost", [f"xgboost-cpu=={OLD_XGBOOST}"])
    return _product(tmp_path_factory, python, "xgboost")


def _served_like_the_sellers_process(engine, folder: Path, library: str, version: str):
    manifest = load_manifest(folder / "manifest.yaml")
    built = build(manifest, engine=engine, say=lambda _: None)
    installed = _installed(engine, built.image)
    assert installed[library] == version
    check = static_checks.runtime_check(recorded_versions(manifest), installed)
    assert check.status == "pass", check
    with engine.serve(built.image) as container:
        container.wait_ready(120)
        reply = container.invoke((folder / "rows.csv").read_bytes(), "text/csv", "text/csv")
    assert reply.status == 200, reply.body
    answers = [float(line) for line in reply.body.decode().split()]
    np.testing.assert_allclose(answers, json.loads((folder / "expected.json").read_text()), rtol=1e-6)


def test_a_model_pickled_by_an_older_scikit_learn_is_served_by_that_version(engine, old_sklearn):
    _served_like_the_sellers_process(engine, old_sklearn, "scikit-learn", OLD_SKLEARN)


def test_a_booster_saved_by_an_older_xgboost_is_served_by_that_version(engine, old_xgboost):
    _served_like_the_sellers_process(engine, old_xgboost, "xgboost-cpu", OLD_XGBOOST)


def test_a_declared_version_other_than_the_models_is_refused_before_the_build(engine, old_sklearn, tmp_path):
    data = yaml.safe_load((old_sklearn / "manifest.yaml").read_text())
    data["runtime"] = {"packages": {"scikit-learn": "1.9.1"}}
    for name in ("model.joblib", "rows.csv", "sample.csv"):
        (tmp_path / name).symlink_to(old_sklearn / name)
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigurationError) as caught:
        build(load_manifest(tmp_path / "manifest.yaml"), engine=engine, say=lambda _: None)
    assert f"saved by scikit-learn {OLD_SKLEARN}" in str(caught.value) and "is 1.9.1" in str(caught.value)
    assert not (tmp_path / "build").exists()  # refused before anything was staged


def test_a_version_with_no_wheel_is_refused_naming_the_nearest(engine, old_sklearn, tmp_path):
    data = yaml.safe_load((old_sklearn / "manifest.yaml").read_text())
    data["runtime"] = {"packages": {"pandas": "2.2.99"}}
    for name in ("model.joblib", "rows.csv", "sample.csv"):
        (tmp_path / name).symlink_to(old_sklearn / name)
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigurationError, match=r"no wheel of pandas 2\.2\.99 .*nearest that exist: 2\.2\.3, 2\.3\.0"):
        build(load_manifest(tmp_path / "manifest.yaml"), engine=engine, say=lambda _: None)
