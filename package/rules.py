"""Every Marketplace and SageMaker limit mpkit uses, once, each with its source key in
../shared/reference/marketplace-contract.md. The publisher's preflight reads the same values.
The image's own defaults are in inference_image/contract.py, which this module reads; `validate`
proves that the image keeps them."""

from __future__ import annotations

from dataclasses import dataclass

from inference_image.contract import BATCH_PAYLOAD_CEILING_MB, DEFAULT_MAX_PAYLOAD_MB, MIB


@dataclass(frozen=True)
class Limit:
    value: float
    unit: str
    source: str
    text: str


PING_TIMEOUT_S = Limit(2, "s", "SM-HOST", "/ping must answer within 2 s")
STARTUP_S = Limit(480, "s", "SM-HOST", "the container must pass /ping within 8 minutes of starting")
SIGTERM_S = Limit(30, "s", "SM-HOST", "SIGKILL follows SIGTERM after 30 s")
REALTIME_PAYLOAD_BYTES = Limit(6 * MIB, "bytes", "API-RT",
                               "InvokeEndpoint bodies are at most 6 MiB (6291456 bytes)")
REALTIME_TIME_S = Limit(60, "s", "MP-LIMITS", "an endpoint invocation must finish within 60 s")
BATCH_PAYLOAD_MB = Limit(BATCH_PAYLOAD_CEILING_MB, "MB", "API", "MaxPayloadInMB is at most 100")
BATCH_PAYLOAD_X_CONCURRENCY_MB = Limit(100, "MB", "API", "MaxConcurrentTransforms x MaxPayloadInMB is at most 100")
TRANSFORM_ENVIRONMENT_ENTRIES = Limit(16, "entries", "API", "TransformJobDefinition.Environment has at most 16 entries")
MODEL_PACKAGE_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"  # API EntityName, 1-63 characters
MODEL_PACKAGE_NAME_LENGTH = (1, 63)  # API EntityName
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"  # API RoleArn
ROLE_ARN_LENGTH = (20, 2048)  # API RoleArn
ECR_LAYER_BYTES = Limit(52_000 * MIB, "bytes", "MP-LIMITS", "an ECR layer is at most 52,000 MiB")
VALIDATION_PROFILES = Limit(1, "profiles", "SM-MKT", "exactly one validation profile")
BATCH_VOLUME_BYTES = Limit(30 * 1024**3, "bytes", "SM-BT",
                           "the batch transform's storage volume, model and data together, is fixed at 30 GB")

# Batch transform defaults when neither the job nor /execution-parameters says (SM-BATCH).
BATCH_DEFAULTS = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": DEFAULT_MAX_PAYLOAD_MB}
# ModelClientConfig defaults (API).
INVOCATION_TIMEOUT_S = 600
INVOCATION_MAX_RETRIES = 3

# Per-inference pricing: the container's usage header (marketplace-lifecycle.md, "Pricing, free
# trials, metering", from the seller guide's userguide/ml-inference-metering page).
METERING_SOURCE = "MP-METERING"

# Publishing (marketplace-contract.md §1.2, §2).
SCAN_BLOCKING_SEVERITIES = ("CRITICAL", "HIGH")  # MP-UPLOAD: fix Critical or High findings before publishing
SAME_REGION_SOURCE = "MP-LIMITS"  # package, ECR image, S3 artifacts and validation data in one Region
SELLER_ACCOUNT_SOURCE = "MP-LIMITS"  # images in ECR repositories owned by the seller's account

# Listing (marketplace-contract.md §1.6): the Catalog API's AddDeliveryOptions shapes (CAT) and
# the listing requirements (MP-REQ).
CATALOG_HTTPS_URL = r"^https:\/\/(www\.)?[-a-zA-Z0-9@._]{1,256}\.[a-zA-Z0-9()]{2,63}\b([-a-zA-Z0-9@_+.\/]*)"
CATALOG_PRINTABLE = r"^[ -~]+"
CATALOG_NOT_BLANK = r"^\S+[\S\s]*"
# Field path inside the AddDeliveryOptions DetailsDocument -> (min length, max length, pattern);
# `[]` marks each item of a list. Required members are in CATALOG_REQUIRED.
_DETAILS = "DeliveryOptions[].Details.SageMakerModelPackageDeliveryOptionDetails"
CATALOG_FIELDS = {
    "Version.VersionTitle": (1, 64, CATALOG_NOT_BLANK),
    "Version.ReleaseNotes": (1, 30000, CATALOG_NOT_BLANK),
    f"{_DETAILS}.UsageInstructions": (1, 10000, None),
    f"{_DETAILS}.SampleNotebookUrl": (1, 2000, CATALOG_HTTPS_URL),
    f"{_DETAILS}.RepositoryUrl": (1, 2000, CATALOG_HTTPS_URL),
    **{f"{_DETAILS}.{side}.Description": (1, 10000, None) for side in ("InputProperties", "OutputProperties")},
    f"{_DETAILS}.InputProperties.Limitations": (1, 1000, None),
    **{f"{_DETAILS}.{side}.{sample}.{kind}Text": (1, 10000, None)
       for side, sample in (("InputProperties", "SampleInput"), ("OutputProperties", "SampleOutput"))
       for kind in ("RealtimeInference", "BatchTransform")},
    **{f"{_DETAILS}.{side}.{sample}.{kind}Url": (1, 10000, CATALOG_HTTPS_URL)
       for side, sample in (("InputProperties", "SampleInput"), ("OutputProperties", "SampleOutput"))
       for kind in ("RealtimeInference", "BatchTransform")},
    f"{_DETAILS}.InputProperties.Parameters[].Name": (1, 100, CATALOG_PRINTABLE),
    f"{_DETAILS}.InputProperties.Parameters[].Description": (1, 1000, None),
    f"{_DETAILS}.InputProperties.Parameters[].Constraints": (1, 1500, None),
    f"{_DETAILS}.OutputProperties.Parameters[].Name": (1, 100, CATALOG_PRINTABLE),
    f"{_DETAILS}.OutputProperties.Parameters[].Description": (1, 1000, None),
    f"{_DETAILS}.RecommendedInstanceTypes.BatchTransform": (1, 24, r"^\S{1,24}$"),
    f"{_DETAILS}.RecommendedInstanceTypes.RealtimeInference": (1, 24, r"^\S{1,24}$"),
    f"{_DETAILS}.SageMakerModelPackageArn": (1, 2100, r"^arn:aws:sagemaker:[a-z0-9-]{4,24}:[0-9]{12}:model-package\/\S{1,2048}$"),
    f"{_DETAILS}.AccessRoleArn": (1, 2048, r"^arn:aws:iam::\d{12}:role(\/[A-Za-z0-9_+=,.@-]+)?$"),
}
CATALOG_REQUIRED = ("Version.VersionTitle", "Version.ReleaseNotes", *(f"{_DETAILS}.{f}" for f in (
    "UsageInstructions", "SampleNotebookUrl", "RepositoryUrl", "InputProperties", "OutputProperties",
    "RecommendedInstanceTypes", "SageMakerModelPackageArn", "AccessRoleArn")))
