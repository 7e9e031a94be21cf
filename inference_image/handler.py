"""The four steps of an invocation, each replaceable by the seller's own module.

The convention is that of SageMaker's framework containers: a module may define `model_fn(model_dir)`,
`input_fn(body, content_type)`, `predict_fn(data, model)` and `output_fn(prediction, accept)`;
whatever it leaves out, the built-in step does. `output_fn` may return bytes, or a pair of bytes
and the content type it chose.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

from . import codecs
from .errors import BadRequest, RequestError
from .loaders import LoadError, load_model
from .settings import Settings
from .spec import ModelSpec

log = logging.getLogger("mpkit.model")


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
        user = _import_module(model_dir / spec.handler) if spec.handler else None
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
        return model.predict(data)

    def _output_fn(self, prediction, accept: str) -> bytes:
        return codecs.encode(prediction, accept, self.spec)

    def invoke(self, body: bytes, content_type: str, accept: str):
        """Returns (response bytes, response content type, number of rows or None)."""
        try:
            data = self.input_fn(body, content_type)
        except RequestError:
            raise
        except ValueError as exc:
            if "input_fn" not in self.user_steps:
                raise
            raise BadRequest(f"input_fn refused the body: {exc}") from None
        prediction = self.predict_fn(data, self.model)
        out = self.output_fn(prediction, accept)
        media = accept
        if isinstance(out, tuple):
            out, media = out
        if isinstance(out, str):
            out = out.encode()
        rows = len(data) if hasattr(data, "__len__") else None
        return out, media, rows
