"""The seller's ECR repository: created when missing (scan on push, immutable tags), the image
pushed after a login through `get_authorization_token`, its digest resolved, and its scan waited
for (marketplace-contract.md §1.2)."""

from __future__ import annotations

import base64
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlparse

from . import rules
from .aws import Aws
from .errors import AwsError

MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")


@dataclass
class ScanResult:
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)
    description: str = ""

    @property
    def blocking(self) -> list[dict]:
        return [f for f in self.findings if f["severity"] in rules.SCAN_BLOCKING_SEVERITIES]

    def table(self) -> str:
        rows = [("SEVERITY", "FINDING", "PACKAGE", "VERSION")]
        rows += [(f["severity"], f["name"], f["package"], f["version"]) for f in self.findings]
        widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
        return "\n".join("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)

    def to_dict(self) -> dict:
        return {"status": self.status, "counts": self.counts, "findings": self.findings, "description": self.description}


class Ecr:
    def __init__(self, aws: Aws, say=print):
        self.aws = aws
        self.say = say

    def repository(self, name: str) -> dict | None:
        try:
            return self.aws.call("ecr", "describe_repositories", repositoryNames=[name])["repositories"][0]
        except AwsError as exc:
            if exc.code == "RepositoryNotFoundException":
                return None
            raise

    def create_repository(self, name: str) -> dict:
        repo = self.aws.call("ecr", "create_repository", repositoryName=name, imageTagMutability="IMMUTABLE",
                             imageScanningConfiguration={"scanOnPush": True},
                             encryptionConfiguration={"encryptionType": "AES256"},
                             tags=[{"Key": "created-by", "Value": "mpkit"}])["repository"]
        self.say(f"  created ECR repository {repo['repositoryUri']} (immutable tags, scan on push)")
        return repo

    def _image(self, repository: str, image_id: dict) -> dict | None:
        try:
            found = self.aws.call("ecr", "describe_images", repositoryName=repository, imageIds=[image_id])
        except AwsError as exc:
            if exc.code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return None
            raise
        return found["imageDetails"][0] if found["imageDetails"] else None

    def image_digest(self, repository: str, tag: str) -> str | None:
        image = self._image(repository, {"imageTag": tag})
        return image["imageDigest"] if image else None

    def image_tags(self, repository: str, digest: str) -> list[str]:
        image = self._image(repository, {"imageDigest": digest})
        return list(image.get("imageTags") or []) if image else []

    def push(self, engine, image: str, repository: dict, tag: str, progress=None) -> str:
        """Log in with ECR's token, push, and return the digest. On the local target the bytes go
        to the loopback registry and the manifest is registered with the emulator's ECR."""
        auth = self.aws.call("ecr", "get_authorization_token")["authorizationData"][0]
        username, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
        local_registry = self.aws.target.registry
        registry = local_registry or urlparse(auth["proxyEndpoint"]).netloc
        ref = f"{registry}/{repository['repositoryName']}:{tag}"
        engine.login(registry, username, password)
        engine.tag(image, ref)
        try:
            digest = engine.push(ref, progress=progress)
        finally:
            engine.untag(ref)  # the registry's name for the image was only for the push
        if local_registry:
            self._register(local_registry, repository["repositoryName"], tag, digest)
        return digest

    def _register(self, registry: str, repository: str, tag: str, digest: str) -> None:
        request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{digest}",
                                         headers={"Accept": ", ".join(MANIFEST_TYPES)})
        with urllib.request.urlopen(request, timeout=30) as reply:
            manifest, media_type = reply.read().decode(), reply.headers.get_content_type()
        try:
            self.aws.call("ecr", "put_image", repositoryName=repository, imageManifest=manifest,
                          imageManifestMediaType=media_type, imageTag=tag, imageDigest=digest)
        except AwsError as exc:
            if exc.code != "ImageAlreadyExistsException":
                raise

    def scan(self, repository: str, digest: str, timeout: float = 1800, poll: float = 5) -> ScanResult:
        """The image's scan findings; a scan is started when none is scheduled (MP-TS: "No scan
        scheduled"), then waited for."""
        image_id = {"imageDigest": digest}
        deadline, started = time.monotonic() + timeout, False
        while True:
            try:
                found = self.aws.call("ecr", "describe_image_scan_findings", repositoryName=repository, imageId=image_id)
            except AwsError as exc:
                if exc.code != "ScanNotFoundException" or started:
                    raise
                self.say("  no scan of this image yet; starting one")
                self.aws.call("ecr", "start_image_scan", repositoryName=repository, imageId=image_id)
                started = True
                continue
            status = found.get("imageScanStatus") or {}
            if status.get("status") in ("COMPLETE", "FAILED", "ACTIVE", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE"):
                return _scan_result(found)
            if time.monotonic() > deadline:
                raise AwsError(f"the scan of {repository}@{digest} did not finish within {timeout:.0f} s",
                               hint="run the command again later: it carries on from here", code="ScanTimeout")
            self.say(f"  scan {status.get('status', 'PENDING').lower()} ...")
            time.sleep(poll)
            poll = min(poll * 1.5, 30)


def _scan_result(found: dict) -> ScanResult:
    body = found.get("imageScanFindings") or {}
    findings = []
    for f in body.get("findings") or []:
        attributes = {a["key"]: a["value"] for a in f.get("attributes") or []}
        findings.append({"severity": f.get("severity", "UNDEFINED"), "name": f.get("name", ""),
                         "package": attributes.get("package_name", ""), "version": attributes.get("package_version", ""),
                         "uri": f.get("uri", "")})
    for f in body.get("enhancedFindings") or []:
        vuln = f.get("packageVulnerabilityDetails") or {}
        package = (vuln.get("vulnerablePackages") or [{}])[0]
        findings.append({"severity": f.get("severity", "UNDEFINED"), "name": vuln.get("vulnerabilityId", f.get("title", "")),
                         "package": package.get("name", ""), "version": package.get("version", ""),
                         "uri": vuln.get("sourceUrl", "")})
    status = found.get("imageScanStatus") or {}
    return ScanResult(status=status.get("status", ""), counts=dict(body.get("findingSeverityCounts") or {}),
                      findings=findings, description=status.get("description", ""))


def registry_of(uri: str) -> tuple[str, str] | None:
    """(account, region) of an ECR repository URI, None when the host is not ECR's."""
    host = uri.split("/", 1)[0]
    parts = host.split(".")
    if len(parts) >= 6 and parts[1:3] == ["dkr", "ecr"] and parts[0].isdigit():
        return parts[0], parts[3]
    return None

