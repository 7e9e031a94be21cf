"""The real server (gunicorn's process model, uvicorn workers) started on this machine as the
image starts it, `python -m inference_image serve`, and spoken to over HTTP."""

import http.client
import os
import signal
import subprocess
import sys
import time

import pytest

from package.local_target import free_port
from tests.conftest import ROOT

ROW = b"47,male,22.5,82,131,66.8,41,3,4.75,89\n"


def _start(model_dir, **env) -> tuple[int, subprocess.Popen]:
    port = free_port()
    env = {**os.environ, "MPKIT_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_PORT": str(port), "PYTHONPATH": str(ROOT), **env}
    process = subprocess.Popen([sys.executable, "-m", "inference_image", "serve"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return port, process
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("the server did not answer /ping: " + process.stdout.read().decode()[-2000:])


@pytest.fixture(scope="module")
def server(model_dir):
    port, process = _start(model_dir, SAGEMAKER_MODEL_SERVER_WORKERS="2", SAGEMAKER_MAX_PAYLOAD_IN_MB="1")
    yield port, process
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def test_keeps_the_connection_for_the_next_request(server):
    conn = http.client.HTTPConnection("127.0.0.1", server[0], timeout=10)
    for _ in range(3):
        conn.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
        reply = conn.getresponse()
        assert reply.status == 200 and b"predictions" in reply.read()
    assert reply.getheader("server") is None  # the server does not name itself


def test_oversize_body_is_answered_413_while_it_is_still_being_sent(server):
    # The whole 3 MiB body goes out before the answer is read: a server that closed the
    # connection on its 413 would make this send fail with a reset.
    conn = http.client.HTTPConnection("127.0.0.1", server[0], timeout=10)
    conn.request("POST", "/invocations", body=ROW * 80000, headers={"Content-Type": "text/csv"})
    reply = conn.getresponse()
    assert reply.status == 413 and b"payload_too_large" in reply.read()
    conn.request("GET", "/ping")
    assert conn.getresponse().status == 200


def test_sigterm_stops_the_server_with_exit_code_0(model_dir):
    _, process = _start(model_dir)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert time.monotonic() - started < 30
    assert b"uvicorn workers under gunicorn" in process.stdout.read()
