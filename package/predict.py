"""`mpkit predict`: the image run as SageMaker runs it (networking off), sent each request body."""

from __future__ import annotations

import re
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
    log: str | None = None  # after a 5xx: the container log's lines for this request

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
    kept: str | None = None  # with keep: the container left running

    @property
    def failed(self) -> bool:
        return not all(a.ok for a in self.answers)

    def to_dict(self) -> dict:
        return {"image": self.image, "startup_seconds": round(self.startup_seconds, 3),
                "results": [asdict(a) for a in self.answers], "kept": self.kept}


_REQUEST_ID = re.compile(r"for request (\S+?)[\"\s]")


def log_excerpt(log: str, body: str | None, tail: int = 40) -> str:
    """The log from the line that names the failed request (its id is in the 500's message), else
    the log's tail: what the user needs once the container is gone."""
    lines = log.splitlines()
    found = _REQUEST_ID.search(body or "")
    if found:
        start = next((i for i, line in enumerate(lines) if f"request {found[1]} failed" in line), None)
        if start is not None:
            return "\n".join(lines[start:start + tail])
    return "\n".join(lines[-tail:])


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
            engine: Engine | None = None, keep: bool = False, say=print) -> PredictResult:
    """Each request's answer; after a 5xx, the container log for it. With `keep` the container is
    left running (networking off) for `docker logs` and `docker exec`, and named in the result."""
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
                if reply.status is None or reply.status >= 500:
                    result.answers[-1].log = log_excerpt(container.logs(), result.answers[-1].body)
            if keep:
                result.kept = container.keep()
                say(f"container {result.kept} left running: `docker logs {result.kept}`, "
                    f"`docker exec -it {result.kept} sh`; `docker rm -f {result.kept}` removes it")
            else:
                result.stop_seconds, result.exit_code = container.stop()
                say(f"container stopped in {result.stop_seconds:.2f} s (exit code {result.exit_code})")
    return result
