"""`mpkit subscribe`: a buyer's subscription to a product, through the Discovery API (the offers
the account can accept, and their terms and prices) and the Agreement API (a quote, then, with
`accept`, the agreement and its entitlement), marketplace-lifecycle.md §1 and §2. Without
`accept` nothing is accepted: the quote (an agreement request) shows what would be charged. An
account that is already subscribed is told so; a free trial already used is retried without the
trial and said; a product with only a private offer says which one applies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from package.errors import AwsError, ConfigurationError, NotSubscribed
from package.polling import poll_until

REGION = "us-east-1"  # the Agreement and Discovery endpoints


@dataclass
class SubscribeResult:
    product_id: str
    state: str  # already-subscribed | quoted | subscribed
    offer_id: str | None = None
    agreement_id: str | None = None
    request_id: str | None = None
    prices: list = field(default_factory=list)  # {dimension, price, unit}
    free_trial: str | None = None  # the trial's duration, when this subscription has it
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def subscribe(aws, product_id: str, *, offer_id: str | None = None, accept: bool = False, timeout: float = 900,
              poll: float = 5.0, say=print) -> SubscribeResult:
    if not product_id or not product_id.startswith("prod-"):
        raise ConfigurationError(f"{product_id!r} is not a product ID",
                                 hint="it looks like prod-abc123..., the end of the product page's URL in AWS Marketplace")
    existing = active_agreement(aws, product_id)
    if existing:
        return SubscribeResult(product_id, "already-subscribed", agreement_id=existing["agreementId"],
                               offer_id=(existing.get("proposalSummary") or {}).get("offerId"),
                               notes=["this account is already subscribed; deploy with `mpkit deploy`"])
    offer_id, notes = offer_id or _choose_offer(aws, product_id), []
    terms = aws.call("marketplace-discovery", "get_offer_terms", offerId=offer_id).get("offerTerms") or []
    proposal = aws.call("marketplace-discovery", "get_offer", offerId=offer_id).get("agreementProposalId")
    prices = [{"dimension": c.get("dimensionKey"), "price": c.get("price"), "unit": c.get("unit")}
              for t in terms for c in _rates(t)]
    trial = next((t["freeTrialPricingTerm"] for t in terms if "freeTrialPricingTerm" in t), None)
    ids = [next(iter(t.values()))["id"] for t in terms]
    try:
        request = _request(aws, proposal, ids)
    except AwsError as exc:
        if not trial or exc.code != "ValidationException":
            raise
        notes.append(f"the free trial ({trial.get('duration')}) was already used by this account; quoted without it")
        request = _request(aws, proposal, [i for i in ids if i != trial["id"]])
        trial = None
    result = SubscribeResult(product_id, "quoted", offer_id=offer_id, request_id=request.get("agreementRequestId"),
                             prices=prices, free_trial=trial.get("duration") if trial else None, notes=notes)
    if not accept:
        result.notes.append("nothing was accepted: run again with --accept to subscribe on these terms")
        return result
    agreement = aws.call("marketplace-agreement", "accept_agreement_request",
                         agreementRequestId=result.request_id)["agreementId"]
    if getattr(aws, "dry_run", False):
        result.state, result.agreement_id = "subscribed", agreement
        return result
    say(f"agreement {agreement}: accepted; waiting for the entitlement")
    poll_until(lambda: aws.call("marketplace-agreement", "get_agreement_entitlements", agreementId=agreement),
               state=lambda d: "entitled" if d.get("agreementEntitlements") else "pending",
               done=lambda d: bool(d.get("agreementEntitlements")), timeout=timeout, poll=poll, say=say,
               on_timeout=lambda d: AwsError(f"agreement {agreement} has no entitlement after {timeout:.0f} s",
                                             code="WaitTimeout", hint="run `mpkit subscribe` again later: it finds the "
                                             "agreement"))
    result.state, result.agreement_id = "subscribed", agreement
    return result


def active_agreement(aws, product_id: str) -> dict | None:
    found = aws.call("marketplace-agreement", "search_agreements", catalog="AWSMarketplace", filters=[
        {"name": "ResourceIdentifier", "values": [product_id]}, {"name": "Status", "values": ["ACTIVE"]}])
    return next(iter(found.get("agreementViewSummaries") or []), None)


def _choose_offer(aws, product_id: str) -> str:
    options = aws.call("marketplace-discovery", "list_purchase_options", filters=[
        {"filterType": "PRODUCT_ID", "filterValues": [product_id]}]).get("purchaseOptions") or []
    offers = [o for o in options if o.get("purchaseOptionType") == "OFFER"]
    public = [o for o in offers if not any(b.get("badgeType") == "PRIVATE_PRICING" for b in o.get("badges") or [])]
    if public:
        return public[0]["purchaseOptionId"]
    if offers:
        names = ", ".join(f"{o['purchaseOptionId']} ({o.get('purchaseOptionName')})" for o in offers)
        raise NotSubscribed(f"{product_id} has no public offer for this account; only a private offer applies: {names}",
                            hint=f"pass --offer {offers[0]['purchaseOptionId']} to quote it, after reading its terms")
    raise NotSubscribed(f"{product_id}: no offer this account can accept",
                        hint="the product may be Limited to allowlisted accounts; ask the seller")


def _request(aws, proposal: str | None, term_ids: list) -> dict:
    return aws.call("marketplace-agreement", "create_agreement_request", intent="NEW",
                    agreementProposalIdentifier=proposal, requestedTerms=[{"id": i} for i in term_ids])


def _rates(term: dict) -> list:
    usage = term.get("usageBasedPricingTerm") or {}
    return [c for card in usage.get("rateCards") or [] for c in card.get("rateCard") or []]
