"""`mpkit init` reads what a model file says of itself and writes a manifest that loads, whose
placeholders `validate` refuses until they are replaced."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import xgboost
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from package.cli import main
from package.errors import ConfigurationError
from package.manifest import ManifestError, load_manifest
from package.scaffold import sklearn_features, xgboost_features
from validation import static_checks

COLUMNS = ["alpha", "beta", "gamma"]


@pytest.fixture
def frame():
    return pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=COLUMNS)


def test_a_pickled_pipeline_names_its_features(tmp_path, frame):
    joblib.dump(make_pipeline(StandardScaler(), Ridge()).fit(frame, frame.alpha), tmp_path / "m.joblib")
    assert sklearn_features(tmp_path / "m.joblib") == (COLUMNS, 3)
    joblib.dump(Ridge().fit(frame.to_numpy(), frame.alpha), tmp_path / "bare.joblib", compress=3)
    assert sklearn_features(tmp_path / "bare.joblib") == ([], 3)


def test_a_booster_names_its_features(tmp_path, frame):
    booster = xgboost.train({}, xgboost.DMatrix(frame, label=frame.alpha), 2)
    for suffix in (".ubj", ".json"):
        booster.save_model(str(tmp_path / f"b{suffix}"))
        assert xgboost_features(tmp_path / f"b{suffix}") == (COLUMNS, 3)


def test_init_writes_a_manifest_that_loads_and_a_workflow(tmp_path, frame, capsys):
    joblib.dump(make_pipeline(StandardScaler(), Ridge()).fit(frame, frame.alpha), tmp_path / "model.joblib")
    assert main(["init", "--model", str(tmp_path / "model.joblib"), "--dir", str(tmp_path), "--name", "ridge"]) == 0
    manifest = load_manifest(tmp_path / "manifest.yaml")
    assert manifest.name == "ridge" and manifest.model.framework == "sklearn"
    assert [f.name for f in manifest.model.features] == COLUMNS
    assert manifest.runtime.packages == {"scikit-learn": sklearn.__version__} and manifest.runtime.python == "3.11"
    assert (tmp_path / ".github" / "workflows" / "mpkit.yml").read_text().startswith("# Made by `mpkit init`")
    # The placeholders are refused: the files that do not exist yet, and a role with no account.
    with pytest.raises(ManifestError) as caught:
        manifest.require_declared_files()
    assert {p.split(": ")[1] for p in caught.value.problems} == {"validation.input", "samples[0].file", "samples[1].file",
                                                                 "samples[2].file"}
    role = next(c for c in static_checks.manifest_checks(manifest) if c.id == "validation-role")
    assert role.status == "fail"
    # A second init does not overwrite the seller's manifest.
    assert main(["init", "--model", str(tmp_path / "model.joblib"), "--dir", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err


def test_init_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "weights.onnx").write_bytes(b"x")
    from package.scaffold import init

    with pytest.raises(ConfigurationError) as caught:
        init(tmp_path, [tmp_path / "weights.onnx"])
    assert "mpkit reads XGBoost models" in str(caught.value) and "handler" in caught.value.hint
    with pytest.raises(ConfigurationError, match="required"):
        init(tmp_path, [])


def test_init_sees_a_classifier(tmp_path, frame):
    from sklearn.ensemble import RandomForestClassifier

    joblib.dump(RandomForestClassifier(n_estimators=3).fit(frame, frame.alpha > 0), tmp_path / "model.joblib")
    assert main(["init", "--model", str(tmp_path / "model.joblib"), "--dir", str(tmp_path)]) == 0
    manifest = load_manifest(tmp_path / "manifest.yaml")
    assert manifest.model.classifier and manifest.model.answer == "both"
    booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(frame, label=frame.alpha > 0), 2)
    booster.save_model(str(tmp_path / "b.ubj"))
    from package.scaffold import is_classifier

    assert is_classifier(tmp_path / "b.ubj") and is_classifier(tmp_path / "model.joblib")
    joblib.dump(Ridge().fit(frame, frame.alpha), tmp_path / "ridge.joblib")
    xgboost.train({}, xgboost.DMatrix(frame, label=frame.alpha), 2).save_model(str(tmp_path / "r.ubj"))
    assert not is_classifier(tmp_path / "ridge.joblib") and not is_classifier(tmp_path / "r.ubj")
