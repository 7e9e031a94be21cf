"""`mpkit publish`: preflight, build, validate, push by digest, scan, upload, CreateModelPackage,
wait. Every step first looks at what already exists, so a re-run carries on where the last one
stopped and a run with nothing new creates nothing; the publish record says what exists."""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from validation.runner import archive_gate, secrets_gate, validate

from . import model_package as mp
from .aws import Aws
from .build import build, build_dir, content_tag
from .ecr import Ecr
from .errors import AwsError, MpkitError, PackageFailed, PublishRefused
from .manifest import Manifest
from .polling import poll_until
from .preflight import Where, preflight
from .progress import Progress
from .publish_modes import AwsMode
from .publish_record import (
    BuildStep,
    ImageStep,
    PackageStep,
    PublishRecord,
    RepositoryStep,
    ScanStep,
    UploadStep,
    ValidationStep,
)
from .s3_store import S3Store, sha256_of

IMAGE_PATHS = ("InferenceSpecification.Containers[0].Image", "InferenceSpecification.Containers[0].ImageDigest")


class ValidationFailed(MpkitError):
    exit_code = 1


@dataclass
class PublishResult:
    package_name: str
    target: str
    arn: str | None = None
    status: str | None = None
    status_lines: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # what this run made
    plan: list[dict] = field(default_factory=list)  # each step: {step, state, detail}
    request: dict | None = None
    nothing_to_do: bool = False
    dry_run: bool = False
    local_note: str | None = None
    record: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        width = max(len(p["step"]) for p in self.plan) if self.plan else 0
        lines = [f"  {p['step'].ljust(width)}  {p['state']:<13} {p['detail']}" for p in self.plan]
        return "\n".join(lines)


def planned(state: str) -> bool:
    """A dry run's states say what would happen."""
    return state.startswith("would ")


def inputs_digest(manifest: Manifest) -> str:
    """What validation depends on besides the image: the manifest and the files it names."""
    digest = hashlib.sha256(manifest.path.read_bytes())
    files = [s.file for s in manifest.samples]
    if manifest.validation:
        files.append(manifest.validation.input)
    for path in files:
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


