"""`mpkit publish --local`: an AWS emulator and a real registry on loopback, started for the run.

moto's server stands in for STS, IAM, S3, ECR and SageMaker; Debian's `docker-registry` holds the
image bytes, because moto has no registry API (machine-setup.md). Both keep their state under
`.mpkit/local/` next to the manifest, so a second run sees what the first one published: the
registry stores layers on disk, and moto's own recorder writes every request to a file that the
next run replays into a fresh emulator before anything else happens. Only the requests that
changed something are kept, so the recording grows with what was created, not with every run.

What the emulator cannot do, this module says instead of hiding: it has no vulnerability scanner
(`stand_in_scan`), and it marks every package Completed at once (the publisher then reports the
batch replay's outcome from `validate`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
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
    """Debian's docker-registry on 127.0.0.1, storage on disk. It runs in its own session so that
    a Ctrl-C in the terminal reaches mpkit first; its PID is recorded beside the storage, so a run
    that was killed before it could stop the registry leaves an orphan the next run reaps."""

    def __init__(self, storage: Path, port: int | None = None, say=print):
        self.storage = storage
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.pid_file = storage.parent / "registry.pid"
        self.say = say

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
        self.reap_orphan(config)
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "version": 0.1, "log": {"level": "error"},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }))
        log = open(self.storage.parent / "registry.log", "ab")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log, start_new_session=True)
        self.pid_file.write_text(json.dumps({"pid": self.process.pid, "config": str(config)}))
        try:
            wait_http(f"http://{self.host}/v2/")
        except OSError as exc:
            self.stop()
            raise ConfigurationError(f"the loopback registry did not start: {exc}",
                                     hint=f"see {self.storage.parent / 'registry.log'}") from exc
        return self

    def reap_orphan(self, config: Path) -> int | None:
        """Stop the registry a killed run left serving this storage; its PID, if there was one.
        Only a process whose command line names this very config is touched: a PID can be reused."""
        try:
            pid = int(json.loads(self.pid_file.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        if str(config).encode() not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_running(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        self.say(f"local target: stopped the registry (PID {pid}) that an interrupted run left serving {self.storage}")
        return pid

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.pid_file.unlink(missing_ok=True)


def pid_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is collected by whoever adopted it, maybe late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# Calls that change nothing: the replay of a recording needs only the others (the recording
# otherwise grows by every run's lookups, 22 lines to 391 in 35 runs).
_READ_ONLY = re.compile(r"^(Describe|List|Get|Head|BatchGet|BatchCheck|Search|Query|Scan|Lookup)")


def is_mutating(entry: dict) -> bool:
    """Whether one of moto's recorded requests changed the emulator's state."""
    method = entry.get("method", "GET").upper()
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    target = headers.get("x-amz-target")
    if target:  # JSON protocols (SageMaker, ECR): Service.Operation
        return not _READ_ONLY.match(target.rsplit(".", 1)[-1])
    body = entry.get("body") or ""
    if entry.get("body_encoded") and body:
        body = base64.b64decode(body).decode("utf-8", "replace")
    action = urllib.parse.parse_qs(body if isinstance(body, str) else "").get("Action")
    if action:  # query protocols (IAM, STS): Action=Operation
        return not _READ_ONLY.match(action[0])
    return method not in ("GET", "HEAD", "OPTIONS")  # REST (S3, moto's own API)


def keep_mutating(recording: Path) -> tuple[int, int]:
    """Rewrite a recording with its mutating requests only; (kept, dropped)."""
    if not recording.is_file():
        return 0, 0
    kept, dropped = [], 0
    for line in recording.read_text().splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            dropped += 1
            continue
        if is_mutating(entry):
            kept.append(line)
        else:
            dropped += 1
    temporary = recording.with_suffix(".tmp")
    temporary.write_text("".join(line + "\n" for line in kept))
    temporary.replace(recording)
    return len(kept), dropped


class LocalTarget:
    """Context manager: yields a Target for the emulator and the registry, and stops both after."""

    def __init__(self, state_dir: Path, region: str | None = None, say=print):
        self.state_dir = state_dir
        self.region = region or DEFAULT_REGION
        self.say = say
        self.server = None
        self.registry = LoopbackRegistry(state_dir / "registry", say=say)
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
        keep_mutating(self.recording)
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
