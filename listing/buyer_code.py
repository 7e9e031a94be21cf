"""The buyer's code, once: the notebook's cells and the boto3 example are both made from these.
Plain boto3, which every buyer has; no class that SageMaker SDK 3 removed (peers.md §2). Only the
first cell carries values from the product; the rest is the same for every product."""

from __future__ import annotations

import json

from package import rules

from .samples import SampleFile

SETUP = '''\
import os
import time
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

session = boto3.Session()
REGION = session.region_name
# Each Region has its own ARN: MODEL_PACKAGE_ARN, else the table above.
MODEL_PACKAGE_ARN = os.environ.get("MODEL_PACKAGE_ARN") or MODEL_PACKAGE_ARNS.get(REGION)
if not MODEL_PACKAGE_ARN or f":{REGION}:" not in MODEL_PACKAGE_ARN:
    raise RuntimeError(f"No model package ARN for {REGION!r} here (the table has {sorted(MODEL_PACKAGE_ARNS)}). "
                       "Find it with `mpkit resolve PRODUCT_ID --region REGION`, or in AWS Marketplace: Manage "
                       "subscriptions, the product, Continue to Configuration, your Region; then set MODEL_PACKAGE_ARN.")
sm = session.client("sagemaker")
runtime = session.client("sagemaker-runtime")
s3 = session.client("s3")
caller = session.client("sts").get_caller_identity()
ACCOUNT = caller["Account"]


def execution_role() -> str:
    """The IAM role SageMaker runs the model with: SAGEMAKER_ROLE_ARN, else this notebook's own role."""
    if os.environ.get("SAGEMAKER_ROLE_ARN"):
        return os.environ["SAGEMAKER_ROLE_ARN"]
    if ":assumed-role/" in caller["Arn"]:
        name = caller["Arn"].split("/")[1]
        try:
            return session.client("iam").get_role(RoleName=name)["Role"]["Arn"]
        except ClientError:
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
    raise RuntimeError("Set SAGEMAKER_ROLE_ARN to the ARN of an IAM role that SageMaker can assume "
                       "(for example one with the AmazonSageMakerFullAccess policy).")


ROLE_ARN = execution_role()
RUN = time.strftime("%Y%m%d-%H%M%S")
NAME = f"{PRODUCT[:33].rstrip('-')}-{RUN}-{os.urandom(3).hex()}"  # the model, endpoint and job; unique per run
BUCKET = PREFIX = None
print(f"Region {REGION}, account {ACCOUNT}\\nmodel package {MODEL_PACKAGE_ARN}\\nrole {ROLE_ARN}\\nname {NAME}")


def cleanup() -> None:
    """Delete what this code created, nothing else; what is already gone is skipped. The steps that
    create something call it when they fail, so a failed step leaves no endpoint billing by the hour."""
    deleted = []
    for what, call, kwargs in (("endpoint", sm.delete_endpoint, {"EndpointName": NAME}),
                               ("endpoint configuration", sm.delete_endpoint_config, {"EndpointConfigName": NAME}),
                               ("model", sm.delete_model, {"ModelName": NAME})):
        try:
            call(**kwargs)
            deleted.append(what)
        except ClientError as error:
            if "Could not find" not in str(error) and "does not exist" not in str(error):
                print(f"could not delete the {what} {NAME}: {error}")
    if BUCKET and PREFIX:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Contents", [])
        for item in listed:
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
        if listed:
            deleted.append(f"{len(listed)} batch file(s) under s3://{BUCKET}/{PREFIX}/")
    print(f"cleaned up {NAME}: " + (", ".join(deleted) or "nothing was left"))
'''

CREATE_MODEL = '''\
try:
    # Marketplace models run with no network access; EnableNetworkIsolation says so explicitly.
    sm.create_model(ModelName=NAME, ExecutionRoleArn=ROLE_ARN, EnableNetworkIsolation=True,
                    PrimaryContainer={"ModelPackageName": MODEL_PACKAGE_ARN})
except ClientError as error:
    if "not subscribed" in str(error).lower():
        raise RuntimeError("This AWS account is not subscribed to the product. Open its page in AWS Marketplace, "
                           "choose Continue to Subscribe, accept the offer, wait until the subscription is active "
                           "(a few minutes), then run this cell again.") from None
    raise
print(f"model {NAME} created")
'''

DEPLOY = '''\
try:
    sm.create_endpoint_config(EndpointConfigName=NAME, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": NAME, "InitialInstanceCount": 1,
        "InstanceType": REALTIME_INSTANCE_TYPE}])
    sm.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
    print(f"endpoint {NAME} is starting on {REALTIME_INSTANCE_TYPE} (usually 5 to 10 minutes)")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=NAME)
except BaseException:
    cleanup()  # a failed start must not leave an endpoint billing by the hour
    raise
print("in service")
'''

