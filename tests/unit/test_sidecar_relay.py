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


def _early_413_server():
    """What nginx and Flask do with a body over their limit: answer 413 from the headers alone and
    close, without reading the body."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_an_early_413_is_read_over_both_channels_not_turned_into_a_hang(tmp_path):
    import http.client
    import os
    import socket
    import time

    listener = _early_413_server()
    port = listener.getsockname()[1]
    body = b"x" * (8 * 1024 * 1024)  # far more than the socket buffers hold
    try:
        # The JSON-lines channel.
        answer = {}
        relay.handle({"id": 1, "method": "POST", "path": "/invocations", "headers": {"Content-Type": "text/csv"},
                      "body": base64.b64encode(body).decode(), "port": port, "timeout": 10},
                     out=type("Out", (), {"write": lambda self, s: answer.update(json.loads(s)), "flush": lambda self: None})())
        assert answer.get("status") == 413, answer
        # The socket channel: a client sending the whole body through the relay, then reading.
        path = str(tmp_path / "http.sock")
        threading.Thread(target=relay.relay_socket, args=(path, port), daemon=True).start()
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)

        class Unix(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(10)
                self.sock.connect(path)

        started = time.monotonic()
        conn = Unix("localhost", timeout=10)
        try:
            conn.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = conn.getresponse()
        assert response.status == 413 and response.read() == b"too large"
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_the_egress_recorder_answers_a_dns_query_with_loopback_and_records_it(capsys):
    import socket
    import struct

    from validation import egress_recorder

    query = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x07weights\x07example\x03com\x00" + struct.pack("!HH", 1, 1)
    reply = egress_recorder.answer(query)
    assert reply[:2] == b"\xbe\xef" and struct.unpack("!H", reply[6:8])[0] == 1  # one answer
    assert socket.inet_ntoa(reply[-4:]) == "127.0.0.1"
    aaaa = query[:-4] + struct.pack("!HH", 28, 1)
    assert struct.unpack("!H", egress_recorder.answer(aaaa)[6:8])[0] == 0  # no IPv6 answer
    assert capsys.readouterr().out.splitlines() == ["mpkit-egress-dns weights.example.com 1",
                                                    "mpkit-egress-dns weights.example.com 28"]
    # Not egress: the namespace's own host name, and the names of loopback addresses.
    assert egress_recorder.own(socket.gethostname()) and egress_recorder.own("1.0.0.127.in-addr.arpa")
    assert not egress_recorder.own("weights.example.com")
