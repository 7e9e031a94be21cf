"""A classifier product end to end: a scikit-learn classifier with class names, answering labels
and probabilities, built, validated as SageMaker would run it, and equal to the model's own answers."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
import yaml
from sklearn.ensemble import RandomForestClassifier

from package.build import build
from package.manifest import load_manifest
from validation.runner import validate

pytestmark = pytest.mark.docker


def test_a_classifier_answers_labels_and_probabilities_and_passes_validate(engine, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 4)).round(3)
    y = np.where(x[:, 0] - x[:, 2] > 0.3, "churn", "stay")
    model = RandomForestClassifier(n_estimators=15, random_state=0).fit(x, y)
    joblib.dump(model, tmp_path / "model.joblib")
    rows = x[300:]
    (tmp_path / "rows.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
    (tmp_path / "s.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in rows[:3]))
    (tmp_path / "s.json").write_text(json.dumps({"instances": rows[:3].tolist()}))
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3].tolist()))
    manifest = {
        "name": "mpkit-test-classifier", "version": "1.0.0",
        "model": {"framework": "sklearn", "files": {"model": "model.joblib"},
                  "features": [{"name": n} for n in ("tenure", "spend", "tickets", "logins")],
                  "output": {"name": "churn", "task": "classification", "answer": "both"}},
        "serving": {"content_types": ["text/csv", "application/json", "application/jsonlines"],
                    "accept_types": ["application/json", "text/csv", "application/jsonlines"]},
        "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]},
        "validation": {"input": "rows.csv", "content_type": "text/csv", "split_type": "Line", "accept": "text/csv",
                       "assemble_with": "Line", "instance_type": "ml.m5.large",
                       "role": "arn:aws:iam::123456789012:role/mpkit-validation"},
        "samples": [{"file": "s.csv", "content_type": "text/csv"}, {"file": "s.json", "content_type": "application/json"},
                    {"file": "s.jsonl", "content_type": "application/jsonlines"}],
    }
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    m = load_manifest(tmp_path / "manifest.yaml")
    image = build(m, engine=engine, say=lambda _: None).image
    with engine.serve(image) as container:
        container.wait_ready(120)
        reply = container.invoke((tmp_path / "rows.csv").read_bytes(), "text/csv", "application/json")
        lines = container.invoke((tmp_path / "rows.csv").read_bytes(), "text/csv", "application/jsonlines")
    records = json.loads(reply.body)["predictions"]
    assert records == [json.loads(line) for line in lines.body.decode().splitlines()]
    assert [r["label"] for r in records] == model.predict(rows).tolist()
    np.testing.assert_allclose([[r["probabilities"][c] for c in ("churn", "stay")] for r in records],
                               model.predict_proba(rows), rtol=1e-12)

    report = validate(m, engine, output=tmp_path / "reports", startup_timeout=60, say=lambda _: None)
    assert report.failed == [], report.table()
    out = (tmp_path / "reports" / "batch-output" / "rows.csv.out").read_text().splitlines()
    assert len(out) == len(rows) and out[0].split(",")[0] in ("churn", "stay") and len(out[0].split(",")) == 3
