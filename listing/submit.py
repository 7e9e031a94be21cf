"""`mpkit listing --submit`: the listing folder's one change set sent to the Catalog API with
Intent=VALIDATE, so AWS Marketplace checks it and changes nothing; with --apply, sent again with
Intent=APPLY once the validation succeeded. It runs through the same Catalog.run as `mpkit
release`, with a record that is not kept."""

from __future__ import annotations

from pathlib import Path

from package.errors import ConfigurationError

from .catalog import Catalog, errors_of, explain, intents
from .release_plan import ChangeSetPlan
from .release_record import ReleaseRecord


def submit(aws, request: dict, *, apply: bool, timeout: float = 3600, poll: float = 5.0, say=print) -> list[dict]:
    if not all(change.get("Entity", {}).get("Identifier") for change in request["ChangeSet"]):
        raise ConfigurationError("the change set names no product: listing.product_id is not set",
                                 hint="create the product in the AWS Marketplace Management Portal (or with a "
                                      "CreateProduct change set), then set listing.product_id to its entity ID")
    catalog = Catalog(aws, poll=poll, timeout=timeout, say=say,
                      retry_hint="fix the manifest fields named above, re-run `mpkit listing`, then --submit again")
    plan = ChangeSetPlan(key="listing", summary=[], request=request)
    record = ReleaseRecord(Path("listing-submit"), persist=False)
    runs = []
    for intent in intents(apply):
        described = catalog.run(plan, intent, record)
        runs.append({"intent": intent, "id": described["ChangeSetId"], "arn": described.get("ChangeSetArn"),
                     "status": described["Status"], "errors": explain(errors_of(described))})
    return runs
