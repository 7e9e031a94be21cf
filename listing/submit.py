"""`mpkit listing --submit`: the change set sent to the Catalog API with Intent=VALIDATE, so AWS
Marketplace checks it and changes nothing; with --apply, sent again with Intent=APPLY once the
validation succeeded."""

from __future__ import annotations

import hashlib
import json

from package.errors import AwsError, ConfigurationError, ListingRejected
from package.polling import poll_until

from .catalog import errors_of, explain

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def submit(aws, request: dict, *, apply: bool, timeout: float = 3600, poll: float = 5.0, say=print) -> list[dict]:
    if not all(change.get("Entity", {}).get("Identifier") for change in request["ChangeSet"]):
        raise ConfigurationError("the change set names no product: listing.product_id is not set",
                                 hint="create the product in the AWS Marketplace Management Portal (or with a "
                                      "CreateProduct change set), then set listing.product_id to its entity ID")
    runs = []
    for intent in ("VALIDATE", "APPLY") if apply else ("VALIDATE",):
        # The same change set and intent give the same token, so a retried call starts nothing twice.
        token = hashlib.sha256(json.dumps([request, intent], sort_keys=True).encode()).hexdigest()[:64]
        started = aws.call("marketplace-catalog", "start_change_set", **request, Intent=intent, ClientRequestToken=token)
        change_set_id = started["ChangeSetId"]
        say(f"change set {change_set_id} ({intent}) started")
        described = _wait(aws, change_set_id, timeout=timeout, poll=poll, say=say)
        run = {"intent": intent, "id": change_set_id, "arn": started.get("ChangeSetArn"), "status": described["Status"],
               "errors": _errors(described)}
        runs.append(run)
        if described["Status"] != "SUCCEEDED":
            raise ListingRejected(f"AWS Marketplace {described['Status'].lower()} the change set ({intent}):\n  "
                                  + "\n  ".join(run["errors"] or [described.get("FailureDescription") or "no details"]),
                                  hint="fix the manifest fields named above, re-run `mpkit listing`, then --submit again")
    return runs


def _wait(aws, change_set_id: str, *, timeout: float, poll: float, say) -> dict:
    return poll_until(lambda: aws.call("marketplace-catalog", "describe_change_set", Catalog="AWSMarketplace",
                                       ChangeSetId=change_set_id),
                      state=lambda d: d["Status"], done=lambda d: d["Status"] in TERMINAL, timeout=timeout, say=say,
                      poll=poll, on_timeout=lambda d: AwsError(f"change set {change_set_id} is still {d['Status']}",
                                                               code="WaitTimeout", hint="see it in the AWS Marketplace "
                                                               "Management Portal (Requests)"))


def _errors(described: dict) -> list[str]:
    return explain(errors_of(described))
