"""The image's build step: the featurizer compiled to a plan checked against scikit-learn, the
model served from that plan with scikit-learn absent, and which libraries it may leave out.
(Nothing here uninstalls: `may_remove` stays empty; the Docker tier builds real images.)"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost

from inference_image import prepare
from inference_image.contract import FEATURIZER_PLAN_FILE, MODEL_SPEC_FILE
from inference_image.loaders import LoadError, PipelineModel, load_model
from inference_image.spec import ModelSpec
from package.build import describe_prepared, may_remove
from package.manifest import load_manifest
from package.runtime import Recorded
from validation.static_checks import runtime_check

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(model_dir, tmp_path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def _answers(folder: Path) -> list:
    return json.loads(prepare.answers(folder))


def test_the_plan_is_written_checked_and_serves_the_same_answers(folder):
    without = _answers(folder)
    record = prepare.prepare(folder, {"may_remove": []})
    assert record["featurizer"]["compiled"] is True and record["removed"] == {}
    assert "lets none of them go" in record["kept"]
    plan = json.loads((folder / FEATURIZER_PLAN_FILE).read_text())
    assert plan["verified_with"] == {"scikit-learn": __import__("sklearn").__version__}
    model, _ = load_model(folder, ModelSpec.read(folder))
    assert isinstance(model, PipelineModel) and model.featurizer is None  # nothing of scikit-learn loaded
    assert _answers(folder) == without


def _blocked(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter where scikit-learn, pandas and joblib cannot be imported."""
    prelude = "import sys\nfor m in ('sklearn', 'pandas', 'joblib'): sys.modules[m] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, cwd=ROOT)


def test_without_scikit_learn_the_plan_serves_and_its_absence_is_named(folder):
    expected = _answers(folder)
    prepare.prepare(folder, {"may_remove": []})
    served = _blocked(f"from inference_image import prepare; print(prepare.answers({str(folder)!r}))")
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout) == expected
    (folder / FEATURIZER_PLAN_FILE).unlink()
    refused = _blocked("from pathlib import Path\nfrom inference_image.loaders import load_model\n"
                       f"from inference_image.spec import ModelSpec\nload_model(Path({str(folder)!r}), ModelSpec.read({str(folder)!r}))")
    assert refused.returncode != 0
    assert "featurizer.joblib needs scikit-learn to load" in refused.stderr
    assert "Rebuild the image with `mpkit build`" in refused.stderr


def test_a_plan_written_for_other_files_is_ignored(folder):
    prepare.prepare(folder, {"may_remove": []})
    spec = json.loads((folder / MODEL_SPEC_FILE).read_text())
    spec["output"]["name"] = "another"
    (folder / MODEL_SPEC_FILE).write_text(json.dumps(spec))
    model, _ = load_model(folder, ModelSpec.read(folder))
    assert model.featurizer is not None  # scikit-learn's own, compiled again at load


def test_a_plan_that_no_longer_gives_the_checked_features_stops_the_start(folder):
    prepare.prepare(folder, {"may_remove": []})
    plan = json.loads((folder / FEATURIZER_PLAN_FILE).read_text())
    plan["check_features"][0][0] += 1.0
    (folder / FEATURIZER_PLAN_FILE).write_text(json.dumps(plan))
    with pytest.raises(LoadError, match="differs on the check rows from what scikit-learn gave"):
        load_model(folder, ModelSpec.read(folder))


