"""What differs between publishing to AWS, to the local emulator, and a dry run, as one object
the publisher is given: it makes (or, in a dry run, only plans) each change, and it says what a
package's status means. The publisher's steps are the same in every mode.

`AwsMode` is AWS itself. `DryRun` wraps another mode and changes nothing. The local target's
mode, with its emulator workarounds, lives with the local target (local_target.LocalMode).
"""

from __future__ import annotations

from pathlib import Path

from .ecr import Ecr
from .s3_store import S3Store


class AwsMode:
    """Each change made in AWS; the status is what SageMaker says."""

    dry_run = False
    # A dry run may go on when AWS does not answer (no credentials): nothing is assumed to exist.
    offline_ok = False

    def prepare(self, aws, manifest, say) -> None:
        """Before preflight: nothing to do in a real account."""

    def create_repository(self, ecr: Ecr, name: str, account: str, region: str) -> tuple[dict, str]:
        return ecr.create_repository(name), "created"

    def push(self, ecr: Ecr, engine, name: str, image_id: str, repository: dict, tag: str, progress) -> tuple[str | None, str]:
        ecr.say(f"pushing {name} as {repository['repositoryUri']}:{tag}")
        return ecr.push(engine, image_id, repository, tag, progress=progress), "pushed"

    def before_scan(self, aws, region: str, registry_id: str, repository: str, digest: str, say) -> None:
        """ECR scans on push; nothing to add."""

    def scan(self, run_scan) -> None:
        run_scan()

    def validate(self, run_validation) -> bool:
        """Runs `mpkit validate`; True when it ran."""
        run_validation()
        return True

    def ensure_bucket(self, s3: S3Store) -> str:
        s3.ensure_bucket()
        return "created"

    def upload(self, s3: S3Store, path: Path, key: str, sha: str, progress) -> str:
        s3.upload(path, key, sha, progress=progress)
        return "uploaded"

    def create_package(self, create, request: dict) -> dict | None:
        return create(request)

    def status(self, described: dict, record) -> tuple[str | None, str | None]:
        """The package's status, and a note when it is not SageMaker's own verdict."""
        return described.get("ModelPackageStatus"), None


class DryRun:
    """Reads like `inner`, changes nothing: every change is planned and said as `would ...`."""

    dry_run = True
    offline_ok = True

    def __init__(self, inner=None):
        self.inner = inner or AwsMode()

    def prepare(self, aws, manifest, say) -> None:
        """As `inner`: the local target's emulated account needs the seller's role even to plan."""
        self.inner.prepare(aws, manifest, say)

    def create_repository(self, ecr: Ecr, name: str, account: str, region: str) -> tuple[dict, str]:
        return {"repositoryName": name, "repositoryUri": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"}, "would create"

    def push(self, ecr, engine, name, image_id, repository, tag, progress) -> tuple[str | None, str]:
        return None, "would push"

    def before_scan(self, *args, **kwargs) -> None:
        """Nothing is pushed, so nothing is scanned."""

    def scan(self, run_scan) -> None:
        """A dry run reads no scan results."""

    def validate(self, run_validation) -> bool:
        return False

    def ensure_bucket(self, s3) -> str:
        return "would create"

    def upload(self, s3, path, key, sha, progress) -> str:
        return "would upload"

    def create_package(self, create, request: dict) -> dict | None:
        return None

    def status(self, described: dict, record) -> tuple[str | None, str | None]:
        return self.inner.status(described, record)
