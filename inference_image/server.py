"""Run the app under gunicorn as SageMaker expects: port 8080 (or SAGEMAKER_BIND_TO_PORT),
the model loaded once in the master before the workers fork, graceful stop on SIGTERM.

gunicorn keeps the process model (preload, fork, replace a dead or stuck worker, stop
gracefully); each worker is a uvicorn event loop (uvloop, httptools). gunicorn's default sync
worker closes the connection after every answer and parses HTTP in Python: on the example
product it reached 0.27-0.44 of the in-process ceiling for 1-row requests at concurrency 4,
uvicorn workers 0.47-0.56 (bench/run.py, 2 cores, load generator included).
"""

from __future__ import annotations

import logging
import os
import signal

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from . import codecs, request_log
from .app import REQUEST_LOGGER, create_app
from .limits import LimitedHttpToolsProtocol
from .settings import Settings


class Worker(UvicornWorker):
    # No lifespan events to wait for (the model is loaded before the fork), and neither the
    # server's name nor an access log line per request: request_log writes our own line.
    CONFIG_KWARGS = {"loop": "uvloop", "http": LimitedHttpToolsProtocol, "lifespan": "off", "server_header": False,
                     "access_log": False}


WORKER_CLASS = f"{__name__}.Worker"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# gunicorn kills a worker silent this much longer than the per-request timeout: the request's
# own deadline answers first, this only catches a worker stuck inside native code.
HARD_KILL_MARGIN_S = 30


def _replace_this_worker() -> None:
    # The worker treats SIGTERM as "finish the requests in hand, then exit"; the master then
    # starts a fresh worker, so state a timed-out model left behind goes with it.
    os.kill(os.getpid(), signal.SIGTERM)


def _flush_request_log(arbiter, worker) -> None:
    for handler in logging.getLogger(REQUEST_LOGGER).handlers:
        handler.flush()


class Server(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"0.0.0.0:{s.port}",
            "workers": s.workers,
            "worker_class": WORKER_CLASS,
            "timeout": s.timeout_s + HARD_KILL_MARGIN_S,
            "graceful_timeout": s.graceful_timeout_s,
            "preload_app": s.preload,
            "keepalive": 5,
            "backlog": 2048,
            "loglevel": "info",
            "errorlog": "-",
            "accesslog": None,
            "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
            "proc_name": "mpkit-serve",
            # The request log is batched; a worker's last lines leave with it.
            "worker_exit": _flush_request_log,
        }
        for key, value in options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        app = create_app(self.settings, on_timeout=_replace_this_worker)
        codecs.preload()
        return app


def serve(settings: Settings | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    request_log.install(REQUEST_LOGGER, LOG_FORMAT)
    settings = settings or Settings.load()
    LimitedHttpToolsProtocol.limits = settings  # before the fork: every worker inherits it
    logging.getLogger("mpkit.server").info(
        "serving on port %d with %d uvicorn workers under gunicorn, timeout %d s, max payload %d MiB, batch=%s, model %s",
        settings.port, settings.workers, settings.timeout_s, settings.max_payload_mb,
        settings.batch, settings.model_dir)
    Server(settings).run()
