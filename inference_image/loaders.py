"""Load the model the spec describes, once, and give it one method: predict(Table) -> array.

Frameworks: `xgboost` (a Booster saved with save_model), `sklearn` (a joblib-pickled estimator),
`pipeline` (a scikit-learn featurizer followed by an XGBoost or scikit-learn predictor: the
serial inference pipeline of SageMaker's examples, in one container). `custom` models come from
the seller's own `model_fn` (see handler.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from .codecs import Table, _from_values
from .contract import MODEL_SPEC_FILE
from .errors import BadRequest
from .featurizer import Unsupported, compile_featurizer
from .spec import Feature, ModelSpec

log = logging.getLogger("mpkit.model")
CHECK_RTOL = 1e-9


class LoadError(RuntimeError):
    """The model files cannot be served; the message says which file and why."""


def _need(model_dir: Path, spec: ModelSpec, role: str) -> Path:
    name = spec.files.get(role)
    if not name:
        raise LoadError(f"{MODEL_SPEC_FILE} names no {role!r} file for framework {spec.framework!r}")
    path = model_dir / name
    if not path.is_file():
        raise LoadError(f"{path} is missing (the {role} file named in {MODEL_SPEC_FILE})")
    return path


def _load_predictor(path: Path, threads: int):
    """An XGBoost Booster for .json/.ubj/.bin files, else a joblib-pickled estimator."""
    if path.suffix in (".json", ".ubj", ".bin", ".model"):
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": threads})
        return booster
    import joblib

    estimator = joblib.load(path)
    if hasattr(estimator, "get_booster"):  # an XGBoost scikit-learn wrapper
        estimator.get_booster().set_param({"nthread": threads})
    elif hasattr(estimator, "n_jobs"):
        estimator.n_jobs = threads
    return estimator


def _predict(predictor, matrix: np.ndarray) -> np.ndarray:
    if hasattr(predictor, "inplace_predict"):
        return predictor.inplace_predict(matrix)
    return predictor.predict(matrix)


def _predictor_features(predictor) -> tuple:
    names = getattr(predictor, "feature_names", None) or getattr(predictor, "feature_names_in_", None)
    count = predictor.num_features() if hasattr(predictor, "num_features") else getattr(predictor, "n_features_in_", None)
    if names is not None:
        return tuple(Feature(str(n)) for n in names)
    if count:
        return tuple(Feature(f"f{i}") for i in range(int(count)))
    raise LoadError("the model does not say how many features it takes; list them under model.features in the manifest")


class PlainModel:
    """A predictor fed the numeric features directly (framework xgboost or sklearn)."""

    def __init__(self, predictor, spec: ModelSpec):
        if spec.string_index:
            raise LoadError(f"framework {spec.framework!r} takes numbers only; string features need a pipeline featurizer")
        self.predictor = predictor
        self.spec = spec

    def predict(self, table: Table) -> np.ndarray:
        return _predict(self.predictor, table.numeric)


class PipelineModel:
    """A fitted scikit-learn featurizer, compiled where possible, then the predictor."""

    def __init__(self, featurizer, predictor, spec: ModelSpec):
        self.featurizer = featurizer
        self.predictor = predictor
        self.spec = spec
        self.compiled = None
        try:
            self.compiled = compile_featurizer(featurizer, spec)
        except Unsupported as exc:
            log.warning("featurizer not compiled (%s): using scikit-learn's transform", exc)

    def reference_features(self, table: Table) -> np.ndarray:
        out = self.featurizer.transform(table.to_frame())
        return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=np.float64)

    def features(self, table: Table) -> np.ndarray:
        if self.compiled is not None:
            return self.compiled(table.numeric, table.strings)
        return self.reference_features(table)

    def verify(self, table: Table) -> None:
        """Drop the compiled featurizer unless it equals scikit-learn's on these rows."""
        if self.compiled is None:
            return
        try:
            ours = self.compiled(table.numeric, table.strings)
        except BadRequest as exc:  # an unknown category scikit-learn would also refuse
            log.warning("check rows refused by the compiled featurizer (%s): using scikit-learn's transform", exc)
            self.compiled = None
            return
        theirs = self.reference_features(table)
        if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=CHECK_RTOL, atol=1e-12, equal_nan=True):
            log.warning("compiled featurizer differs from scikit-learn's on the check rows: using scikit-learn's transform")
            self.compiled = None

    def predict(self, table: Table) -> np.ndarray:
        return _predict(self.predictor, self.features(table))


def load_model(model_dir: str | Path, spec: ModelSpec, threads: int = 1):
    """Load, smoke-test and return (model, spec); the spec gains features the model names."""
    model_dir = Path(model_dir)
    started = time.perf_counter()
    if spec.framework in ("xgboost", "sklearn"):
        predictor = _load_predictor(_need(model_dir, spec, "model"), threads)
        if not spec.features:
            spec = spec.with_features(_predictor_features(predictor))
        model = PlainModel(predictor, spec)
    elif spec.framework == "pipeline":
        import joblib

        featurizer = joblib.load(_need(model_dir, spec, "featurizer"))
        predictor = _load_predictor(_need(model_dir, spec, "predictor"), threads)
        if not spec.features:
            names = getattr(featurizer, "feature_names_in_", None)
            if names is None:
                raise LoadError("the featurizer does not name its columns; list them under model.features in the manifest")
            spec = spec.with_features(tuple(Feature(str(n)) for n in names))
        model = PipelineModel(featurizer, predictor, spec)
    else:
        raise LoadError(f"framework {spec.framework!r} has no built-in loader; give a handler with model_fn")

    check = smoke_table(spec)
    if isinstance(model, PipelineModel) and spec.check_rows:
        model.verify(check)
    predictions = np.asarray(model.predict(check))
    if predictions.shape[0] != len(check):
        raise LoadError(f"the model returned {predictions.shape[0]} predictions for {len(check)} rows")
    featurizer = "none"
    if isinstance(model, PipelineModel):
        featurizer = "compiled" if model.compiled is not None else "scikit-learn"
    log.info("model loaded in %.3f s (%s, %d features, featurizer %s)", time.perf_counter() - started,
             spec.framework, len(spec.features), featurizer)
    return model, spec


def smoke_table(spec: ModelSpec) -> Table:
    """The check rows of the spec, or one row of zeros when it has none."""
    if spec.check_rows:
        return _from_values([list(r) for r in spec.check_rows], spec)
    return Table(np.zeros((1, len(spec.numeric_index))), np.full((1, len(spec.string_index)), None, dtype=object), spec)
