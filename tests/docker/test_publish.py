"""`mpkit publish` end to end: the real boto3 over HTTP to moto's server (through a proxy that can
throttle, fail or drop calls), the real Docker engine, and a real registry on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import validate_parameters

from package.aws import Aws, Target
from package.errors import AwsError, PublishRefused
from package.local_target import CREDENTIALS, LocalMode, LoopbackRegistry, pid_running, seed_role
from package.manifest import ManifestError, load_manifest
from package.publish_modes import DryRun
from package.publish_record import PublishRecord
from package.publisher import Publisher
from package.s3_store import sha256_of
from tests.conftest import ROOT
from tests.conftest import emulator_client as client

pytestmark = pytest.mark.docker
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/mpkit-validation"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = LoopbackRegistry(tmp_path_factory.mktemp("registry") / "storage").start()
    yield reg
    reg.stop()


@pytest.fixture(autouse=True)
def fresh(moto_url, proxy):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()
    proxy.clear()


@pytest.fixture
def target(proxy, registry):
    return Target(region=REGION, endpoint_url=proxy.url, registry=registry.host, local=True, credentials=CREDENTIALS)


@pytest.fixture
def aws(target):
    return Aws(target)


def variant(product: Path, folder: Path, artifacts: Path | None = None, **changes) -> Path:
    """A manifest beside the example's files (or a copy of them) with fields changed."""
    folder.mkdir(parents=True, exist_ok=True)
    example = folder / "example"
    if not example.exists():
        if artifacts is None:
            example.symlink_to(product / "example")
        else:
            example.mkdir()
            (example / "artifacts").symlink_to(artifacts)
    data = yaml.safe_load((product / "manifest.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def publish(aws, manifest_path: Path, tmp: Path, *, validate=False, dry_run=False, seed=True):
    """As `mpkit publish --local` does; `seed` gives the emulated account the manifest's role."""
    from package.docker_engine import Engine

    manifest = load_manifest(manifest_path)
    if seed:
        seed_role(aws, manifest.validation.role, say=lambda _: None)
    record = PublishRecord.load(tmp / "record.json", persist=not dry_run)
    # The test seeds the role itself (or not), so the mode is AWS's with the local target's
    # scanner and status stand-ins: LocalMode without its seeding.
    mode = _Unseeded()
    return Publisher(manifest, aws, Engine(), record, report_dir=tmp / "reports", validate=validate,
                     mode=DryRun(mode) if dry_run else mode, show_progress=False, say=lambda _: None).run()


class _Unseeded(LocalMode):
    def prepare(self, aws, manifest, say) -> None:
        pass


def packages(moto_url) -> list[str]:
    return [p["ModelPackageName"] for p in client(moto_url, "sagemaker").list_model_packages()["ModelPackageSummaryList"]]


def test_first_publish_creates_everything_and_a_second_creates_nothing(aws, product, tmp_path, moto_url, proxy, registry,
                                                                       baked):
    path = variant(product, tmp_path / "p")
    manifest = load_manifest(path)
    first = publish(aws, path, tmp_path, validate=True)

    # The repository: immutable tags, scan on push.
    repo = client(moto_url, "ecr").describe_repositories(repositoryNames=[manifest.name])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE" and repo["imageScanningConfiguration"]["scanOnPush"] is True
    # The package is what the manifest means: pinned by digest, both instance lists, content types,
    # one profile, certified, unversioned.
    described = client(moto_url, "sagemaker").describe_model_package(ModelPackageName=manifest.package_name)
    container = described["InferenceSpecification"]["Containers"][0]
    digest = container["ImageDigest"]
    assert container["Image"] == f"{repo['repositoryUri']}@{digest}"
    assert digest.startswith("sha256:") and len(digest) == 71
    spec = described["InferenceSpecification"]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == list(manifest.instance_types.realtime)
    assert spec["SupportedTransformInstanceTypes"] == list(manifest.instance_types.batch)
    assert spec["SupportedContentTypes"] == list(manifest.serving.content_types)
    assert spec["SupportedResponseMIMETypes"] == list(manifest.serving.accept_types)
    assert described["CertifyForMarketplace"] is True
    assert "ModelPackageGroupName" not in described
    profiles = described["ValidationSpecification"]["ValidationProfiles"]
    assert len(profiles) == 1 and described["ValidationSpecification"]["ValidationRole"] == ROLE
    job = profiles[0]["TransformJobDefinition"]
    assert job["TransformInput"]["SplitType"] == "Line" and job["TransformOutput"]["AssembleWith"] == "Line"
    # The digest names the bytes in the real registry, and the validation input is in S3 with its sha256.
    head = urllib.request.Request(f"http://{registry.host}/v2/{manifest.name}/manifests/{digest}", method="HEAD",
                                  headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(head) as reply:
        assert reply.headers["Docker-Content-Digest"] == digest
    uri = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, prefix = uri[len("s3://"):].split("/", 1)
    objects = client(moto_url, "s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert len(objects) == 1
    meta = client(moto_url, "s3").head_object(Bucket=bucket, Key=objects[0]["Key"])["Metadata"]
    source = manifest.validation.input
    assert meta["sha256"] == sha256_of(source)
    assert first.status == "Completed" and "batch-transform replay passed" in first.local_note
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["steps"]["package"]["arn"] == described["ModelPackageArn"]
    assert record["steps"]["image"]["digest"] == digest
    # The registry's name for the image was only for the push: no such tag is left behind.
    from package.docker_engine import Engine

    left = [t for image in Engine().client.images.list() for t in image.tags if t.startswith(registry.host)]
    assert left == []

    # Second run: same inputs; nothing is created, pushed or uploaded.
    calls = dict(proxy.calls)
    second = publish(aws, path, tmp_path, validate=True)
    assert second.nothing_to_do and second.created == [] and second.arn == first.arn
    for call in ("CreateModelPackage", "PutImage", "CreateRepository", "S3:PUT", "StartImageScan"):
        assert proxy.calls[call] == calls.get(call, 0), call
    assert packages(moto_url) == [manifest.package_name]
    validate_parameters(second.request, _create_shape())


def _create_shape():
    return botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModelPackage").input_shape


def test_changed_model_under_the_same_version_is_refused(aws, product, tmp_path, moto_url, s3_image):
    import shutil

    import xgboost

    path = variant(product, tmp_path / "s3", **{"model.delivery": "s3"})
    first = publish(aws, path, tmp_path)
    model_url = client(moto_url, "sagemaker").describe_model_package(ModelPackageName=first.package_name)[
        "InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert model_url.startswith("s3://") and model_url.endswith(".tar.gz")

    # The same product and version with a retrained (here: re-saved, different bytes) predictor.
    artifacts = tmp_path / "artifacts-v2"
    shutil.copytree(product / "example" / "artifacts", artifacts)
    predictor = artifacts / "model" / "xgboost-model.ubj"
    booster = xgboost.Booster(model_file=str(predictor))
    booster.set_attr(note="retrained")
    booster.save_model(str(predictor))
    changed = variant(product, tmp_path / "s3-v2", artifacts=artifacts, **{"model.delivery": "s3"})
    with pytest.raises(PublishRefused) as refused:
        publish(aws, changed, tmp_path / "s3-v2")
    message = str(refused.value)
    assert "ModelDataUrl" in message and "bump `version`" in refused.value.hint
    assert packages(moto_url) == [first.package_name]
    bucket, key = model_url[len("s3://"):].split("/", 1)
    keys = [o["Key"] for o in client(moto_url, "s3").list_objects_v2(Bucket=bucket, Prefix=key.rsplit("/", 1)[0])["Contents"]]
    assert [k for k in keys if k.endswith(".tar.gz")] == [key], "the refused model must not have been uploaded"


@pytest.mark.parametrize("case, changes, expected", [
    ("role given as a name", {"validation.role": "mpkit-validation"}, "validation.role: 'mpkit-validation' is not a role ARN"),
    ("image in another account's registry", {"publish.repository": "999999999999.dkr.ecr.us-east-1.amazonaws.com/theirs"},
     "account 999999999999's registry"),
    ("region mismatch", {"publish.region": "eu-west-1"}, "publish.region is eu-west-1"),
    ("bucket in another region", {"publish.bucket": "elsewhere-bucket"}, "elsewhere-bucket is in eu-west-1"),
    ("role that does not exist", {"validation.role": "arn:aws:iam::123456789012:role/missing"}, "does not exist"),
])
def test_refused_before_anything_is_created(aws, product, tmp_path, moto_url, baked, case, changes, expected):
    client(moto_url, "s3", "eu-west-1").create_bucket(
        Bucket="elsewhere-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    path = variant(product, tmp_path / "p", **changes)
    # The manifest's own mistake is a ManifestError (exit 2) with a fix line; the others need AWS's view.
    with pytest.raises(ManifestError if case == "role given as a name" else PublishRefused) as refused:
        publish(aws, path, tmp_path, seed=case != "role that does not exist")
    assert expected in str(refused.value), str(refused.value)
    assert getattr(refused.value, "hint", None) or "\n    fix: " in str(refused.value)
    assert packages(moto_url) == []
    assert client(moto_url, "ecr").describe_repositories()["repositories"] == []


def test_critical_finding_stops_before_the_package(aws, product, tmp_path, moto_url, baked):
    finding = {"registryId": "123456789012", "repositoryName": "scanned", "imageId": {},
               "imageScanStatus": {"status": "COMPLETE", "description": "scan"},
               "imageScanFindings": {"findings": [{"name": "CVE-2026-0001", "severity": "CRITICAL", "uri": "https://cve",
                                                    "attributes": [{"key": "package_name", "value": "openssl"},
                                                                   {"key": "package_version", "value": "3.0.0"}]}],
                                     "findingSeverityCounts": {"CRITICAL": 1}}}
    request = urllib.request.Request(f"{moto_url}/moto-api/static/ecr/scan-finding-results", method="POST",
                                     data=json.dumps({"results": [finding], "region": REGION}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
    path = variant(product, tmp_path / "p", **{"publish.repository": "scanned"})
    with pytest.raises(PublishRefused) as refused:
        publish(aws, path, tmp_path)
    assert "CVE-2026-0001" in str(refused.value) and "openssl" in str(refused.value) and "CRITICAL" in str(refused.value)
    assert packages(moto_url) == []
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["steps"]["scan"]["clean"] is False and "package" not in record["steps"]


def test_retries_and_resume_from_the_record(product, tmp_path, moto_url, proxy, registry, baked):
    # Few attempts so that a run gives up quickly when every try of a call fails.
    target = Target(region=REGION, endpoint_url=proxy.url, registry=registry.host, local=True, credentials=CREDENTIALS)
    aws = Aws(target, max_attempts=3)
    path = variant(product, tmp_path / "p")

    # Run 1 is cut off: every S3 write fails, so the bucket is never made.
    proxy.inject("S3:PUT", "fail", times=50)
    with pytest.raises(AwsError):
        publish(aws, path, tmp_path)
    record = json.loads((tmp_path / "record.json").read_text())
    assert {"build", "repository", "image", "scan"} <= set(record["steps"]) and "package" not in record["steps"]
    assert packages(moto_url) == []
    pushed = proxy.calls["PutImage"]

    # Run 2 carries on: the image is not pushed again; CreateModelPackage is throttled once, then its
    # answer is lost after the emulator made the package; the retries end with one package.
    proxy.clear()
    proxy.inject("CreateModelPackage", "throttle")
    proxy.inject("CreateModelPackage", "drop")
    proxy.inject("DescribeImages", "throttle")
    result = publish(Aws(target), path, tmp_path)
    assert proxy.injected["CreateModelPackage"] == 2 and proxy.calls["CreateModelPackage"] == 3
    assert proxy.calls["PutImage"] == 0 and pushed == 1
    assert [p["state"] for p in result.plan if p["step"] == "image push"] == ["exists"]
    assert packages(moto_url) == [result.package_name]
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["steps"]["package"]["arn"] == result.arn


def test_dry_run_changes_nothing_and_its_request_has_aws_shape(aws, product, tmp_path, moto_url, proxy, baked):
    path = variant(product, tmp_path / "p")
    result = publish(aws, path, tmp_path, dry_run=True)
    validate_parameters(result.request, _create_shape())
    assert result.request["CertifyForMarketplace"] is True
    states = {p["step"]: p["state"] for p in result.plan}
    assert states["repository"] == "would create" and states["model package"] == "would create"
    assert client(moto_url, "ecr").describe_repositories()["repositories"] == []
    assert client(moto_url, "s3").list_buckets()["Buckets"] == [] and packages(moto_url) == []
    assert not (tmp_path / "record.json").exists()
    # CreateRole is the test's own seeding of the emulated account, as `--local` does.
    writes = [c for c in proxy.calls if c != "CreateRole" and (c.startswith(("Create", "Put", "Start", "Delete"))
                                                                or c in ("S3:PUT", "S3:POST", "S3:DELETE"))]
    assert writes == [], writes


def test_dry_run_with_real_aws_settings_and_no_credentials(product, tmp_path, baked):
    """`mpkit publish --dry-run --json` for AWS itself, on a machine without credentials: the plan
    and the exact request, which botocore's validator accepts for the real service model."""
    path = variant(product, tmp_path / "p")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    run = subprocess.run([sys.executable, "-m", "package.cli", "publish", "--manifest", str(path), "--dry-run", "--json",
                          "--region", "eu-west-1"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    validate_parameters(data["request"], _create_shape())
    assert data["request"]["InferenceSpecification"]["Containers"][0]["Image"].startswith(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/diabetes-progression:")
    assert "AWS did not answer" in run.stderr


def cli(*args, cwd=ROOT, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "package.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def _killed_after_the_registry_started(path: Path) -> int:
    """Start `mpkit publish --local`, SIGKILL it once its registry serves; the registry's PID."""
    pid_file = path.parent / ".mpkit" / "local" / "registry.pid"
    run = subprocess.Popen([sys.executable, "-m", "package.cli", "publish", "--manifest", str(path), "--local",
                            "--skip-validate"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not pid_file.is_file() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.02)
        assert pid_file.is_file(), "the registry never started"
        time.sleep(0.5)
    finally:
        run.kill()
        run.wait()
    return json.loads(pid_file.read_text())["pid"]


def test_local_target_keeps_its_state_between_runs_and_status_reads_it(product, tmp_path, baked):
    """`mpkit publish --local` killed once its registry runs, then run to the end: the orphaned
    registry is reaped and the publish carries on. A second run starts a fresh emulator, replays
    the first run's recording into it, and finds nothing to do, without growing the recording;
    `mpkit status --local` reads the package."""
    path = variant(product, tmp_path / "p")
    orphan = _killed_after_the_registry_started(path)
    try:
        assert pid_running(orphan)
        first = cli("publish", "--manifest", str(path), "--local", "--skip-validate", "--json")
        assert first.returncode == 0, first.stderr
        assert f"stopped the registry (PID {orphan})" in first.stderr and not pid_running(orphan)
    finally:
        if pid_running(orphan):
            os.kill(orphan, 9)
    created = json.loads(first.stdout)
    assert created["arn"].endswith(":model-package/diabetes-progression-1-0-0") and not created["nothing_to_do"]
    assert "no vulnerability scanner" in first.stderr and "validation was skipped" in created["local_note"]
    recording = tmp_path / "p" / ".mpkit" / "local" / "moto-recording.jsonl"
    recorded = recording.read_text()
    second = cli("publish", "--manifest", str(path), "--local", "--skip-validate")
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout and "replaying the emulator's state" in second.stdout
    assert recording.read_text() == recorded, "a run that changed nothing added to the recording"
    assert not (tmp_path / "p" / ".mpkit" / "local" / "registry.pid").exists()
    status = cli("status", "--manifest", str(path), "--local", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["arn"] == created["arn"]
    assert (tmp_path / "p" / ".mpkit" / "publish" / "local" / "diabetes-progression-1-0-0.json").is_file()


def test_cli_exit_codes_name_the_failure(product, tmp_path, moto_url, registry, baked):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
    path = variant(product, tmp_path / "p", **{"validation.role": "mpkit-validation"})
    refused = cli("publish", "--manifest", str(path), "--endpoint-url", moto_url, "--registry", registry.host,
                  "--region", REGION, "--skip-validate", env=env)
    # A role name is the manifest's mistake: exit 2 at its line, before the emulator is asked anything.
    assert refused.returncode == 2, refused.stderr
    assert "validation.role: 'mpkit-validation' is not a role ARN" in refused.stderr and "fix:" in refused.stderr
    assert "publishing diabetes" not in refused.stdout + refused.stderr
    elsewhere = variant(product, tmp_path / "q", **{"publish.region": "eu-central-1"})
    refused = cli("publish", "--manifest", str(elsewhere), "--endpoint-url", moto_url, "--registry", registry.host,
                  "--region", REGION, "--skip-validate", env=env)
    assert refused.returncode == 7, refused.stderr
    assert "publish.region is eu-central-1" in refused.stderr and "fix:" in refused.stderr
    missing = cli("status", "nope-1-0-0", "--manifest", str(path), "--endpoint-url", moto_url, "--region", REGION, env=env)
    assert missing.returncode == 2 and "no model package named nope-1-0-0" in missing.stderr
