"""The sidecar's relay program, run on the host against a local server over its stdin channel
(the Docker tier runs it in a real sidecar, over the socket channel)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import package.sidecar_relay as relay


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body) + 4))
        self.end_headers()
        self.wfile.write(b"got " + body)

    def log_message(self, *args):
        pass


def test_a_request_line_gets_one_answer_line_and_a_dead_port_an_error():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    program = Path(relay.__file__).read_text()
    process = subprocess.Popen([sys.executable, "-u", "-c", program, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for rid, target in ((1, port), (2, 1)):
            request = {"id": rid, "method": "POST", "path": "/x", "headers": {"Content-Type": "text/plain"},
                       "body": base64.b64encode(b"hello").decode(), "port": target, "timeout": 5}
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
            answer = json.loads(process.stdout.readline())
            assert answer["id"] == rid
            if rid == 1:
                assert answer["status"] == 201 and base64.b64decode(answer["body"]) == b"got hello"
            else:
                assert answer["error"].startswith("ConnectionRefusedError")
    finally:
        process.stdin.close()
        process.wait(10)
        server.shutdown()


def test_importing_the_egress_hook_installs_nothing_on_the_host():
    run = subprocess.run([sys.executable, "-c", "import validation.egress_hook, socket\n"
                          "try: socket.getaddrinfo('weights.example.com', 443)\nexcept OSError: pass\n"],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert run.returncode == 0 and "mpkit-egress:" not in run.stderr, run.stderr
