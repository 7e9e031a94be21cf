"""The contract between the image and the seller side, defined once: where files sit in the
image, the media types it speaks, the environment variables it reads, and the serving
configuration `mpkit build` bakes in.

Both sides import this module: the image reads through it, the seller side writes through it.
It imports nothing from the seller side (it runs inside the image).

Sources (keys of marketplace-contract.md): SM-HOST (port 8080, /opt/ml/model, 60 s per request),
SM-PIPE (SAGEMAKER_BIND_TO_PORT), SM-BATCH (the batch variables, MaxPayloadInMB default 6),
API-RT (InvokeEndpoint bodies at most 6 MiB), MP-LIMITS (60 min per batch invocation).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
MEDIA_TYPES = (CSV, JSON, JSONLINES)
# With no serving configuration baked in, the image answers JSON unless asked otherwise.
DEFAULT_ACCEPT_TYPES = (JSON, CSV, JSONLINES)

# ---- files
SERVING_CONFIG_FILE = "serving.json"
SERVING_CONFIG_PATH = f"/opt/mpkit/{SERVING_CONFIG_FILE}"
BAKED_MODEL_DIR = "/opt/mpkit/model"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"  # SM-HOST: ModelDataUrl is extracted here
MODEL_SPEC_FILE = "mpkit-model.json"
HANDLER_DIR = "code"  # a handler module travels in the model folder under code/
# Written into the model folder by the image's build step (prepare.py): the featurizer compiled
# to plain numbers, checked there against scikit-learn's own transform.
FEATURIZER_PLAN_FILE = "mpkit-featurizer.json"
# What the build step found and did (which libraries it left out of the image, and why not).
PREPARED_RECORD_PATH = "/opt/mpkit/prepared.json"
# The seller side's word to the build step: which default libraries may go when the model needs
# none of them (none when a seller's handler or requirements may import them).
PREPARE_REQUEST_FILE = "prepare.json"


def canonical(distribution: str) -> str:
    """A distribution's name as pip compares it (PEP 503): how both sides name what the image installs."""
    return re.sub(r"[-_.]+", "-", distribution).lower()
SPEC_FORMAT = 1


class Env:
    """The environment variables the image reads. SageMaker's first, then mpkit's own."""

    BIND_TO_PORT = "SAGEMAKER_BIND_TO_PORT"  # SM-PIPE
    SAFE_PORT_RANGE = "SAGEMAKER_SAFE_PORT_RANGE"  # SM-PIPE
    BATCH = "SAGEMAKER_BATCH"  # SM-BATCH
    MAX_PAYLOAD_IN_MB = "SAGEMAKER_MAX_PAYLOAD_IN_MB"  # SM-BATCH
    BATCH_STRATEGY = "SAGEMAKER_BATCH_STRATEGY"  # SM-BATCH
    MAX_CONCURRENT_TRANSFORMS = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"  # SM-BATCH
    MODEL_SERVER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
    MODEL_SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
    DEFAULT_INVOCATIONS_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
    MODEL_DIR = "MPKIT_MODEL_DIR"
    SERVING_CONFIG = "MPKIT_SERVING_CONFIG"
    MODEL_THREADS = "MPKIT_MODEL_THREADS"
    PRELOAD = "MPKIT_PRELOAD"
    GRACEFUL_TIMEOUT = "MPKIT_GRACEFUL_TIMEOUT"
    MAX_HEADER_BYTES = "MPKIT_MAX_HEADER_BYTES"
    HEAD_TIMEOUT = "MPKIT_HEAD_TIMEOUT"
    BODY_TIMEOUT = "MPKIT_BODY_TIMEOUT"


# Usage reported by a product priced per inference: on every 2xx answer, never on an error
# (marketplace-lifecycle.md, "Pricing, free trials, metering": userguide/ml-inference-metering).
METERING_HEADER = "X-Amzn-Inference-Metering"
METERING_DIMENSION = "inference.count"  # the only dimension Marketplace accepts for ML products


def metering_value(units: int) -> str:
    return json.dumps({"Dimension": METERING_DIMENSION, "ConsumedUnits": units}, separators=(",", ":"))


# SageMaker's two spellings of the batch strategy: the API's and the container variable's.
BATCH_STRATEGY_ENV = {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}

# ---- limits and defaults
DEFAULT_PORT = 8080  # SM-HOST
DEFAULT_REALTIME_TIMEOUT_S = 60  # SM-HOST: respond within 60 seconds
DEFAULT_BATCH_TIMEOUT_S = 3600  # MP-LIMITS: 60 minutes per batch invocation
DEFAULT_MAX_PAYLOAD_MB = 6  # SM-BATCH default MaxPayloadInMB; API-RT Body max 6 MiB
BATCH_PAYLOAD_CEILING_MB = 100  # SM-BATCH: MaxPayloadInMB at most 100; 0 means "chunked"
MIB = 1024 * 1024

# Client limits: how much of a worker a caller may hold before the request is in hand. Not in
# SageMaker's contract (its front end sends whole requests at once); common servers' defaults.
MAX_HEADER_BYTES = 32 * 1024  # nginx: large_client_header_buffers 4 x 8k
HEAD_TIMEOUT_S = 10  # from the connection (or the last answer) to the end of the request head
BODY_TIMEOUT_S = 60  # the whole body after its head: an invocation has 60 s in all (SM-HOST)
BUFFERED_BODY_PAYLOADS = 4  # bodies in flight per worker, in units of the payload limit


def default_accept(accept_types, declared: str | None = None) -> str:
    """The Accept used for `*/*` or no Accept: the declared one, else the first accept type."""
    return declared or tuple(accept_types)[0]


@dataclass(frozen=True)
class ServingConfig:
    """What `mpkit build` bakes into SERVING_CONFIG_PATH from the manifest's `serving:`.
    None means "not set": the image then takes its own default or SageMaker's variable."""

    content_types: tuple = MEDIA_TYPES
    accept_types: tuple = DEFAULT_ACCEPT_TYPES
    default_accept: str | None = None
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB
    workers: int | None = None
    timeout_s: int | None = None
    preload: bool | None = None  # None: load the model before the workers fork
    metering: bool | None = None  # True under per-inference pricing: report each 2xx's records

    @property
    def accept_default(self) -> str:
        return default_accept(self.accept_types, self.default_accept)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["content_types"], data["accept_types"] = list(self.content_types), list(self.accept_types)
        data["default_accept"] = self.accept_default
        return {k: v for k, v in data.items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "ServingConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown serving settings: {', '.join(sorted(unknown))}")
        values = dict(data)
        for key in ("content_types", "accept_types"):
            if values.get(key):
                values[key] = tuple(values[key])
            else:
                values.pop(key, None)
        for key in ("max_payload_mb", "workers", "timeout_s"):
            if key in values and values[key] is not None:
                values[key] = int(values[key])
        if values.get("max_payload_mb") in (None, 0):
            values.pop("max_payload_mb", None)
        for key in ("preload", "metering"):
            if key in values and values[key] is not None:
                values[key] = str(values[key]).lower() not in ("false", "0", "no")
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> "ServingConfig | None":
        """The baked configuration, or None when the image has none."""
        path = Path(path)
        if not path.is_file():
            return None
        return cls.from_dict(json.loads(path.read_text()))
