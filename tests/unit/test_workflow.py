"""The GitHub Actions workflow: well formed, OIDC, validate before publish, artifacts kept, and
every `mpkit` call in it a documented command with documented options."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from package.cli import parser

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "publish.yml"


def load():
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return data


def mpkit_calls(run: str) -> list[list[str]]:
    calls = []
    for line in run.splitlines():
        words = shlex.split(line.split(">", 1)[0], comments=True)
        if words and words[0] == "mpkit":
            calls.append(words[1:])
    return calls


def test_structure_triggers_and_oidc():
    data = load()
    assert "v*" in data["on"]["push"]["tags"] and "pull_request" in data["on"]
    # The OIDC token only for the job that assumes the role; every job has a time limit.
    jobs = data["jobs"]
    assert "id-token" not in data["permissions"] and "id-token" not in jobs["validate"].get("permissions", {})
    assert jobs["publish"]["permissions"]["id-token"] == "write"
    assert all(job.get("timeout-minutes") for job in jobs.values())
    assert jobs["publish"]["needs"] == "validate" and "refs/tags/v" in jobs["publish"]["if"]
    for job in jobs.values():
        assert job["runs-on"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
    uses = [s["uses"] for s in jobs["publish"]["steps"] if "uses" in s]
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    oidc = next(s for s in jobs["publish"]["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials"))
    assert "role-to-assume" in oidc["with"] and "aws-access-key-id" not in oidc["with"]
    kept = [s["with"]["path"] for job in jobs.values() for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert any("reports/" in p for p in kept) and any(".mpkit/publish/" in p for p in kept)


def test_every_mpkit_call_is_a_documented_command():
    calls = [c for job in load()["jobs"].values() for s in job["steps"] if "run" in s for c in mpkit_calls(s["run"])]
    commands = [c[0] for c in calls]
    assert commands == ["validate", "publish", "publish"]
    for call in calls:
        args = parser().parse_args([w if not w.startswith("$") else "us-east-1" for w in call])
        assert args.func.__name__ == f"cmd_{call[0]}"