def _pipeline_folder(tmp_path: Path, transformer, check_rows=True) -> Path:
    """A product model folder: `transformer` fitted on two numeric columns, then a booster."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    x = transformer.fit_transform(frame)
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(x, label=frame["a"]), 3)
    folder = tmp_path / "model"
    folder.mkdir()
    joblib.dump(transformer, folder / "f.joblib")
    booster.save_model(str(folder / "m.ubj"))
    spec = {"format": 1, "framework": "pipeline", "files": {"featurizer": "f.joblib", "predictor": "m.ubj"},
            "features": [{"name": "a", "type": "number", "required": True}, {"name": "b", "type": "number", "required": True}],
            "output": {"name": "y"}}
    if check_rows:
        spec["check_rows"] = frame.to_numpy()[:3].tolist()
    (folder / MODEL_SPEC_FILE).write_text(json.dumps(spec))
    return folder


def test_a_featurizer_mpkit_does_not_compile_keeps_scikit_learn(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import PolynomialFeatures

    folder = _pipeline_folder(tmp_path, ColumnTransformer([("p", PolynomialFeatures(), ["a", "b"])]))
    record = prepare.prepare(folder, {"may_remove": ["scikit-learn", "setuptools"]})
    assert record["featurizer"] == {"compiled": False, "why": "it has steps mpkit does not compile (the server logs which)"}
    assert record["kept"] == "the featurizer is not compiled" and record["removed"] == {}
    assert not (folder / FEATURIZER_PLAN_FILE).exists()
    assert "featurizer served by scikit-learn" in describe_prepared(record)


def test_without_check_rows_no_plan_is_written(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    folder = _pipeline_folder(tmp_path, ColumnTransformer([("s", StandardScaler(), ["a", "b"])]), check_rows=False)
    record = prepare.prepare(folder, {"may_remove": ["scikit-learn"]})
    assert record["featurizer"]["compiled"] is False and "no check rows" in record["featurizer"]["why"]
    assert record["kept"] == "the featurizer is not compiled"


def test_a_pickled_predictor_or_a_handler_keeps_every_library(tmp_path):
    from sklearn.linear_model import LinearRegression

    folder = tmp_path / "m"
    folder.mkdir()
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), folder / "model.joblib")
    (folder / MODEL_SPEC_FILE).write_text(json.dumps({"format": 1, "framework": "sklearn", "files": {"model": "model.joblib"},
                                                     "features": [{"name": "x"}], "output": {"name": "y"}}))
    assert prepare.prepare(folder, {"may_remove": ["scikit-learn"]})["kept"] == "framework sklearn needs scikit-learn"
    (folder / "code").mkdir()
    (folder / "code" / "inference.py").write_text("def predict_fn(data, model):\n    return model.predict(data.numeric)\n")
    assert prepare.prepare(folder, {"may_remove": ["scikit-learn"]})["kept"] == "a seller's handler may import any of the libraries"
    assert "S3 delivery" in prepare.prepare(tmp_path / "empty", {"may_remove": ["scikit-learn"]})["kept"]


def test_what_goes_is_the_library_and_what_only_it_needs():
    going = prepare.removable(["scikit-learn"], ["numpy", "scipy", "xgboost-cpu", "scikit-learn"])
    assert {"scikit-learn", "joblib", "threadpoolctl"} <= set(going)
    assert not {"numpy", "scipy", "xgboost-cpu"} & set(going)
    # A library another requirement names stays; one no requirement names goes alone.
    assert "joblib" not in prepare.removable(["scikit-learn"], ["numpy", "joblib", "scikit-learn"])
    assert list(prepare.removable(["setuptools"], ["numpy"])) == ["setuptools"]


def test_the_seller_side_lets_nothing_go_when_seller_code_may_import_it(tmp_path):
    manifest = load_manifest(ROOT / "manifest.yaml")
    from package.runtime import resolve

    runtime = resolve(manifest)
    assert may_remove(manifest, runtime) == ["scikit-learn", "setuptools"]
    handled = dataclasses.replace(manifest, model=dataclasses.replace(manifest.model, handler=tmp_path / "h.py"))
    assert may_remove(handled, runtime) == []


def test_the_runtime_check_counts_a_featurizer_compiled_at_build():
    recorded = [Recorded("scikit-learn", "1.9.1", Path("featurizer.joblib"), "featurizer"),
                Recorded("xgboost", "3.2.0", Path("m.ubj"), "predictor")]
    installed = {"xgboost-cpu": "3.2.0", "numpy": "2.4.6"}
    assert runtime_check(recorded, installed).status == "fail"
    prepared = {"featurizer": {"compiled": True, "verified_with": {"scikit-learn": "1.9.1"}}}
    passed = runtime_check(recorded, installed, prepared)
    assert passed.status == "pass" and "compiled at build and checked against scikit-learn 1.9.1" in passed.measured
    other = {"featurizer": {"compiled": True, "verified_with": {"scikit-learn": "1.8.0"}}}
    assert runtime_check(recorded, installed, other).status == "fail"
