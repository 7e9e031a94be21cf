"""The in-process half of the benchmark: for each body, requests per second through

- `straightforward`: the path of the seeds and AWS's samples, pandas read_csv -> the fitted
  featurizer's transform -> XGBoost -> JSON (for a bare scikit-learn model: read_csv ->
  predict -> JSON), run in the build's `deps` stage: the same interpreter and library versions
  as the image, with every default library (the image may leave scikit-learn and pandas out);
- `ours`: the image's own Handler (parse, compiled featurizer, predict, serialize), run inside
  the image itself on the model baked into it.

Both give XGBoost one thread, as each server worker has. Imports nothing from the seller side.
Usage: python3 in_process.py straightforward|ours MODEL_DIR BODY_FILE...; prints one JSON object.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path


def best_per_second(fns: dict, rounds: int = 5, seconds: float = 0.4) -> dict:
    """Calls per second of each function, the best of `rounds` short runs taken in turns: on a
    shared machine the best run is the one least disturbed by others (timeit's rule)."""
    best = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                fn()
                count += 1
            best[name] = max(best[name], count / (time.perf_counter() - started))
    return best


def straightforward_path(model_dir: str):
    """The seeds' path, in the build's `deps` stage (every default library, none of mpkit)."""
    import joblib
    import pandas as pd
    import xgboost

    model = Path(model_dir)
    spec = json.loads((model / "mpkit-model.json").read_text())
    names = [f["name"] for f in spec["features"]]
    if spec["framework"] == "sklearn":
        estimator = joblib.load(model / spec["files"]["model"])

        def straightforward(body):
            frame = pd.read_csv(io.BytesIO(body), header=None, names=names)
            return json.dumps({"predictions": estimator.predict(frame.to_numpy()).tolist()}).encode()
    else:
        featurizer = joblib.load(model / spec["files"]["featurizer"])
        booster = xgboost.Booster()
        booster.load_model(str(model / spec["files"]["predictor"]))
        booster.set_param({"nthread": 1})

        def straightforward(body):
            frame = pd.read_csv(io.BytesIO(body), header=None, names=names)
            return json.dumps({"predictions": booster.inplace_predict(featurizer.transform(frame)).tolist()}).encode()
    return straightforward


def our_path(model_dir: str):
    """The image's own Handler, in the image itself, on the model as it was baked in."""
    from inference_image.handler import Handler
    from inference_image.settings import Settings

    handler = Handler(Settings.load(env={"MPKIT_MODEL_DIR": model_dir}, baked_path="/none"))
    return lambda body: handler.invoke(body, "text/csv", "application/json")


def main(mode: str, model_dir: str, *body_files: str) -> dict:
    path = (straightforward_path if mode == "straightforward" else our_path)(model_dir)
    results = {}
    for name in body_files:
        body = Path(name).read_bytes()
        results[Path(name).stem] = best_per_second({mode: lambda body=body: path(body)})[mode]
    return results


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
