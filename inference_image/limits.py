"""Client limits on the HTTP connection: a caller holds a worker's memory and sockets only as long
as a prompt, well-formed request needs (limits and their sources in contract.py).

- the request head (request line and headers) must arrive within `head_timeout_s` of the
  connection opening, or of the previous answer on a kept connection; else the connection closes
  (with a 408 when part of a head had arrived);
- the head may hold at most `max_header_bytes`; past it the answer is 431 and the connection closes;
- the body must arrive within `body_timeout_s` of the head; else 408 and the connection closes.

The body size and the bytes a worker buffers across connections are the app's (app._read_body).
The protocol is uvicorn's httptools one with these timers added; everything else is unchanged.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import Settings

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
# One read may hold the tail of the previous body and the next head together.
READ_SLACK_BYTES = 256 * 1024
LINGER_S = 2


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    # Set once in the master before the workers fork (server.py).
    limits: Settings = Settings()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_bytes = self._header_bytes = 0
        self._in_head = True
        self._timer = None
        self._discarding = False
        self._arm(self.limits.head_timeout_s, self._head_expired)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return  # after a refusal: read and drop, so that the caller can read our answer
        super().data_received(data)
        # Bytes fed while a head is being read: exact header sizes are checked in on_header; this
        # bounds what the parser can be made to hold for one endless header line.
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes + READ_SLACK_BYTES:
                self._refuse(431, f"the request head is over {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._header_bytes = True, 0, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_header_bytes:
            self._refuse(431, f"the request line is over {self.limits.max_header_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, f"the request's headers are over {self.limits.max_header_bytes} bytes")

    def on_headers_complete(self) -> None:
        if self._discarding:
            return  # refused in this same read: the app never sees it
        self._in_head = False
        self._arm(self.limits.body_timeout_s, self._body_expired)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._discarding:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._discarding:
            return
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.limits.head_timeout_s, self._head_expired)

    # ---- timers and refusals
    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_expired(self) -> None:
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes:
            self._refuse(408, f"the request head did not arrive within {self.limits.head_timeout_s:g} s")
        elif self._in_head and not self.cycle:
            self.transport.close()  # a connection that never sent a byte: nothing to answer, nothing unread
        else:
            self._linger()  # after an answer, the rest of a body the app did not want may still be arriving

    def _body_expired(self) -> None:
        if not self.transport.is_closing() and (self.cycle is None or not self.cycle.response_started):
            self._refuse(408, f"the request body did not arrive within {self.limits.body_timeout_s:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer at once and close; the app never sees the request."""
        self._disarm()
        if self._discarding or self.transport.is_closing():
            return
        body = ('{"error": {"status": %d, "type": "client_limit", "message": "%s"}}' % (status, message)).encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n" % (status, _REASONS[status], len(body)) + body)
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._linger()

    def _linger(self) -> None:
        """A lingering close, as nginx does: closing with the caller's bytes still unread would
        send a reset that can destroy our answer before it is read. Stop sending, drop what still
        arrives for a moment, then close."""
        self._disarm()
        self._discarding = True
        # Reading may be paused (a body past uvicorn's high-water mark that the app had not taken
        # yet): resume it, or nothing is drained and the close still resets.
        if self.flow is not None:
            self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)
