"""`mpkit deploy`: a subscribed model package as a real-time endpoint, with the options of seed 004's
deployment chapter: several production variants with weights (A/B between package versions), data
capture to S3, target-tracking autoscaling, and `--update` to shift the weights. Everything that can
refuse the deployment is checked before the first call that creates anything: each instance type
(the API's enum and the package's supported list), the execution role, the timeouts' ranges, the
subscription, and the account's endpoint quota for each type in the Region (Service Quotas). Each
resource is recorded as soon as it exists, so `teardown` removes all of it, scaling included."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass, field

from package import rules
from package.errors import AwsError, ConfigurationError
from validation.static_checks import did_you_mean

from . import subscription
from .buyer import _account, create_model, execution_role, require_instance_type, wait_until

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@dataclass(frozen=True)
class Variant:
    instance_type: str
    count: int = 1
    weight: float = 1.0
    model_package: str | None = None  # default: the deployment's package
    name: str | None = None  # default: variant-1, variant-2, ... (AllTraffic for a single one)


@dataclass(frozen=True)
class DataCapture:
    destination: str  # s3://bucket/prefix
    percent: int = 100
    modes: tuple = ("Input", "Output")


@dataclass(frozen=True)
class Autoscaling:
    minimum: int = 1
    maximum: int = 2
    invocations_per_instance: float = 100.0  # per minute, SageMakerVariantInvocationsPerInstance
    scale_in_cooldown: int = 300
    scale_out_cooldown: int = 60


@dataclass
class DeployResult:
    endpoint: str
    models: list
    endpoint_config: str
    variants: list
    status: str
    seconds: float
    region: str
    scaling: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def unique_name(package_arn: str) -> str:
    """The package's name, a time stamp and a random part: two deploys in one second differ."""
    base = package_arn.rsplit("/", 1)[-1][:34].rstrip("-")
    return f"{base}-{time.strftime('%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def parse_variant(text: str) -> Variant:
    """`instance-type=ml.m5.large,count=2,weight=0.9,model-package=ARN,name=blue` (instance-type required)."""
    fields = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigurationError(f"--variant {text!r}: {part!r} is not KEY=VALUE",
                                     hint="e.g. --variant instance-type=ml.m5.large,count=1,weight=0.5")
        fields[key.strip()] = value.strip()
    unknown = set(fields) - {"instance-type", "count", "weight", "model-package", "name"}
    if unknown or "instance-type" not in fields:
        raise ConfigurationError(f"--variant {text!r}: " + (f"unknown {', '.join(sorted(unknown))}" if unknown
                                                            else "instance-type is required"),
                                 hint="keys: instance-type, count, weight, model-package, name")
    try:
        return Variant(instance_type=fields["instance-type"], count=int(fields.get("count", 1)),
                       weight=float(fields.get("weight", 1.0)), model_package=fields.get("model-package"),
                       name=fields.get("name"))
    except ValueError as exc:
        raise ConfigurationError(f"--variant {text!r}: {exc}", hint="count is a whole number, weight a number") from exc


def plan_variants(variants: list, arn: str) -> list[Variant]:
    if not variants:
        raise ConfigurationError("no instance type", hint="pass --instance-type, or --variant for each variant")
    named = []
    for i, v in enumerate(variants, 1):
        name = v.name or ("AllTraffic" if len(variants) == 1 else f"variant-{i}")
        if not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
            raise ConfigurationError(f"variant name {name!r} is not a SageMaker name", hint="letters, digits and hyphens")
        if v.count < 1 or v.weight < 0:
            raise ConfigurationError(f"variant {name}: count must be at least 1 and weight at least 0")
        named.append(Variant(v.instance_type, v.count, v.weight, v.model_package or arn, name))
    if len({v.name for v in named}) != len(named):
        raise ConfigurationError("two variants have the same name", hint="give each its own name=")
    return named


