"""Call an ASGI app in this thread, as a server would, for unit tests without a server.

The app runs on a fresh event loop in the calling (main) thread, so the per-request deadline's
SIGALRM works as it does in a worker. The real server (gunicorn + uvicorn) is exercised over
HTTP by tests/unit/test_server.py and by the Docker tier.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field


@dataclass
class Reply:
    status_code: int
    headers: dict = field(default_factory=dict)
    data: bytes = b""

    @property
    def mimetype(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def get_json(self):
        return json.loads(self.data)


class AsgiClient:
    def __init__(self, app, chunk_size: int = 64 * 1024):
        self.app = app
        self.chunk_size = chunk_size

    def request(self, method: str, path: str, data: bytes = b"", headers: dict | None = None,
                content_length: bool = True) -> Reply:
        raw = [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
        if content_length and method not in ("GET", "HEAD"):
            raw.append((b"content-length", str(len(data)).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "headers": raw,
                 "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000)}
        pieces = [data[i:i + self.chunk_size] for i in range(0, len(data), self.chunk_size)] or [b""]
        sent: list[dict] = []

        async def receive():
            if pieces:
                body = pieces.pop(0)
                return {"type": "http.request", "body": body, "more_body": bool(pieces)}
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
        return Reply(start["status"], headers, b"" if method == "HEAD" else body)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, data=b"", headers=None, **kw):
        return self.request("POST", path, data, headers, **kw)
