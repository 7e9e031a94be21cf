"""The HTTP face of the container: /ping, /invocations and /execution-parameters (SM-HOST, SM-BATCH).

A plain ASGI callable, run by uvicorn workers under gunicorn (server.py). Every error leaves as
a 4xx or 5xx with a JSON body; Marketplace bills each 2xx (peers.md §0), so a 2xx for an error
would charge the buyer for nothing.

The model runs inside the request, on the worker's event loop: one prediction per worker at a
time (the work is CPU-bound, so more would only queue inside the process), while idle
keep-alive connections cost nothing. That is also what lets the per-request deadline use
SIGALRM, which only the main thread receives.
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

from . import codecs
from .contract import METERING_HEADER, MIB, metering_value
from .errors import InferenceTimeout, PayloadTooLarge, RequestError, TooManyBodies
from .handler import Handler
from .request_log import request_line
from .settings import Settings

REQUEST_LOGGER = "mpkit.request"
log = logging.getLogger(REQUEST_LOGGER)
# Past this, a refused body is not read to its end: the connection is closed after the 413.
DRAIN_LIMIT_BYTES = 128 * 1024 * 1024
# Kept connections stay with the worker that accepted them, and when several arrive at once one
# worker may take them all while another idles. So a worker closes a connection after an answer
# that took this long (a new connection costs ~0.1 ms and lands on whichever worker is free) and
# one connection in every KEEPALIVE_REQUESTS answers (as nginx's keepalive_requests): connections
# drift to the worker that has time for them.
REBALANCE_AFTER_S = 0.02
KEEPALIVE_REQUESTS = 100
ROUTES = {"/ping": ("GET", "HEAD"), "/invocations": ("POST",), "/execution-parameters": ("GET", "HEAD")}


class _CallerGone(Exception):
    """The caller disconnected before the whole body arrived: nobody is left to answer."""


def _error(status: int, kind: str, message: str) -> bytes:
    return json.dumps({"error": {"status": status, "type": kind, "message": message}}).encode()


class _Deadline:
    """Raise InferenceTimeout inside the request after `seconds`, where signals allow it.

    The SIGALRM handler is installed once per process; each request only arms and disarms the
    timer. Signals reach only the main thread (where a uvicorn worker runs its loop, and so
    the model); elsewhere the server's own worker timeout is the backstop.
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


METERING = METERING_HEADER.lower().encode()


def _headers(scope) -> dict[str, str]:
    # Repeated headers are rare here and only the first of each is used; names arrive lower-case.
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _content_length(headers: dict) -> int | None:
    length = headers.get("content-length")
    return int(length) if length and length.isdigit() else None


class _Buffered:
    """Request-body bytes this worker holds for requests still being read, all connections together."""

    held = 0


async def _read_body(receive, length: int | None, limit: int, worker_limit: int | None = None) -> bytes:
    if length is not None and length > limit:
        # Decided from Content-Length alone, nothing read. The server discards the rest of the
        # body after our answer, so a caller still sending reads the 413, not a reset.
        raise PayloadTooLarge(
            f"the body is {length} bytes; this model takes at most {limit} bytes "
            f"({limit // MIB} MiB, SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        )
    chunks, size = [], 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _CallerGone()
            chunk = message.get("body", b"")
            if size + len(chunk) > limit:
                raise PayloadTooLarge(f"the body is over {limit} bytes, the most this model takes")
            size += len(chunk)
            _Buffered.held += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if worker_limit is not None and _Buffered.held > worker_limit:
                raise TooManyBodies(f"this worker already holds {worker_limit // MIB} MiB of request bodies still "
                                    "arriving; retry in a moment")
    finally:
        _Buffered.held -= size


async def _send(send, status: int, body: bytes, media: str | None, close: bool = False, extra=()) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if media:
        headers.append((b"content-type", media.encode()))
    if close:
        headers.append((b"connection", b"close"))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(settings: Settings | None = None, handler=None, on_timeout=None):
    """The ASGI app. `handler` defaults to loading the model now; `on_timeout` is called after a
    request ran out of time, so that the server can replace the worker that ran it."""
    settings = settings or Settings.load()
    if handler is None:
        handler = Handler(settings)
    deadline = _Deadline(settings.timeout_s)
    request_ids = itertools.count(1)
    execution_parameters = json.dumps({
        "MaxConcurrentTransforms": settings.max_concurrent_transforms,
        "BatchStrategy": settings.batch_strategy,
        "MaxPayloadInMB": settings.max_payload_mb,
    }).encode()

    async def invocations(receive, send, headers: dict) -> None:
        started = time.perf_counter()
        # The worker's pid, not the master's: the app is created before the workers fork.
        number = next(request_ids)
        rid = headers.get("x-amzn-sagemaker-inference-id") or f"{os.getpid():x}-{number}"
        content_type = headers.get("content-type", "")
        length = _content_length(headers)
        rows, status, timed_out, close = None, 500, False, False
        try:
            media = codecs.parse_content_type(content_type, settings.content_types)
            accept = codecs.choose_accept(headers.get("accept"), settings.accept_types, settings.default_accept)
            body = await _read_body(receive, length, settings.max_payload_bytes, settings.buffered_body_bytes)
            with deadline():
                out, out_media, rows = handler.invoke(body, media, accept)
            status = 200
        except RequestError as exc:
            status = exc.status
            timed_out = isinstance(exc, InferenceTimeout)
            out, out_media = json.dumps(exc.to_dict()).encode(), "application/json"
            close = status == 413 and (length is None or length > DRAIN_LIMIT_BYTES)
        except _CallerGone:
            status, out = 499, None  # nginx's code for it, in the log only
        except Exception:
            log.exception("request %s failed inside the server", rid)
            out = _error(500, "internal_error", f"the server failed on this request; see the container log for request {rid}")
            out_media = "application/json"
        finally:
            elapsed = time.perf_counter() - started
            close = close or elapsed >= REBALANCE_AFTER_S or number % KEEPALIVE_REQUESTS == 0
            request_line(log, "request id=%s content_type=%s rows=%s status=%d latency_ms=%.2f"
                         % (rid, content_type or "-", "-" if rows is None else rows, status, elapsed * 1000))
            if timed_out and on_timeout:
                on_timeout()
        if out is not None:
            # Billed units ride on successful answers only: an error is never metered.
            extra = [(METERING, metering_value(rows or 1).encode())] if settings.metering and status == 200 else ()
            await _send(send, status, out, out_media, close=close, extra=extra)

    async def app(scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations" and method == "POST":
            await invocations(receive, send, _headers(scope))
        elif path == "/ping" and method in ("GET", "HEAD"):
            await _send(send, 200, b"", None)
        elif path == "/execution-parameters" and method in ("GET", "HEAD"):
            await _send(send, 200, execution_parameters, "application/json")
        elif path in ROUTES:
            allowed = ", ".join(ROUTES[path])
            await _send(send, 405, _error(405, "method_not_allowed", f"{method} is not allowed on {path}; use {allowed}"),
                        "application/json", extra=[(b"allow", allowed.encode())])
        else:
            await _send(send, 404, _error(404, "not_found", f"no route {path}; use GET /ping or POST /invocations"),
                        "application/json")

    return app
