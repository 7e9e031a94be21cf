"""Models a seller made elsewhere, for the tests and the benchmark: trained in a virtual
environment of the seller's own, with library versions other than mpkit's defaults, and written
into a product folder with its manifest. Imports nothing from mpkit."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import yaml

ROLE = "arn:aws:iam::123456789012:role/mpkit-validation"

TRAIN = r'''
import json, sys
from pathlib import Path
import numpy as np
out, kind = Path(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(7)
x = rng.normal(size=(300, 6)).round(4)
y = x @ np.array([3.0, -2.0, 0.5, 0.0, 1.5, -1.0]) + np.sin(x[:, 0]) * 4 + rng.normal(scale=0.1, size=300)
if kind == "sklearn":
    import joblib
    from sklearn.ensemble import GradientBoostingRegressor
    model = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x[:250], y[:250])
    joblib.dump(model, out / "model.joblib")
    predictions = model.predict(x[250:])
else:
    import xgboost
    booster = xgboost.train({"max_depth": 3, "eta": 0.3, "seed": 0}, xgboost.DMatrix(x[:250], label=y[:250]), 30)
    booster.save_model(str(out / "model.ubj"))
    predictions = booster.predict(xgboost.DMatrix(x[250:]))
np.savetxt(out / "rows.csv", x[250:], delimiter=",", fmt="%.4f")
np.savetxt(out / "sample.csv", x[250:253], delimiter=",", fmt="%.4f")
(out / "expected.json").write_text(json.dumps([float(p) for p in predictions]))
'''


def seller_env(folder: Path, packages: list[str]) -> Path:
    """A virtual environment of the seller's in `folder`, with its own library versions from PyPI
    (made once: an existing one is reused)."""
    python = folder / "venv" / "bin" / "python"
    if not python.exists():
        venv.create(folder / "venv", with_pip=True)
        run = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], capture_output=True, text=True,
                             timeout=900)
        if run.returncode != 0:
            raise RuntimeError(f"pip could not install {packages}: {run.stderr[-2000:]}")
    return python


def make_product(python: Path, folder: Path, kind: str, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(TRAIN)
    run = subprocess.run([str(python), str(folder / "train.py"), str(folder), kind], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"training failed: {run.stderr[-2000:]}")
    model = "model.joblib" if kind == "sklearn" else "model.ubj"
    manifest = {
        "name": f"mpkit-test-{kind}-old", "version": "1.0.0",
        "model": {"framework": kind, "files": {"model": model}, "features": [{"name": f"x{i}"} for i in range(6)]},
        "serving": {"content_types": ["text/csv"], "accept_types": ["text/csv", "application/json"]},
        "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]},
        "validation": {"input": "rows.csv", "content_type": "text/csv", "split_type": "Line", "accept": "text/csv",
                       "instance_type": "ml.m5.large", "role": ROLE},
        "samples": [{"file": "sample.csv", "content_type": "text/csv", "accept": "text/csv"}],
        **changes,
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