CATALOG_LIST_MAX = {f"{_DETAILS}.InputProperties.Parameters": 35, f"{_DETAILS}.InputProperties.SageMakerCustomAttributes": 35,
                    f"{_DETAILS}.OutputProperties.Parameters": 35}
USAGE_INSTRUCTIONS_CHARS = Limit(10000, "characters", "CAT", "UsageInstructions is at most 10,000 characters")
# What a buyer must find in a model package listing (MP-REQ "Summary table", model package column).
LISTING_REQUIRED_ITEMS = {
    "usage": "usage instructions: input and output formats for real-time and batch, with MIME types",
    "realtime_input": "sample input for a real-time endpoint",
    "realtime_output": "sample output of a real-time endpoint",
    "batch_input": "sample input for batch transform",
    "batch_output": "sample output of batch transform",
    "example": "an example of calling an endpoint or a batch transform job with the AWS CLI or an AWS SDK",
    "notebook": "a Jupyter notebook that shows the whole use, with no data for the buyer to find",
    "description": "product description: use cases, training data, known limitations, the validation metric, "
                   "latency and throughput on a recommended instance type",
}
# Left-over template text that must never reach a listing (peers.md §1: AWS's template's markers).
PLACEHOLDER_PATTERNS = (r"for seller to update", r"\bTODO\b", r"\bTBD\b", r"\bFIXME\b", r"\bXXX\b", r"lorem ipsum",
                        r"<\s*(your|insert|add|replace)[^>]*>", r"\{\{[^}]*\}\}", r"\bREPLACE[_ ]ME\b",
                        r"\bplaceholder\b")

# The product and its offer (`mpkit release`): UpdateInformation's shape (CAT
# update_information_change_detail.py), the pricing rules of ml-add-version and
# update-pricing-terms (CAT; marketplace-lifecycle.md §2), the free trial (MP-REQ).
PRODUCT_FIELDS = {  # DetailsDocument field -> (min length, max length, pattern)
    "ProductTitle": (1, 72, CATALOG_NOT_BLANK),
    "ShortDescription": (1, 1000, CATALOG_NOT_BLANK),
    "LongDescription": (1, 5000, CATALOG_NOT_BLANK),
    "LogoUrl": (1, 2000, CATALOG_HTTPS_URL),
    "SupportDescription": (1, 2000, CATALOG_NOT_BLANK),
    "Highlights[]": (1, 500, None),
    "SearchKeywords[]": (1, 50, None),
    "Categories[]": (1, 100, None),
}
PRODUCT_LISTS = {"Highlights": (1, 3), "SearchKeywords": (1, 15), "Categories": (1, 3)}  # (min, max) items
FREE_TRIAL_DAYS = (14, 30)  # MP-REQ "free trial of 14-30 days" (the Agreement API accepts 5-31)
STANDARD_EULA_VERSION = "2022-07-14"  # the Standard Contract for AWS Marketplace (SCMP) version in the Catalog docs
# Pricing dimensions of an ML product, generated by AWS Marketplace from the supported types: real-time
# and batch hours per instance type, and the inference count (CAT DescribeEntity Dimensions).
DIMENSION_REALTIME = "{type}.m.i.r"
DIMENSION_BATCH = "{type}.m.i.b"
DIMENSION_INFERENCE = "inference.count.m.i.c"
PRICING_SOURCE = "CAT"  # "UpdatePricingTerms must cover all supported instance types" (ml-add-version)
RESTRICT_SUPPORT_DAYS = 90  # ml-restrict-version: restricted versions stay supported for 90 days (CAT)
# Values from AWS's documentation and mpkit's example that must not reach a real listing.
DOCUMENTATION_ACCOUNT = "123456789012"
EXAMPLE_REPOSITORY = "github.com/mpkit-dev/"
# A buyer's endpoint (API ProductionVariant; marketplace-lifecycle.md §4): the startup health
# check and the model download timeouts, seconds.
VARIANT_TIMEOUT_S = (60, 3600)
VARIANT_TIMEOUT_SOURCE = "API"
