"""`mpkit transform-local`: a transform job run on this machine, as SageMaker runs it."""

from __future__ import annotations

import resource
from pathlib import Path

from . import batch


def job_definition(manifest) -> dict:
    """The manifest's validation profile as TransformJobDefinition values (None where unset)."""
    v = manifest.data["validation"]
    return {"ContentType": v["content_type"], "Accept": v.get("accept"), "SplitType": v.get("split_type"),
            "BatchStrategy": v.get("batch_strategy"), "MaxPayloadInMB": v.get("max_payload_mb"),
            "MaxConcurrentTransforms": v.get("max_concurrent_transforms"), "AssembleWith": v.get("assemble_with"),
            "Environment": v.get("environment") or {}}


def run_transform(engine, image: str, job: dict, source: Path, output: Path, *, model_dir: Path | None,
                  client_image: str | None, say=print, progress=None) -> tuple[batch.BatchResult, dict | None, dict]:
    """Start the image with the job's variables, read /execution-parameters, replay. Returns the
    result, the execution parameters the container offered (None if it offers none) and the env."""
    env = batch.job_env(job)
    say(f"starting {image} as a transform job does ({', '.join(f'{k}={v}' for k, v in env.items())})")
    with engine.serve(image, model_dir=model_dir, env=env, client_image=client_image) as container:
        container.wait_ready()
        reply = container.request("GET", "/execution-parameters", timeout=10)
        offered = None
        if reply.status == 200:
            try:
                offered = reply.json()
            except ValueError:
                offered = None
        profile = batch.resolve_profile(job, offered)
        say(f"mini-batches: {profile.batch_strategy}, SplitType {profile.split_type}, up to {profile.max_payload_mb} MB, "
            f"{profile.max_concurrent} in flight, AssembleWith {profile.assemble_with}")

        def send(body, headers, timeout):
            return container.request("POST", "/invocations", body, headers, timeout)

        result = batch.replay(source, output, profile, send, progress)
        container.stop()
    return result, offered, env


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