INVOKE = '''\
try:
    for path, content_type, accept in REALTIME_SAMPLES:
        started = time.perf_counter()
        reply = runtime.invoke_endpoint(EndpointName=NAME, ContentType=content_type, Accept=accept,
                                        Body=Path(path).read_bytes())
        answer = reply["Body"].read().decode()
        print(f"{path} ({content_type}) -> {reply['ContentType']} in {1000 * (time.perf_counter() - started):.0f} ms")
        print(answer[:400])
except BaseException:
    cleanup()
    raise
'''

TRANSFORM = '''\
BUCKET = os.environ.get("SAGEMAKER_BUCKET") or f"sagemaker-{REGION}-{ACCOUNT}"
try:
    s3.head_bucket(Bucket=BUCKET)
except ClientError:
    s3.create_bucket(Bucket=BUCKET, **({} if REGION == "us-east-1" else
                                       {"CreateBucketConfiguration": {"LocationConstraint": REGION}}))
PREFIX = f"{PRODUCT}/{RUN}"
input_key = f"{PREFIX}/input/{Path(BATCH_SAMPLE['file']).name}"
try:
    s3.upload_file(BATCH_SAMPLE["file"], BUCKET, input_key)
    sm.create_transform_job(
        TransformJobName=NAME, ModelName=NAME,
        BatchStrategy=BATCH_SAMPLE["batch_strategy"], MaxPayloadInMB=BATCH_SAMPLE["max_payload_mb"],
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{BUCKET}/{PREFIX}/input/"}},
                        "ContentType": BATCH_SAMPLE["content_type"], "SplitType": BATCH_SAMPLE["split_type"]},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{PREFIX}/output/", "Accept": BATCH_SAMPLE["accept"],
                         "AssembleWith": BATCH_SAMPLE["assemble_with"]},
        TransformResources={"InstanceType": BATCH_INSTANCE_TYPE, "InstanceCount": 1})
    print(f"transform job {NAME} is running on {BATCH_INSTANCE_TYPE}")
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName=NAME)
    job = sm.describe_transform_job(TransformJobName=NAME)
    if job["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"the transform job ended {job['TransformJobStatus']}: {job.get('FailureReason')}")
except BaseException:
    cleanup()
    raise
print("completed")
'''

READ_RESULTS = '''\
listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/output/")
outputs = [item["Key"] for item in listed.get("Contents", [])]
if not outputs:
    raise RuntimeError(f"the job completed but wrote nothing under s3://{BUCKET}/{PREFIX}/output/")
for key in outputs:
    lines = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
    print(f"s3://{BUCKET}/{key}: {len(lines)} records; the first five:")
    print("\\n".join(lines[:5]))
'''

CLEANUP = '''\
# Endpoints bill by the hour until deleted. This deletes what this notebook created, nothing else.
cleanup()
'''


def parameters(*, package_name: str, arns: dict, recommended: dict, samples: list[SampleFile], batch_job: dict) -> str:
    """The first cell: what this product is and where its samples are."""
    realtime = [s for s in samples if s.kind == "realtime"]
    batch = next(s for s in samples if s.kind == "batch")
    batch_sample = {"file": batch.input, "content_type": batch.content_type, "accept": batch.accept,
                    "split_type": batch_job.get("SplitType") or "None",
                    "batch_strategy": batch_job.get("BatchStrategy") or "MultiRecord",
                    "max_payload_mb": batch_job.get("MaxPayloadInMB") or rules.BATCH_DEFAULTS["MaxPayloadInMB"],
                    "assemble_with": batch_job.get("AssembleWith") or "None"}
    lines = ["# The product: written by `mpkit listing` from the seller's manifest and publish record.",
             f"PRODUCT = {package_name!r}",
             "MODEL_PACKAGE_ARNS = {  # Region -> the model package ARN of this version in that Region"]
    lines += [f"    {region!r}: {arn!r}," for region, arn in arns.items()]
    lines += ["}",
              f"REALTIME_INSTANCE_TYPE = {recommended['realtime']!r}",
              f"BATCH_INSTANCE_TYPE = {recommended['batch']!r}",
              "REALTIME_SAMPLES = [  # (file, Content-Type, Accept), bundled with this notebook"]
    lines += [f"    ({s.input!r}, {s.content_type!r}, {s.accept!r})," for s in realtime]
    lines += ["]", f"BATCH_SAMPLE = {json.dumps(batch_sample, indent=4)}"]
    return "\n".join(lines) + "\n"


STEPS = (("setup", SETUP), ("create_model", CREATE_MODEL), ("deploy", DEPLOY), ("invoke", INVOKE),
         ("transform", TRANSFORM), ("read_results", READ_RESULTS), ("cleanup", CLEANUP))