def preflight(aws, *, variants: list, role: str | None, startup_timeout: int | None, download_timeout: int | None,
              autoscaling: Autoscaling | None, data_capture: DataCapture | None, measured_startup: float | None = None,
              say=print) -> tuple[str, dict]:
    """Every refusal before anything is created; the role and each package's description.
    `measured_startup` is the seller's measured time to the first /ping 200 (the listing's index)."""
    for v in variants:
        require_instance_type(f"variant {v.name}: instance type", v.instance_type, "ProductionVariantInstanceType")
    role = execution_role(role)
    for flag, value in (("--startup-timeout", startup_timeout), ("--download-timeout", download_timeout)):
        low, high = rules.VARIANT_TIMEOUT_S
        if value is not None and not low <= value <= high:
            raise ConfigurationError(f"{flag} {value}: SageMaker takes {low} to {high} seconds "
                                     f"({rules.VARIANT_TIMEOUT_SOURCE})")
    if startup_timeout is not None and measured_startup and startup_timeout < measured_startup:
        raise ConfigurationError(f"--startup-timeout {startup_timeout}: the package took {measured_startup:g} s to answer "
                                 "/ping when its seller validated it", hint=f"allow at least {int(measured_startup) + 1} s")
    if autoscaling and not 1 <= autoscaling.minimum <= autoscaling.maximum:
        raise ConfigurationError(f"--autoscale {autoscaling.minimum}:{autoscaling.maximum}: the minimum must be at least "
                                 "1 and at most the maximum")
    if data_capture and (not data_capture.destination.startswith("s3://") or not 0 < data_capture.percent <= 100):
        raise ConfigurationError(f"--data-capture {data_capture.destination} at {data_capture.percent}%: give an s3:// "
                                 "prefix and a percentage from 1 to 100")
    account = _account(aws)
    described = {}
    for arn in dict.fromkeys(v.model_package for v in variants):
        described[arn] = subscription.check(aws, arn, account, planned=getattr(aws, "dry_run", False))
        supported = (described[arn].get("InferenceSpecification") or {}).get("SupportedRealtimeInferenceInstanceTypes") or []
        for v in variants:
            if v.model_package == arn and supported and v.instance_type not in supported:
                raise ConfigurationError(f"variant {v.name}: {v.instance_type} is not one the package supports"
                                         + did_you_mean(v.instance_type, supported) + f" ({arn})",
                                         hint=f"choose one of {', '.join(supported)}")
    needed: dict = {}
    for v in variants:
        most = max(v.count, autoscaling.maximum if autoscaling else 0)
        needed[v.instance_type] = needed.get(v.instance_type, 0) + most
    for instance_type, count in needed.items():
        check_quota(aws, instance_type, count, say=say)
    return role, described


def check_quota(aws, instance_type: str, needed: int, say=print) -> None:
    """The account's "<type> for endpoint usage" quota in this Region, against what is running and
    what this deploy needs (autoscaling's maximum included); ResourceLimitExceeded otherwise, after
    the model and configuration were made."""
    name = f"{instance_type} for endpoint usage"
    try:
        quota = _find_quota(aws, name)
    except AwsError as exc:
        say(f"quota for {instance_type} not checked: {str(exc).splitlines()[0]}")
        return
    if quota is None:
        say(f"quota for {instance_type} not checked: Service Quotas lists no {name!r}")
        return
    in_use = _instances_in_use(aws, instance_type)
    if in_use + needed > quota:
        raise ConfigurationError(f"{needed} x {instance_type} would exceed the account's quota in {aws.region}: "
                                 f"{name} is {quota:g}, {in_use} in use", hint="request an increase in Service Quotas "
                                 "(SageMaker, '" + name + "'), choose another supported type, or delete an endpoint")


def _find_quota(aws, name: str) -> float | None:
    token = None
    while True:
        page = aws.call("service-quotas", "list_service_quotas", ServiceCode="sagemaker",
                        **({"NextToken": token} if token else {}))
        for quota in page.get("Quotas") or []:
            if quota.get("QuotaName") == name:
                return float(quota["Value"])
        token = page.get("NextToken")
        if not token:
            return None


def _instances_in_use(aws, instance_type: str) -> int:
    count = 0
    for endpoint in aws.call("sagemaker", "list_endpoints", MaxResults=100).get("Endpoints") or []:
        described = aws.call("sagemaker", "describe_endpoint", EndpointName=endpoint["EndpointName"])
        config = aws.call("sagemaker", "describe_endpoint_config", EndpointConfigName=described["EndpointConfigName"])
        types = {v["VariantName"]: v.get("InstanceType") for v in config.get("ProductionVariants") or []}
        for variant in described.get("ProductionVariants") or []:
            if types.get(variant["VariantName"]) == instance_type:
                count += variant.get("CurrentInstanceCount") or 0
    return count


def deploy(aws, record, *, arn: str, variants: list, role: str | None, name: str | None = None,
           data_capture: DataCapture | None = None, autoscaling: Autoscaling | None = None,
           startup_timeout: int | None = None, download_timeout: int | None = None, measured_startup: float | None = None,
           wait: bool = True, timeout: float = 3600, say=print) -> DeployResult:
    started = time.monotonic()
    variants = plan_variants(variants, arn)
    role, described = preflight(aws, variants=variants, role=role, startup_timeout=startup_timeout,
                                download_timeout=download_timeout, autoscaling=autoscaling, data_capture=data_capture,
                                measured_startup=measured_startup, say=say)
    name = name or unique_name(arn)
    models = {}
    for i, package in enumerate(dict.fromkeys(v.model_package for v in variants)):
        models[package] = name if i == 0 else f"{name[:60]}-m{i + 1}"
        create_model(aws, record, arn=package, role=role, name=models[package], described=described[package], say=say)
    production = []
    for v in variants:
        item = {"VariantName": v.name, "ModelName": models[v.model_package], "InitialInstanceCount": v.count,
                "InstanceType": v.instance_type, "InitialVariantWeight": v.weight}
        if startup_timeout:
            item["ContainerStartupHealthCheckTimeoutInSeconds"] = startup_timeout
        if download_timeout:
            item["ModelDataDownloadTimeoutInSeconds"] = download_timeout
        production.append(item)
    config = {"EndpointConfigName": name, "ProductionVariants": production}
    if data_capture:
        config["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": data_capture.percent,
                                       "DestinationS3Uri": data_capture.destination,
                                       "CaptureOptions": [{"CaptureMode": m} for m in data_capture.modes]}
    aws.call("sagemaker", "create_endpoint_config", **config)
    record.add(aws, "endpoint-config", name)
    aws.call("sagemaker", "create_endpoint", EndpointName=name, EndpointConfigName=name)
    record.add(aws, "endpoint", name)
    say(f"endpoint {name}: creating, " + "; ".join(f"{v.name} {v.count} x {v.instance_type} weight {v.weight:g}"
                                                    for v in variants))
    status = "Creating"
    if wait or autoscaling:  # a scalable target needs the endpoint InService
        status = _wait_in_service(aws, name, timeout, say)
    scaling = []
    if autoscaling:
        for v in variants:
            scaling.append(_autoscale(aws, record, name, v, autoscaling, say))
    return DeployResult(endpoint=name, models=list(models.values()), endpoint_config=name,
                        variants=[asdict(v) for v in variants], status=status,
                        seconds=round(time.monotonic() - started, 1), region=aws.region, scaling=scaling)


