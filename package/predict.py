"""`mpkit predict`: the image run as SageMaker runs it (networking off), sent each request body."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .build import current_image, mounted_model
from .docker_engine import Engine
from .errors import ConfigurationError
from .manifest import Manifest, ManifestError


@dataclass(frozen=True)
class Request:
    file: Path
    content_type: str
    accept: str | None


@dataclass
class Answer:
    file: str
    content_type: str
    accept: str | None
    status: int | None
    response_content_type: str | None
    latency_ms: float
    body: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 300


@dataclass
class PredictResult:
    image: str
    startup_seconds: float
    stop_seconds: float = 0.0
    exit_code: int | None = None
    answers: list[Answer] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return not all(a.ok for a in self.answers)

    def to_dict(self) -> dict:
        return {"image": self.image, "startup_seconds": round(self.startup_seconds, 3),
                "results": [asdict(a) for a in self.answers]}


def requests_for(manifest: Manifest, files: list[str], content_type: str | None, accept: str | None) -> list[Request]:
    """The given files (all of one content type), else the manifest's samples."""
    if files:
        if not content_type:
            raise ConfigurationError("--file needs --content-type")
        requests = [Request(Path(f), content_type, accept) for f in files]
    else:
        requests = [Request(s.file, s.content_type, accept or s.accept) for s in manifest.samples]
        if not requests:
            raise ConfigurationError(f"{manifest.where('samples')}: the manifest lists no samples; pass --file")
        missing = [f"{manifest.where('samples', i, 'file')}: samples[{i}].file: {r.file.name} not found ({r.file})"
                   for i, r in enumerate(requests) if not r.file.is_file()]
        if missing:
            raise ManifestError(missing)
    for request in requests:
        if not request.file.is_file():
            raise ConfigurationError(f"--file {request.file}: no such file")
    return requests


def predict(manifest: Manifest, requests: list[Request], *, image: str | None = None, env: dict | None = None,
            engine: Engine | None = None, say=print) -> PredictResult:
    engine = engine or Engine()
    image = current_image(manifest, engine, image, say=say)
    with mounted_model(manifest) as model_dir:
        say(f"starting {image} as SageMaker does: `serve`, networking off"
            + (", model at /opt/ml/model (read-only)" if model_dir else ""))
        with engine.serve(image, model_dir=model_dir, env=env or {}) as container:
            result = PredictResult(image=image, startup_seconds=container.wait_ready())
            say(f"/ping answered 200 after {result.startup_seconds:.2f} s")
            for request in requests:
                reply = container.invoke(request.file.read_bytes(), request.content_type, request.accept)
                result.answers.append(Answer(
                    file=str(request.file), content_type=request.content_type, accept=request.accept,
                    status=reply.status, response_content_type=reply.content_type,
                    latency_ms=round(reply.elapsed * 1000, 2),
                    body=reply.body.decode(errors="replace") if reply.error is None else None, error=reply.error))
            result.stop_seconds, result.exit_code = container.stop()
            say(f"container stopped in {result.stop_seconds:.2f} s (exit code {result.exit_code})")
    return result
