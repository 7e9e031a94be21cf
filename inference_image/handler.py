"""The four steps of an invocation, each replaceable by the seller's own module.

The convention is that of SageMaker's framework containers. The module is `code/inference.py` in
the model folder (inside model.tar.gz for S3 delivery; `mpkit build` puts the manifest's
`model.handler` there), and may define any of:

- `model_fn(model_dir: str) -> model`, called once at start, before the workers fork;
  default: mpkit's loader for the manifest's framework;
- `input_fn(body: bytes, content_type: str) -> data`; default: the body parsed and checked
  against the declared features, a Table (`.numeric`, `.strings`, `.to_frame()`);
- `predict_fn(data, model) -> prediction`; default: mpkit's models take the Table; a model
  from the seller's own `model_fn` gets `model.predict(data.to_frame())`, the rows as a pandas
  DataFrame with the declared feature names;
- `output_fn(prediction, accept: str) -> bytes | str | (bytes, content type)`; default: the
  prediction as JSON `{"predictions": [...]}`, CSV or JSON Lines.

An exception that carries an integer `status` (or `status_code`) from 400 to 499 is the
caller's mistake and is answered with that status and its message; a `ValueError` from
`input_fn` is a 400; anything else is a 500 (logged, not sent back).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

from . import codecs
from .contract import HANDLER_DIR
from .errors import BadRequest, RequestError
from .loaders import Classifier, LoadError, PipelineModel, PlainModel, load_model
from .settings import Settings
from .spec import ModelSpec

log = logging.getLogger("mpkit.model")
DEFAULT_HANDLER = f"{HANDLER_DIR}/inference.py"  # where SageMaker's framework containers look


class SellerClientError(RequestError):
    """A seller's handler said the caller was wrong, with a 4xx status of its own choosing."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status
        self.kind = "client_error"


def _import_module(path: Path):
    if not path.is_file():
        raise LoadError(f"handler module {path} is missing")
    spec = importlib.util.spec_from_file_location("mpkit_user_handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Handler:
    def __init__(self, settings: Settings):
        started = time.perf_counter()
        model_dir = Path(settings.model_dir)
        spec = ModelSpec.read(model_dir)
        handler = spec.handler or (DEFAULT_HANDLER if (model_dir / DEFAULT_HANDLER).is_file() else None)
        user = _import_module(model_dir / handler) if handler else None
        self.user_steps = sorted(n for n in ("model_fn", "input_fn", "predict_fn", "output_fn") if hasattr(user, n))

        if "model_fn" in self.user_steps:
            self.model = user.model_fn(str(model_dir))
        else:
            self.model, spec = load_model(model_dir, spec, threads=settings.model_threads)
        self.spec = spec
        self.input_fn = getattr(user, "input_fn", None) or self._input_fn
        self.predict_fn = getattr(user, "predict_fn", None) or self._predict_fn
        self.output_fn = getattr(user, "output_fn", None) or self._output_fn

        for media in settings.content_types:
            if media not in codecs.DECODERS and "input_fn" not in self.user_steps:
                raise LoadError(f"content type {media!r} needs an input_fn in the handler module")
        for media in settings.accept_types:
            if media not in codecs.DECODERS and "output_fn" not in self.user_steps:
                raise LoadError(f"accept type {media!r} needs an output_fn in the handler module")
        self.load_seconds = time.perf_counter() - started
        if self.user_steps:
            log.info("handler %s replaces: %s", spec.handler, ", ".join(self.user_steps))

    def _input_fn(self, body: bytes, content_type: str):
        return codecs.decode(body, content_type, self.spec)

    @staticmethod
    def _predict_fn(data, model):
        if isinstance(model, (PlainModel, PipelineModel, Classifier)) or not isinstance(data, codecs.Table):
            return model.predict(data)
        return model.predict(data.to_frame())

    def _output_fn(self, prediction, accept: str) -> bytes:
        return codecs.encode(prediction, accept, self.spec)

    def invoke(self, body: bytes, content_type: str, accept: str):
        """Returns (response bytes, response content type, number of rows or None)."""
        try:
            data = self.input_fn(body, content_type)
        except ValueError as exc:
            if "input_fn" not in self.user_steps:
                raise
            raise BadRequest(f"input_fn refused the body: {exc}") from None
        except Exception as exc:
            raise _as_client_error(exc) from None
        try:
            prediction = self.predict_fn(data, self.model)
            out = self.output_fn(prediction, accept)
        except Exception as exc:
            raise _as_client_error(exc) from None
        media = accept
        if isinstance(out, tuple):
            out, media = out
        if isinstance(out, str):
            out = out.encode()
        rows = len(data) if hasattr(data, "__len__") else None
        return out, media, rows


def _as_client_error(exc: Exception) -> Exception:
    """A seller's exception that carries a 4xx status becomes that answer; any other stays as it is."""
    if isinstance(exc, RequestError):
        return exc
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status < 500:
        return SellerClientError(str(exc) or type(exc).__name__, status)
    return exc
