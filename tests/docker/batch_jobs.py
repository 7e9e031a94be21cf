"""What AWS does after CreateTransformJob and moto does not: run the job. Hooked into the fault
proxy (`proxy.after["CreateTransformJob"]`), it reads the job's input from the emulator's S3, runs
the product's real image through the same transform replay as `mpkit transform-local`, and writes
each `<input>.out` under the job's S3OutputPath before the caller hears that the job was created
(moto reports every job Completed at once)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import boto3

from validation.transform import run_transform


def transform_runner(emulator_url: str, engine, image: str, client_image: str, region: str = "us-east-1"):
    s3 = boto3.client("s3", region_name=region, endpoint_url=emulator_url, aws_access_key_id="t", aws_secret_access_key="t")
    runs = []

    def run(body: bytes) -> None:
        job = json.loads(body)
        source = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, prefix = source[len("s3://"):].partition("/")
        out_bucket, _, out_prefix = job["TransformOutput"]["S3OutputPath"][len("s3://"):].partition("/")
        definition = {"ContentType": job["TransformInput"].get("ContentType"),
                      "SplitType": job["TransformInput"].get("SplitType"), "BatchStrategy": job.get("BatchStrategy"),
                      "MaxPayloadInMB": job.get("MaxPayloadInMB"),
                      "MaxConcurrentTransforms": job.get("MaxConcurrentTransforms"),
                      "Accept": job["TransformOutput"].get("Accept"),
                      "AssembleWith": job["TransformOutput"].get("AssembleWith"),
                      "Environment": job.get("Environment") or {}}
        with tempfile.TemporaryDirectory(prefix="emulated-transform-") as tmp:
            inputs, outputs = Path(tmp) / "in", Path(tmp) / "out"
            for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
                target = inputs / item["Key"][len(prefix):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(target))
            result, _, _ = run_transform(engine, image, definition, inputs, outputs, model_dir=None,
                                         client_image=client_image, say=lambda _: None)
            for f in result.files:
                if f.output:
                    key = f"{out_prefix.rstrip('/')}/{Path(f.output).relative_to(outputs).as_posix()}".lstrip("/")
                    s3.upload_file(f.output, out_bucket, key)
            runs.append({"job": job["TransformJobName"], "ok": result.ok, "records": result.records})

    run.runs = runs
    return run
