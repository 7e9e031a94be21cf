"""Before anything is created: who we are, where we publish, and whether every part can live
there (marketplace-contract.md §1.2, §2.3). The manifest's own rules are validate's, not copies."""

from __future__ import annotations

import re
from dataclasses import dataclass

from validation import static_checks

from . import rules
from .aws import Aws
from .ecr import registry_of
from .errors import AwsError, ConfigurationError, PublishRefused
from .manifest import Manifest, ManifestError
from .s3_store import S3Store, default_bucket


@dataclass
class Where:
    account: str
    region: str
    repository: str  # the ECR repository name
    bucket: str
    bucket_exists: bool  # in this Region (one elsewhere is refused)
    prefix: str
    offline: str | None = None  # offline_ok only: why AWS could not be read (nothing is assumed to exist)


def require_publishable(manifest: Manifest) -> None:
    """The manifest's own mistakes, refused at exit 2 before any AWS call: the API's rules, and a
    validation role, which publishing needs and `validate` does not."""
    if manifest.prebuilt:
        raise ConfigurationError(f"{manifest.where('image')}: publishing a prebuilt image is not supported yet",
                                 hint="`mpkit validate` judges it by SageMaker's contract; to publish with mpkit, "
                                      "describe the model in a `model` section and let mpkit build the image")
    problems = static_checks.manifest_errors(manifest)
    if not (manifest.validation and manifest.validation.role):
        problems.append(f"{manifest.where('validation')}: validation.role: publishing needs the ValidationRole's ARN\n"
                        "    fix: set validation.role: arn:aws:iam::<account>:role/<name> (a role SageMaker can assume)")
    if problems:
        raise ManifestError(problems)


def preflight(manifest: Manifest, aws: Aws, *, offline_ok: bool = False, say=print) -> Where:
    """The manifest's rules, then the account, Region, role, repository and bucket. With `offline_ok`
    (a dry run) AWS may not answer: the plan then assumes that nothing exists yet."""
    require_publishable(manifest)
    role = manifest.validation.role

    region = aws.region
    wanted = manifest.publish.region
    if wanted and wanted != region:
        raise PublishRefused(
            f"{manifest.where('publish', 'region')}: publish.region is {wanted}, but the AWS configuration points at "
            f"{region}: every part of the package must be in the Region it is published from ({rules.SAME_REGION_SOURCE})",
            hint=f"pass --region {wanted}, or change publish.region")
    if region not in aws.session.get_available_regions("sagemaker"):
        raise PublishRefused(f"{region} is not a SageMaker Region", hint="publish from a Region where SageMaker runs")

    offline = None
    try:
        account = aws.call("sts", "get_caller_identity")["Account"]
    except (AwsError, ConfigurationError) as exc:
        if not offline_ok:
            raise
        account, offline = role.split(":")[4], str(exc)
        say(f"  (dry run) AWS did not answer ({exc}); assuming account {account} from the validation role "
            "and that nothing exists yet")

    role_account = role.split(":")[4]
    if role_account != account:
        raise PublishRefused(f"{manifest.where('validation', 'role')}: the validation role {role} is in account "
                             f"{role_account}, but the credentials are account {account}",
                             hint="use a role of the publishing account")
    try:
        if not offline:
            aws.call("iam", "get_role", RoleName=role.rsplit("/", 1)[-1])
    except AwsError as exc:
        if exc.code == "NoSuchEntity":
            raise PublishRefused(f"{manifest.where('validation', 'role')}: the validation role {role} does not exist",
                                 hint="create it with a trust policy for sagemaker.amazonaws.com, "
                                 "and S3 read/write on the bucket") from exc
        if not offline_ok:
            raise

    repository = manifest.publish.repository
    if "/" in repository and "." in repository.split("/", 1)[0]:
        owner = registry_of(repository)
        if owner is None:
            raise PublishRefused(f"{manifest.where('publish', 'repository')}: {repository} is not an ECR repository",
                                 hint="Marketplace takes images only from ECR in the seller's account")
        if owner[0] != account:
            raise PublishRefused(
                f"{manifest.where('publish', 'repository')}: the repository is in account {owner[0]}'s registry, "
                f"not this account's ({account}): Marketplace takes images only from the seller's own ECR "
                f"({rules.SELLER_ACCOUNT_SOURCE}; AWS would fail validation with 'Access denied for registry')",
                hint="push to a repository of your own account: give just a repository name")
        if owner[1] != region:
            raise PublishRefused(
                f"{manifest.where('publish', 'repository')}: the repository is in {owner[1]}, the package in {region} "
                f"({rules.SAME_REGION_SOURCE})", hint=f"use a repository in {region}")
        repository = repository.split("/", 1)[1]
    if not re.fullmatch(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*", repository):
        raise PublishRefused(f"{manifest.where('publish', 'repository')}: {repository!r} is not a valid ECR repository name",
                             hint="lower-case letters, digits, and . _ - / between them")

    bucket = manifest.publish.bucket or default_bucket(account, region)
    bucket_exists = False if offline else S3Store(aws, bucket).check_region()
    prefix = manifest.publish.prefix
    return Where(account=account, region=region, repository=repository, bucket=bucket, bucket_exists=bucket_exists,
                 prefix=prefix, offline=offline)
