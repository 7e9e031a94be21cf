"""Run the app under gunicorn as SageMaker expects: port 8080 (or SAGEMAKER_BIND_TO_PORT),
the model loaded once in the master before the workers fork, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal

from gunicorn.app.base import BaseApplication

from .app import create_app
from .settings import Settings

WORKER_CLASS = "sync"
# gunicorn kills a worker silent this much longer than the per-request timeout: the request's
# own deadline answers first, this only catches a worker stuck inside native code.
HARD_KILL_MARGIN_S = 30


def _replace_this_worker() -> None:
    # gunicorn's worker treats SIGTERM as "finish the current request, then exit"; the master
    # then starts a fresh worker, so state a timed-out model left behind goes with it.
    os.kill(os.getpid(), signal.SIGTERM)


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
        }
        for key, value in options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        return create_app(self.settings, on_timeout=_replace_this_worker)


def serve(settings: Settings | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings or Settings.load()
    logging.getLogger("mpkit.server").info(
        "serving on port %d with %d %s workers, timeout %d s, max payload %d MiB, batch=%s, model %s",
        settings.port, settings.workers, WORKER_CLASS, settings.timeout_s, settings.max_payload_mb,
        settings.batch, settings.model_dir)
    Server(settings).run()
