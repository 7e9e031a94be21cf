"""A new seller's path, with mpkit installed from its wheel into a fresh venv outside the
repository and a folder that holds nothing but their model file: `mpkit init`, fill in the
samples, the validation input and the role, then `build`, `predict` and `validate`. The image's
answers equal the model's own in-process predictions."""

from __future__ import annotations

import json
import subprocess

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.ensemble import GradientBoostingRegressor

from tests.wheel import build_wheel, fresh_venv

pytestmark = pytest.mark.docker
COLUMNS = ["height_cm", "weight_kg", "age_years", "resting_hr"]


@pytest.fixture(scope="module")
def mpkit_bin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seller-install")
    return fresh_venv(build_wheel(tmp), tmp / "venv")


def run(bin_dir, folder, *args, timeout=1200):
    return subprocess.run([str(bin_dir / "mpkit"), *args], capture_output=True, text=True, cwd=folder, timeout=timeout)


def test_a_folder_with_only_a_model_file_goes_from_init_to_a_passing_validate(mpkit_bin, tmp_path):
    folder = tmp_path / "fitness-score"
    folder.mkdir()
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(loc=[170, 70, 40, 65], scale=[10, 12, 12, 8], size=(400, 4)).round(1), columns=COLUMNS)
    y = 0.3 * x.height_cm - 0.5 * x.weight_kg + 0.1 * x.age_years - 0.2 * x.resting_hr + rng.normal(size=400)
    model = GradientBoostingRegressor(n_estimators=25, random_state=0).fit(x, y)
    joblib.dump(model, folder / "model.joblib")
    assert sorted(p.name for p in folder.iterdir()) == ["model.joblib"]

    made = run(mpkit_bin, folder, "init", "--model", "model.joblib")
    assert made.returncode == 0, made.stderr
    data = yaml.safe_load((folder / "manifest.yaml").read_text())
    assert [f["name"] for f in data["model"]["features"]] == COLUMNS and data["model"]["framework"] == "sklearn"

    # Before the placeholders are replaced, validate refuses with the file, line and field.
    refused = run(mpkit_bin, folder, "validate")
    assert refused.returncode == 2 and "samples[0].file" in refused.stderr and "manifest.yaml:" in refused.stderr

    rows = x.iloc[300:]
    (folder / "samples").mkdir()
    (folder / "validation").mkdir()
    rows.iloc[:5].to_csv(folder / "samples" / "input.csv", header=False, index=False)
    values = rows.iloc[:5].to_numpy().tolist()
    (folder / "samples" / "input.json").write_text(json.dumps({"instances": values}))
    (folder / "samples" / "input.jsonl").write_text("".join(json.dumps(v) + "\n" for v in values))
    rows.to_csv(folder / "validation" / "input.csv", header=False, index=False)
    data["validation"]["role"] = "arn:aws:iam::123456789012:role/mpkit-validation"
    data["description"] = "A fitness score from height, weight, age and resting heart rate."
    (folder / "manifest.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    built = run(mpkit_bin, folder, "build", "--json")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["image"] == "mpkit/fitness-score:1.0.0"

    answered = run(mpkit_bin, folder, "predict", "--file", "validation/input.csv", "--content-type", "text/csv",
                   "--accept", "text/csv", "--json")
    assert answered.returncode == 0, answered.stderr
    body = json.loads(answered.stdout)["results"][0]["body"]
    np.testing.assert_allclose([float(v) for v in body.split()], model.predict(rows), rtol=1e-9)

    checked = run(mpkit_bin, folder, "validate", "--json", "--report-dir", "reports")
    report = json.loads(checked.stdout)
    assert checked.returncode == 0, [c for c in report["checks"] if c["status"] == "fail"]
    versions = next(c for c in report["checks"] if c["id"] == "runtime-versions")
    assert versions["status"] == "pass" and "saved by scikit-learn" in versions["measured"]
