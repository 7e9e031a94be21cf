"""Train the example product: diabetes progression, a featurizer followed by XGBoost.

The data ships inside scikit-learn (no download). The featurizer is the one of the serial
inference pipeline in the seed blog post (impute and scale the numbers, impute and one-hot the
category) and XGBoost predicts from its output; both run in one container. Seeded, so a re-run
writes the same model.

Writes, under --output (default example/artifacts):
  model/featurizer.joblib, model/xgboost-model.ubj, model/check-rows.json
  samples/input.csv, samples/input.json, samples/input.jsonl
  validation/input.csv        (all held-out rows, header-less CSV: the batch validation input)
  metrics.json                (the holdout metric)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import joblib
import numpy as np
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SEED = 20261123
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
NUMERIC = [f for f in FEATURES if f != "sex"]
# Optional features get holes in the training data so the imputer learns something real.
OPTIONAL = ["bp", "s1", "s2", "s3", "s4", "s5", "s6"]
MISSING_RATE = 0.05
# The dataset codes sex as 1 or 2 without saying which is which; the labels are ours.
SEX_LABELS = {1.0: "female", 2.0: "male"}
CHECK_ROWS = 32
SAMPLE_ROWS = 5


def load_data():
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map(SEX_LABELS)
    rng = np.random.default_rng(SEED)
    for column in OPTIONAL:
        holes = rng.random(len(frame)) < MISSING_RATE
        frame.loc[holes, column] = np.nan
    return frame[FEATURES], frame["target"].to_numpy()


def build_featurizer() -> ColumnTransformer:
    numeric = Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())])
    categorical = Pipeline([
        ("imputer", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    return ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, ["sex"])])


def row_values(row) -> list:
    """A data frame row as JSON values: numbers, strings, None for a hole."""
    out = []
    for value in row:
        if isinstance(value, str):
            out.append(value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        else:
            out.append(float(value))
    return out


def csv_cell(value) -> str:
    return "" if value is None else (value if isinstance(value, str) else repr(value))


def write_csv(path: Path, rows: list) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).parent / "artifacts"))
    args = parser.parse_args(argv)
    out = Path(args.output)
    for sub in ("model", "samples", "validation"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    x, y = load_data()
    x_train, x_hold, y_train, y_hold = train_test_split(x, y, test_size=0.2, random_state=SEED)
    featurizer = build_featurizer().fit(x_train)
    model = xgboost.XGBRegressor(n_estimators=100, max_depth=3, learning_rate=0.05, subsample=0.9,
                                 random_state=SEED, n_jobs=1)
    model.fit(featurizer.transform(x_train), y_train)

    joblib.dump(featurizer, out / "model" / "featurizer.joblib")
    model.get_booster().save_model(str(out / "model" / "xgboost-model.ubj"))

    hold_rows = [row_values(r) for r in x_hold.itertuples(index=False)]
    (out / "model" / "check-rows.json").write_text(json.dumps(hold_rows[:CHECK_ROWS]))
    samples = hold_rows[:SAMPLE_ROWS]
    write_csv(out / "samples" / "input.csv", samples)
    (out / "samples" / "input.json").write_text(
        json.dumps({"instances": [dict(zip(FEATURES, r, strict=True)) for r in samples]}, indent=1) + "\n")
    (out / "samples" / "input.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    write_csv(out / "validation" / "input.csv", hold_rows)

    predicted = model.predict(featurizer.transform(x_hold))
    metrics = {
        "name": "rmse",
        "value": round(float(math.sqrt(mean_squared_error(y_hold, predicted))), 4),
        "r2": round(float(r2_score(y_hold, predicted)), 4),
        "holdout_rows": int(len(y_hold)),
        "train_rows": int(len(y_train)),
        "seed": SEED,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(f"trained: holdout RMSE {metrics['value']} (R² {metrics['r2']}) on {metrics['holdout_rows']} rows -> {out}")
    return metrics


if __name__ == "__main__":
    main()
