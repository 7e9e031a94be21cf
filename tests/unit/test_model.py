"""The compiled featurizer and the served predictions equal the fitted objects' own."""

import dataclasses
import io

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost

from inference_image import codecs, featurizer
from inference_image.loaders import PipelineModel, load_model
from inference_image.spec import ModelSpec


@pytest.fixture(scope="module")
def loaded(model_dir):
    return load_model(model_dir, ModelSpec.read(model_dir))


@pytest.fixture(scope="module")
def holdout(product):
    return (product / "example" / "artifacts" / "validation" / "input.csv").read_bytes()


def test_featurizer_is_compiled(loaded):
    model, _ = loaded
    assert isinstance(model, PipelineModel) and model.compiled is not None


def test_compiled_featurizer_equals_scikit_learn_on_the_holdout(loaded, holdout):
    model, spec = loaded
    table = codecs.decode_csv(holdout, spec)
    np.testing.assert_allclose(model.compiled(table.numeric, table.strings), model.reference_features(table), rtol=1e-12)


def test_predictions_equal_the_fitted_objects(loaded, holdout, model_dir):
    """The straightforward path (pandas, the fitted featurizer, XGBoost) against ours, rtol 1e-6."""
    model, spec = loaded
    frame = pd.read_csv(io.BytesIO(holdout), header=None, names=spec.names)
    fitted = joblib.load(model_dir / "featurizer.joblib")
    booster = xgboost.Booster()
    booster.load_model(str(model_dir / "xgboost-model.ubj"))
    expected = booster.predict(xgboost.DMatrix(fitted.transform(frame)))
    ours = model.predict(codecs.decode_csv(holdout, spec))
    assert len(ours) == len(frame) == 89
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def _allowing_unknown(spec: ModelSpec) -> ModelSpec:
    """The spec as with `allow_unknown: true` on every categorical feature: the encoder decides."""
    return spec.with_features(tuple(dataclasses.replace(f, allow_unknown=True) if f.categories else f for f in spec.features))


def test_unknown_category_is_refused_where_the_manifest_declares_the_categories(loaded):
    _, spec = loaded
    from inference_image.errors import BadRequest

    with pytest.raises(BadRequest) as caught:
        codecs.decode_csv(b"47,other,22.5,82,131,66.8,41,3,4.75,89\n", spec)
    assert (caught.value.row, caught.value.column) == (0, "sex") and "'female', 'male'" in caught.value.message


def test_unknown_category_is_ignored_like_scikit_learn_when_allowed(loaded):
    model, spec = loaded
    table = codecs.decode_csv(b"47,other,22.5,82,131,66.8,41,3,4.75,89\n", _allowing_unknown(spec))
    np.testing.assert_allclose(model.compiled(table.numeric, table.strings), model.reference_features(table), rtol=1e-12)


def test_missing_known_and_unknown_categories_in_one_body_equal_scikit_learn(loaded):
    model, spec = loaded
    body = b"47,male,22.5,82,131,66.8,41,3,4.75,89\n50,male,22.5,82,131,66.8,41,3,4.75,89\n51,other,22.5,82,131,66.8,41,3,4.75,89\n" \
           b"52,female,22.5,82,131,66.8,41,3,4.75,89\n"
    table = codecs.decode_csv(body, _allowing_unknown(spec))
    table.strings[1, 0] = None  # the manifest requires `sex`; the featurizer's own imputer still has a value for it
    np.testing.assert_allclose(model.compiled(table.numeric, table.strings), model.reference_features(table), rtol=1e-12)


def test_unknown_category_is_refused_where_the_encoder_refuses_it():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from inference_image.errors import BadRequest

    spec = ModelSpec.from_dict({"framework": "pipeline", "files": {}, "features": [{"name": "x"}, {"name": "c", "type": "string"}]})
    transformer = ColumnTransformer([("x", StandardScaler(), ["x"]), ("c", OneHotEncoder(handle_unknown="error", sparse_output=False), ["c"])])
    transformer.fit(pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]}))
    compiled = featurizer.compile_featurizer(transformer, spec)
    table = codecs.decode_csv(b"1,a\n2,b\n3,zz\n", spec)
    with pytest.raises(BadRequest) as caught:
        compiled(table.numeric, table.strings)
    assert (caught.value.row, caught.value.column) == (2, "c") and "'zz'" in caught.value.message
    table = codecs.decode_csv(b"1,b\n2,a\n", spec)
    np.testing.assert_allclose(compiled(table.numeric, table.strings), transformer.transform(table.to_frame()), rtol=1e-12)


def test_unsupported_steps_fall_back_to_scikit_learn(model_dir):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import PolynomialFeatures

    spec = ModelSpec.from_dict({"framework": "pipeline", "files": {}, "features": [{"name": "a"}, {"name": "b"}]})
    transformer = ColumnTransformer([("poly", PolynomialFeatures(), ["a", "b"])]).fit(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    with pytest.raises(featurizer.Unsupported):
        featurizer.compile_featurizer(transformer, spec)


def test_a_wrong_compilation_is_dropped_at_load(loaded, monkeypatch):
    model, spec = loaded
    bad = PipelineModel(model.featurizer, model.predictor, spec)
    bad.compiled = lambda numeric, strings: np.zeros((len(numeric), 12))
    bad.verify(codecs._from_values([list(r) for r in spec.check_rows], spec))
    assert bad.compiled is None


def test_a_clipping_min_max_scaler_keeps_its_own_range():
    """A clipping MinMaxScaler before another: it clips to its own feature_range (the compiled
    functions once all took the last scaler's range)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    spec = ModelSpec.from_dict({"framework": "pipeline", "files": {}, "features": [{"name": "x"}]})
    chain = make_pipeline(MinMaxScaler(feature_range=(0, 1), clip=True), MinMaxScaler(feature_range=(-5, 5)))
    transformer = ColumnTransformer([("x", chain, ["x"])]).fit(pd.DataFrame({"x": [0.0, 10.0]}))
    compiled = featurizer.compile_featurizer(transformer, spec)
    table = codecs.decode_csv(b"-20\n5\n30\n", spec)
    np.testing.assert_allclose(compiled(table.numeric, table.strings), transformer.transform(table.to_frame()), rtol=1e-12)


def test_the_booster_is_called_directly_and_answers_as_inplace_predict(loaded, holdout):
    from inference_image.fast_xgboost import DirectPredict

    model, spec = loaded
    assert isinstance(model.call, DirectPredict)
    table = codecs.decode_csv(holdout, spec)
    features = model.features(table)
    np.testing.assert_array_equal(model.call(features), model.predictor.inplace_predict(features))
    assert model.call(np.asfortranarray(features)).tolist() == model.predictor.inplace_predict(features).tolist()


def test_a_direct_call_that_differs_is_not_used(loaded, monkeypatch):
    from inference_image import fast_xgboost

    model, _ = loaded
    monkeypatch.setattr(fast_xgboost.DirectPredict, "__call__", lambda self, m: np.zeros(len(m), dtype=np.float32))
    assert fast_xgboost.verified(model.predictor, 11) is None
