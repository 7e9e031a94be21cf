"""The runtime follows the model, on models the seller made elsewhere: a scikit-learn model pickled
by an older scikit-learn and a bare XGBoost booster saved by an older XGBoost, each trained in a
virtual environment of its own with those versions from PyPI, are served by images carrying
those versions, and answer as they do in the seller's own process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.seller_models import make_product, seller_env
from package.build import build
from package.errors import ConfigurationError
from package.manifest import load_manifest
from package.runtime import recorded_versions
from validation import static_checks
from validation.runner import installed_versions

pytestmark = pytest.mark.docker
OLD_SKLEARN = "1.5.2"
OLD_XGBOOST = "2.1.4"



@pytest.fixture(scope="module")
def old_sklearn(tmp_path_factory):
    python = seller_env(tmp_path_factory.mktemp("seller-sklearn"), [f"scikit-learn=={OLD_SKLEARN}"])
    return make_product(python, tmp_path_factory.mktemp("product-sklearn"), "sklearn")


@pytest.fixture(scope="module")
def old_xgboost(tmp_path_factory):
    python = seller_env(tmp_path_factory.mktemp("seller-xgboost"), [f"xgboost-cpu=={OLD_XGBOOST}"])
    return make_product(python, tmp_path_factory.mktemp("product-xgboost"), "xgboost")


def _served_like_the_sellers_process(engine, folder: Path, library: str, version: str):
    manifest = load_manifest(folder / "manifest.yaml")
    built = build(manifest, engine=engine, say=lambda _: None)
    installed = installed_versions(engine, built.image)
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


def _with_runtime(product: Path, folder: Path, packages: dict) -> Path:
    """The product in another folder, its manifest declaring these runtime packages."""
    data = yaml.safe_load((product / "manifest.yaml").read_text())
    data["runtime"] = {"packages": packages}
    for name in ("model.joblib", "rows.csv", "sample.csv"):
        (folder / name).symlink_to(product / name)
    (folder / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder / "manifest.yaml"


def test_a_declared_version_other_than_the_models_is_refused_before_the_build(engine, old_sklearn, tmp_path):
    path = _with_runtime(old_sklearn, tmp_path, {"scikit-learn": "1.9.1"})
    with pytest.raises(ConfigurationError) as caught:
        build(load_manifest(path), engine=engine, say=lambda _: None)
    assert f"saved by scikit-learn {OLD_SKLEARN}" in str(caught.value) and "is 1.9.1" in str(caught.value)
    assert not (tmp_path / "build").exists()  # refused before anything was staged


def test_a_version_with_no_wheel_is_refused_naming_the_nearest(engine, old_sklearn, tmp_path):
    path = _with_runtime(old_sklearn, tmp_path, {"pandas": "2.2.99"})
    with pytest.raises(ConfigurationError, match=r"no wheel of pandas 2\.2\.99 .*nearest that exist: 2\.2\.3, 2\.3\.0"):
        build(load_manifest(path), engine=engine, say=lambda _: None)


def test_after_a_change_validate_judges_the_new_content_never_the_old_image(engine, old_sklearn, tmp_path):
    """A built image, then the manifest changes: `validate` with no --image builds or reuses only
    what the current content makes (a missing model file is refused first: test_runtime's unit twin)."""
    from validation.runner import validate

    for name in ("model.joblib", "rows.csv", "sample.csv", "train.py"):
        (tmp_path / name).symlink_to(old_sklearn / name)
    data = yaml.safe_load((old_sklearn / "manifest.yaml").read_text())
    data["name"] = "mpkit-test-stale"
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    first = build(load_manifest(tmp_path / "manifest.yaml"), engine=engine, say=lambda _: None)

    data["serving"]["max_payload_mb"] = 5  # breaks the 6 MiB real-time rule: only the new image can fail it
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    report = validate(load_manifest(tmp_path / "manifest.yaml"), engine, output=tmp_path / "reports", startup_timeout=60,
                      say=lambda _: None)
    assert report.subject["image_id"] != first.image_id
    assert json.loads(engine.read_file(report.subject["image"], "/opt/mpkit/serving.json"))["max_payload_mb"] == 5
    # The verdict is the new content's: a 5 MB body limit refuses the 6 MiB real-time request.
    assert [c.id for c in report.failed] == ["payload-realtime", "invocation-time"], report.table()