class Publisher:
    """The steps of a publish. `mode` is what differs between AWS, the local target and a dry run
    (publish_modes.py); the steps themselves are the same for all three."""

    def __init__(self, manifest: Manifest, aws: Aws, engine, record: PublishRecord, *, report_dir: Path,
                 mode=None, validate: bool = True, wait: bool = True, wait_timeout: float = 6 * 3600,
                 show_progress: bool = True, say=print):
        self.manifest, self.aws, self.engine, self.record = manifest, aws, engine, record
        self.mode = mode or AwsMode()
        self.report_dir, self.validate, self.wait = report_dir, validate, wait
        self.wait_timeout, self.show_progress, self.say = wait_timeout, show_progress, say
        self.result = PublishResult(package_name=manifest.package_name, target=aws.target.label,
                                    dry_run=self.mode.dry_run, record=str(record.path))

    def step(self, name: str, state: str, detail: str) -> None:
        self.result.plan.append({"step": name, "state": state, "detail": detail})
        if state in ("created", "pushed", "uploaded", "would create", "would push", "would upload"):
            self.result.created.append(f"{name}: {detail}")
        self.say(f"{name}: {state} {detail}")

    def run(self) -> PublishResult:
        started = time.monotonic()
        try:
            return self._run()
        finally:
            self.result.seconds = time.monotonic() - started

    def _progress(self, progress):
        return progress if self.show_progress else None

    def _read(self, where: Where, call, *args):
        """A look at what exists in AWS; None when a dry run could not reach AWS."""
        return None if where.offline else call(*args)

    def _run(self) -> PublishResult:
        m, mode = self.manifest, self.mode
        mode.prepare(self.aws, m, self.say)
        self.say(f"publishing {m.package_name} to {self.aws.target.label}, region {self.aws.region}")
        where = preflight(m, self.aws, offline_ok=mode.offline_ok, say=self.say)
        self.record.set(package_name=m.package_name, account=where.account, region=where.region,
                        target="local" if self.aws.target.local else "aws")
        self.step("preflight", "ok", f"account {where.account}, region {where.region}, role {m.validation.role}")

        built = build(m, engine=self.engine, say=self.say)
        tag = content_tag(m, built.content_hash).rsplit(":", 1)[1]  # VERSION-CONTENTHASH, as built locally
        self.record.done(BuildStep(image_id=built.image_id, content_hash=built.content_hash, tag=tag,
                                   model_sha256=built.model_sha256))
        self.step("image build", "reused" if built.reused else "built", f"{built.image} {built.image_id[:19]}")

        ecr, s3 = Ecr(self.aws, say=self.say), S3Store(self.aws, where.bucket, say=self.say)
        keys = self._keys(where, built)
        existing = self._read(where, describe, self.aws, m.package_name)
        if existing is not None:
            return self._existing(existing, where, tag, keys, ecr)

        if self.validate:
            self._validation(built)
        else:
            self._gates(built)

        repository = self._read(where, ecr.repository, where.repository)
        if repository is None:
            repository, state = mode.create_repository(ecr, where.repository, where.account, where.region)
            self.step("repository", state, repository["repositoryUri"]
                      + (" (immutable tags, scan on push)" if planned(state) else ""))
        else:
            self.step("repository", "exists", repository["repositoryUri"])
        self.record.done(RepositoryStep(uri=repository["repositoryUri"], arn=repository.get("repositoryArn")))

        digest = self._read(where, ecr.image_digest, where.repository, tag)
        if digest:
            self.step("image push", "exists", f"{repository['repositoryUri']}:{tag} {digest}")
        else:
            with Progress("push") as progress:
                digest, state = mode.push(ecr, self.engine, built.image, built.image_id, repository, tag,
                                          self._progress(progress))
            self.step("image push", state, f"{repository['repositoryUri']}@{digest}" if digest else
                      f"{built.image} as {repository['repositoryUri']}:{tag}; the package then names it by the "
                      "digest the push returns")
        image = f"{repository['repositoryUri']}@{digest}" if digest else f"{repository['repositoryUri']}:{tag}"
        self.record.done(ImageStep(uri=image, digest=digest, tag=tag))

        if digest:
            mode.scan(lambda: self._scan(ecr, where, repository, digest))

        self._uploads(s3, where, built, keys)

        request = mp.create_request(m, self._locations(keys, image, digest or ""), tags=self._tags_for(tag))
        if not digest:
            del request["InferenceSpecification"]["Containers"][0]["ImageDigest"]
        self.result.request = request
        described = mode.create_package(self._create, request)
        if described is None:
            self.step("model package", "would create", f"{m.package_name} (CertifyForMarketplace, one validation profile)")
            return self.result
        self.result.arn = described["ModelPackageArn"]
        self.record.done(PackageStep(arn=self.result.arn, request_sha256=mp.request_digest(request),
                                     client_token=request["ClientToken"]))
        self.step("model package", "created", self.result.arn)
        self._finish(described)
        return self.result

    # ---- steps

    def _keys(self, where: Where, built) -> dict:
        m = self.manifest
        base = f"{where.prefix}/{m.version}"
        source = m.validation.input
        input_sha = sha256_of(source)
        input_dir = f"{base}/validation-input/{input_sha[:12]}"
        keys = {"input_file": source, "input_sha": input_sha, "input_key": f"{input_dir}/{source.name}",
                "input_prefix": f"s3://{where.bucket}/{input_dir}/",
                "output": f"s3://{where.bucket}/{base}/validation-output/"}
        if built.model_tar:
            keys["model_key"] = f"{base}/model-{built.model_sha256[:12]}.tar.gz"
            keys["model_url"] = f"s3://{where.bucket}/{keys['model_key']}"
        return keys

    @staticmethod
    def _locations(keys: dict, image: str, digest: str) -> mp.Locations:
        return mp.Locations(image=image, image_digest=digest, model_data_url=keys.get("model_url"),
                            validation_input=keys["input_prefix"], validation_output=keys["output"])

    def _tags_for(self, tag: str) -> dict:
        return {"mpkit:image-tag": tag, **self.manifest.publish.tags}

    def _existing(self, described: dict, where: Where, tag: str, keys: dict, ecr: Ecr) -> PublishResult:
        """A package of this name exists: the same inputs mean nothing to do; others are refused."""
        m = self.manifest
        container = (described.get("InferenceSpecification", {}).get("Containers") or [{}])[0]
        planned = mp.create_request(m, self._locations(keys, "", ""))
        diffs = mp.differences(planned, described, skip=IMAGE_PATHS)
        published_tags = ecr.image_tags(where.repository, container.get("ImageDigest", "")) if container.get("ImageDigest") else []
        if tag not in published_tags:
            diffs.insert(0, f"image: published {container.get('Image')} (tags {', '.join(published_tags) or 'unknown'}), "
                            f"now a different build ({tag})")
        if diffs:
            raise PublishRefused(
                f"{described['ModelPackageArn']} already exists with other inputs; a model package cannot change:\n  "
                + "\n  ".join(diffs),
                hint=f"bump `version` in {m.where('version')} (now {m.version}) and publish again")
        self.result.request = mp.create_request(
            m, self._locations(keys, container.get("Image", ""), container.get("ImageDigest", "")), tags=self._tags_for(tag))
        self.result.arn = described["ModelPackageArn"]
        self.result.nothing_to_do = True
        self.record.done(PackageStep(arn=self.result.arn, existing=True))
        self.step("model package", "exists", f"{self.result.arn}: same inputs, nothing to do")
        self._finish(described)
        return self.result

    def _validation(self, built) -> None:
        inputs = inputs_digest(self.manifest)
        last = self.record.validation
        if last.image_id == built.image_id and last.inputs == inputs and last.passed:
            self.step("validation", "reused", f"passed for this exact image and manifest ({last.report})")
            return
        if not self.mode.validate(lambda: self._run_validation(built, inputs)):
            self.step("validation", "would run", "mpkit validate on the image")

    def _gates(self, built) -> None:
        """--skip-validate skips the container stages only: the secrets in the image and what the
        model archive would unpack to are checked whatever the flags (MP-SEC, SM-HOST)."""
        checks = [secrets_gate(self.engine, built.image, build_dir(self.manifest) / "context")]
        if built.model_tar:
            checks += archive_gate(self.manifest, Path(built.model_tar))
        failed = [c for c in checks if c.status == "fail"]
        if failed:
            raise PublishRefused("the image or its model archive cannot ship:\n  " + "\n  ".join(
                f"{c.id}: {c.rule} ({c.source}): {d}" for c in failed for d in (c.details or [c.measured])),
                hint="; ".join(dict.fromkeys(c.hint for c in failed)))
        self.step("validation", "skipped", "--skip-validate: the container stages are left to SageMaker's own validation; "
                  f"{', '.join(c.id for c in checks)} passed")

    def _run_validation(self, built, inputs: str) -> None:
        report = validate(self.manifest, self.engine, image=built.image, output=self.report_dir, say=self.say)
        paths = report.write(self.report_dir)
        batch_check = next((c for c in report.checks if c.id == "batch-transform"), None)
        self.record.done(ValidationStep(image_id=built.image_id, inputs=inputs, passed=not report.failed,
                                        report=str(paths["json"]), summary=report.summary,
                                        batch_ok=batch_check is not None and batch_check.status == "pass",
                                        batch_records=(report.batch or {}).get("records")))
        if report.failed:
            self.say(report.table())
            raise ValidationFailed(f"validation failed: {', '.join(c.id for c in report.failed)} (report: {paths['table']})",
                                   hint="fix what the report names; `mpkit validate` checks again in minutes")
        self.step("validation", "passed", f"{len(report.checks)} checks ({paths['table']})")

    def _scan(self, ecr: Ecr, where: Where, repository: dict, digest: str) -> None:
        last = self.record.scan
        if last.digest == digest and last.clean:
            self.step("image scan", "reused", f"{last.status}, no Critical or High findings")
            return
        self.mode.before_scan(self.aws, where.region, repository.get("registryId", where.account), where.repository,
                              digest, self.say)
        result = ecr.scan(where.repository, digest)
        blocking = result.blocking
        self.record.done(ScanStep(digest=digest, status=result.status, counts=result.counts, clean=not blocking))
        if blocking:
            raise PublishRefused(
                f"the image scan of {repository['repositoryUri']}@{digest} found {len(blocking)} Critical or High "
                f"finding(s); Marketplace refuses such images (MP-UPLOAD):\n{result.table()}",
                hint="update the base image or the packages named, rebuild, and publish again")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())) or "no findings"
        self.step("image scan", result.status.lower(), counts)

    def _uploads(self, s3: S3Store, where: Where, built, keys: dict) -> None:
        exists = where.bucket_exists
        if not exists:
            state = self.mode.ensure_bucket(s3)
            self.step("bucket", state, f"s3://{where.bucket}" + (f" in {where.region} (public access blocked, "
                                                                  "encrypted)" if planned(state) else ""))
        uploads = [("validation input", keys["input_file"], keys["input_key"], keys["input_sha"])]
        if built.model_tar:
            uploads.insert(0, ("model artifact", Path(built.model_tar), keys["model_key"], built.model_sha256))
        for label, path, key, sha in uploads:
            uri = f"s3://{where.bucket}/{key}"
            stored = s3.stored_sha256(key) if exists else None
            if stored == sha:
                self.step(label, "exists", f"{uri} (sha256 {sha[:12]} matches)")
            else:
                with Progress(label) as progress:
                    large = self.show_progress and path.stat().st_size > 5e6
                    state = self.mode.upload(s3, path, key, sha, progress if large else None)
                self.step(label, state, f"{path} to {uri}" if planned(state) else f"{uri} (sha256 {sha[:12]})")
            self.record.done(UploadStep(uri=uri, sha256=sha), key=label.replace(" ", "_"))

    def _create(self, request: dict) -> dict:
        try:
            self.aws.call("sagemaker", "create_model_package", **request)
        except AwsError as exc:
            # A retry after a lost answer can meet the package the first attempt made.
            if "already exist" not in str(exc).lower():
                raise
        described = describe(self.aws, request["ModelPackageName"])
        diffs = mp.differences(request, described or {})
        if described is None or diffs:
            raise AwsError(f"the package {request['ModelPackageName']} is not what was asked for: " + "; ".join(diffs),
                           code="Mismatch")
        return described

    # ---- waiting

    def _finish(self, described: dict) -> None:
        if self.wait and described.get("ModelPackageStatus") not in mp.TERMINAL:
            described = wait_for(self.aws, described["ModelPackageName"], timeout=self.wait_timeout, say=self.say)
        self._show_status(described)

    def _show_status(self, described: dict) -> None:
        result = self.result
        result.status, result.local_note = self.mode.status(described, self.record)
        result.status_lines = mp.status_lines(described)
        for line in result.status_lines:
            self.say(line)
        if result.local_note:
            self.say(f"local target: {result.local_note}")
        if result.status == "Failed":
            reason = mp.failure_help(described, self.aws.region)
            raise PackageFailed(f"validation of {described.get('ModelPackageArn')} failed:\n  " +
                                "\n  ".join(result.status_lines), hint=reason)


def describe(aws: Aws, name: str) -> dict | None:
    """DescribeModelPackage, or None when no package has that name."""
    try:
        return aws.call("sagemaker", "describe_model_package", ModelPackageName=name)
    except AwsError as exc:
        text = str(exc).lower()
        if exc.code == "ValidationException" and ("not found" in text or "does not exist" in text):
            return None
        raise


def wait_for(aws: Aws, name: str, *, timeout: float, say=print, poll: float = 5.0) -> dict:
    """Poll with backoff until Completed or Failed; validation can take hours."""
    def state(described: dict) -> str:
        status = described.get("ModelPackageStatus")
        return f"{status}: {' | '.join(mp.status_lines(described)[1:]) or status}"

    return poll_until(lambda: aws.call("sagemaker", "describe_model_package", ModelPackageName=name), state=state,
                      done=lambda d: d.get("ModelPackageStatus") in mp.TERMINAL, timeout=timeout, say=say, poll=poll,
                      on_timeout=lambda d: AwsError(f"{name} is still {d.get('ModelPackageStatus')} after "
                                                    f"{timeout / 60:.0f} minutes", code="WaitTimeout",
                                                    hint=f"`mpkit status {name} --wait` carries on waiting"))
