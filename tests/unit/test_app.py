"""The app's HTTP behaviour, called as its server calls it, on the real example model."""

import json
import time
from pathlib import Path

import pytest

from inference_image.app import create_app
from inference_image.settings import Settings
from tests.asgi_client import AsgiClient

TYPES = ("text/csv", "application/json", "application/jsonlines")


@pytest.fixture(scope="module")
def settings(model_dir):
    return Settings.load(env={"MPKIT_MODEL_DIR": str(model_dir), "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}, baked_path="/none")


@pytest.fixture(scope="module")
def client(settings):
    return AsgiClient(create_app(settings))


@pytest.fixture(scope="module")
def samples(product):
    folder = product / "example" / "artifacts" / "samples"
    return {"text/csv": (folder / "input.csv").read_bytes(), "application/json": (folder / "input.json").read_bytes(),
            "application/jsonlines": (folder / "input.jsonl").read_bytes()}


def test_ping_is_200_with_an_empty_body(client):
    reply = client.get("/ping")
    assert reply.status_code == 200 and reply.data == b""


@pytest.mark.parametrize("content_type", TYPES)
@pytest.mark.parametrize("accept", TYPES + ("*/*", None))
def test_every_content_type_and_accept(client, samples, content_type, accept):
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    reply = client.post("/invocations", data=samples[content_type], headers=headers)
    assert reply.status_code == 200, reply.data
    expected = accept if accept in TYPES else "application/json"
    assert reply.mimetype == expected
    if expected == "application/json":
        assert len(json.loads(reply.data)["predictions"]) == 5
    else:
        assert len(reply.data.decode().strip().splitlines()) == 5


def test_answers_agree_across_types(client, samples):
    answers = [json.loads(client.post("/invocations", data=samples[t], headers={"Content-Type": t}).data)["predictions"] for t in TYPES]
    assert answers[0] == answers[1] == answers[2]


@pytest.mark.parametrize("headers, body, status", [
    ({"Content-Type": "text/csv"}, b"1,2,3\n", 400),
    ({"Content-Type": "text/csv"}, b"47,male,22.5,82,131,66.8,41,3,4.75,abc\n", 400),
    ({"Content-Type": "application/json"}, b'{"instances": [', 400),
    ({"Content-Type": "text/csv"}, b"", 400),
    ({"Content-Type": "text/csv", "Accept": "image/png"}, b"47,male,22.5,82,131,66.8,41,3,4.75,89\n", 406),
    ({"Content-Type": "text/plain"}, b"47,male,22.5,82,131,66.8,41,3,4.75,89\n", 415),
    ({}, b"47,male,22.5,82,131,66.8,41,3,4.75,89\n", 415),
])
def test_errors_are_never_2xx_and_say_what_was_wrong(client, headers, body, status):
    reply = client.post("/invocations", data=body, headers=headers)
    assert reply.status_code == status
    error = reply.get_json()["error"]
    assert error["status"] == status and error["message"]
    assert client.get("/ping").status_code == 200


def test_error_names_row_and_column(client):
    reply = client.post("/invocations", data=b"47,male,22.5,82,131,66.8,41,3,4.75,89\n47,male,,82,131,66.8,41,3,4.75,89\n",
                        headers={"Content-Type": "text/csv"})
    assert reply.status_code == 400
    assert reply.get_json()["error"] | {} == reply.get_json()["error"]
    assert (reply.get_json()["error"]["row"], reply.get_json()["error"]["column"]) == (1, "bmi")


def test_payload_over_the_limit_is_413_from_content_length(client):
    body = b"47,male,22.5,82,131,66.8,41,3,4.75,89\n" * 30000  # > 1 MiB
    reply = client.post("/invocations", data=body, headers={"Content-Type": "text/csv"})
    assert reply.status_code == 413 and "at most 1048576 bytes" in reply.get_json()["error"]["message"]


def test_unknown_route_and_method(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/invocations").status_code == 405
    reply = client.post("/ping")
    assert reply.status_code == 405 and reply.get_json()["error"]["type"] == "method_not_allowed"
    head = client.head("/ping")
    assert head.status_code == 200 and head.data == b""


def test_execution_parameters(model_dir):
    settings = Settings.load(env={"MPKIT_MODEL_DIR": str(model_dir), "SAGEMAKER_MODEL_SERVER_WORKERS": "3"}, baked_path="/none")
    reply = AsgiClient(create_app(settings)).get("/execution-parameters")
    assert reply.get_json() == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


def _custom_model(tmp_path: Path, handler_code: str) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(handler_code)
    (tmp_path / "mpkit-model.json").write_text(json.dumps({
        "framework": "custom", "files": {}, "handler": "code/inference.py",
        "features": [{"name": "x"}]}))
    return tmp_path


def test_custom_handler_replaces_steps(tmp_path):
    model = _custom_model(tmp_path, (
        "import numpy as np\n"
        "def model_fn(model_dir):\n    return 10.0\n"
        "def predict_fn(data, model):\n    return data.numeric[:, 0] * model\n"))
    settings = Settings.load(env={"MPKIT_MODEL_DIR": str(model)}, baked_path="/none")
    reply = AsgiClient(create_app(settings)).post("/invocations", data=b"1\n2\n", headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert reply.status_code == 200 and reply.data == b"10.0\n20.0\n"


def test_internal_fault_is_500_without_a_traceback(tmp_path, caplog):
    model = _custom_model(tmp_path, (
        "def model_fn(model_dir):\n    return None\n"
        "def predict_fn(data, model):\n    raise RuntimeError('secret internals')\n"))
    settings = Settings.load(env={"MPKIT_MODEL_DIR": str(model)}, baked_path="/none")
    reply = AsgiClient(create_app(settings)).post("/invocations", data=b"1\n", headers={"Content-Type": "text/csv"})
    assert reply.status_code == 500
    assert b"secret" not in reply.data and b"Traceback" not in reply.data
    assert "secret internals" in caplog.text


def test_timeout_answers_503_and_asks_for_a_new_worker(tmp_path):
    model = _custom_model(tmp_path, (
        "import time\n"
        "def model_fn(model_dir):\n    return None\n"
        "def predict_fn(data, model):\n    time.sleep(5)\n    return data.numeric[:, 0]\n"))
    settings = Settings.load(env={"MPKIT_MODEL_DIR": str(model), "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}, baked_path="/none")
    replaced = []
    client = AsgiClient(create_app(settings, on_timeout=lambda: replaced.append(True)))
    started = time.monotonic()
    reply = client.post("/invocations", data=b"1\n", headers={"Content-Type": "text/csv"})
    assert reply.status_code == 503 and reply.get_json()["error"]["type"] == "inference_timeout"
    assert time.monotonic() - started < 4
    assert replaced == [True]
    assert client.get("/ping").status_code == 200


def test_one_log_line_per_request(client, samples, caplog):
    caplog.set_level("INFO", logger="mpkit.request")
    client.post("/invocations", data=samples["text/csv"], headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "abc123"})
    lines = [r.getMessage() for r in caplog.records if r.name == "mpkit.request"]
    assert len(lines) == 1
    assert "id=abc123" in lines[0] and "content_type=text/csv" in lines[0] and "rows=5" in lines[0] and "status=200" in lines[0]


def test_wrong_method_names_the_allowed_ones(client):
    reply = client.post("/execution-parameters")
    assert reply.status_code == 405 and reply.headers["allow"] == "GET, HEAD"


def test_body_without_content_length_is_refused_once_it_passes_the_limit(client):
    body = b"47,male,22.5,82,131,66.8,41,3,4.75,89\n" * 30000  # > 1 MiB, sent in pieces
    reply = client.post("/invocations", data=body, headers={"Content-Type": "text/csv"}, content_length=False)
    assert reply.status_code == 413 and "over 1048576 bytes" in reply.get_json()["error"]["message"]
    assert reply.headers.get("connection") == "close"


def test_caller_gone_mid_body_gets_no_answer_and_a_log_line(settings, caplog):
    caplog.set_level("INFO", logger="mpkit.request")
    app = create_app(settings)
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": [(b"content-type", b"text/csv"), (b"content-length", b"100")]}
    import asyncio
    asyncio.run(app(scope, receive, send))
    assert sent == []
    assert "status=499" in caplog.text


def test_kept_connections_are_let_go_to_rebalance_the_workers(tmp_path, samples, settings, monkeypatch):
    from inference_image import app as app_module

    # A long answer closes its connection: the caller's next one goes to whichever worker is free.
    model = _custom_model(tmp_path, (
        "import time\n"
        "def model_fn(model_dir):\n    return None\n"
        f"def predict_fn(data, model):\n    time.sleep({app_module.REBALANCE_AFTER_S * 2})\n    return data.numeric[:, 0]\n"))
    slow = AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": str(model)}, baked_path="/none")))
    assert slow.post("/invocations", data=b"1\n", headers={"Content-Type": "text/csv"}).headers["connection"] == "close"
    # And one answer in every KEEPALIVE_REQUESTS closes, however quick. (The time rule is put out
    # of reach here: on a loaded machine a quick answer may take its 20 ms.)
    monkeypatch.setattr(app_module, "REBALANCE_AFTER_S", 60.0)
    client = AsgiClient(create_app(settings))
    closes = [client.post("/invocations", data=samples["text/csv"], headers={"Content-Type": "text/csv"}).headers.get("connection")
              for _ in range(app_module.KEEPALIVE_REQUESTS)]
    assert closes[:-1] == [None] * (app_module.KEEPALIVE_REQUESTS - 1) and closes[-1] == "close"


def test_per_inference_pricing_meters_every_2xx_with_its_records_and_no_error(model_dir, samples, tmp_path):
    baked = tmp_path / "serving.json"
    baked.write_text(json.dumps({"metering": True}))
    metered = AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": str(model_dir)}, baked_path=str(baked))))
    reply = metered.post("/invocations", data=samples["text/csv"], headers={"Content-Type": "text/csv"})
    rows = len(samples["text/csv"].splitlines())
    assert reply.status_code == 200
    assert json.loads(reply.headers["x-amzn-inference-metering"]) == {"Dimension": "inference.count", "ConsumedUnits": rows}
    refused = metered.post("/invocations", data=b"1,2\n", headers={"Content-Type": "text/csv"})
    assert refused.status_code == 400 and "x-amzn-inference-metering" not in refused.headers


def test_other_pricing_sends_no_metering_header(client, samples):
    reply = client.post("/invocations", data=samples["text/csv"], headers={"Content-Type": "text/csv"})
    assert reply.status_code == 200 and "x-amzn-inference-metering" not in reply.headers


def test_code_inference_py_is_the_handler_when_the_spec_names_none(tmp_path):
    model = _custom_model(tmp_path, "def model_fn(model_dir):\n    return 3.0\n"
                                    "def predict_fn(data, model):\n    return data.numeric[:, 0] * model\n")
    spec = json.loads((model / "mpkit-model.json").read_text())
    del spec["handler"]
    (model / "mpkit-model.json").write_text(json.dumps(spec))
    client = AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": str(model)}, baked_path="/none")))
    reply = client.post("/invocations", data=b"1\n2\n", headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert reply.status_code == 200 and reply.data == b"3.0\n6.0\n"


def test_a_model_fn_alone_gets_the_rows_as_a_frame_with_the_feature_names(tmp_path):
    model = _custom_model(tmp_path, (
        "class Model:\n"
        "    def predict(self, frame):\n        return (frame['x'] * 2).to_numpy()\n"
        "def model_fn(model_dir):\n    return Model()\n"))
    client = AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": str(model)}, baked_path="/none")))
    reply = client.post("/invocations", data=b"1\n4\n", headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert reply.status_code == 200 and reply.data == b"2.0\n8.0\n"


STEPS = {
    "input_fn": "def input_fn(body, content_type):\n    first = float(body.split()[0])\n",
    "predict_fn": "def predict_fn(data, model):\n    first = data.numeric[0, 0]\n",
    "output_fn": "def predict_fn(data, model):\n    return data.numeric[:, 0]\n"
                 "def output_fn(prediction, accept):\n    first = prediction[0]\n",
}


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_handlers_exception_with_a_4xx_status_is_that_answer_and_others_are_500(tmp_path, step):
    model = _custom_model(tmp_path, (
        "class Refused(Exception):\n    status_code = 422\n"
        "def model_fn(model_dir):\n    return None\n" + STEPS[step] +
        "    if first == 1:\n        raise Refused('the reading is out of the sensor range')\n"
        "    raise RuntimeError('a bug of the seller')\n"))
    client = AsgiClient(create_app(Settings.load(env={"MPKIT_MODEL_DIR": str(model)}, baked_path="/none")))
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    refused = client.post("/invocations", data=b"1\n", headers=headers)
    assert refused.status_code == 422 and "out of the sensor range" in json.loads(refused.data)["error"]["message"]
    failed = client.post("/invocations", data=b"2\n", headers=headers)
    assert failed.status_code == 500 and "a bug of the seller" not in failed.data.decode()
