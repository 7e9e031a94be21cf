"""`mpkit transform-local`: a transform job run on this machine, as SageMaker runs it."""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

from package import rules
from package.base_image import DEFAULT_BASE, resolve_base
from package.build import current_image, mounted_model
from package.docker_engine import Engine
from package.errors import ConfigurationError, ContainerError
from package.manifest import Manifest

from . import batch


def run_transform(engine, image: str, job: dict, source: Path, output: Path, *, model_dir: Path | None,
                  client_image: str | None, say=print, progress=None) -> tuple[batch.BatchResult, dict | None, dict]:
    """Start the image with the job's variables, read /execution-parameters, replay. Returns the
    result, the execution parameters the container offered (None if it offers none) and the env."""
    env = batch.job_env(job)
    say(f"starting {image} as a transform job does ({', '.join(f'{k}={v}' for k, v in env.items())})")
    with engine.serve(image, model_dir=model_dir, env=env, client_image=client_image) as container:
        try:
            container.wait_ready(rules.STARTUP_S.value)
        except ContainerError as exc:
            # AWS's validation job would wait up to 30 minutes for a 200 and then fail; say why now.
            raise ContainerError(f"the transform job's container never answered /ping 200, so AWS's validation job would "
                                 f"fail after waiting up to 30 minutes: {exc}", hint=exc.hint) from None
        reply = container.request("GET", "/execution-parameters", timeout=10)
        offered = None
        if reply.status == 200:
            try:
                offered = reply.json()
            except ValueError:
                offered = None
        profile = batch.resolve_profile(job, offered)
        say(f"mini-batches: {profile.batch_strategy}, SplitType {profile.split_type}, up to {profile.max_payload_mb} MB, "
            f"{profile.max_concurrent} in flight, AssembleWith {profile.assemble_with}; each request waits "
            f"{profile.timeout_s:.0f} s and is retried {profile.max_retries} times (ModelClientConfig's defaults: a "
            "validation job cannot set them)")

        def send(body, headers, timeout):
            return container.request("POST", "/invocations", body, headers, timeout)

        result = batch.replay(source, output, profile, send, progress)
        container.stop()
    return result, offered, env


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class TransformLocalResult:
    result: batch.BatchResult
    execution_parameters: dict | None
    environment: dict
    peak_rss_bytes: int

    @property
    def ok(self) -> bool:
        return self.result.ok

    def to_dict(self) -> dict:
        return {**self.result.to_dict(), "execution_parameters": self.execution_parameters,
                "environment": self.environment, "peak_rss_bytes": self.peak_rss_bytes}


def transform_local(manifest: Manifest, *, output: Path, source: Path | None = None, image: str | None = None,
                    overrides: dict | None = None, engine: Engine | None = None, say=print,
                    progress=None) -> TransformLocalResult:
    """The validation profile's transform job (`overrides` replace TransformJobDefinition values)
    on `source` (default: the profile's input), written to `output`."""
    if manifest.validation is None:
        raise ConfigurationError(f"{manifest.where()}: the manifest has no `validation:` profile to run")
    job = manifest.validation.job_definition()
    job.update({k: v for k, v in (overrides or {}).items() if v is not None})
    source = source or manifest.validation.input
    if not source.exists():
        raise ConfigurationError(f"{source}: no such input file or folder")
    engine = engine or Engine()
    image = current_image(manifest, engine, image, say=say)
    with mounted_model(manifest) as model_dir:
        result, offered, env = run_transform(engine, image, job, source, output, model_dir=model_dir,
                                             client_image=resolve_base(engine, DEFAULT_BASE, say=say), say=say,
                                             progress=progress)
    return TransformLocalResult(result, offered, env, peak_rss_bytes())
