"""A deliberately small model server for the corpus of broken images; MODE picks its flaw.

ok: a correct server. errors-200: answers 200 to bad requests. ping-body: /ping says "OK".
wrong-port: listens on 8081. no-bind-port: ignores SAGEMAKER_BIND_TO_PORT. drop-last: a
multi-record request loses its last record. slow-ping: /ping takes 2.5 s once the server has
answered five (so it starts, then misses SageMaker's 2 s). slow-invocation: a
request over 1 MB takes 61 s. meter-errors: every answer to POST, errors included, carries the
per-inference metering header. always-slow-ping: every /ping takes 3 s, so it never passes
SageMaker's health check. early-413: a body over 6 MiB is answered 413 from its headers, and the
connection closed without reading the body (as nginx and Flask do). crash-in-batch: starts
for real-time, but exits at once when started as a transform job (SAGEMAKER_BATCH set).
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("MODE", "ok")
PINGS = []
TYPES = ("text/csv", "application/json", "application/jsonlines")


def rows_of(body: bytes, content_type: str):
    if content_type == "text/csv":
        rows = [line.split(",") for line in body.decode().splitlines() if line.strip()]
    elif content_type == "application/json":
        doc = json.loads(body)
        rows = doc["instances"] if isinstance(doc, dict) else doc
    else:
        rows = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    if not rows or any(len(r) != 10 for r in rows):
        raise ValueError("each row needs 10 features")
    return rows


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if MODE == "meter-errors" and self.command == "POST":
            self.send_header("X-Amzn-Inference-Metering", '{"Dimension": "inference.count", "ConsumedUnits": 1}')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            PINGS.append(1)
            if MODE == "slow-ping" and len(PINGS) > 5:
                time.sleep(2.5)
            if MODE == "always-slow-ping":
                time.sleep(3)
            return self.answer(200, b"OK" if MODE == "ping-body" else b"", "text/plain")
        self.answer(404, b'{"error": "no route"}')

    def do_POST(self):
        if MODE == "early-413" and int(self.headers.get("Content-Length") or 0) > 6 * 1024 * 1024:
            self.close_connection = True
            return self.answer(413, b'{"error": "payload too large"}')
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if MODE == "slow-invocation" and len(body) > 1_000_000:
            time.sleep(61)
        bad = 200 if MODE == "errors-200" else None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0]
        accept = self.headers.get("Accept") or "application/json"
        accept = "application/json" if accept == "*/*" else accept
        if content_type not in TYPES:
            return self.answer(bad or 415, b'{"error": "unsupported content type"}')
        if accept not in TYPES:
            return self.answer(bad or 406, b'{"error": "unsupported accept"}')
        try:
            rows = rows_of(body, content_type)
        except (ValueError, KeyError, TypeError):
            return self.answer(bad or 400, b'{"error": "bad body"}')
        values = [0.5] * len(rows)
        if MODE == "drop-last" and len(values) > 1:
            values = values[:-1]
        if accept == "text/csv":
            out = "".join(f"{v}\n" for v in values)
        elif accept == "application/jsonlines":
            out = "".join(json.dumps({"y": v}) + "\n" for v in values)
        else:
            out = json.dumps({"predictions": values})
        self.answer(200, out.encode(), accept)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit(64)
    if MODE == "crash-in-batch" and os.environ.get("SAGEMAKER_BATCH"):
        sys.exit("cannot start: a batch setting this server does not know")
    port = 8081 if MODE == "wrong-port" else int(os.environ.get("SAGEMAKER_BIND_TO_PORT", 8080))
    if MODE == "no-bind-port":
        port = 8080
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()
