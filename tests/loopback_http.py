"""What the tests' own HTTP services share: a handler that keeps connections open and logs
nothing, and a threaded server on a free loopback port, serving from a daemon thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

    def log_message(self, *args):
        pass


class LoopbackService:
    """Subclasses build their handler class, then call `_serve` with it; `url` reaches them."""

    server: ThreadingHTTPServer
    url: str

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
