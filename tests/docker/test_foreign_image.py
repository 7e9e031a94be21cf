"""`validate` judges an image mpkit did not build by SageMaker's contract alone: a Flask app under
gunicorn, with no mpkit file in it, described by a manifest with `image:` and no `model`. It
answers an over-limit body with an early 413 (without reading it), has no ENTRYPOINT (`serve` on
PATH), and reads its weights from a model.tar.gz in a layout of its own."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from package.manifest import load_manifest
from package.predict import Request, predict
from package.wheelhouse import ensure_wheelhouse
from validation.runner import validate

pytestmark = pytest.mark.docker
HERE = Path(__file__).parent / "foreign"
TAG = "mpkit-foreign/flask-scorer:1"
ROWS = [[float(i + j) for j in range(10)] for i in range(30)]


@pytest.fixture(scope="module")
def flask_image(engine, tmp_path_factory):
    from package.base_image import DEFAULT_BASE, resolve_base

    base = resolve_base(engine, DEFAULT_BASE, say=lambda _: None)
    context = tmp_path_factory.mktemp("flask-context")
    for name in ("Dockerfile", "app.py", "serve"):
        shutil.copy(HERE / name, context / name)
    shutil.copytree(ensure_wheelhouse("flask==3.1.0\ngunicorn==23.0.0\n", "3.11", say=lambda _: None), context / "wheels",
                    ignore=shutil.ignore_patterns(".complete"))
    engine.build(context, [TAG], {"BASE": base}, say=lambda _: None)
    return TAG


def _product(folder: Path, archive: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in ROWS))
    (folder / "sample.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in ROWS[:3]))
    (folder / "sample.json").write_text(json.dumps({"instances": ROWS[:3]}))
    image = {"ref": TAG, **({"model_archive": archive.name} if archive else {})}
    manifest = {
        "name": "flask-scorer", "version": "1.0.0", "image": image,
        "serving": {"content_types": ["text/csv", "application/json"], "accept_types": ["text/csv", "application/json"],
                    "default_accept": "text/csv"},
        "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]},
        "validation": {"input": "rows.csv", "content_type": "text/csv", "split_type": "Line", "accept": "text/csv",
                       "assemble_with": "Line", "instance_type": "ml.m5.large"},
        "samples": [{"file": "sample.csv", "content_type": "text/csv"},
                    {"file": "sample.json", "content_type": "application/json"}],
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder / "manifest.yaml"


def test_a_contract_correct_flask_image_passes_every_rule(engine, flask_image, tmp_path):
    manifest = load_manifest(_product(tmp_path / "p"))
    report = validate(manifest, engine, output=tmp_path / "reports", say=lambda _: None)
    assert report.failed == [], report.table()
    checks = {c.id: c for c in report.checks}
    assert checks["payload-over-limit"].status == "pass"  # Flask's early 413, read as a client reads it
    assert checks["entrypoint-exec-form"].status == "pass"  # no ENTRYPOINT: `serve` on PATH
    assert checks["record-count-realtime"].status == "pass" and checks["batch-transform"].status == "pass"
    assert "runtime-versions" not in checks  # an mpkit convention, not asked of a foreign image


def test_the_same_image_with_an_archive_of_its_own_layout(engine, flask_image, tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    archive = folder / "weights.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # no mpkit-model.json: the image's layout, not mpkit's
        data = " ".join(["2.0"] * 10).encode()
        info = tarfile.TarInfo("weights.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    manifest = load_manifest(_product(folder, archive))
    assert manifest.delivery == "s3"
    report = validate(manifest, engine, output=tmp_path / "reports", say=lambda _: None)
    assert report.failed == [], report.table()
    answer = predict(manifest, [Request(folder / "sample.csv", "text/csv", "text/csv")], engine=engine, say=lambda _: None)
    assert [float(v) for v in answer.answers[0].body.split()] == [2.0 * sum(r) for r in ROWS[:3]]


def test_a_prebuilt_image_is_neither_built_nor_published(tmp_path, flask_image):
    from package.build import build
    from package.errors import ConfigurationError
    from package.preflight import require_publishable

    manifest = load_manifest(_product(tmp_path / "p"))
    with pytest.raises(ConfigurationError, match="prebuilt image"):
        build(manifest)
    with pytest.raises(ConfigurationError, match="publishing a prebuilt image is not supported yet"):
        require_publishable(manifest)


def test_a_json_validation_input_of_the_declared_shape_is_measured_at_the_payload_limit(engine, flask_image, tmp_path):
    folder = tmp_path / "p"
    path = _product(folder)
    data = yaml.safe_load(path.read_text())
    (folder / "rows.json").write_text(json.dumps({"instances": ROWS}))
    data["validation"] = {"input": "rows.json", "content_type": "application/json", "split_type": "None",
                          "accept": "application/json", "instance_type": "ml.m5.large"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    report = validate(load_manifest(path), engine, output=tmp_path / "reports", say=lambda _: None)
    checks = {c.id: c for c in report.checks}
    assert checks["payload-realtime"].status == "pass" and checks["payload-over-limit"].status == "pass", report.table()
    assert report.failed == [], report.table()
