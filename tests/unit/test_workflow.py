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
    assert [c[0] for c in calls] == ["validate", "publish", "publish", "status", "publish", "listing", "release", "release"]
    for call in calls:
        args = parser().parse_args([w if not w.startswith("$") else "us-east-1" for w in call])
        assert args.func.__name__ == f"cmd_{call[0]}"


@every_workflow
def test_a_version_tag_releases_after_publishing_validate_first_then_apply(which):
    jobs = load(which)["jobs"]
    release = jobs["release"]
    assert release["needs"] == "publish" and release["if"] == jobs["publish"]["if"]
    assert release["environment"] == "marketplace" and release["permissions"]["id-token"] == "write"
    runs = [s["run"] for s in steps(release) if "run" in s]
    dry, applied = (next(i for i, r in enumerate(runs) if f"mpkit release {flag}" in r) for flag in ("--dry-run", "--apply"))
    assert dry < applied and "--wait-timeout" in runs[applied]
    timed = next(s for s in steps(release) if "mpkit release --apply" in s.get("run", ""))
    assert timed["timeout-minutes"] * 60 > int(runs[applied].split("--wait-timeout ")[1].split()[0])
    keep = next(s for s in steps(release) if "upload-artifact" in s.get("uses", ""))
    assert ".mpkit/release/" in keep["with"]["path"] and keep["with"]["include-hidden-files"] is True


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
    trust, permissions, _ = _readme_policies()
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == "repo:OWNER/REPO:environment:marketplace"
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    environments = {job.get("environment") for which in WORKFLOWS for job in load(which)["jobs"].values()}
    assert "marketplace" in environments
    calls = _aws_calls()
    assert ("sagemaker", "create_model_package") in calls and ("ecr", "put_image") in calls
    _policy_is_exact(permissions, calls, IAM_ACTION, IMPLIED, "publish")


def _policy_is_exact(policy: dict, calls: set, actions: dict, implied: set, path: str) -> None:
    """README's policy grants exactly what the calls of this path need, no less and no more."""
    unmapped = calls - actions.keys()
    assert not unmapped, f"a new AWS call in the {path} path; add its IAM action here and in README: {unmapped}"
    listed = {action for statement in policy["Statement"] for action in statement["Action"]}
    needed = {actions[c] for c in calls if actions[c]} | implied
    assert needed <= listed, f"README's {path} policy lacks {needed - listed}"
    assert listed <= needed, f"README's {path} policy grants more than {path} uses: {listed - needed}"


# The IAM action each call of the release path needs; the Catalog's own calls go through Catalog.call.
RELEASE_IAM_ACTION = {
    ("sts", "get_caller_identity"): None,
    ("sagemaker", "describe_model_package"): "sagemaker:DescribeModelPackage",
    **{("iam", op): "iam:" + "".join(w.title() for w in op.split("_")) for op in (
        "get_role", "list_role_policies", "get_role_policy", "list_attached_role_policies", "get_policy",
        "get_policy_version", "simulate_principal_policy", "list_user_policies", "get_user_policy",
        "list_attached_user_policies", "list_groups_for_user", "list_attached_group_policies", "create_role",
        "update_assume_role_policy", "put_role_policy")},
    **{("marketplace-catalog", op): "aws-marketplace:" + "".join(w.title() for w in op.split("_")) for op in (
        "start_change_set", "describe_change_set", "describe_entity", "list_entities")},
}
RELEASE_IMPLIED = {"iam:TagRole", "iam:PassRole"}  # tags on create_role; the role passed in AddDeliveryOptions
RELEASE_PATH = ["release.py", "catalog.py", "access_role.py"]


def _release_calls() -> set:
    import ast

    calls = set()
    for name in RELEASE_PATH:
        for node in ast.walk(ast.parse((README.parent / "listing" / name).read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call"):
                continue
            constants = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if len(constants) == 2 and len(node.args) >= 2:
                calls.add(tuple(constants))
            elif len(node.args) == 1 and constants and name == "catalog.py":  # Catalog.call("operation", ...)
                calls.add(("marketplace-catalog", constants[0]))
    return calls


def test_readme_gives_every_action_release_uses_and_no_more():
    *_, permissions = _readme_policies()
    calls = _release_calls()
    assert ("marketplace-catalog", "start_change_set") in calls and ("iam", "create_role") in calls
    _policy_is_exact(permissions, calls, RELEASE_IAM_ACTION, RELEASE_IMPLIED, "release")
    passing = next(st for st in permissions["Statement"] if st["Action"] == ["iam:PassRole"])
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == "assets.marketplace.amazonaws.com"
