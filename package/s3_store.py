"""The seller's S3 bucket for the model artifact and the validation input: in the publishing
Region, created when missing with public access blocked and encryption on; an object whose
sha256 is already there is not uploaded again."""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import rules
from .aws import Aws
from .errors import AwsError, PublishRefused


def default_bucket(account: str, region: str) -> str:
    return f"mpkit-{account}-{region}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class S3Store:
    def __init__(self, aws: Aws, bucket: str, say=print):
        self.aws = aws
        self.bucket = bucket
        self.say = say

    def bucket_region(self) -> str | None:
        """The bucket's Region, or None when it does not exist."""
        try:
            location = self.aws.call("s3", "get_bucket_location", Bucket=self.bucket).get("LocationConstraint")
        except AwsError as exc:
            if exc.code in ("NoSuchBucket", "404"):
                return None
            if exc.code in ("AccessDenied", "403"):
                raise PublishRefused(f"bucket {self.bucket} belongs to another account or denies this one",
                                     hint="name a bucket of your own with publish.bucket in the manifest") from exc
            raise
        return location or "us-east-1"  # S3 reports us-east-1 as no constraint

    def check_region(self) -> bool:
        """True when the bucket exists; refuses a bucket in another Region (§1.2)."""
        region = self.bucket_region()
        if region is not None and region != self.aws.region:
            raise PublishRefused(
                f"bucket {self.bucket} is in {region}, but the package is published in {self.aws.region}: "
                f"the model artifact and the validation data must be in the publishing Region ({rules.SAME_REGION_SOURCE})",
                hint=f"name a bucket in {self.aws.region} with publish.bucket, or publish in {region}")
        return region is not None

    def ensure_bucket(self) -> None:
        if self.check_region():
            return
        params = {"Bucket": self.bucket}
        if self.aws.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
        self.aws.call("s3", "create_bucket", **params)
        self.aws.call("s3", "put_public_access_block", Bucket=self.bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        self.aws.call("s3", "put_bucket_encryption", Bucket=self.bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        self.say(f"  created bucket s3://{self.bucket} in {self.aws.region} (public access blocked, encrypted)")

    def stored_sha256(self, key: str) -> str | None:
        try:
            head = self.aws.call("s3", "head_object", Bucket=self.bucket, Key=key)
        except AwsError as exc:
            if exc.code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head.get("Metadata", {}).get("sha256")

    def upload(self, path: Path, key: str, sha256: str, progress=None) -> None:
        """Upload, recording the sha256 that `stored_sha256` reads back."""
        from boto3.s3.transfer import TransferConfig

        total, sent = path.stat().st_size, [0]

        def callback(n: int) -> None:
            sent[0] += n
            if progress:
                progress(sent[0], total)

        try:
            self.aws.client("s3").upload_file(str(path), self.bucket, key, Callback=callback,
                                              ExtraArgs={"Metadata": {"sha256": sha256}, "ServerSideEncryption": "AES256"},
                                              Config=TransferConfig(multipart_threshold=64 * 1024 * 1024))
        except Exception as exc:  # boto3's transfer manager wraps ClientError in its own S3UploadFailedError
            raise AwsError(f"s3 upload of {path} to s3://{self.bucket}/{key} failed: {exc}", code="UploadFailed",
                           hint="run the command again: uploads that finished are not repeated") from exc
