"""Errors a caller caused (4xx) or that the server must own up to (5xx).

Marketplace bills the buyer for every 2xx answer, so an error must never leave as a 2xx: each
class here carries its own status, and the app turns it into a JSON body that says what was wrong
and, for data errors, where (row and column, both counted from 0).
"""

from __future__ import annotations


class RequestError(Exception):
    status = 400
    kind = "bad_request"

    def __init__(self, message: str, *, row: int | None = None, column: str | int | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

    def to_dict(self) -> dict:
        error: dict = {"status": self.status, "type": self.kind, "message": self.message}
        if self.row is not None:
            error["row"] = self.row
        if self.column is not None:
            error["column"] = self.column
        return {"error": error}


class BadRequest(RequestError):
    status = 400
    kind = "bad_request"


class TooManyBodies(RequestError):
    """Other connections' bodies, still arriving, fill what this worker may hold: not this
    caller's mistake, and not a fault of the model either, so neither 4xx-as-blame nor 5xx."""

    status = 429
    kind = "too_many_requests"


class NotAcceptable(RequestError):
    status = 406
    kind = "not_acceptable"


class PayloadTooLarge(RequestError):
    status = 413
    kind = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    kind = "unsupported_media_type"


class InferenceTimeout(RequestError):
    """The model ran past the server's per-request timeout; the worker is replaced after it."""

    status = 503
    kind = "inference_timeout"
