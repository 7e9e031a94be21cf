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

from .contract import (
    BAKED_MODEL_DIR,
    BATCH_PAYLOAD_CEILING_MB,
    BODY_TIMEOUT_S,
    BUFFERED_BODY_PAYLOADS,
    DEFAULT_ACCEPT_TYPES,
    DEFAULT_BATCH_TIMEOUT_S,
    DEFAULT_MAX_PAYLOAD_MB,
    DEFAULT_PORT,
    DEFAULT_REALTIME_TIMEOUT_S,
    HEAD_TIMEOUT_S,
    MAX_HEADER_BYTES,
    MEDIA_TYPES,
    MIB,
    MODEL_SPEC_FILE,
    SAGEMAKER_MODEL_DIR,
    SERVING_CONFIG_PATH,
    Env,
    ServingConfig,
)

GRACEFUL_TIMEOUT_S = 20  # SM-HOST sends SIGKILL 30 s after SIGTERM: finish well before


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
    if env.get(Env.MODEL_DIR):
        return env[Env.MODEL_DIR]
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
    accept_types: tuple = DEFAULT_ACCEPT_TYPES
    default_accept: str = DEFAULT_ACCEPT_TYPES[0]
    model_dir: str = BAKED_MODEL_DIR
    model_threads: int = 1
    preload: bool = True
    graceful_timeout_s: int = GRACEFUL_TIMEOUT_S
    metering: bool = False  # per-inference pricing: the usage header on every 2xx
    max_header_bytes: int = MAX_HEADER_BYTES
    head_timeout_s: float = HEAD_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S

    @property
    def buffered_body_bytes(self) -> int:
        """What one worker holds of request bodies still being read, all connections together."""
        return BUFFERED_BODY_PAYLOADS * self.max_payload_bytes

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MIB

    @classmethod
    def load(cls, env: dict | None = None, baked_path: str | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        baked_path = baked_path or env.get(Env.SERVING_CONFIG, SERVING_CONFIG_PATH)
        try:
            baked = ServingConfig.read(baked_path) or ServingConfig()
        except (json.JSONDecodeError, ValueError, TypeError) as exc:
            raise SettingsError(f"{baked_path} is not a serving configuration: {exc}") from None

        batch = env.get(Env.BATCH, "").strip().lower() in ("true", "1", "yes")
        workers = _int(env, Env.MODEL_SERVER_WORKERS, baked.workers or _cpu_count())
        default_timeout = DEFAULT_BATCH_TIMEOUT_S if batch else (baked.timeout_s or DEFAULT_REALTIME_TIMEOUT_S)
        strategy = env.get(Env.BATCH_STRATEGY, "MULTI_RECORD").strip().upper() or "MULTI_RECORD"
        if strategy not in ("MULTI_RECORD", "SINGLE_RECORD"):
            raise SettingsError(f"{Env.BATCH_STRATEGY}={strategy!r} is neither MULTI_RECORD nor SINGLE_RECORD")

        default_accept = env.get(Env.DEFAULT_INVOCATIONS_ACCEPT) or baked.accept_default
        if default_accept not in baked.accept_types:
            raise SettingsError(f"default accept {default_accept!r} is not among the accept types {baked.accept_types}")

        # 0 means "chunked, any size" in a transform job (SM-BATCH); the server then takes the
        # batch ceiling rather than no limit at all.
        max_payload = _int(env, Env.MAX_PAYLOAD_IN_MB, baked.max_payload_mb, minimum=0) or BATCH_PAYLOAD_CEILING_MB

        return cls(
            port=_int(env, Env.BIND_TO_PORT, DEFAULT_PORT),
            workers=workers,
            timeout_s=_int(env, Env.MODEL_SERVER_TIMEOUT, default_timeout),
            batch=batch,
            max_payload_mb=max_payload,
            batch_strategy=strategy,
            max_concurrent_transforms=_int(env, Env.MAX_CONCURRENT_TRANSFORMS, workers),
            content_types=baked.content_types,
            accept_types=baked.accept_types,
            default_accept=default_accept,
            model_dir=_choose_model_dir(env),
            model_threads=_int(env, Env.MODEL_THREADS, 1),
            preload=env.get(Env.PRELOAD, str(baked.preload is not False)).lower() not in ("false", "0", "no"),
            graceful_timeout_s=_int(env, Env.GRACEFUL_TIMEOUT, GRACEFUL_TIMEOUT_S),
            metering=bool(baked.metering),
            max_header_bytes=_int(env, Env.MAX_HEADER_BYTES, MAX_HEADER_BYTES),
            head_timeout_s=_int(env, Env.HEAD_TIMEOUT, HEAD_TIMEOUT_S),
            body_timeout_s=_int(env, Env.BODY_TIMEOUT, BODY_TIMEOUT_S),
        )
