"""The access role AWS Marketplace assumes to read a model package (AccessRoleArn): it must
exist, trust the Marketplace service principal and be allowed to read the package, and the caller
must be allowed to pass it to that service; otherwise the change set fails, minutes later, with
INVALID_ACCESS_ROLE (marketplace-lifecycle.md §2, "Required pieces besides the change set").
`check` says which of these fails, before anything is sent; `ensure` makes or repairs a role
with exactly these permissions (`mpkit release --create-access-role`)."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from urllib.parse import unquote

from package.errors import AwsError

PRINCIPAL = "assets.marketplace.amazonaws.com"
POLICY_NAME = "mpkit-marketplace-access"
READ_PACKAGE = ("sagemaker:DescribeModelPackage",)
READ_IMAGE = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")


@dataclass
class RoleCheck:
    role_arn: str
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.problems


def trust_policy() -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": PRINCIPAL}, "Action": "sts:AssumeRole"}]}


def permissions_policy(*, package_arn: str, product: str, repository_arn: str | None, artifact_uri: str | None) -> dict:
    """Read the product's packages (every version's is named PRODUCT-VERSION), the image's
    repository and the model artifact."""
    prefix = package_arn.rsplit("/", 1)[0]
    statements = [{"Sid": "ReadModelPackage", "Effect": "Allow", "Action": list(READ_PACKAGE),
                   "Resource": [package_arn, f"{prefix}/{product}-*"]}]
    if repository_arn:
        statements.append({"Sid": "ReadImage", "Effect": "Allow", "Action": list(READ_IMAGE), "Resource": repository_arn})
        statements.append({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"})
    if artifact_uri and artifact_uri.startswith("s3://"):
        statements.append({"Sid": "ReadModelArtifact", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": "arn:aws:s3:::" + artifact_uri[len("s3://"):]})
    return {"Version": "2012-10-17", "Statement": statements}


def check(aws, role_arn: str, *, package_arn: str) -> RoleCheck:
    result = RoleCheck(role_arn)
    name = role_arn.rsplit("/", 1)[-1]
    try:
        role = aws.call("iam", "get_role", RoleName=name)["Role"]
    except AwsError as exc:
        if exc.code == "NoSuchEntity":
            result.problems.append(f"the access role {role_arn} does not exist\n    fix: run `mpkit release "
                                   "--create-access-role`, or create it (trust policy below) and set listing.access_role_arn")
            return result
        raise
    if not _trusts(_document(role.get("AssumeRolePolicyDocument"))):
        result.problems.append(f"the access role {name} does not trust {PRINCIPAL} (INVALID_ACCESS_ROLE)\n"
                               f"    fix: its trust policy must allow sts:AssumeRole to the service {PRINCIPAL}; "
                               "`mpkit release --create-access-role` sets it")
    statements = role_statements(aws, name)
    if not allows(statements, READ_PACKAGE[0], package_arn):
        result.problems.append(f"the access role {name} may not read {package_arn} ({READ_PACKAGE[0]})\n"
                               "    fix: `mpkit release --create-access-role` adds the policy "
                               f"{POLICY_NAME}, or grant {READ_PACKAGE[0]} on the package")
    _check_pass_role(aws, role_arn, result)
    return result


def ensure(aws, role_arn: str, *, package_arn: str, product: str, repository_arn: str | None, artifact_uri: str | None, say=print) -> str:
    """Create the role, or set its trust policy and mpkit's inline policy when it exists; 'created' or 'updated'."""
    name = role_arn.rsplit("/", 1)[-1]
    trust = json.dumps(trust_policy())
    try:
        aws.call("iam", "get_role", RoleName=name)
        aws.call("iam", "update_assume_role_policy", RoleName=name, PolicyDocument=trust)
        state = "updated"
    except AwsError as exc:
        if exc.code != "NoSuchEntity":
            raise
        aws.call("iam", "create_role", RoleName=name, AssumeRolePolicyDocument=trust,
                 Description="AWS Marketplace reads this product's model packages (made by mpkit)",
                 Tags=[{"Key": "made-by", "Value": "mpkit"}])
        state = "created"
    aws.call("iam", "put_role_policy", RoleName=name, PolicyName=POLICY_NAME,
             PolicyDocument=json.dumps(permissions_policy(package_arn=package_arn, product=product,
                                                          repository_arn=repository_arn,
                                                          artifact_uri=artifact_uri)))
    say(f"access role {name}: {state} (trusts {PRINCIPAL}; may read the product's packages)")
    return state


