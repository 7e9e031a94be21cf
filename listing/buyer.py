"""Buyer commands: deploy a subscribed model package as a real-time endpoint, invoke it, run a batch
transform, and tear down what these commands created, nothing else. What they create is written to
a record (default .mpkit/buyer/resources.json) as soon as it exists, so teardown finds it after
any failure."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from package import rules
from package.errors import AwsError, ConfigurationError
from package.polling import poll_until
from package.publish_record import utc_now, write_json_atomically
from validation.static_checks import did_you_mean, instance_enums

from . import subscription

DEFAULT_RECORD = Path(".mpkit/buyer/resources.json")
# Deleting in this order never leaves an endpoint whose configuration or model is gone, nor a
# scaling policy or target over an endpoint that no longer exists.
TEARDOWN_ORDER = ("scaling-policy", "scaling-target", "endpoint", "endpoint-config", "model", "transform-job")


class BuyerRecord:
    """The resources the buyer commands created, each with the Region and endpoint it lives in."""

    def __init__(self, path: Path):
        self.path = path
        self.items: list[dict] = json.loads(path.read_text()).get("resources", []) if path.is_file() else []

    def add(self, aws, kind: str, name: str, **facts) -> None:
        self.items.append({"kind": kind, "name": name, "region": aws.region, "endpoint_url": aws.target.endpoint_url,
                           "at": utc_now(), **facts})
        self.save()

    def here(self, aws) -> list[dict]:
        return [i for i in self.items if i["region"] == aws.region and i.get("endpoint_url") == aws.target.endpoint_url]

    def remove(self, item: dict) -> None:
        self.items.remove(item)
        self.save()

    def save(self) -> None:
        write_json_atomically(self.path, {"resources": self.items})


class PlannedRecord:
    """A dry run's record: nothing is made, so nothing is written."""

    path = None
    items: list = []

    def add(self, *args, **kwargs) -> None:
        pass

    def here(self, aws) -> list:
        return []


def resource_name(package_arn: str) -> str:
    """A name for the model, endpoint and job: the package's, with a time stamp (at most 63 characters)."""
    base = package_arn.rsplit("/", 1)[-1][:40].rstrip("-")
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S')}"


def execution_role(role: str | None) -> str:
    if not role:
        raise ConfigurationError("no execution role", hint="pass --role ARN (or set SAGEMAKER_ROLE_ARN): an IAM role "
                                 "SageMaker can assume, e.g. with the AmazonSageMakerFullAccess policy")
    if not re.match(rules.ROLE_ARN_PATTERN, role):
        raise ConfigurationError(f"--role {role!r} is not an IAM role ARN",
                                 hint="give the full ARN, arn:aws:iam::ACCOUNT:role/NAME, not the role's name")
    return role


def _account(aws) -> str | None:
    try:
        return aws.call("sts", "get_caller_identity").get("Account")
    except AwsError:
        return None


def require_instance_type(flag: str, value: str | None, enum: str) -> None:
    """An instance type outside the API's enum is the user's mistake: said before any AWS call."""
    if value is not None and value not in instance_enums()[enum]:
        raise ConfigurationError(f"{flag} {value} is not a SageMaker {enum}{did_you_mean(value, instance_enums()[enum])}",
                                 hint="use a type from the API's enum, e.g. ml.m5.large")


def create_model(aws, record: BuyerRecord, *, arn: str, role: str, name: str, described: dict | None = None,
                 say=print) -> dict:
    """The subscription check (unless the caller made it and passes `described`), then CreateModel
    with network isolation and no environment (a Marketplace model runs isolated, and its
    defaults must serve without any variable)."""
    account = _account(aws)
    described = described if described is not None else subscription.check(aws, arn, account)
    try:
        aws.call("sagemaker", "create_model", ModelName=name, ExecutionRoleArn=role, EnableNetworkIsolation=True,
                 PrimaryContainer={"ModelPackageName": arn})
    except AwsError as exc:
        raise subscription.explain(exc, arn, account) from exc
    record.add(aws, "model", name, model_package=arn)
    say(f"model {name}: created from {arn}, network isolation on")
    return described


def invoke(aws, *, endpoint: str, body: bytes, content_type: str, accept: str | None) -> dict:
    params = {"EndpointName": endpoint, "Body": body, "ContentType": content_type}
    if accept:
        params["Accept"] = accept
    if len(body) > rules.REALTIME_PAYLOAD_BYTES.value:
        raise ConfigurationError(f"the body is {len(body):,} bytes; {rules.REALTIME_PAYLOAD_BYTES.text}",
                                 hint="split the input, or use `mpkit transform` for large inputs")
    started = time.monotonic()
    reply = aws.call("sagemaker-runtime", "invoke_endpoint", **params)
    return {"content_type": reply.get("ContentType"), "body": reply["Body"].read(),
            "milliseconds": round(1000 * (time.monotonic() - started), 1)}


