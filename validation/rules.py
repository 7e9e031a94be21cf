"""Every Marketplace and SageMaker limit the checks use, once, each with its source key in
../shared/reference/marketplace-contract.md. The publisher's preflight reads the same values.
The image's server keeps its own defaults (it imports nothing from here); `validate` is what
proves the two agree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    value: float
    unit: str
    source: str
    text: str


MIB = 1024 * 1024

PING_TIMEOUT_S = Limit(2, "s", "SM-HOST", "/ping must answer within 2 s")
STARTUP_S = Limit(480, "s", "SM-HOST", "the container must pass /ping within 8 minutes of starting")
SIGTERM_S = Limit(30, "s", "SM-HOST", "SIGKILL follows SIGTERM after 30 s")
REALTIME_PAYLOAD_BYTES = Limit(6 * MIB, "bytes", "API-RT",
                               "InvokeEndpoint bodies are at most 6 MiB (6291456 bytes)")
REALTIME_TIME_S = Limit(60, "s", "MP-LIMITS", "an endpoint invocation must finish within 60 s")
BATCH_PAYLOAD_MB = Limit(100, "MB", "API", "MaxPayloadInMB is at most 100")
BATCH_PAYLOAD_X_CONCURRENCY_MB = Limit(100, "MB", "API", "MaxConcurrentTransforms x MaxPayloadInMB is at most 100")
TRANSFORM_ENVIRONMENT_ENTRIES = Limit(16, "entries", "API", "TransformJobDefinition.Environment has at most 16 entries")
MODEL_PACKAGE_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # API EntityName, 1-63 characters
MODEL_PACKAGE_NAME_LENGTH = (1, 63)  # API EntityName
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"  # API RoleArn
ROLE_ARN_LENGTH = (20, 2048)  # API RoleArn
ECR_LAYER_BYTES = Limit(52_000 * MIB, "bytes", "MP-LIMITS", "an ECR layer is at most 52,000 MiB")
VALIDATION_PROFILES = Limit(1, "profiles", "SM-MKT", "exactly one validation profile")

# Batch transform defaults when neither the job nor /execution-parameters says (SM-BATCH).
BATCH_DEFAULTS = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}
# ModelClientConfig defaults (API).
INVOCATION_TIMEOUT_S = 600
INVOCATION_MAX_RETRIES = 3

# Publishing (marketplace-contract.md §1.2, §2).
SCAN_BLOCKING_SEVERITIES = ("CRITICAL", "HIGH")  # MP-UPLOAD: fix Critical or High findings before publishing
SAME_REGION_SOURCE = "MP-LIMITS"  # package, ECR image, S3 artifacts and validation data in one Region
SELLER_ACCOUNT_SOURCE = "MP-LIMITS"  # images in ECR repositories owned by the seller's account
