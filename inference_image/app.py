"""The HTTP face of the container: /ping, /invocations and /execution-parameters (SM-HOST, SM-BATCH).

Every error leaves as a 4xx or 5xx with a JSON body; Marketplace bills each 2xx (peers.md §0),
so a 2xx for an error would charge the buyer for nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import threading
import time
from http import HTTPStatus

from flask import Flask, Response, request

from . import codecs
from .errors import InferenceTimeout, PayloadTooLarge, RequestError
from .settings import Settings

REQUEST_LOGGER = "mpkit.request"
log = logging.getLogger(REQUEST_LOGGER)
# A body this much over the limit is not drained before the 413; the connection is closed instead.
DRAIN_LIMIT_BYTES = 128 * 1024 * 1024
CHUNK = 1024 * 1024


def _json(payload: dict, status: int) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class _Deadline:
    """Raise InferenceTimeout inside the request after `seconds`, where signals allow it.

    The SIGALRM handler is installed once per process; each request only arms and disarms the
    timer. Signals reach only the main thread (gunicorn's sync worker runs requests there); in
    other threads the server's own worker timeout is the backstop.
    """

    def __init__(self, seconds: int):
        self.seconds = seconds
        self.installed = False

    def _expire(self, signum, frame):
        raise InferenceTimeout(f"the model did not answer within {self.seconds} s (SAGEMAKER_MODEL_SERVER_TIMEOUT)")

    @contextlib.contextmanager
    def __call__(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if not self.installed:
            signal.signal(signal.SIGALRM, self._expire)
            self.installed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _read_body(environ: dict, limit: int) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    length = int(length) if length and length.isdigit() else None
    if length is not None and length > limit:
        # Decided from Content-Length alone; the body is drained (not kept) so that the
        # caller, still sending, reads our answer rather than a reset connection.
        if length <= DRAIN_LIMIT_BYTES:
            left = length
            while left > 0:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
        raise PayloadTooLarge(
            f"the body is {length} bytes; this model takes at most {limit} bytes "
            f"({limit // (1024 * 1024)} MiB, SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )
    body = stream.read(limit + 1) if length is None else stream.read(length)
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes, the most this model takes")
    return body


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def create_app(settings: Settings | None = None, handler=None, on_timeout=None) -> Flask:
    """The app: /ping and /invocations as plain WSGI (they carry all the traffic, and Flask's
    per-request machinery cost more than parsing and predicting a small request), everything
    else through Flask. `handler` defaults to loading the model now; `on_timeout` is called
    after a request ran out of time, so that the server can replace the worker that ran it."""
    settings = settings or Settings.load()
    if handler is None:
        from .handler import Handler

        handler = Handler(settings)
    deadline = _Deadline(settings.timeout_s)
    request_ids = itertools.count(1)
    id_prefix = f"{os.getpid():x}-"
    app = Flask("mpkit")

    def invocations(environ, start_response):
        started = time.perf_counter()
        rid = environ.get("HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID") or f"{id_prefix}{next(request_ids)}"
        content_type = environ.get("CONTENT_TYPE", "")
        rows, status, timed_out = None, 500, False
        try:
            media = codecs.parse_content_type(content_type, settings.content_types)
            accept = codecs.choose_accept(environ.get("HTTP_ACCEPT"), settings.accept_types, settings.default_accept)
            body = _read_body(environ, settings.max_payload_bytes)
            with deadline():
                out, out_media, rows = handler.invoke(body, media, accept)
            status = 200
        except RequestError as exc:
            status = exc.status
            timed_out = isinstance(exc, InferenceTimeout)
            out, out_media = json.dumps(exc.to_dict()).encode(), "application/json"
        except Exception:
            log.exception("request %s failed inside the server", rid)
            out, out_media = json.dumps({"error": {
                "status": 500, "type": "internal_error",
                "message": f"the server failed on this request; see the container log for request {rid}"}}).encode(), "application/json"
        finally:
            log.info("request id=%s content_type=%s rows=%s status=%d latency_ms=%.2f",
                     rid, content_type or "-", "-" if rows is None else rows, status,
                     (time.perf_counter() - started) * 1000)
            if timed_out and on_timeout:
                on_timeout()
        start_response(_status_line(status), [("Content-Type", out_media), ("Content-Length", str(len(out)))])
        return [out]

    @app.get("/execution-parameters")
    def execution_parameters():
        return _json({
            "MaxConcurrentTransforms": settings.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb,
        }, 200)

    # Registered so that Flask's routing answers 405 (not 404) for a wrong method on them.
    app.add_url_rule("/ping", "ping", lambda: Response(b"", status=200), methods=["GET"])
    app.add_url_rule("/invocations", "invocations", lambda: None, methods=["POST"])

    @app.errorhandler(404)
    def not_found(_):
        return _json({"error": {"status": 404, "type": "not_found",
                                "message": f"no route {request.path}; use GET /ping or POST /invocations"}}, 404)

    @app.errorhandler(405)
    def not_allowed(_):
        return _json({"error": {"status": 405, "type": "method_not_allowed",
                                "message": f"{request.method} is not allowed on {request.path}"}}, 405)

    flask_wsgi = app.wsgi_app

    def wsgi(environ, start_response):
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/invocations" and method == "POST":
            return invocations(environ, start_response)
        if path == "/ping" and method in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        return flask_wsgi(environ, start_response)

    app.wsgi_app = wsgi
    return app
