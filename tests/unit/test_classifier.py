"""A seller's classifier answers what the manifest chooses: labels, probabilities by class name,
or both, with the same field names in JSON and JSON Lines, equal to the library's own answers."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
import xgboost
from sklearn.ensemble import RandomForestClassifier

from inference_image.app import create_app
from inference_image.loaders import LoadError, load_model
from inference_image.settings import Settings
from inference_image.spec import Feature, ModelSpec
from tests.asgi_client import AsgiClient

RNG = np.random.default_rng(11)
X = RNG.normal(size=(300, 3)).round(3)
Y = np.where(X[:, 0] + X[:, 1] > 0.4, "high", np.where(X[:, 0] + X[:, 1] < -0.4, "low", "mid"))
BODY = "".join(",".join(map(str, row)) + "\n" for row in X[:6]).encode()
FEATURES = tuple(Feature(n) for n in ("a", "b", "c"))


def _folder(tmp_path, framework: str, model_file: str, answer: str, classes=()) -> str:
    spec = ModelSpec(framework=framework, files={"model": model_file}, features=FEATURES, classifier=True, answer=answer,
                     classes=tuple(classes))
    (tmp_path / "mpkit-model.json").write_text(spec.to_json())
    return str(tmp_path)


def _client(folder) -> AsgiClient:
    return AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": folder}, baked_path="/none")))


def _ask(client, accept: str):
    reply = client.post("/invocations", data=BODY, headers={"Content-Type": "text/csv", "Accept": accept})
    assert reply.status_code == 200, reply.data
    return reply.data.decode()


@pytest.fixture(scope="module")
def forest():
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(X, Y)


@pytest.mark.parametrize("answer", ["labels", "probabilities", "both"])
def test_a_scikit_learn_classifier_answers_as_chosen_in_every_type(tmp_path, forest, answer):
    joblib.dump(forest, tmp_path / "model.joblib")
    client = _client(_folder(tmp_path, "sklearn", "model.joblib", answer))
    labels, proba = forest.predict(X[:6]).tolist(), forest.predict_proba(X[:6])
    records = json.loads(_ask(client, "application/json"))["predictions"]
    assert records == [json.loads(line) for line in _ask(client, "application/jsonlines").splitlines()]
    if answer != "probabilities":
        assert [r["label"] for r in records] == labels
    if answer != "labels":
        for record, row in zip(records, proba, strict=True):
            assert list(record["probabilities"]) == ["high", "low", "mid"]
            np.testing.assert_allclose(list(record["probabilities"].values()), row, rtol=1e-12)
    else:
        assert all(set(r) == {"label"} for r in records)
    csv_rows = [line.split(",") for line in _ask(client, "text/csv").splitlines()]
    assert len(csv_rows) == 6 and len(csv_rows[0]) == {"labels": 1, "probabilities": 3, "both": 4}[answer]


def test_declared_class_names_replace_the_models_own(tmp_path):
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    joblib.dump(model, tmp_path / "model.joblib")
    client = _client(_folder(tmp_path, "sklearn", "model.joblib", "both", classes=("no", "yes")))
    records = json.loads(_ask(client, "application/json"))["predictions"]
    assert [r["label"] for r in records] == [["no", "yes"][v] for v in model.predict(X[:6])]
    assert all(list(r["probabilities"]) == ["no", "yes"] for r in records)


@pytest.mark.parametrize("objective", ["multi:softprob", "binary:logistic"])
def test_an_xgboost_booster_with_a_classification_objective(tmp_path, objective):
    y = (X[:, 0] > 0).astype(int) if objective.startswith("binary") else (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    params = {"objective": objective, "seed": 0, **({"num_class": 3} if objective.startswith("multi") else {})}
    booster = xgboost.train(params, xgboost.DMatrix(X, label=y), 5)
    booster.save_model(str(tmp_path / "model.ubj"))
    classes = ("a", "b") if objective.startswith("binary") else ("x", "y", "z")
    client = _client(_folder(tmp_path, "xgboost", "model.ubj", "both", classes=classes))
    records = json.loads(_ask(client, "application/json"))["predictions"]
    own = booster.predict(xgboost.DMatrix(X[:6]))
    proba = np.column_stack([1 - own, own]) if own.ndim == 1 else own
    for record, row in zip(records, proba, strict=True):
        np.testing.assert_allclose(list(record["probabilities"].values()), row, rtol=1e-6)
        assert record["label"] == classes[int(np.argmax(row))]


def test_a_classifier_that_does_not_match_its_declaration_fails_the_start(tmp_path, forest):
    joblib.dump(forest, tmp_path / "model.joblib")
    spec = ModelSpec(framework="sklearn", files={"model": "model.joblib"}, features=FEATURES, classifier=True,
                     answer="both", classes=("a", "b"))
    with pytest.raises(LoadError, match="names 2 classes, the model has 3"):
        load_model(tmp_path, spec)
    booster = xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(X, label=X[:, 0]), 2)
    booster.save_model(str(tmp_path / "reg.ubj"))
    spec = ModelSpec(framework="xgboost", files={"model": "reg.ubj"}, features=FEATURES, classifier=True)
    with pytest.raises(LoadError, match="not a classification"):
        load_model(tmp_path, spec)