@dataclass
class TransformResult:
    job: str
    model: str
    status: str
    output: str
    outputs: list = field(default_factory=list)
    failure: str | None = None
    seconds: float = 0.0
    inputs: list = field(default_factory=list)
    missing: list = field(default_factory=list)  # inputs with no .out once the job completed
    instance_count: int = 1

    @property
    def ok(self) -> bool:
        """A completed job that wrote no answer for an input did not do its job."""
        return self.status == "InProgress" or (self.status == "Completed" and not self.missing and bool(self.outputs))

    def to_dict(self) -> dict:
        return asdict(self)


def transform(aws, record: BuyerRecord, *, arn: str, input_uri: str, output_uri: str, role: str | None,
              instance_type: str | None = None, content_type: str | None = None, accept: str | None = None,
              split_type: str = "Line", assemble_with: str = "Line", name: str | None = None, wait: bool = True,
              instance_count: int = 1, timeout: float = 6 * 3600, say=print) -> TransformResult:
    started = time.monotonic()
    for flag, uri in (("--input", input_uri), ("--output", output_uri)):
        if not uri.startswith("s3://"):
            raise ConfigurationError(f"{flag} {uri!r} is not an s3:// URI")
    require_instance_type("--instance-type", instance_type, "TransformInstanceType")
    if instance_count < 1:
        raise ConfigurationError(f"--instance-count {instance_count}: at least 1")
    role = execution_role(role)
    name = name or resource_name(arn)
    planned = getattr(aws, "dry_run", False)
    described = subscription.check(aws, arn, _account(aws), planned=planned)
    spec = described.get("InferenceSpecification") or {}
    supported = spec.get("SupportedTransformInstanceTypes") or []
    if instance_type and supported and instance_type not in supported:
        raise ConfigurationError(f"--instance-type {instance_type} is not one the package supports for batch transform"
                                 + did_you_mean(instance_type, supported), hint=f"choose one of {', '.join(supported)}")
    instance_type = instance_type or (supported or [None])[0]
    content_type = content_type or (spec.get("Containers") or [{}])[0].get("ModelInput", {}).get("ContentType") \
        or (spec.get("SupportedContentTypes") or [None])[0]
    if not instance_type or not content_type:
        raise ConfigurationError("the package names no transform instance type or content type",
                                 hint="pass --instance-type and --content-type")
    inputs = list_objects(aws, input_uri)
    if not inputs and not planned:
        raise ConfigurationError(f"--input {input_uri}: no files there", hint="upload the input files first")
    if instance_count > max(len(inputs), 1):
        say(f"{len(inputs)} input file(s) for {instance_count} instances: SageMaker gives each instance whole files "
            "(S3 keys), so the instances beyond the number of files sit idle")
    create_model(aws, record, arn=arn, role=role, name=name, described=described, say=say)
    output_spec = {"S3OutputPath": output_uri, "AssembleWith": assemble_with}
    if accept:
        output_spec["Accept"] = accept
    aws.call("sagemaker", "create_transform_job", TransformJobName=name, ModelName=name,
             TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                             "ContentType": content_type, "SplitType": split_type},
             TransformOutput=output_spec, TransformResources={"InstanceType": instance_type,
                                                             "InstanceCount": instance_count})
    record.add(aws, "transform-job", name)
    say(f"transform job {name}: {input_uri} -> {output_uri} on {instance_count} x {instance_type}")
    result = TransformResult(job=name, model=name, status="InProgress", output=output_uri, inputs=inputs,
                             instance_count=instance_count)
    if wait and not planned:
        try:
            final = wait_until(aws, "describe_transform_job", {"TransformJobName": name}, "TransformJobStatus",
                               ok="Completed", failed=("Failed", "Stopped"), timeout=timeout, say=say)
            result.status, result.failure = final["TransformJobStatus"], final.get("FailureReason")
        except AwsError as exc:
            if exc.code not in ("Failed", "Stopped"):
                raise
            result.status, result.failure = exc.code, str(exc)
        if result.status == "Completed":
            result.outputs = list_outputs(aws, output_uri)
            result.missing = missing_outputs(inputs, input_uri, output_uri, result.outputs)
            if not result.outputs:
                result.failure = f"the job completed and wrote no .out file under {output_uri}"
            elif result.missing:
                result.failure = f"no .out for {len(result.missing)} of {len(inputs)} input files"
    result.seconds = round(time.monotonic() - started, 1)
    return result


