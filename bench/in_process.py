"""The in-process half of the benchmark, run inside the image itself (the interpreter and
libraries the container serves with): for each body, requests per second through

- the straightforward path of the seeds and AWS's samples: pandas read_csv -> the fitted
  featurizer's transform -> XGBoost -> JSON (for a bare scikit-learn model: read_csv ->
  predict -> JSON);
- ours: the image's own Handler (parse, compiled featurizer, predict, serialize).

Both give XGBoost one thread, as each server worker has. Imports nothing from the seller side.
Usage (inside the image): python3 in_process.py MODEL_DIR BODY_FILE...; prints one JSON object.
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


def main(model_dir: str, *body_files: str) -> dict:
    import joblib
    import pandas as pd
    import xgboost

    from inference_image.handler import Handler
    from inference_image.settings import Settings

    model = Path(model_dir)
    handler = Handler(Settings.load(env={"MPKIT_MODEL_DIR": model_dir}, baked_path="/none"))
    spec = handler.spec
    names = spec.names
    if spec.framework == "sklearn":
        estimator = joblib.load(model / spec.files["model"])

        def straightforward(body):
            frame = pd.read_csv(io.BytesIO(body), header=None, names=names)
            return json.dumps({"predictions": estimator.predict(frame.to_numpy()).tolist()}).encode()
    else:
        featurizer = joblib.load(model / spec.files["featurizer"])
        booster = xgboost.Booster()
        booster.load_model(str(model / spec.files["predictor"]))
        booster.set_param({"nthread": 1})

        def straightforward(body):
            frame = pd.read_csv(io.BytesIO(body), header=None, names=names)
            return json.dumps({"predictions": booster.inplace_predict(featurizer.transform(frame)).tolist()}).encode()

    results = {}
    for path in body_files:
        body = Path(path).read_bytes()
        rps = best_per_second({"straightforward": lambda body=body: straightforward(body),
                               "ours": lambda body=body: handler.invoke(body, "text/csv", "application/json")})
        results[Path(path).stem] = {"straightforward_rps": rps["straightforward"], "ours_rps": rps["ours"],
                                    "speedup": rps["ours"] / rps["straightforward"]}
    return results


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
