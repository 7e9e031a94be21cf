"""The image's build step (inference_image/prepare.py) in real builds: the example's featurizer is
compiled and scikit-learn stays out of its image; a featurizer mpkit does not compile,
and S3 delivery, keep them; each image answers as the seller's own objects do."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml

from package.build import build, prepared_record
from package.manifest import load_manifest
from validation.runner import installed_versions

pytestmark = pytest.mark.docker


def test_the_example_image_serves_its_compiled_featurizer_without_scikit_learn(engine, baked, server, model_dir):
    installed = installed_versions(engine, baked.image)
    assert {"xgboost-cpu", "numpy", "pandas"} <= set(installed)  # pandas reads the large bodies
    assert not {"scikit-learn", "joblib", "threadpoolctl", "setuptools"} & set(installed)
    record = prepared_record(engine, baked.image)
    assert record["featurizer"]["compiled"] is True
    assert set(record["removed"]) >= {"scikit-learn", "setuptools"}
    assert "featurizer compiled at build" in server.logs()
    # The answers are the fitted objects' own (the straightforward path, on the host).
    spec = json.loads((model_dir / "mpkit-model.json").read_text())
    frame = pd.DataFrame([list(r) for r in spec["check_rows"]], columns=[f["name"] for f in spec["features"]])
    featurizer = joblib.load(model_dir / spec["files"]["featurizer"])
    booster = xgboost.Booster()
    booster.load_model(str(model_dir / spec["files"]["predictor"]))
    expected = booster.inplace_predict(featurizer.transform(frame))
    reply = server.invoke(json.dumps({"instances": spec["check_rows"]}).encode(), "application/json", "application/json")
    assert reply.status == 200, reply.body
    np.testing.assert_allclose(json.loads(reply.body)["predictions"], expected, rtol=1e-6)


def test_s3_delivery_keeps_every_library(engine, s3_image):
    installed = installed_versions(engine, s3_image.image)
    assert {"scikit-learn", "pandas"} <= set(installed)
    assert "S3 delivery" in prepared_record(engine, s3_image.image)["kept"]


def test_a_featurizer_mpkit_does_not_compile_keeps_scikit_learn_and_answers_as_it_does(engine, tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(200, 3)).round(3), columns=["a", "b", "c"])
    featurizer = ColumnTransformer([("poly", PolynomialFeatures(), ["a", "b"]), ("s", StandardScaler(), ["c"])]).fit(frame)
    booster = xgboost.train({"max_depth": 3}, xgboost.DMatrix(featurizer.transform(frame), label=frame["a"] * frame["b"]), 10)
    joblib.dump(featurizer, tmp_path / "featurizer.joblib")
    booster.save_model(str(tmp_path / "model.ubj"))
    frame.to_csv(tmp_path / "rows.csv", header=False, index=False)
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({
        "name": "mpkit-test-uncompiled", "version": "1.0.0",
        "model": {"framework": "pipeline", "files": {"featurizer": "featurizer.joblib", "predictor": "model.ubj"},
                  "features": [{"name": n} for n in "abc"]},
        "serving": {"content_types": ["text/csv"], "accept_types": ["text/csv"]},
        "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]},
        "validation": {"input": "rows.csv", "content_type": "text/csv", "split_type": "Line", "instance_type": "ml.m5.large"},
    }, sort_keys=False))
    built = build(load_manifest(tmp_path / "manifest.yaml"), engine=engine, say=lambda _: None)
    record = prepared_record(engine, built.image)
    assert record["featurizer"]["compiled"] is False and record["removed"] == {}
    assert "scikit-learn" in installed_versions(engine, built.image)
    with engine.serve(built.image) as container:
        container.wait_ready(120)
        reply = container.invoke((tmp_path / "rows.csv").read_bytes(), "text/csv", "text/csv")
        assert "featurizer scikit-learn" in container.logs()
    assert reply.status == 200, reply.body
    answers = [float(v) for v in reply.body.decode().split()]
    np.testing.assert_allclose(answers, booster.inplace_predict(featurizer.transform(frame)), rtol=1e-6)
