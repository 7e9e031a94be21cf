"""A buyer command's dry run: the same code path with an AWS session that records every request in
the order it is made and sends only those that change nothing (Describe, List, Get, Search).
What would change something is answered here, as AWS would answer it, so the command goes on to
its next request. A read that AWS does not answer (no credentials, no network) is noted and
answered as empty, so a dry run needs no credentials. `{"requests": [...]}` is the result, each
request checked against botocore's model of its operation."""

from __future__ import annotations

from package.errors import AwsError, ConfigurationError

READS = ("describe_", "list_", "get_", "search_")


class PlannedAws:
    dry_run = True

    def __init__(self, inner=None, *, region: str | None = None):
        self.inner = inner
        self._region = region
        self.requests: list[dict] = []
        self.notes: list[str] = []

    @property
    def region(self) -> str:
        if self._region:
            return self._region
        try:
            return self.inner.region if self.inner is not None else "us-east-1"
        except ConfigurationError:
            return "us-east-1"

    @property
    def target(self):
        return getattr(self.inner, "target", None)

    def call(self, service: str, operation: str, **params):
        self.requests.append({"service": service, "operation": operation, "params": params})
        if operation.startswith(READS):
            if self.inner is None:
                self.notes.append(f"{service}.{operation}: not sent (no AWS session); planned as if it found nothing")
                return {}
            try:
                return self.inner.call(service, operation, **params)
            except (AwsError, ConfigurationError) as exc:
                self.notes.append(f"{service}.{operation}: not answered ({str(exc).splitlines()[0]}); planned as if "
                                  "it found nothing")
                return {}
        return _answer(service, operation, params, self.region)

    def to_dict(self) -> dict:
        return {"requests": self.requests, "notes": self.notes}


def _answer(service: str, operation: str, params: dict, region: str) -> dict:
    """What AWS answers a change with, as far as the buyer commands read it."""
    account = "000000000000"
    if operation == "create_model":
        return {"ModelArn": f"arn:aws:sagemaker:{region}:{account}:model/{params.get('ModelName')}"}
    if operation == "put_scaling_policy":
        return {"PolicyARN": f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:planned:{params.get('PolicyName')}"}
    if operation == "create_agreement_request":
        return {"agreementRequestId": "planned", "status": "PENDING_ACCEPTANCE"}
    if operation == "accept_agreement_request":
        return {"agreementId": "planned"}
    return {}


def request_problems(request: dict) -> list[str]:
    """botocore's validator on one recorded request (types, required members, minimum lengths)."""
    import botocore.session
    from botocore import xform_name
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(request["service"])
    names = {xform_name(n): n for n in model.operation_names}
    operation = model.operation_model(names[request["operation"]])
    report = ParamValidator().validate(request["params"], operation.input_shape)
    return [line.strip() for line in report.generate_report().splitlines() if line.strip()] if report.has_errors() else []
