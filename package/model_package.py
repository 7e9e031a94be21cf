"""The CreateModelPackage request as plain data, its comparison with a package that exists,
and the reading of a package's status (marketplace-contract.md §2).

Pure functions: `--dry-run`, the tests and botocore's validator see exactly what AWS would see.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .manifest import Manifest

PROFILE_NAME = "validation"
TERMINAL = ("Completed", "Failed")


@dataclass(frozen=True)
class Locations:
    """Where the package's parts live once published."""

    image: str  # registry/repository@sha256:...
    image_digest: str
    model_data_url: str | None  # s3://.../model-<sha>.tar.gz for S3 delivery
    validation_input: str  # an S3 prefix holding exactly the validation input
    validation_output: str


def create_request(manifest: Manifest, where: Locations, tags: dict[str, str] | None = None) -> dict:
    """Unversioned (ModelPackageName; §2.1), certified for Marketplace, one validation profile."""
    container = {"Image": where.image, "ImageDigest": where.image_digest}
    if where.model_data_url:
        container["ModelDataUrl"] = where.model_data_url
    serving, types, v = manifest.serving, manifest.instance_types, manifest.validation
    job = v.job_definition()
    transform_input = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": where.validation_input}},
                       "ContentType": job["ContentType"], "CompressionType": "None"}
    if job["SplitType"]:
        transform_input["SplitType"] = job["SplitType"]
    transform_output = {"S3OutputPath": where.validation_output}
    if job["Accept"]:
        transform_output["Accept"] = job["Accept"]
    if job["AssembleWith"]:
        transform_output["AssembleWith"] = job["AssembleWith"]
    definition = {"TransformInput": transform_input, "TransformOutput": transform_output,
                  "TransformResources": {"InstanceType": v.instance_type, "InstanceCount": v.instance_count}}
    for key in ("MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy"):
        if job[key] is not None:
            definition[key] = job[key]
    if job["Environment"]:
        definition["Environment"] = dict(job["Environment"])
    request = {
        "ModelPackageName": manifest.package_name,
        "ModelPackageDescription": " ".join(manifest.description.split()),
        "InferenceSpecification": {
            "Containers": [container],
            "SupportedTransformInstanceTypes": list(types.batch),
            "SupportedRealtimeInferenceInstanceTypes": list(types.realtime),
            "SupportedContentTypes": list(serving.content_types),
            "SupportedResponseMIMETypes": list(serving.accept_types),
        },
        "ValidationSpecification": {
            "ValidationRole": v.role or "",
            "ValidationProfiles": [{"ProfileName": PROFILE_NAME, "TransformJobDefinition": definition}],
        },
        "CertifyForMarketplace": True,
    }
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    # The same request always carries the same token, so a retry after a lost answer is the same
    # call to AWS, not a second package (CreateModelPackage ClientToken, API).
    request["ClientToken"] = request_digest(request)[:36]
    return request


def request_digest(request: dict) -> str:
    body = {k: v for k, v in request.items() if k != "ClientToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# The parts of a described package that must equal the request for the two to be the same package.
COMPARED = ("ModelPackageDescription", "InferenceSpecification", "ValidationSpecification", "CertifyForMarketplace")


def differences(request: dict, described: dict, skip: tuple[str, ...] = ()) -> list[str]:
    """`path: published X, now Y` for each value of the request that the package does not hold.
    Keys the service adds on its own are not differences; `skip` names paths left out."""
    out: list[str] = []

    def walk(path: str, want, have) -> None:
        if path in skip:
            return
        if isinstance(want, dict) and isinstance(have, dict):
            for key, value in want.items():
                walk(f"{path}.{key}" if path else key, value, have.get(key))
        elif isinstance(want, list) and isinstance(have, list) and len(want) == len(have) and \
                all(isinstance(x, dict) for x in want):
            for i, (a, b) in enumerate(zip(want, have, strict=True)):
                walk(f"{path}[{i}]", a, b)
        elif want != have and not (want in ("", [], {}) and have is None):
            out.append(f"{path}: published {json.dumps(have)}, now {json.dumps(want)}")

    for key in COMPARED:
        walk(key, request.get(key), described.get(key))
    return out


def status_lines(described: dict) -> list[str]:
    """The package's status and every ValidationStatuses and ImageScanStatuses item (§2.4)."""
    lines = [f"{described.get('ModelPackageName')}: {described.get('ModelPackageStatus')}"]
    details = described.get("ModelPackageStatusDetails") or {}
    for kind, label in (("ValidationStatuses", "validation"), ("ImageScanStatuses", "image scan")):
        for item in details.get(kind) or []:
            line = f"  {label} {item.get('Name')}: {item.get('Status')}"
            if item.get("FailureReason"):
                line += f": {item['FailureReason']}"
            lines.append(line)
    return lines


def failure_help(described: dict, region: str) -> str:
    """Where to look when validation failed: the validation job is a batch transform job."""
    name = described.get("ModelPackageName", "")
    return (f"the validation ran as a batch transform job; its container logs are in CloudWatch Logs, "
            f"log group /aws/sagemaker/TransformJobs in {region} (console: SageMaker > Inference > Batch transform "
            f"jobs, the job whose name starts with the package's, {name}). Reproduce it here with `mpkit transform-local`, "
            "fix, bump the version, and publish again: a package cannot be changed")
