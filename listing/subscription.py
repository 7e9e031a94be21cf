"""Before a buyer's CreateModel: is this ARN one this account can use, here? AWS answers a missing
subscription with "Caller is not subscribed to the marketplace offering" and nothing more
(aws/amazon-sagemaker-examples#2286, #1552); this turns it, and the wrong-Region ARN, into a
sentence with the next step."""

from __future__ import annotations

from package.errors import AwsError, ConfigurationError, NotSubscribed

from .sources import ARN_PATTERN

NEXT_STEP = ("subscribe first: `mpkit subscribe PRODUCT_ID` shows the offer's terms and `--accept` accepts them (or, "
             "in AWS Marketplace, Continue to Subscribe); then `mpkit resolve PRODUCT_ID` gives the package ARN for "
             "your Region, and run this again with it.")


def not_subscribed(arn: str, account: str | None, aws_message: str) -> NotSubscribed:
    who = f"This AWS account ({account})" if account else "This AWS account"
    return NotSubscribed(f"{who} cannot use {arn}: it is not subscribed to the product, or the ARN is mistyped. "
                         f"(AWS said: {aws_message})", hint=NEXT_STEP)


def check(aws, arn: str, account: str | None = None, *, planned: bool = False) -> dict:
    """DescribeModelPackage on the ARN, after checking that it is for this session's Region;
    the description, or a NotSubscribed / ConfigurationError that says what to do. `planned` (a dry
    run): a description AWS did not give is taken as it comes."""
    match = ARN_PATTERN.match(arn or "")
    if not match:
        raise ConfigurationError(f"{arn!r} is not a model package ARN",
                                 hint="it looks like arn:aws:sagemaker:REGION:ACCOUNT:model-package/NAME; "
                                      "AWS Marketplace shows it under Continue to Configuration")
    if match.group(1) != aws.region:
        raise NotSubscribed(f"{arn} is the model package in {match.group(1)}, but this session is in {aws.region}. "
                            "AWS Marketplace gives one ARN per Region.",
                            hint=f"use the ARN for {aws.region} (the listing's Region table), or pass --region {match.group(1)}")
    try:
        described = aws.call("sagemaker", "describe_model_package", ModelPackageName=arn)
    except AwsError as exc:
        if exc.code in ("ValidationException", "ResourceNotFound", "AccessDeniedException", "AccessDenied"):
            raise not_subscribed(arn, account, str(exc)) from exc
        raise
    status = described.get("ModelPackageStatus")
    if planned and not described:
        return described
    if status != "Completed":
        raise NotSubscribed(f"{arn} is {status}, not Completed: it cannot be deployed yet",
                            hint="ask the seller, or wait: a package is usable once its validation completes")
    return described


def explain(exc: AwsError, arn: str, account: str | None = None) -> Exception:
    """AWS's CreateModel error, as a sentence when it is the subscription one."""
    if "not subscribed" in str(exc).lower():
        return not_subscribed(arn, account, str(exc))
    return exc
