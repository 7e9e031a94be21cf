"""`mpkit publish --local`: an AWS emulator and a real registry on loopback, started for the run.

moto's server stands in for STS, IAM, S3, ECR and SageMaker; Debian's `docker-registry` holds the
image bytes, because moto has no registry API (machine-setup.md). Both keep their state under
`.mpkit/local/` next to the manifest, so a second run sees what the first one published: the
registry stores layers on disk, and moto's own recorder writes every request to a file that the
next run replays into a fresh emulator before anything else happens.

What the emulator cannot do, this module says instead of hiding: it has no vulnerability scanner
(`stand_in_scan`), and it marks every package Completed at once (the publisher then reports the
batch replay's outcome from `validate`).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from .aws import Target
from .errors import ConfigurationError
from .publish_modes import AwsMode

ACCOUNT = "123456789012"  # moto's account
DEFAULT_REGION = "us-east-1"
CREDENTIALS = ("mpkit-local", "mpkit-local")
SAGEMAKER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class LoopbackRegistry:
    """Debian's docker-registry on 127.0.0.1, storage on disk."""

    def __init__(self, storage: Path, port: int | None = None):
        self.storage = storage
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "LoopbackRegistry":
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if not binary:
            raise ConfigurationError("Debian's docker-registry is not installed (the local target's registry)",
                                     hint="run scripts/setup.sh, or `apt-get install docker-registry`")
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.storage.parent / "registry.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "version": 0.1, "log": {"level": "error"},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }))
        log = open(self.storage.parent / "registry.log", "ab")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log, start_new_session=True)
        try:
            wait_http(f"http://{self.host}/v2/")
        except OSError as exc:
            self.stop()
            raise ConfigurationError(f"the loopback registry did not start: {exc}",
                                     hint=f"see {self.storage.parent / 'registry.log'}") from exc
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class LocalTarget:
    """Context manager: yields a Target for the emulator and the registry, and stops both after."""

    def __init__(self, state_dir: Path, region: str | None = None, say=print):
        self.state_dir = state_dir
        self.region = region or DEFAULT_REGION
        self.say = say
        self.server = None
        self.registry = LoopbackRegistry(state_dir / "registry")
        self.recording = state_dir / "moto-recording.jsonl"

    def __enter__(self) -> Target:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        from moto.moto_api import recorder
        from moto.server import ThreadedMotoServer

        # moto's recorder reads MOTO_RECORDER_FILEPATH once, when moto is imported; point it here.
        recorder._location = str(self.recording)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per emulator request otherwise
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        endpoint = f"http://127.0.0.1:{port}"
        wait_http(f"{endpoint}/moto-api/")
        if self.recording.is_file() and self.recording.stat().st_size:
            self.say(f"local target: replaying the emulator's state from {self.recording}")
            recorder.replay_recording(target_host=endpoint)
        recorder.start_recording()
        self.registry.start()
        self.target = Target(region=self.region, endpoint_url=endpoint, registry=self.registry.host, local=True,
                             credentials=CREDENTIALS)
        self.say(f"local target: AWS emulator (moto) at {endpoint}, registry at {self.registry.host}, "
                 f"account {ACCOUNT}, region {self.region}; state in {self.state_dir}")
        return self.target

    def __exit__(self, *exc) -> None:
        from moto.moto_api import recorder

        recorder.stop_recording()
        self.registry.stop()
        if self.server is not None:
            self.server.stop()


def seed_role(aws, role_arn: str | None, say=print) -> None:
    """The emulated account starts empty; give it the seller's validation role, as a seller's
    account would have it. A role in any other account is left alone: preflight refuses it."""
    if not role_arn or f":{ACCOUNT}:role/" not in role_arn:
        return
    name = role_arn.rsplit("/", 1)[-1]
    iam = aws.client("iam")
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        path = "/" + role_arn.split(":role/", 1)[1].rsplit("/", 1)[0] + "/" if role_arn.count("/") > 1 else "/"
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
        say(f"local target: created the validation role {role_arn} in the emulated account")


class LocalMode(AwsMode):
    """The local target: the emulated account is given the seller's validation role, the missing
    scanner is stood in for, and the status shown is the local batch replay's, each said aloud."""

    def prepare(self, aws, manifest, say) -> None:
        seed_role(aws, manifest.validation.role if manifest.validation else None, say=say)

    def before_scan(self, aws, region: str, registry_id: str, repository: str, digest: str, say) -> None:
        stand_in_scan(aws.target, region, registry_id, repository, digest, say=say)

    def status(self, described: dict, record) -> tuple[str | None, str | None]:
        last = record.validation
        if not last:
            outcome = "unknown: validation was skipped"
        elif last.batch_ok:
            outcome = f"Completed: the batch-transform replay passed ({last.batch_records} records)"
        else:
            outcome = "Failed: the batch-transform replay did not pass"
        note = ("the emulator marks every package Completed at once, so the status shown is the local "
                f"batch-transform replay's from `mpkit validate`: {outcome}")
        return outcome.split(":")[0], note


def stand_in_scan(target: Target, region: str, registry_id: str, repository: str, digest: str, say=print) -> None:
    """moto has no scanner; left alone it answers every scan with a made-up HIGH finding. Record
    an empty result for this image instead, and say so: on AWS, ECR's scan decides."""
    result = {
        "registryId": registry_id, "repositoryName": repository, "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "local target: the emulator has no scanner"},
        "imageScanFindings": {"findings": [], "findingSeverityCounts": {}},
    }
    body = json.dumps({"results": [result], "region": region}).encode()
    request = urllib.request.Request(f"{target.endpoint_url}/moto-api/static/ecr/scan-finding-results", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass
    say("  scan: the local emulator has no vulnerability scanner; this image is recorded as scanned clean. "
        "On AWS, ECR's scan decides, and a Critical or High finding stops the publish")