def role_statements(aws, name: str) -> list:
    """The Allow and Deny statements of a role's inline and attached policies."""
    statements = []
    for policy in aws.call("iam", "list_role_policies", RoleName=name).get("PolicyNames") or []:
        doc = aws.call("iam", "get_role_policy", RoleName=name, PolicyName=policy)["PolicyDocument"]
        statements += _statements(_document(doc))
    for attached in aws.call("iam", "list_attached_role_policies", RoleName=name).get("AttachedPolicies") or []:
        statements += _managed(aws, attached["PolicyArn"])
    return statements


def allows(statements: list, action: str, resource: str) -> bool:
    """An Allow for `action` on `resource` and no Deny (conditions are not evaluated)."""
    def matches(st) -> bool:
        actions = _list(st.get("Action"))
        resources = _list(st.get("Resource")) or ["*"]
        return (any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)
                and any(fnmatch.fnmatchcase(resource, r) for r in resources))
    if any(st.get("Effect") == "Deny" and matches(st) for st in statements):
        return False
    return any(st.get("Effect") == "Allow" and matches(st) for st in statements)


def _check_pass_role(aws, role_arn: str, result: RoleCheck) -> None:
    """Whether the caller may pass the role to Marketplace: IAM's policy simulator when it answers,
    else the caller's own role or user policies."""
    caller = aws.call("sts", "get_caller_identity")["Arn"]
    principal = _principal_arn(caller)
    try:
        answer = aws.call("iam", "simulate_principal_policy", PolicySourceArn=principal, ActionNames=["iam:PassRole"],
                          ResourceArns=[role_arn], ContextEntries=[{
                              "ContextKeyName": "iam:PassedToService", "ContextKeyValues": [PRINCIPAL],
                              "ContextKeyType": "string"}])
        allowed = all(r.get("EvalDecision") == "allowed" for r in answer.get("EvaluationResults") or [{}])
        how = "IAM's policy simulator"
    except AwsError as exc:
        statements = _caller_statements(aws, principal)
        if statements is None:
            result.notes.append(f"whether {caller} may pass the role was not checked ({exc.code or exc})")
            return
        allowed = allows(statements, "iam:PassRole", role_arn)
        how = "the caller's policies"
    if not allowed:
        result.problems.append(f"{caller} may not pass {role_arn} to {PRINCIPAL} (iam:PassRole, by {how})\n"
                               f"    fix: allow iam:PassRole on the role with the condition iam:PassedToService = "
                               f"{PRINCIPAL} (README, Publishing from CI)")


def _caller_statements(aws, principal: str) -> list | None:
    kind, _, name = principal.split(":", 5)[5].partition("/")
    name = name.rsplit("/", 1)[-1]
    try:
        if kind == "role":
            return role_statements(aws, name)
        if kind == "user":
            statements = []
            for policy in aws.call("iam", "list_user_policies", UserName=name).get("PolicyNames") or []:
                statements += _statements(_document(aws.call("iam", "get_user_policy", UserName=name,
                                                             PolicyName=policy)["PolicyDocument"]))
            for attached in aws.call("iam", "list_attached_user_policies", UserName=name).get("AttachedPolicies") or []:
                statements += _managed(aws, attached["PolicyArn"])
            for group in aws.call("iam", "list_groups_for_user", UserName=name).get("Groups") or []:
                for attached in aws.call("iam", "list_attached_group_policies",
                                         GroupName=group["GroupName"]).get("AttachedPolicies") or []:
                    statements += _managed(aws, attached["PolicyArn"])
            return statements
    except AwsError:
        return None
    return None


def _managed(aws, policy_arn: str) -> list:
    version = aws.call("iam", "get_policy", PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    doc = aws.call("iam", "get_policy_version", PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    return _statements(_document(doc))


def _principal_arn(caller: str) -> str:
    """An assumed-role session's ARN as its role's (arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R)."""
    if ":assumed-role/" in caller:
        head, rest = caller.split(":assumed-role/", 1)
        return head.replace(":sts:", ":iam:") + ":role/" + rest.split("/", 1)[0]
    return caller


def _trusts(doc: dict) -> bool:
    for st in _statements(doc):
        services = _list((st.get("Principal") or {}).get("Service") if isinstance(st.get("Principal"), dict) else None)
        actions = [a.lower() for a in _list(st.get("Action"))]
        if st.get("Effect") == "Allow" and PRINCIPAL in services and ("sts:assumerole" in actions or "sts:*" in actions):
            return True
    return False


def _document(doc) -> dict:
    if isinstance(doc, str):
        doc = json.loads(unquote(doc))
    return doc or {}


def _statements(doc: dict) -> list:
    return _list(doc.get("Statement"))


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