def list_objects(aws, uri: str) -> list[str]:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    keys, token = [], None
    while True:
        page = aws.call("s3", "list_objects_v2", Bucket=bucket, Prefix=prefix, **({"ContinuationToken": token} if token else {}))
        keys += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents") or [] if not o["Key"].endswith("/")]
        token = page.get("NextContinuationToken")
        if not token:
            return keys


def missing_outputs(inputs: list, input_uri: str, output_uri: str, outputs: list) -> list[str]:
    """Inputs whose `<output>/<path under the input prefix>.out` is not there (SM-BT naming)."""
    base = input_uri if input_uri.endswith("/") else input_uri.rsplit("/", 1)[0] + "/"
    out = output_uri.rstrip("/") + "/"
    return [i for i in inputs if f"{out}{i[len(base):]}.out" not in set(outputs)]


def list_outputs(aws, uri: str) -> list[str]:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    listed = aws.call("s3", "list_objects_v2", Bucket=bucket, Prefix=prefix)
    return [f"s3://{bucket}/{o['Key']}" for o in listed.get("Contents", []) if o["Key"].endswith(".out")]


DELETE = {"endpoint": ("delete_endpoint", "EndpointName"), "endpoint-config": ("delete_endpoint_config", "EndpointConfigName"),
          "model": ("delete_model", "ModelName")}
GONE = ("ValidationException", "ResourceNotFound", "ObjectNotFoundException")  # a name that no longer exists


def teardown(aws, record: BuyerRecord, say=print) -> list[dict]:
    """Delete what deploy and transform recorded in this Region (and emulator), nothing else.
    Running transform jobs are stopped; finished ones need nothing (a job is not billed after it ends)."""
    done = []
    for kind in TEARDOWN_ORDER:
        for item in [i for i in record.here(aws) if i["kind"] == kind]:
            if kind == "transform-job":
                state = _transform_state(aws, item["name"])
                if state == "InProgress":
                    aws.call("sagemaker", "stop_transform_job", TransformJobName=item["name"])
                    outcome = "stopped"
                else:
                    outcome = f"nothing to do ({state})"
            else:
                try:
                    _delete(aws, item)
                    outcome = "deleted"
                except AwsError as exc:
                    if exc.code not in GONE:
                        raise
                    outcome = "already gone"
            record.remove(item)
            done.append({"kind": kind, "name": item["name"], "outcome": outcome})
            say(f"{kind} {item['name']}: {outcome}")
    return done


def _delete(aws, item: dict) -> None:
    kind = item["kind"]
    if kind == "scaling-policy":
        aws.call("application-autoscaling", "delete_scaling_policy", PolicyName=item["name"], ServiceNamespace="sagemaker",
                 ResourceId=item["resource"], ScalableDimension="sagemaker:variant:DesiredInstanceCount")
    elif kind == "scaling-target":
        aws.call("application-autoscaling", "deregister_scalable_target", ServiceNamespace="sagemaker",
                 ResourceId=item["name"], ScalableDimension="sagemaker:variant:DesiredInstanceCount")
    else:
        operation, key = DELETE[kind]
        aws.call("sagemaker", operation, **{key: item["name"]})


def _transform_state(aws, name: str) -> str:
    try:
        return aws.call("sagemaker", "describe_transform_job", TransformJobName=name)["TransformJobStatus"]
    except AwsError as exc:
        if exc.code in GONE:
            return "gone"
        raise


def wait_until(aws, operation: str, params: dict, key: str, *, ok: str, failed: tuple, timeout: float, say=print,
               poll: float = 5.0) -> dict:
    """Poll a Describe call until `ok` or a failed state, saying each change with the elapsed time."""
    described = poll_until(lambda: aws.call("sagemaker", operation, **params), state=lambda d: d.get(key),
                           done=lambda d: d.get(key) in (ok, *failed), timeout=timeout, say=say, poll=poll, most=30,
                           on_timeout=lambda d: AwsError(f"still {d.get(key)} after {timeout / 60:.0f} minutes",
                                                         code="WaitTimeout",
                                                         hint="it keeps going in AWS; `mpkit teardown` removes it"))
    status = described.get(key)
    if status != ok:
        reason = described.get("FailureReason") or "no reason given"
        raise AwsError(f"{operation.replace('describe_', '')} {next(iter(params.values()))} ended {status}: {reason}",
                       hint="read its CloudWatch logs (/aws/sagemaker/Endpoints/NAME or "
                            "/aws/sagemaker/TransformJobs); `mpkit teardown` removes what was created",
                       code=status)
    return described
