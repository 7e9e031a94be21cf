"""The one AWS session factory: region, credentials, retry mode and the emulator endpoint.

Nothing else constructs boto3 clients. The same code path serves real AWS and the local target;
the only differences are `endpoint_url` (the emulator) and `registry` (the loopback registry that
holds the image bytes, since the emulator has no registry API), both carried by `Target`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AwsError, ConfigurationError

# Standard mode retries throttling and transient errors with exponential backoff and a retry
# quota; the default "legacy" mode retries fewer error codes (botocore retries documentation).
RETRY_MODE = "standard"
MAX_ATTEMPTS = 6
USER_AGENT = "mpkit/0.1"


@dataclass(frozen=True)
class Target:
    """Where a publish goes."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None  # an AWS emulator; None for AWS itself
    registry: str | None = None  # host:port of a registry standing in for ECR's (local target only)
    local: bool = False
    credentials: tuple[str, str] | None = None  # the emulator's dummy keys; never set for real AWS

    @property
    def label(self) -> str:
        return f"local target (emulator at {self.endpoint_url}, registry {self.registry})" if self.local else "AWS"


class Aws:
    """A boto3 session for one target; clients are made once and shared."""

    def __init__(self, target: Target, max_attempts: int = MAX_ATTEMPTS, read_timeout: float = 60):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound

        self.target = target
        kwargs = {}
        if target.credentials:
            kwargs = {"aws_access_key_id": target.credentials[0], "aws_secret_access_key": target.credentials[1]}
        try:
            self.session = boto3.Session(profile_name=target.profile, region_name=target.region, **kwargs)
        except ProfileNotFound as exc:
            raise ConfigurationError(str(exc), hint="name a profile from ~/.aws/config, or drop --profile") from exc
        if not self.session.region_name:
            raise ConfigurationError("no AWS region is set",
                                     hint="pass --region, set publish.region in the manifest, or set AWS_REGION")
        self.config = Config(retries={"mode": RETRY_MODE, "max_attempts": max_attempts}, user_agent_extra=USER_AGENT,
                             connect_timeout=10, read_timeout=read_timeout)
        self._clients: dict[str, object] = {}

    @property
    def region(self) -> str:
        return self.session.region_name

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self.config,
                                                         endpoint_url=self.target.endpoint_url)
        return self._clients[service]

    def call(self, service: str, operation: str, **params):
        """One API call; AWS's error becomes an AwsError that names the call and keeps AWS's code."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
        from botocore.parsers import ResponseParserError

        try:
            return getattr(self.client(service), operation)(**params)
        except NoCredentialsError as exc:
            raise ConfigurationError("no AWS credentials found",
                                     hint="configure a profile (aws configure), set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                                     "or run where a role is available; --local needs none") from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AwsError(f"{service}.{operation}: {error.get('Code')}: {error.get('Message')}",
                           code=error.get("Code", ""), operation=operation) from exc
        except (BotoCoreError, ResponseParserError) as exc:  # an answer that is not the API's (an emulator's gap)
            raise AwsError(f"{service}.{operation}: {str(exc).splitlines()[0]}", code=type(exc).__name__,
                           operation=operation) from exc

