"""A seller's own handler, end to end, delivered in model.tar.gz as SageMaker's framework
containers expect it (`code/` inside the archive, extracted to /opt/ml/model), with an extra
package of its own declared in the runtime: built, served as SageMaker serves it, and validated."""

from __future__ import annotations

import json
import tarfile

import pytest
import yaml

from package.build import build
from package.manifest import load_manifest
from package.predict import Request, predict, requests_for
from validation.runner import validate

pytestmark = pytest.mark.docker

HANDLER = '''
import json
from pathlib import Path

import tabulate  # the handler's own requirement, from runtime.requirements


class OutOfRange(ValueError):
    status_code = 422


def model_fn(model_dir):
    return json.loads((Path(model_dir) / "weights.json").read_text())


def predict_fn(data, model):
    x = data.numeric
    if (x[:, 0] < 0).any():
        raise OutOfRange("a reading below zero is outside the sensor's range")
    if (x[:, 1] == 999).any():
        raise RuntimeError("the drift table is corrupt")  # a fault of the handler's own: 500
    return x @ model["w"] + model["b"]


def output_fn(prediction, accept):
    if accept == "application/json":
        return json.dumps({"predictions": [round(float(p), 6) for p in prediction], "table": tabulate.__name__})
    return "".join(f"{p:.6f}\\n" for p in prediction)
'''


def test_a_handler_in_model_tar_gz_with_its_own_requirement_is_served_and_validated(engine, tmp_path):
    folder = tmp_path / "sensor-score"
    folder.mkdir()
    (folder / "weights.json").write_text(json.dumps({"w": [2.0, -1.0], "b": 0.5}))
    (folder / "my_handler.py").write_text(HANDLER)
    (folder / "handler-requirements.txt").write_text("tabulate==0.9.0\n")
    rows = [[1.0 + i, 0.5 * i] for i in range(40)]
    (folder / "rows.csv").write_text("".join(f"{a},{b}\n" for a, b in rows))
    (folder / "sample.csv").write_text("3,1\n4,2\n")
    manifest = {
        "name": "mpkit-test-handler", "version": "1.0.0",
        "model": {"framework": "custom", "files": {"weights": "weights.json"}, "handler": "my_handler.py",
                  "delivery": "s3", "features": [{"name": "reading"}, {"name": "drift"}]},
        "runtime": {"requirements": "handler-requirements.txt"},
        "serving": {"content_types": ["text/csv"], "accept_types": ["text/csv", "application/json"],
                    "default_accept": "text/csv"},
        "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]},
        "validation": {"input": "rows.csv", "content_type": "text/csv", "split_type": "Line", "accept": "text/csv",
                       "assemble_with": "Line", "instance_type": "ml.m5.large",
                       "role": "arn:aws:iam::123456789012:role/mpkit-validation"},
        "samples": [{"file": "sample.csv", "content_type": "text/csv", "accept": "text/csv"}],
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    m = load_manifest(folder / "manifest.yaml")

    built = build(m, engine=engine, say=lambda _: None)
    with tarfile.open(built.model_tar) as tar:
        assert {"weights.json", "code/my_handler.py", "mpkit-model.json"} <= set(tar.getnames())

    answers = predict(m, requests_for(m, [str(folder / "sample.csv")], "text/csv", None), engine=engine, say=lambda _: None)
    assert [float(v) for v in answers.answers[0].body.split()] == [5.5, 6.5]
    (folder / "neg.csv").write_text("-1,0\n")
    refused = predict(m, [Request(folder / "neg.csv", "text/csv", "application/json")], engine=engine, say=lambda _: None)
    assert refused.answers[0].status == 422 and "outside the sensor" in refused.answers[0].body and refused.answers[0].log is None

    # A 500: the answer comes with the container's log for that request, and --keep leaves the
    # container running for `docker logs` after predict has returned.
    (folder / "fault.csv").write_text("1,999\n")
    faulted = predict(m, [Request(folder / "fault.csv", "text/csv", None)], engine=engine, keep=True, say=lambda _: None)
    try:
        answer = faulted.answers[0]
        assert answer.status == 500 and faulted.failed
        assert "failed inside the server" in answer.log and "RuntimeError: the drift table is corrupt" in answer.log
        kept = engine.client.containers.get(faulted.kept)
        assert kept.status == "running" and "the drift table is corrupt" in kept.logs().decode()
    finally:
        engine.client.containers.get(faulted.kept).remove(force=True)

    report = validate(m, engine, output=tmp_path / "reports", startup_timeout=60, say=lambda _: None)
    assert report.failed == [], report.table()
    assert report.batch["records"] == len(rows)
