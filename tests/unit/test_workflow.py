"""The GitHub Actions workflow: well formed, OIDC, validate before publish, artifacts kept, and
every `mpkit` call in it a documented command with documented options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from package.cli import parser

WORKFLOWS = {
    "the repository's": Path(__file__).resolve().parents[2] / ".github" / "workflows" / "publish.yml",
    "mpkit init's": Path(__file__).resolve().parents[2] / "package" / "templates" / "mpkit-workflow.yml",
}
PINNED = re.compile(r"^\s*(-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<comment>\s+#\s*v\d+(\.\d+){1,2})?\s*$")

every_workflow = pytest.mark.parametrize("which", sorted(WORKFLOWS))


def load(which):
    data = yaml.safe_load(WORKFLOWS[which].read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return data


def mpkit_calls(run: str) -> list[list[str]]:
    calls = []
    for line in run.splitlines():
        words = shlex.split(line.split(">", 1)[0], comments=True)
        if words and words[0] == "mpkit":
            calls.append(words[1:])
    return calls


def steps(job) -> list[dict]:
    return job["steps"]


def step_using(job, action) -> dict:
    return next(s for s in steps(job) if s.get("uses", "").startswith(action + "@"))


@every_workflow
def test_structure_triggers_and_oidc(which):
    data = load(which)
    assert "v*" in data["on"]["push"]["tags"] and "pull_request" in data["on"]
    # The OIDC token only for the job that assumes the role; every job has a time limit.
    jobs = data["jobs"]
    assert "id-token" not in data["permissions"] and "id-token" not in jobs["validate"].get("permissions", {})
    assert jobs["publish"]["permissions"]["id-token"] == "write"
    assert all(job.get("timeout-minutes") for job in jobs.values())
    assert jobs["publish"]["needs"] == "validate" and "refs/tags/v" in jobs["publish"]["if"]
    for job in jobs.values():
        assert job["runs-on"]
        for step in steps(job):
            assert ("uses" in step) != ("run" in step), step
    oidc = step_using(jobs["publish"], "aws-actions/configure-aws-credentials")
    assert "role-to-assume" in oidc["with"] and "aws-access-key-id" not in oidc["with"]


@every_workflow
def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version_beside_it(which):
    lines = [line for line in WORKFLOWS[which].read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert len(lines) >= 8
    for line in lines:
        found = PINNED.match(line)
        assert found and re.fullmatch(r"[0-9a-f]{40}", found["ref"]) and found["comment"], line


@every_workflow
def test_publish_does_not_wait_and_a_resumable_status_step_does(which):
    publish = load(which)["jobs"]["publish"]
    calls = [(i, c) for i, s in enumerate(steps(publish)) if "run" in s for c in mpkit_calls(s["run"])]
    real = [(i, c) for i, c in calls if c[0] == "publish" and "--dry-run" not in c]
    assert len(real) == 1 and "--no-wait" in real[0][1]
    waits = [(i, c) for i, c in calls if c[0] == "status" and "--wait" in c]
    assert len(waits) == 1 and waits[0][0] > real[0][0]
    wait_step = steps(publish)[waits[0][0]]
    wait_seconds = float(waits[0][1][waits[0][1].index("--wait-timeout") + 1])
    assert wait_step["timeout-minutes"] * 60 > wait_seconds and publish["timeout-minutes"] > wait_step["timeout-minutes"]
    # The credentials outlive the wait (the default session is one hour).
    oidc = step_using(publish, "aws-actions/configure-aws-credentials")
    assert int(oidc["with"]["role-duration-seconds"]) > wait_seconds


@every_workflow
def test_the_record_is_an_artifact_and_the_junit_report_is_published(which):
    jobs = load(which)["jobs"]
    assert not any(s.get("uses", "").startswith("actions/cache@") for job in jobs.values() for s in steps(job))
    kept = step_using(jobs["publish"], "actions/upload-artifact")["with"]
    assert ".mpkit/publish/" in kept["path"] and kept["include-hidden-files"] is True  # .mpkit is hidden
    assert "reports/" in step_using(jobs["validate"], "actions/upload-artifact")["with"]["path"]
    validate = next(c for s in steps(jobs["validate"]) if "run" in s for c in mpkit_calls(s["run"]) if c[0] == "validate")
    report_dir = validate[validate.index("--report-dir") + 1]
    junit = step_using(jobs["validate"], "mikepenz/action-junit-report")
    assert junit["with"]["report_paths"] == f"{report_dir}/validation.junit.xml" and "always()" in junit["if"]
    assert jobs["validate"]["permissions"]["checks"] == "write"


@every_workflow
def test_every_mpkit_call_is_a_documented_command(which):
    calls = [c for job in load(which)["jobs"].values() for s in steps(job) if "run" in s for c in mpkit_calls(s["run"])]
    assert [c[0] for c in calls] == ["validate", "publish", "publish", "status"]
    for call in calls:
        args = parser().parse_args([w if not w.startswith("$") else "us-east-1" for w in call])
        assert args.func.__name__ == f"cmd_{call[0]}"


README = Path(__file__).resolve().parents[2] / "README.md"
# The IAM action each API call of the publish path needs (Service Authorization Reference).
IAM_ACTION = {
    ("sts", "get_caller_identity"): None,  # needs no permission
    ("iam", "get_role"): "iam:GetRole",
    ("ecr", "describe_repositories"): "ecr:DescribeRepositories", ("ecr", "create_repository"): "ecr:CreateRepository",
    ("ecr", "describe_images"): "ecr:DescribeImages", ("ecr", "get_authorization_token"): "ecr:GetAuthorizationToken",
    ("ecr", "put_image"): "ecr:PutImage", ("ecr", "start_image_scan"): "ecr:StartImageScan",
    ("ecr", "describe_image_scan_findings"): "ecr:DescribeImageScanFindings",
    ("s3", "create_bucket"): "s3:CreateBucket", ("s3", "get_bucket_location"): "s3:GetBucketLocation",
    ("s3", "put_public_access_block"): "s3:PutBucketPublicAccessBlock",
    ("s3", "put_bucket_encryption"): "s3:PutEncryptionConfiguration", ("s3", "head_object"): "s3:GetObject",
    ("sagemaker", "create_model_package"): "sagemaker:CreateModelPackage",
    ("sagemaker", "describe_model_package"): "sagemaker:DescribeModelPackage",
}
# What the calls imply: a docker push to ECR, an upload_file, tags on create, the role passed.
IMPLIED = {"ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
           "ecr:BatchGetImage", "ecr:TagResource", "s3:PutObject", "s3:ListBucket", "sagemaker:AddTags", "iam:PassRole"}
PUBLISH_PATH = ["ecr.py", "preflight.py", "publisher.py", "s3_store.py", "model_package.py", "polling.py"]


def _aws_calls() -> set:
    import ast

    calls = set()
    for name in PUBLISH_PATH:
        tree = ast.parse((README.parent / "package" / name).read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call"
                    and len(node.args) >= 2 and all(isinstance(a, ast.Constant) for a in node.args[:2])):
                calls.add((node.args[0].value, node.args[1].value))
    return calls


def _readme_policies() -> list[dict]:
    import json

    section = README.read_text().split("## Publishing from CI", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def test_readme_gives_the_trust_policy_for_the_environment_and_every_action_publish_uses():
    trust, permissions = _readme_policies()
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == "repo:OWNER/REPO:environment:marketplace"
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    environments = {job.get("environment") for which in WORKFLOWS for job in load(which)["jobs"].values()}
    assert "marketplace" in environments
    calls = _aws_calls()
    assert ("sagemaker", "create_model_package") in calls and ("ecr", "put_image") in calls
    unmapped = calls - IAM_ACTION.keys()
    assert not unmapped, f"a new AWS call in the publish path; add its IAM action here and in README: {unmapped}"
    listed = {action for statement in permissions["Statement"] for action in statement["Action"]}
    needed = {IAM_ACTION[c] for c in calls if IAM_ACTION[c]} | IMPLIED
    assert needed <= listed, f"README's policy lacks {needed - listed}"
    assert listed <= needed, f"README's policy grants more than publish uses: {listed - needed}"
