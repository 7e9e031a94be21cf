"""The AWS Marketplace Catalog API, as `mpkit release` and `mpkit listing --submit` use it: run a
planned change set (VALIDATE, then APPLY) with its progress and its id recorded before the wait,
so a cut-off run polls the same change set instead of starting another; read the product and its
offer back (DescribeEntity, ListEntities); and turn each documented error code into a sentence
with its fix (marketplace-lifecycle.md §2, "Asynchronous error codes").

The Catalog has one endpoint, in us-east-1, whatever Region the package is in (CAT)."""

from __future__ import annotations

import json

from package.errors import AwsError, ListingRejected
from package.polling import poll_until

from .release_plan import OFFER, PRODUCT, ChangeSetPlan, ProductState, VersionState

REGION = "us-east-1"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

# ErrorCode -> the fix (ml-add-version's error table, ml-restrict-version, update-pricing-terms).
FIXES = {
    "UPDATE_PRICING_REQUIRED": "price every supported instance type, real-time and batch, in the manifest's pricing "
                               "section (types a new version adds too); mpkit release sends them with the version",
    "DUPLICATE_VERSION_TITLE": "this version title is already on the product: raise the manifest's version",
    "DUPLICATE_ASSET": "this model package is already a version of the product: publish the new model or image as "
                       "a new version (a version's ARN can never change)",
    "INVALID_ACCESS_ROLE": "the access role must trust assets.marketplace.amazonaws.com and may read the package; "
                           "`mpkit release --create-access-role` makes such a role, and the caller needs iam:PassRole on it",
    "INVALID_RECOMMENDED_INSTANCE_TYPE": "recommend instance types that are in the package's supported lists "
                                         "(listing.recommended, instance_types)",
    "INCOMPATIBLE_PRODUCT_STATUS": "the product is not in a state that allows this change (see its status in the "
                                   "AWS Marketplace Management Portal); wait for pending requests to finish",
    "INCOMPATIBLE_DELIVERY_OPTIONS": "a model package product cannot take an algorithm version, or the reverse",
    "INVALID_ASSET_ARN": "the model package ARN is malformed or not in a Region AWS Marketplace supports",
    "ASSET_NOT_FOUND": "the model package does not exist in this account and Region: run `mpkit publish`",
    "ASSET_VALIDATION_EXCEPTION": "AWS Marketplace could not copy the package: it must be Completed, certified for "
                                  "Marketplace, and readable by the access role",
    "ENTITY_NOT_FOUND": "the product or offer ID is wrong or of another account: check listing.product_id",
}


def explain(errors: list[dict]) -> list[str]:
    lines = []
    for error in errors:
        code = error.get("ErrorCode")
        line = f"{error.get('change', '')}{code}: {error.get('ErrorMessage')}"
        if code in FIXES:
            line += f"\n    fix: {FIXES[code]}"
        lines.append(line)
    return lines


def intents(apply: bool) -> tuple:
    """VALIDATE always; APPLY only when asked, after it."""
    return ("VALIDATE", "APPLY") if apply else ("VALIDATE",)


