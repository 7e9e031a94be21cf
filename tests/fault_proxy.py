"""An HTTP proxy in front of the AWS emulator that throttles, fails or drops chosen calls.

A call is named as it shows on the wire: the JSON protocols' `X-Amz-Target` operation
(`CreateModelPackage`, `PutImage`, ...), the query protocol's `Action` (`GetCallerIdentity`), and
anything else, S3 and the emulator's own API, as `S3:METHOD` (`S3:PUT`). Each fault applies to
the next `times` matching calls:
- `throttle`: answer as AWS does when throttling (400 ThrottlingException; S3: 503 SlowDown);
- `fail`: 500 InternalFailure;
- `drop`: forward the call, let the emulator act on it, then close the connection unanswered
  (the caller never learns that it succeeded);
- `error:CODE:MESSAGE`: answer 400 with AWS's error CODE and MESSAGE (an answer the emulator
  cannot give, such as CreateModel's "Caller is not subscribed to the marketplace offering");
- `reply:JSON`: answer 200 with this JSON body (an operation the emulator lacks, such as
  Service Quotas' ListServiceQuotas).
It also keeps each call's request body (`bodies`), and runs `after[name](body)` once the emulator
has answered a call 2xx, before the caller hears back: where a test makes the emulator do what
AWS would do and moto does not (a transform job that writes its output).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from urllib.parse import parse_qs, urlparse

from tests.loopback_http import LoopbackService, QuietHandler


class FaultProxy(LoopbackService):
    def __init__(self, upstream: str):
        self.upstream = urlparse(upstream)
        self.faults: dict[str, list] = {}
        self.calls: Counter = Counter()
        self.injected: Counter = Counter()
        self.bodies: dict[str, list[bytes]] = {}
        self.after: dict = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                name = proxy.name(self.command, self.headers, body)
                with proxy.lock:
                    proxy.calls[name] += 1
                    proxy.bodies.setdefault(name, []).append(body)
                    fault = proxy.take(name)
                if fault and fault.split(":")[0] in ("throttle", "fail", "error", "reply"):
                    return self._answer(*proxy.fault_reply(fault, name))
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                conn.request(self.command, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                if 200 <= reply.status < 300 and name in proxy.after:
                    proxy.after[name](body)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._answer(reply.status, [(k, v) for k, v in reply.getheaders()
                                            if k.lower() not in ("transfer-encoding", "connection", "content-length")], data)

            def _answer(self, status, headers, data):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        self._serve(Handler)

    @staticmethod
    def name(method: str, headers, body: bytes) -> str:
        target = headers.get("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        if "x-www-form-urlencoded" in (headers.get("Content-Type") or ""):  # the query protocol (STS, IAM)
            action = parse_qs(body.decode(errors="replace")).get("Action")
            if action:
                return action[0]
        return f"S3:{method}"

    def inject(self, call: str, fault: str, times: int = 1) -> None:
        with self.lock:
            self.faults.setdefault(call, []).extend([fault] * times)

    def take(self, name: str) -> str | None:
        queue = self.faults.get(name)
        if queue:
            self.injected[name] += 1
            return queue.pop(0)
        return None

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.bodies.clear()
            self.after.clear()
            self.calls.clear()
            self.injected.clear()

    @staticmethod
    def fault_reply(fault: str, name: str):
        if name.startswith("S3:"):
            code, status = ("SlowDown", 503) if fault == "throttle" else ("InternalError", 500)
            body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            return status, [("Content-Type", "application/xml")], body
        if fault.startswith("reply:"):
            return 200, [("Content-Type", "application/x-amz-json-1.1")], fault[len("reply:"):].encode()
        if fault.startswith("error:"):
            _, code, message = fault.split(":", 2)
            body = json.dumps({"__type": code, "message": message}).encode()
            return 400, [("Content-Type", "application/x-amz-json-1.1")], body
        code, status = ("ThrottlingException", 400) if fault == "throttle" else ("InternalFailure", 500)
        body = json.dumps({"__type": code, "message": f"injected {fault} of {name}"}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1")], body

    def close(self) -> None:
        self.server.shutdown()
