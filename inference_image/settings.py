"""The server's settings, read once at start: baked defaults, then SageMaker's environment.

The image cannot import the seller-side code, so `mpkit build` bakes the manifest's serving
section into /opt/mpkit/serving.json; SageMaker's variables override it. Buyers running a
Marketplace package under network isolation usually cannot pass any variable at all, so the
defaults here must be right with none set.

Sources (keys of marketplace-contract.md): SM-HOST (port 8080, 60 s per request, SIGKILL 30 s
after SIGTERM), SM-PIPE (SAGEMAKER_BIND_TO_PORT), SM-BATCH (SAGEMAKER_BATCH and the batch
variables, defaults MULTI_RECORD and 6 MB), MP-LIMITS (60 min per batch invocation).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
MEDIA_TYPES = (CSV, JSON, JSONLINES)

DEFAULT_PORT = 8080  # SM-HOST
DEFAULT_REALTIME_TIMEOUT_S = 60  # SM-HOST: respond within 60 seconds
DEFAULT_BATCH_TIMEOUT_S = 3600  # MP-LIMITS: 60 minutes per batch invocation
DEFAULT_MAX_PAYLOAD_MB = 6  # SM-BATCH default MaxPayloadInMB; API-RT Body max 6 MiB
GRACEFUL_TIMEOUT_S = 20  # SM-HOST sends SIGKILL 30 s after SIGTERM: finish well before
BAKED_CONFIG = "/opt/mpkit/serving.json"
BAKED_MODEL_DIR = "/opt/mpkit/model"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"
MODEL_SPEC_FILE = "mpkit-model.json"


class SettingsError(ValueError):
    """A variable or the baked config holds a value the server cannot start with."""


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _int(env: dict, name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum {minimum}")
    return value


def _choose_model_dir(env: dict) -> str:
    if env.get("MPKIT_MODEL_DIR"):
        return env["MPKIT_MODEL_DIR"]
    # SageMaker extracts ModelDataUrl here; a package with the model baked in has no ModelDataUrl.
    if Path(SAGEMAKER_MODEL_DIR, MODEL_SPEC_FILE).is_file():
        return SAGEMAKER_MODEL_DIR
    return BAKED_MODEL_DIR


@dataclass(frozen=True)
class Settings:
    port: int = DEFAULT_PORT
    workers: int = 1
    timeout_s: int = DEFAULT_REALTIME_TIMEOUT_S
    batch: bool = False
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB
    batch_strategy: str = "MULTI_RECORD"
    max_concurrent_transforms: int = 1
    content_types: tuple = MEDIA_TYPES
    accept_types: tuple = MEDIA_TYPES
    default_accept: str = JSON
    model_dir: str = BAKED_MODEL_DIR
    model_threads: int = 1
    preload: bool = True
    graceful_timeout_s: int = GRACEFUL_TIMEOUT_S

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * 1024 * 1024

    @classmethod
    def load(cls, env: dict | None = None, baked_path: str | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        baked_path = baked_path or env.get("MPKIT_SERVING_CONFIG", BAKED_CONFIG)
        baked: dict = {}
        if Path(baked_path).is_file():
            try:
                baked = json.loads(Path(baked_path).read_text())
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{baked_path} is not valid JSON: {exc}") from None

        batch = env.get("SAGEMAKER_BATCH", "").strip().lower() in ("true", "1", "yes")
        workers = _int(env, "SAGEMAKER_MODEL_SERVER_WORKERS", int(baked.get("workers") or 0) or _cpu_count())
        default_timeout = DEFAULT_BATCH_TIMEOUT_S if batch else int(baked.get("timeout_s") or DEFAULT_REALTIME_TIMEOUT_S)
        strategy = env.get("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD").strip().upper() or "MULTI_RECORD"
        if strategy not in ("MULTI_RECORD", "SINGLE_RECORD"):
            raise SettingsError(f"SAGEMAKER_BATCH_STRATEGY={strategy!r} is neither MULTI_RECORD nor SINGLE_RECORD")

        content_types = tuple(baked.get("content_types") or MEDIA_TYPES)
        accept_types = tuple(baked.get("accept_types") or MEDIA_TYPES)
        default_accept = (env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or baked.get("default_accept")
                          or (JSON if JSON in accept_types else accept_types[0]))
        if default_accept not in accept_types:
            raise SettingsError(f"default accept {default_accept!r} is not among the accept types {accept_types}")

        # 0 means "chunked, any size" in a transform job (SM-BATCH); the server then takes the
        # batch ceiling of 100 MB rather than no limit at all.
        max_payload = _int(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", int(baked.get("max_payload_mb") or DEFAULT_MAX_PAYLOAD_MB), minimum=0)
        if max_payload == 0:
            max_payload = 100

        return cls(
            port=_int(env, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT),
            workers=workers,
            timeout_s=_int(env, "SAGEMAKER_MODEL_SERVER_TIMEOUT", default_timeout),
            batch=batch,
            max_payload_mb=max_payload,
            batch_strategy=strategy,
            max_concurrent_transforms=_int(env, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", workers),
            content_types=content_types,
            accept_types=accept_types,
            default_accept=default_accept,
            model_dir=_choose_model_dir(env),
            model_threads=_int(env, "MPKIT_MODEL_THREADS", 1),
            preload=env.get("MPKIT_PRELOAD", str(baked.get("preload", True))).lower() not in ("false", "0", "no"),
            graceful_timeout_s=_int(env, "MPKIT_GRACEFUL_TIMEOUT", GRACEFUL_TIMEOUT_S),
        )
