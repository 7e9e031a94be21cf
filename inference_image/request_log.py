"""The per-request log line, written in batches.

Each write to stdout is a wake-up for the log driver that carries it (Docker's json-file
locally, CloudWatch on SageMaker); one write per request cost about a fifth of the 1-row
throughput (bench/run.py). A line goes out at once when nothing was written for
FLUSH_INTERVAL_S (a quiet server logs as usual); under load lines wait at most FLUSH_INTERVAL_S
or FLUSH_LINES, whichever comes first, and a line at WARNING or above flushes at once, with
everything before it.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time

FLUSH_INTERVAL_S = 0.5
FLUSH_LINES = 256


class BatchedHandler(logging.Handler):
    def __init__(self, stream=None, interval_s: float = FLUSH_INTERVAL_S, max_lines: int = FLUSH_LINES):
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.max_lines = max_lines
        self.pending: list[str] = []
        self.last_flush_at = 0.0
        self.flusher_pid = None
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.add(line, urgent=record.levelno >= logging.WARNING)

    def add(self, line: str, urgent: bool = False) -> None:
        """A formatted line, written with the batch (at once when urgent, or when due)."""
        with self.lock:
            self.pending.append(line)
            due = urgent or len(self.pending) >= self.max_lines or time.monotonic() - self.last_flush_at >= self.interval_s
        if due:
            self.flush()
        else:
            self._ensure_flusher()

    def flush(self) -> None:
        with self.lock:
            lines, self.pending = self.pending, []
            self.last_flush_at = time.monotonic()
        if lines:
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # the stream is gone (shutdown); nothing left to tell

    def _ensure_flusher(self) -> None:
        # Threads do not survive gunicorn's fork, so each worker starts its own on first use.
        if self.flusher_pid == os.getpid():
            return
        self.flusher_pid = os.getpid()
        threading.Thread(target=self._flush_periodically, name="mpkit-log-flush", daemon=True).start()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.flush()


class FastLine:
    """The request line without a LogRecord: formatted here as LOG_FORMAT formats it (the
    timestamp's seconds made once a second) and handed to the batched handler. A LogRecord and
    its formatting cost about a tenth of a 1-row request's CPU."""

    def __init__(self, handler: BatchedHandler, name: str):
        self.handler, self.name = handler, name
        self._second, self._prefix = -1, ""

    def write(self, message: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self.handler.add(f"{self._prefix},{int((now - second) * 1000):03d} INFO {self.name}: {message}")


_fast: FastLine | None = None


def request_line(logger: logging.Logger, message: str) -> None:
    """One request's line: by the fast path once the server installed it, else through logging."""
    if _fast is not None and _fast.name == logger.name:
        _fast.write(message)
    else:
        logger.info(message)


def install(logger_name: str, fmt: str) -> BatchedHandler:
    """Route `logger_name` through one batched handler (and not also through the root's)."""
    global _fast
    logger = logging.getLogger(logger_name)
    handler = BatchedHandler()
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    _fast = FastLine(handler, logger_name)
    return handler