def update_weights(aws, *, endpoint: str, weights: dict, wait: bool = True, timeout: float = 3600, say=print) -> dict:
    """Shift traffic between an endpoint's variants (UpdateEndpointWeightsAndCapacities)."""
    described = aws.call("sagemaker", "describe_endpoint", EndpointName=endpoint)
    known = [v["VariantName"] for v in described.get("ProductionVariants") or []]
    unknown = sorted(set(weights) - set(known))
    if known and unknown:
        raise ConfigurationError(f"endpoint {endpoint} has no variant {', '.join(unknown)}",
                                 hint=f"its variants: {', '.join(known)}")
    aws.call("sagemaker", "update_endpoint_weights_and_capacities", EndpointName=endpoint,
             DesiredWeightsAndCapacities=[{"VariantName": k, "DesiredWeight": float(w)} for k, w in weights.items()])
    say(f"endpoint {endpoint}: weights " + ", ".join(f"{k}={w:g}" for k, w in weights.items()))
    status = _wait_in_service(aws, endpoint, timeout, say) if wait else "Updating"
    return {"endpoint": endpoint, "weights": weights, "status": status}


def _wait_in_service(aws, name: str, timeout: float, say) -> str:
    if getattr(aws, "dry_run", False):
        return "Creating"
    try:
        final = wait_until(aws, "describe_endpoint", {"EndpointName": name}, "EndpointStatus",
                           ok="InService", failed=("Failed", "OutOfService"), timeout=timeout, say=say)
    except AwsError as exc:
        group = f"/aws/sagemaker/Endpoints/{name}"
        tail = log_tail(aws, group)
        raise AwsError(f"endpoint {name}: the step that failed is the endpoint's start: {exc}"
                       + ("\n  the container's last log lines:\n    " + "\n    ".join(tail) if tail else ""),
                       hint=f"{exc.hint}; the whole log: CloudWatch {group}", code=exc.code) from exc
    return final["EndpointStatus"]


def log_tail(aws, group: str, lines: int = 20) -> list[str]:
    """The last lines of the newest stream of a log group; none when CloudWatch has none or is not readable."""
    try:
        streams = aws.call("logs", "describe_log_streams", logGroupName=group, orderBy="LastEventTime",
                           descending=True, limit=1).get("logStreams") or []
        if not streams:
            return []
        events = aws.call("logs", "get_log_events", logGroupName=group, logStreamName=streams[0]["logStreamName"],
                          limit=lines, startFromHead=False).get("events") or []
    except AwsError:
        return []
    return [e.get("message", "").rstrip() for e in events][-lines:]


def _autoscale(aws, record, endpoint: str, variant: Variant, policy: Autoscaling, say) -> dict:
    resource = f"endpoint/{endpoint}/variant/{variant.name}"
    aws.call("application-autoscaling", "register_scalable_target", ServiceNamespace="sagemaker", ResourceId=resource,
             ScalableDimension=SCALABLE_DIMENSION, MinCapacity=policy.minimum, MaxCapacity=policy.maximum)
    record.add(aws, "scaling-target", resource)
    name = f"{endpoint}-{variant.name}-invocations"[:256]
    aws.call("application-autoscaling", "put_scaling_policy", PolicyName=name, ServiceNamespace="sagemaker",
             ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
             TargetTrackingScalingPolicyConfiguration={
                 "TargetValue": policy.invocations_per_instance,
                 "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                 "ScaleInCooldown": policy.scale_in_cooldown, "ScaleOutCooldown": policy.scale_out_cooldown})
    record.add(aws, "scaling-policy", name, resource=resource)
    say(f"autoscaling {resource}: {policy.minimum} to {policy.maximum} instances, "
        f"{policy.invocations_per_instance:g} invocations per instance per minute")
    return {"resource": resource, "policy": name, "min": policy.minimum, "max": policy.maximum}
