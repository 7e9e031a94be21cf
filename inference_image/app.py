"""The HTTP face of the container: /ping, /invocations and /execution-parameters (SM-HOST, SM-BATCH).

Every error leaves as a 4xx or 5xx with a JSON body; Marketplace bills each 2xx (peers.md §0),
so a 2xx for an error would charge the buyer for nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
import uuid

from flask import Flask, Response, request

from . import codecs
from .errors import InferenceTimeout, PayloadTooLarge, RequestError
from .settings import Settings

log = logging.getLogger("mpkit.request")
# A body this much over the limit is not drained before the 413; the connection is closed instead.
DRAIN_LIMIT_BYTES = 128 * 1024 * 1024
CHUNK = 1024 * 1024


def _json(payload: dict, status: int) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


@contextlib.contextmanager
def _deadline(seconds: int):
    """Raise InferenceTimeout inside the request after `seconds`, where signals allow it.

    Signals reach only the main thread; in other threads the server's own worker timeout is the
    backstop.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise InferenceTimeout(f"the model did not answer within {seconds} s (SAGEMAKER_MODEL_SERVER_TIMEOUT)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _read_body(limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        # Decided from Content-Length alone; the body is drained (not kept) so that the
        # caller, still sending, reads our answer rather than a reset connection.
        if length <= DRAIN_LIMIT_BYTES:
            stream = request.stream
            while stream.read(CHUNK):
                pass
        raise PayloadTooLarge(
            f"the body is {length} bytes; this model takes at most {limit} bytes "
            f"({limit // (1024 * 1024)} MiB, SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )
    body = request.stream.read(limit + 1) if length is None else request.get_data(cache=False)
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes, the most this model takes")
    return body


def create_app(settings: Settings | None = None, handler=None, on_timeout=None) -> Flask:
    """The Flask app. `handler` defaults to loading the model now; `on_timeout` is called after a
    request ran out of time, so that the server can replace the worker that ran it."""
    settings = settings or Settings.load()
    if handler is None:
        from .handler import Handler

        handler = Handler(settings)
    app = Flask("mpkit")

    @app.get("/ping")
    def ping():
        return Response(b"", status=200)

    @app.get("/execution-parameters")
    def execution_parameters():
        return _json({
            "MaxConcurrentTransforms": settings.max_concurrent_transforms,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb,
        }, 200)

    @app.post("/invocations")
    def invocations():
        started = time.perf_counter()
        rid = request.headers.get("X-Amzn-SageMaker-Inference-Id") or uuid.uuid4().hex[:16]
        content_type = request.headers.get("Content-Type", "")
        rows, status, timed_out = None, 500, False
        try:
            media = codecs.parse_content_type(content_type, settings.content_types)
            accept = codecs.choose_accept(request.headers.get("Accept"), settings.accept_types, settings.default_accept)
            body = _read_body(settings.max_payload_bytes)
            with _deadline(settings.timeout_s):
                out, out_media, rows = handler.invoke(body, media, accept)
            status = 200
            return Response(out, status=200, content_type=out_media)
        except RequestError as exc:
            status = exc.status
            timed_out = isinstance(exc, InferenceTimeout)
            return _json(exc.to_dict(), exc.status)
        except Exception:
            log.exception("request %s failed inside the server", rid)
            return _json({"error": {"status": 500, "type": "internal_error",
                                    "message": f"the server failed on this request; see the container log for request {rid}"}}, 500)
        finally:
            log.info("request id=%s content_type=%s rows=%s status=%d latency_ms=%.2f",
                     rid, content_type or "-", "-" if rows is None else rows, status,
                     (time.perf_counter() - started) * 1000)
            if timed_out and on_timeout:
                on_timeout()

    @app.errorhandler(404)
    def not_found(_):
        return _json({"error": {"status": 404, "type": "not_found",
                                "message": f"no route {request.path}; use GET /ping or POST /invocations"}}, 404)

    @app.errorhandler(405)
    def not_allowed(_):
        return _json({"error": {"status": 405, "type": "method_not_allowed",
                                "message": f"{request.method} is not allowed on {request.path}"}}, 405)

    return app
