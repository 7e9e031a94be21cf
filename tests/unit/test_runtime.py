"""The runtime follows the model: versions read from the model files' bytes, declared versions
checked against them, the image's requirements written from them, and a version with no wheel
named with its nearest neighbours."""

from __future__ import annotations

import json
import shutil

import pytest

from inference_image.loaders import LoadError, load_model
from inference_image.spec import ModelSpec
from package.artifact import stage_model_dir
from package.errors import ConfigurationError
from package.manifest import load_manifest
from package.runtime import DEFAULT_REQUIREMENTS, Runtime, recorded_versions, resolve, sklearn_versions, xgboost_version
from package.wheelhouse import nearest
from tests.conftest import write_manifest


def _defaults() -> dict:
    return dict(line.split("==") for line in DEFAULT_REQUIREMENTS.read_text().splitlines() if "==" in line)


def _folder(tmp_path, product, **changes):
    (tmp_path / "example").symlink_to(product / "example")
    return load_manifest(write_manifest(tmp_path, **changes))


def test_the_example_records_the_versions_it_was_saved_with(manifest):
    found = {(r.package, r.role): r.version for r in recorded_versions(manifest)}
    import sklearn
    import xgboost

    assert found == {("scikit-learn", "featurizer"): sklearn.__version__, ("xgboost", "predictor"): xgboost.__version__}
    runtime = resolve(manifest)
    assert runtime.packages == {"scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__}
    # The example's versions are the defaults: the image's requirements stay as they are.
    assert runtime.requirements() == DEFAULT_REQUIREMENTS.read_text()
    assert {k: v for k, v in (line.split("==") for line in runtime.requirements().splitlines() if "==" in line)} == _defaults()


def test_a_json_model_and_a_compressed_pickle_are_read(tmp_path, manifest):
    import joblib
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(str(manifest.model.files["predictor"]))
    booster.save_model(str(tmp_path / "m.json"))
    assert xgboost_version(tmp_path / "m.json") == xgboost.__version__
    featurizer = joblib.load(manifest.model.files["featurizer"])
    for compress in (3, ("gzip", 3), ("bz2", 3), ("xz", 3)):
        joblib.dump(featurizer, tmp_path / "f.joblib", compress=compress)
        assert sklearn_versions(tmp_path / "f.joblib") == sklearn_versions(manifest.model.files["featurizer"])
    (tmp_path / "plain.json").write_text(json.dumps({"learner": {}}))
    assert xgboost_version(tmp_path / "plain.json") is None


def test_a_declared_version_that_contradicts_the_model_is_refused_naming_both(tmp_path, product):
    import sklearn

    manifest = _folder(tmp_path, product, runtime={"packages": {"scikit-learn": "1.5.2"}})
    with pytest.raises(ConfigurationError) as caught:
        resolve(manifest)
    text = str(caught.value)
    assert "runtime.packages.scikit-learn is 1.5.2" in text and f"saved by scikit-learn {sklearn.__version__}" in text
    assert "manifest.yaml:" in text and "retrain" in caught.value.hint


def test_another_python_than_the_base_images_is_refused(tmp_path, product):
    manifest = _folder(tmp_path, product, runtime={"python": "3.12"})
    with pytest.raises(ConfigurationError, match="runtime.python is 3.12, but the base image has Python 3.11"):
        resolve(manifest, "3.11")
    assert resolve(manifest, "3.12").python == "3.12"


def test_other_versions_replace_the_defaults_and_free_their_companions(tmp_path):
    extra = tmp_path / "handler-requirements.txt"
    extra.write_text("tabulate==0.9.0\n")
    old = Runtime(python="3.11", packages={"scikit-learn": "1.3.2", "xgboost": "1.7.6"}, sources={}, extra_requirements=extra)
    lines = old.requirements().splitlines()
    assert "scikit-learn==1.3.2" in lines and "xgboost==1.7.6" in lines  # no CPU-only wheel before 2.1
    assert "numpy<2" in lines and "pandas<2.3" in lines and "scipy<1.14" in lines
    assert "tabulate==0.9.0" in lines and not any(line.startswith("xgboost-cpu") for line in lines)
    new = Runtime(python="3.11", packages={"xgboost": "2.1.4"}, sources={}).requirements().splitlines()
    assert "xgboost-cpu==2.1.4" in new and "numpy" in new and f"scikit-learn=={_defaults()['scikit-learn']}" in new


def test_the_nearest_versions_are_the_neighbours_below_and_above():
    assert nearest("1.0.99", ["0.24.2", "1.0.1", "1.0.2", "1.1.0", "1.2.0"]) == ["1.0.2", "1.1.0"]
    assert nearest("9.0", ["1.0", "2.0"]) == ["2.0"] and nearest("1.0", []) == []


def test_a_model_saved_by_another_version_fails_the_start_with_the_libraries_words(tmp_path, manifest):
    import sklearn

    folder = stage_model_dir(manifest, tmp_path / "model")
    featurizer = folder / "featurizer.joblib"
    data = featurizer.read_bytes()
    assert data.count(sklearn.__version__.encode()) >= 1
    other = "0" * len(sklearn.__version__.split(".")[0]) + sklearn.__version__[len(sklearn.__version__.split(".")[0]):]
    featurizer.write_bytes(data.replace(sklearn.__version__.encode(), other.encode()))
    with pytest.raises(LoadError, match="featurizer.joblib was saved by another version"):
        load_model(folder, ModelSpec.read(folder))
    shutil.rmtree(folder)


def test_an_xgboost_model_is_checked_like_a_pickle(tmp_path, product):
    (tmp_path / "example").symlink_to(product / "example")
    (tmp_path / "old.json").write_text(json.dumps({"learner": {}, "version": [2, 1, 4]}))
    changes = {"model": {"framework": "xgboost", "files": {"model": "old.json"}, "features": [{"name": "x"}]},
               "samples": []}
    assert resolve(load_manifest(write_manifest(tmp_path, **changes))).packages == {"xgboost": "2.1.4"}
    declared = load_manifest(write_manifest(tmp_path, runtime={"packages": {"xgboost": "3.2.0"}}, **changes))
    with pytest.raises(ConfigurationError, match=r"runtime.packages.xgboost is 3\.2\.0, but old.json was saved by xgboost 2\.1\.4"):
        resolve(declared)


def test_validate_names_a_missing_model_file_with_its_line_before_any_container(tmp_path, product, capsys):
    from package.cli import main

    (tmp_path / "example").symlink_to(product / "example")
    path = write_manifest(tmp_path, **{"model.files": {"featurizer": "gone/featurizer.joblib",
                                                       "predictor": "example/artifacts/model/xgboost-model.ubj"}})
    assert main(["validate", "--manifest", str(path), "--report-dir", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "model.files.featurizer: featurizer.joblib not found" in err and "manifest.yaml:" in err
    assert not (tmp_path / "reports").exists()


def test_the_runtime_check_fails_when_the_image_carries_another_version(tmp_path):
    from package.runtime import Recorded
    from validation import static_checks

    recorded = [Recorded("scikit-learn", "1.5.2", tmp_path / "model.joblib", "model"),
                Recorded("xgboost", "2.1.4", tmp_path / "model.ubj", "predictor")]
    failed = static_checks.runtime_check(recorded, {"scikit-learn": "1.9.1", "xgboost-cpu": "2.1.4"})
    assert failed.status == "fail" and failed.details == ["model.joblib: saved by scikit-learn 1.5.2; the image has 1.9.1"]
    assert static_checks.runtime_check(recorded, {"scikit-learn": "1.5.2", "xgboost": "2.1.4"}).status == "pass"
    assert static_checks.runtime_check(recorded, None).status == "warn"