class Catalog:
    def __init__(self, aws, *, poll: float = 5.0, timeout: float = 6 * 3600, say=print,
                 retry_hint: str = "fix what is named above, then run `mpkit release` again; it carries on"):
        self.aws, self.poll, self.timeout, self.say = aws, poll, timeout, say
        self.retry_hint = retry_hint

    def call(self, operation: str, **params):
        return self.aws.call("marketplace-catalog", operation, Catalog="AWSMarketplace", **params)

    # ---- change sets
    def run(self, plan: ChangeSetPlan, intent: str, record) -> dict:
        """VALIDATE or APPLY `plan`; the described change set once it ended. A run already recorded
        as SUCCEEDED for this exact request is not sent again; one recorded as started is polled; one
        that failed is sent again as a new attempt (its token would only return the failed one)."""
        done = record.change_set(plan.key, intent, plan.sha256)
        if done and done.get("status") == "SUCCEEDED":
            self.say(f"{plan.key} ({intent}): already succeeded as change set {done['id']}")
            return self.describe(done["id"])
        if done and done.get("status") not in TERMINAL:
            change_set_id = done["id"]
            self.say(f"{plan.key} ({intent}): waiting on change set {change_set_id}, started by an earlier run")
        else:
            attempt = done.get("attempt", 0) + 1 if done else 0
            params = {k: v for k, v in plan.request.items() if k != "Catalog"}
            started = self.call("start_change_set", **params, Intent=intent,
                                ClientRequestToken=plan.token(intent, attempt))
            change_set_id = started["ChangeSetId"]
            record.started(plan.key, intent, plan.sha256, change_set_id, attempt)
            self.say(f"{plan.key} ({intent}): change set {change_set_id} started")
        described = poll_until(lambda: self.describe(change_set_id), state=lambda d: f"{plan.key} {intent} {d['Status']}",
                               done=lambda d: d["Status"] in TERMINAL, timeout=self.timeout, say=self.say, poll=self.poll,
                               on_timeout=lambda d: AwsError(
                                   f"change set {change_set_id} is still {d['Status']}", code="WaitTimeout",
                                   hint="run the same command again later: it waits on the same change set"))
        errors = errors_of(described)
        record.finished(plan.key, intent, described["Status"], errors)
        if described["Status"] != "SUCCEEDED":
            lines = explain(errors) or [described.get("FailureDescription") or described.get("FailureCode") or "no details"]
            raise ListingRejected(f"AWS Marketplace {described['Status'].lower()} change set {change_set_id} "
                                  f"({plan.key}, {intent}):\n  " + "\n  ".join(lines),
                                  hint=self.retry_hint)
        return described

    def describe(self, change_set_id: str) -> dict:
        return self.call("describe_change_set", ChangeSetId=change_set_id)

    # ---- entities
    def product_state(self, product_id: str | None, offer_id: str | None) -> ProductState:
        """What the Catalog has for the product; an empty state when there is no product yet."""
        if not product_id:
            return ProductState()
        entity = self.call("describe_entity", EntityId=product_id)
        if not entity.get("EntityType", "").startswith(PRODUCT.split("@")[0]):
            raise ListingRejected(f"{product_id} is a {entity.get('EntityType')}, not a machine learning product",
                                  hint="set listing.product_id to the ID of your ML product (prod-...)")
        details = entity.get("DetailsDocument") or json.loads(entity.get("Details") or "{}")
        versions = []
        for version in details.get("Versions") or []:
            sources = {s.get("Id"): s.get("ModelPackageArn") for s in version.get("Sources") or []}
            for option in version.get("DeliveryOptions") or []:
                supported = option.get("SupportedInstanceTypes") or {}
                versions.append(VersionState(
                    title=version.get("VersionTitle"), delivery_option_id=option.get("Id"),
                    arn=sources.get(option.get("SourceId")) or next(iter(sources.values()), None),
                    visibility=option.get("Visibility") or "Public",
                    realtime=tuple(supported.get("RealtimeInference") or ()),
                    batch=tuple(supported.get("BatchTransform") or ())))
        description = details.get("Description") or {}
        information = {k: v for k, v in description.items() if k not in ("Visibility", "ProductState", "ProductCode", "Sku")}
        for key, value in (details.get("PromotionalResources") or {}).items():
            if key == "LogoUrl":
                information["LogoUrl"] = value
        support = (details.get("SupportInformation") or {}).get("Description")
        if support:
            information["SupportDescription"] = support
        return ProductState(product_id=product_id, offer_id=offer_id or self.offer_of(product_id),
                            visibility=description.get("Visibility"), versions=tuple(versions),
                            dimensions=tuple(d.get("Key") for d in details.get("Dimensions") or []),
                            information=information,
                            buyer_accounts=tuple(((details.get("Targeting") or {}).get("PositiveTargeting") or {})
                                                 .get("BuyerAccounts") or ()))

    def offer_of(self, product_id: str) -> str | None:
        """The product's public offer: the one offer of it with no buyer targeting."""
        listed = self.call("list_entities", EntityType=OFFER.split("@")[0],
                           EntityTypeFilters={"OfferFilters": {"ProductId": {"ValueList": [product_id]}}})
        for summary in listed.get("EntitySummaryList") or []:
            offer = summary.get("OfferSummary") or {}
            if not offer.get("BuyerAccounts") and not offer.get("Targeting"):
                return summary.get("EntityId")
        return None


def errors_of(described: dict) -> list[dict]:
    found = []
    for item in described.get("ChangeSet") or []:
        for error in item.get("ErrorDetailList") or []:
            found.append({**error, "change": f"{item.get('ChangeType')}: "})
    return found


def created_entities(described: dict) -> dict:
    """Entity type -> identifier of each entity the change set made (CreateProduct, CreateOffer)."""
    made = {}
    for item in described.get("ChangeSet") or []:
        if item.get("ChangeType") in ("CreateProduct", "CreateOffer"):
            made[item["Entity"]["Type"]] = item["Entity"].get("Identifier")
    return made
