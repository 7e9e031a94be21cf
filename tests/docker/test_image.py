"""The built image against SageMaker's container contract (SM-HOST, SM-BATCH, SM-PIPE)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from package.artifact import extract_model

pytestmark = pytest.mark.docker

TYPES = ("text/csv", "application/json", "application/jsonlines")
ROW = b"47,male,22.5,82,131,66.8,41,3,4.75,89\n"


def samples(product: Path) -> dict:
    folder = product / "example" / "artifacts" / "samples"
    return {"text/csv": (folder / "input.csv").read_bytes(), "application/json": (folder / "input.json").read_bytes(),
            "application/jsonlines": (folder / "input.jsonl").read_bytes()}


def test_image_config(engine, baked):
    info = engine.inspect(baked.image)
    config = info["Config"]
    assert config["Entrypoint"] == ["/opt/venv/bin/python3", "-m", "inference_image"]  # exec form, no tini
    assert config["Cmd"] == ["serve"]
    assert config.get("User", "") in ("", "root", "0")
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert baked.size_bytes < 600e6


def test_the_build_has_no_network(engine, tmp_path):
    from package.base_image import DEFAULT_BASE, LOCAL_BASE
    from package.errors import BuildError

    base = LOCAL_BASE if engine.image_exists(LOCAL_BASE) else DEFAULT_BASE
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base}\nRUN python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 3)\"\n")
    with pytest.raises(BuildError, match="unreachable|Network|returned a non-zero code"):
        engine.build(tmp_path, ["mpkit-test/no-network:latest"], {}, say=lambda _: None)


def test_train_is_refused_plainly(engine, baked):
    out = engine.client.containers.run(baked.image, ["train"], network_mode="none", remove=False, detach=True)
    try:
        code = out.wait(timeout=60)["StatusCode"]
        assert code != 0 and "not supported" in out.logs().decode()
    finally:
        out.remove(force=True)


def test_ping_is_200_with_an_empty_body_quickly(server):
    reply = server.request("GET", "/ping", timeout=2)
    assert reply.status == 200 and reply.body == b""
    assert reply.elapsed < 2
    assert server.ready_seconds < 60


@pytest.mark.parametrize("content_type", TYPES)
@pytest.mark.parametrize("accept", TYPES + ("*/*",))
def test_every_content_type_and_accept(server, product, content_type, accept):
    reply = server.invoke(samples(product)[content_type], content_type, accept)
    assert reply.status == 200, reply.body
    expected = "application/json" if accept == "*/*" else accept
    assert reply.content_type.split(";")[0] == expected
    if expected == "application/json":
        assert len(reply.json()["predictions"]) == 5
    else:
        lines = reply.body.decode().strip().splitlines()
        assert len(lines) == 5
        if expected == "application/jsonlines":
            assert all("progression" in json.loads(line) for line in lines)


@pytest.mark.parametrize("body, content_type, accept, status", [
    (b"1,2,3\n", "text/csv", None, 400),
    (b"47,male,22.5,82,131,66.8,41,3,4.75,abc\n", "text/csv", None, 400),
    (b'{"instances": [', "application/json", None, 400),
    (b"", "text/csv", None, 400),
    (ROW, "text/csv", "image/png", 406),
    (ROW, "text/plain", None, 415),
    (ROW, None, None, 415),
])
def test_error_codes_and_ping_after(server, body, content_type, accept, status):
    reply = server.invoke(body, content_type, accept)
    assert reply.status == status, reply.body
    assert reply.json()["error"]["message"]
    assert server.request("GET", "/ping").status == 200


def test_a_6mb_csv_is_answered(server):
    body = ROW * (6_000_000 // len(ROW))
    assert 5_900_000 < len(body) <= 6 * 1024 * 1024
    reply = server.invoke(body, "text/csv", "text/csv", timeout=60)
    assert reply.status == 200
    assert len(reply.body.decode().splitlines()) == body.count(b"\n")


def test_a_7mb_body_is_refused_with_413_and_the_server_stays_up(server):
    reply = server.invoke(ROW * (7_000_000 // len(ROW)), "text/csv", timeout=60)
    assert reply.status == 413 and reply.json()["error"]["type"] == "payload_too_large"
    assert server.request("GET", "/ping").status == 200
    assert server.invoke(ROW, "text/csv").status == 200


def test_execution_parameters(server):
    reply = server.request("GET", "/execution-parameters")
    params = reply.json()
    assert reply.status == 200 and params["BatchStrategy"] == "MULTI_RECORD" and params["MaxPayloadInMB"] == 6
    assert params["MaxConcurrentTransforms"] >= 1


def test_one_log_line_per_request_and_the_load_time(server):
    server.request("POST", "/invocations", ROW, {"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": "log-probe-1"})
    deadline = time.monotonic() + 3  # request lines are batched for at most 0.5 s
    while "id=log-probe-1" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = server.logs()
    assert "model loaded in" in logs
    line = next(line for line in logs.splitlines() if "id=log-probe-1" in line)
    assert "content_type=text/csv" in line and "rows=1" in line and "status=200" in line and "latency_ms=" in line


def test_batch_variables_and_bind_to_port(engine, baked):
    env = {"SAGEMAKER_BIND_TO_PORT": "9091", "SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
           "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3"}
    with engine.serve(baked.image, env=env, port=9091) as container:
        container.wait_ready(60)
        assert container.request("GET", "/execution-parameters").json() == {
            "MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20}
        body = ROW * (7_000_000 // len(ROW))
        assert container.invoke(body, "text/csv", "text/csv", timeout=60).status == 200
        from package.docker_engine import Sidecar

        other = Sidecar(engine, container.container.id, baked.image, 8080)
        try:
            assert other.request("GET", "/ping", timeout=2).status is None  # nothing listens on 8080
        finally:
            other.close()
        # The stdin channel, used where the socket cannot cross into the engine's machine.
        piped = Sidecar(engine, container.container.id, baked.image, 9091, use_socket=False)
        try:
            assert piped.request("GET", "/ping", timeout=5).status == 200
            reply = piped.request("POST", "/invocations", ROW * 3, {"Content-Type": "text/csv", "Accept": "text/csv"}, 30)
            assert reply.status == 200 and len(reply.body.splitlines()) == 3
        finally:
            piped.close()


def test_s3_delivery_reads_a_real_model_tar_mounted_read_only(engine, s3_image, server, product, tmp_path):
    assert s3_image.model_tar and s3_image.model_sha256
    model = extract_model(s3_image.model_tar, tmp_path / "model")
    body = samples(product)["text/csv"]
    with engine.serve(s3_image.image, model_dir=model) as container:
        container.wait_ready(60)
        mounts = engine.client.api.inspect_container(container.container.id)["Mounts"]
        assert [(m["Destination"], m["RW"]) for m in mounts] == [("/opt/ml/model", False)]
        from_s3 = container.invoke(body, "text/csv", "application/json").json()
    assert from_s3 == server.invoke(body, "text/csv", "application/json").json()


def test_s3_image_without_a_model_refuses_to_start(engine, s3_image):
    from package.errors import ContainerError

    with engine.serve(s3_image.image) as container:
        with pytest.raises(ContainerError, match="mpkit-model.json"):
            container.wait_ready(30)


def _slow_model(folder: Path, seconds: float) -> Path:
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(
        "import time\n"
        "def model_fn(model_dir):\n    return None\n"
        f"def predict_fn(data, model):\n    time.sleep({seconds})\n    return data.numeric[:, 0]\n")
    (folder / "mpkit-model.json").write_text(json.dumps(
        {"framework": "custom", "files": {}, "handler": "code/inference.py", "features": [{"name": "x"}]}))
    return folder


def test_a_request_past_the_timeout_gets_an_error_and_the_worker_is_replaced(engine, s3_image, tmp_path):
    model = _slow_model(tmp_path / "slow", 8)
    env = {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "2", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    with engine.serve(s3_image.image, model_dir=model, env=env) as container:
        container.wait_ready(60)
        reply = container.invoke(b"1\n", "text/csv", timeout=30)
        assert reply.status == 503 and reply.json()["error"]["type"] == "inference_timeout"
        assert container.request("GET", "/ping").status == 200
        time.sleep(1)
        assert container.logs().count("Booting worker") >= 2  # the timed-out worker was replaced


def test_sigterm_lets_in_flight_requests_finish_and_exits_within_30s(engine, s3_image, tmp_path):
    model = _slow_model(tmp_path / "slow", 3)
    with engine.serve(s3_image.image, model_dir=model) as container:
        container.wait_ready(60)
        in_flight = container.sidecar.submit("POST", "/invocations", b"1\n", {"Content-Type": "text/csv"}, 30)
        time.sleep(0.5)
        stopped = {}
        stopper = threading.Thread(target=lambda: stopped.update(zip(("seconds", "code"), container.stop(30), strict=True)))
        stopper.start()
        reply = in_flight.result(40)
        stopper.join(40)
        assert reply.status == 200
        assert stopped["seconds"] < 30 and stopped["code"] == 0
