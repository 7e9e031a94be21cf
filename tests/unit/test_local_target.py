"""The local target cleans up after itself: a registry left by a killed run is reaped by the
next one (the real docker-registry binary), and only requests that changed something are kept
in the emulator's recording."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from package.local_target import LoopbackRegistry, is_mutating, keep_mutating, pid_running

ROOT = Path(__file__).resolve().parents[2]


def _entry(method="POST", target=None, form=None, url="http://127.0.0.1:1/"):
    headers = {"Host": "127.0.0.1:1"}
    if target:
        headers["X-Amz-Target"] = target
    body = base64.b64encode(form.encode()).decode() if form else ""
    return {"headers": headers, "method": method, "url": url, "body": body, "body_encoded": bool(form)}


def test_only_requests_that_change_state_are_kept(tmp_path):
    entries = {
        "CreateModelPackage": (_entry(target="SageMaker.CreateModelPackage"), True),
        "DescribeModelPackage": (_entry(target="SageMaker.DescribeModelPackage"), False),
        "PutImage": (_entry(target="AmazonEC2ContainerRegistry_V20150921.PutImage"), True),
        "GetAuthorizationToken": (_entry(target="AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"), False),
        "BatchCheckLayerAvailability": (_entry(target="AmazonEC2ContainerRegistry_V20150921.BatchCheckLayerAvailability"), False),
        "CreateRole": (_entry(form="Action=CreateRole&Version=2010-05-08&RoleName=r"), True),
        "GetRole": (_entry(form="Action=GetRole&Version=2010-05-08&RoleName=r"), False),
        "GetCallerIdentity": (_entry(form="Action=GetCallerIdentity&Version=2011-06-15"), False),
        "S3 GET location": (_entry(method="GET", url="http://127.0.0.1:1/bucket?location"), False),
        "S3 HEAD object": (_entry(method="HEAD", url="http://127.0.0.1:1/bucket/key"), False),
        "S3 PUT object": (_entry(method="PUT", url="http://127.0.0.1:1/bucket/key"), True),
        "moto's scan results": (_entry(url="http://127.0.0.1:1/moto-api/static/ecr/scan-finding-results"), True),
    }
    for name, (entry, mutating) in entries.items():
        assert is_mutating(entry) is mutating, name
    recording = tmp_path / "moto-recording.jsonl"
    recording.write_text("".join(json.dumps(e) + "\n" for e, _ in entries.values()) + "{torn line\n")
    kept, dropped = keep_mutating(recording)
    assert (kept, dropped) == (5, 8)
    assert keep_mutating(recording) == (5, 0)  # a second pass keeps the same lines: the file stops growing
    assert all(is_mutating(json.loads(line)) for line in recording.read_text().splitlines())


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from package.local_target import LoopbackRegistry
registry = LoopbackRegistry(Path(sys.argv[1]), say=lambda _: None).start()
print(registry.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # as a CI runner's cancel or the OOM killer ends a run
"""


def test_a_registry_left_by_a_killed_run_is_reaped_by_the_next(tmp_path):
    storage = tmp_path / "local" / "registry"
    run = subprocess.run([sys.executable, "-c", KILLED_RUN, str(storage)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr
    orphan = int(run.stdout.split()[0])
    try:
        assert pid_running(orphan), "the registry runs in its own session and outlives the killed run"
        said = []
        registry = LoopbackRegistry(storage, say=said.append).start()
        try:
            deadline = time.monotonic() + 10
            while pid_running(orphan) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not pid_running(orphan)
            assert said and f"PID {orphan}" in said[0]
            assert json.loads((storage.parent / "registry.pid").read_text())["pid"] == registry.process.pid
        finally:
            registry.stop()
        assert not (storage.parent / "registry.pid").exists()
    finally:
        if pid_running(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_recorded_pid_that_is_now_another_process_is_left_alone(tmp_path):
    storage = tmp_path / "local" / "registry"
    storage.mkdir(parents=True)
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        (storage.parent / "registry.pid").write_text(json.dumps({"pid": bystander.pid}))
        registry = LoopbackRegistry(storage, say=lambda _: None)
        assert registry.reap_orphan(storage.parent / "registry.yml") is None
        assert bystander.poll() is None and not (storage.parent / "registry.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()
