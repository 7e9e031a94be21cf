"""Declared inputs, enforced: each class of bad input a demanding buyer sends is answered 400,
never 2xx (billed under per-inference pricing) and never 500, with a message that names the row
and column and quotes the value as it was sent. Called through the app, on the example model."""

from __future__ import annotations

import json

import pytest

from inference_image.app import create_app
from inference_image.settings import Settings
from tests.asgi_client import AsgiClient

GOOD = ["47", "male", "22.5", "82", "131", "66.8", "41", "3", "4.7536", "89"]  # age, sex, bmi, bp, s1..s6
NAMES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


@pytest.fixture(scope="module")
def client(model_dir):
    return AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": str(model_dir)}, baked_path="/none")))


def _csv(**cells) -> bytes:
    row = [cells.get(name, value) for name, value in zip(NAMES, GOOD, strict=True)]
    return (",".join(row) + "\n").encode()


def _post(client, body: bytes, content_type: str = "text/csv"):
    reply = client.post("/invocations", data=body, headers={"Content-Type": content_type, "Accept": "application/json"})
    return reply.status_code, (json.loads(reply.data) if reply.data else {})


def _refused(client, body, content_type="text/csv", column=None, quoted=None):
    status, answer = _post(client, body, content_type)
    assert status == 400, (status, answer)
    error = answer["error"]
    if column is not None:
        assert error["column"] == column, error
    if quoted is not None:
        assert quoted in error["message"], error
    assert "np.str_" not in error["message"] and "Traceback" not in error["message"]
    return error


def test_the_good_row_is_answered(client):
    assert _post(client, _csv())[0] == 200


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e400", "nan", "NaN", "٤٧", "２２.5", "1_000", "0x10", "4,7", "\x00",
                                   "47\x00"])
@pytest.mark.parametrize("column", ["age", "bp"])  # required, and optional
def test_a_number_that_is_not_an_ascii_finite_number_is_refused(client, value, column):
    if value == "4,7":  # a decimal comma, quoted as CSV allows
        _refused(client, _csv(**{column: '"4,7"'}), column=column, quoted=repr(value))
    else:
        _refused(client, _csv(**{column: value}), column=column, quoted=repr(value))


@pytest.mark.parametrize("value", ["inf", "1e400", "NaN", "1_000"])
def test_the_fast_paths_for_large_bodies_refuse_them_too(client, value):
    rows = [_csv()] * 400
    rows[300] = _csv(s1=value)
    error = _refused(client, b"".join(rows), column="s1", quoted=repr(value))
    assert error["row"] == 300


@pytest.mark.parametrize("value", ["banana", "MALE", "2.5", "\x00male", "male\x00", " male"])
def test_a_category_outside_the_declared_ones_is_refused_with_them(client, value):
    error = _refused(client, _csv(sex=value), column="sex")
    assert "'female', 'male'" in error["message"] and repr(value) in error["message"]


def test_json_values_of_the_wrong_declared_type_are_refused(client):
    row = [47, "male", 22.5, 82, 131, 66.8, 41, 3, 4.7536, 89]
    assert _post(client, json.dumps({"instances": [row]}).encode(), "application/json")[0] == 200
    for column, value in (("age", "47"), ("bmi", True), ("bp", [82]), ("sex", 2.5), ("sex", {"v": "male"})):
        bad = list(row)
        bad[NAMES.index(column)] = value
        _refused(client, json.dumps({"instances": [bad]}).encode(), "application/json", column=column)


def test_a_lone_surrogate_is_refused_not_crashed_on(client):
    body = b'{"instances": [[47, "\\ud800", 22.5, 82, 131, 66.8, 41, 3, 4.75, 89]]}'
    _refused(client, body, "application/json", column="sex")


@pytest.mark.parametrize("body", [
    b'{"instances": [[NaN, "male", 22.5, 82, 131, 66.8, 41, 3, 4.75, 89]]}',
    b'{"instances": [[Infinity, "male", 22.5, 82, 131, 66.8, 41, 3, 4.75, 89]]}',
    b'{"instances": [[1e400, "male", 22.5, 82, 131, 66.8, 41, 3, 4.75, 89]]}',
    b'{"instances": [{"age": 47, "age": 50, "sex": "male", "bmi": 22.5}]}',
    b"[" * 5000 + b"]" * 5000,
    b'{"instances": [[' + b"9" * 5000 + b', "male", 22.5, 82, 131, 66.8, 41, 3, 4.75, 89]]}',
])
@pytest.mark.parametrize("content_type", ["application/json", "application/jsonlines"])
def test_what_json_readers_let_through_or_choke_on_is_a_400(client, body, content_type):
    _refused(client, body.replace(b'{"instances": ', b"").removesuffix(b"}") if content_type.endswith("lines")
             and body.startswith(b'{"instances"') else body, content_type)


def test_an_allowed_unknown_category_reaches_the_model(tmp_path, manifest):
    import dataclasses

    from inference_image.handler import Handler
    from inference_image.spec import ModelSpec
    from package.artifact import stage_model_dir

    folder = stage_model_dir(manifest, tmp_path / "model")
    spec = ModelSpec.read(folder)
    allowed = spec.with_features(tuple(dataclasses.replace(f, allow_unknown=True) if f.categories else f
                                       for f in spec.features))
    (folder / "mpkit-model.json").write_text(allowed.to_json())
    handler = Handler(Settings.load(env={"MPKIT_MODEL_DIR": str(folder)}, baked_path="/none"))
    out, _, rows = handler.invoke(_csv(sex="other"), "text/csv", "application/json")
    assert rows == 1 and len(json.loads(out)["predictions"]) == 1
