"""A small emulator of the buyer's side of AWS Marketplace, which moto does not have: the
Discovery API (`marketplace-discovery`, rest-json: ListPurchaseOptions, GetOffer, GetOfferTerms)
and the Agreement API (`marketplace-agreement`, smithy-rpc-v2-cbor or awsJson, whichever botocore speaks: SearchAgreements,
CreateAgreementRequest, AcceptAgreementRequest, GetAgreementEntitlements), both over HTTP on one
port, so the real boto3 clients talk to it as to AWS.

It knows products, each with offers (public or private, with a usage-based rate card, an optional
free trial and a legal term), the buyer's agreements, and whether the buyer already used a
product's free trial: a request that asks for the trial again is refused with a
ValidationException, as the service refuses it. An accepted request becomes an ACTIVE agreement
whose entitlement appears after `pending_polls` GetAgreementEntitlements calls."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlparse

import cbor2

from tests.loopback_http import LoopbackService, QuietHandler

AGREEMENT_PREFIX = "/service/AWSMPCommerceService_v20200301/operation/"
DISCOVERY_PREFIX = "/2026-02-05/"


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.status = code, status


class BuyerEmulator(LoopbackService):
    def __init__(self):
        self.products: dict[str, dict] = {}
        self.offers: dict[str, dict] = {}
        self.agreements: list[dict] = []
        self.requests: dict[str, dict] = {}
        self.trials_used: set[str] = set()
        self.calls: list[tuple[str, dict]] = []
        self.pending_polls = 0
        self._polls: dict[str, int] = {}
        emulator = self

        class Handler(QuietHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlparse(self.path).path
                cbor = path.startswith(AGREEMENT_PREFIX)
                target = self.headers.get("X-Amz-Target")  # the Agreement API's awsJson protocol, when botocore picks it
                if target:
                    operation = target.rsplit(".", 1)[-1]
                else:
                    operation = path[len(AGREEMENT_PREFIX if cbor else DISCOVERY_PREFIX):]
                body = (cbor2.loads(raw) if raw else {}) if cbor else json.loads(raw or b"{}")
                emulator.calls.append((operation, body))
                try:
                    answer = getattr(emulator, f"_{operation[0].lower()}{operation[1:]}")(body)
                    status = 200
                except Refused as refusal:
                    answer = {"__type": f"com.amazonaws.marketplace#{refusal.code}", "message": str(refusal)}
                    status = refusal.status
                except AttributeError:
                    answer, status = {"__type": "UnknownOperationException", "message": operation}, 404
                data = cbor2.dumps(answer) if cbor else json.dumps(answer).encode()
                self.send_response(status)
                if cbor:
                    self.send_header("smithy-protocol", "rpc-v2-cbor")
                    self.send_header("Content-Type", "application/cbor")
                else:
                    self.send_header("Content-Type", "application/x-amz-json-1.0" if target else "application/json")
                    if status != 200:
                        self.send_header("x-amzn-ErrorType", answer["__type"].rsplit("#", 1)[-1])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(Handler)

    # ---- the tests' own setup
    def add_product(self, product_id: str, *, rates: dict, trial_days: int | None = None, private: bool = False) -> str:
        offer_id = "offer-" + uuid.uuid4().hex[:12]
        terms = [{"usageBasedPricingTerm": {"id": f"term-{offer_id}-usage", "type": "UsageBasedPricingTerm",
                                            "currencyCode": "USD", "rateCards": [{"rateCard": [
                                                {"dimensionKey": k, "displayName": k, "unit": "Hrs", "price": str(v)}
                                                for k, v in rates.items()]}]}},
                 {"legalTerm": {"id": f"term-{offer_id}-legal", "type": "LegalTerm",
                                "documents": [{"type": "StandardEula", "url": "https://aws.amazon.com/marketplace/scmp"}]}}]
        if trial_days:
            terms.append({"freeTrialPricingTerm": {"id": f"term-{offer_id}-trial", "type": "FreeTrialPricingTerm",
                                                   "duration": f"P{trial_days}D",
                                                   "grants": [{"dimensionKey": k} for k in rates]}})
        self.products.setdefault(product_id, {"offers": []})["offers"].append(offer_id)
        self.offers[offer_id] = {"product": product_id, "private": private, "terms": terms,
                                 "proposal": "ap-" + uuid.uuid4().hex[:12]}
        return offer_id

    # ---- Discovery
    def _listPurchaseOptions(self, body):
        wanted = {v for f in body.get("filters") or [] if f.get("filterType") == "PRODUCT_ID" for v in f["filterValues"]}
        options = []
        for offer_id, offer in self.offers.items():
            if wanted and offer["product"] not in wanted:
                continue
            options.append({"purchaseOptionId": offer_id, "catalog": "AWSMarketplace", "purchaseOptionType": "OFFER",
                            "purchaseOptionName": ("Private offer" if offer["private"] else "Public offer"),
                            "badges": [{"displayName": "Private price", "badgeType": "PRIVATE_PRICING"}]
                            if offer["private"] else []})
        return {"purchaseOptions": options}

    def _getOffer(self, body):
        offer = self._offer(body.get("offerId"))
        return {"offerId": body["offerId"], "catalog": "AWSMarketplace", "offerName": "offer",
                "agreementProposalId": offer["proposal"]}

    def _getOfferTerms(self, body):
        return {"offerTerms": self._offer(body.get("offerId"))["terms"]}

    def _offer(self, offer_id):
        if offer_id not in self.offers:
            raise Refused("ResourceNotFoundException", f"offer {offer_id} not found", 404)
        return self.offers[offer_id]

    # ---- Agreement
    def _searchAgreements(self, body):
        filters = {f["name"]: set(f["values"]) for f in body.get("filters") or []}
        found = [a for a in self.agreements
                 if (not filters.get("ResourceIdentifier") or a["product"] in filters["ResourceIdentifier"])
                 and (not filters.get("Status") or a["status"] in filters["Status"])]
        return {"agreementViewSummaries": [{"agreementId": a["id"], "status": a["status"], "agreementType": "PurchaseAgreement",
                                            "proposalSummary": {"offerId": a["offer"]}} for a in found]}

    def _createAgreementRequest(self, body):
        proposal = body.get("agreementProposalIdentifier")
        offer_id = next((k for k, v in self.offers.items() if v["proposal"] == proposal), None)
        if offer_id is None:
            raise Refused("ValidationException", f"agreement proposal {proposal} not found")
        offer = self.offers[offer_id]
        asked = {t["id"] for t in body.get("requestedTerms") or []}
        trial = next((list(t.values())[0]["id"] for t in offer["terms"] if "freeTrialPricingTerm" in t), None)
        if trial in asked and offer["product"] in self.trials_used:
            raise Refused("ValidationException", "The free trial for this product has already been used by this account")
        request_id = "ar-" + uuid.uuid4().hex[:12]
        self.requests[request_id] = {"offer": offer_id, "terms": asked, "trial": trial in asked}
        rates = [c for t in offer["terms"] if "usageBasedPricingTerm" in t
                 for card in t["usageBasedPricingTerm"]["rateCards"] for c in card["rateCard"]]
        return {"agreementRequestId": request_id, "agreementType": "PurchaseAgreement", "status": "PENDING_ACCEPTANCE",
                "chargeSummary": {"currencyCode": "USD", "newAgreementValue": "0",
                                  "itemizedCharges": [{"dimensionKey": c["dimensionKey"], "price": c["price"]} for c in rates]}}

    def _acceptAgreementRequest(self, body):
        request = self.requests.pop(body.get("agreementRequestId"), None)
        if request is None:
            raise Refused("ResourceNotFoundException", "agreement request not found", 404)
        offer = self.offers[request["offer"]]
        agreement_id = "agmt-" + uuid.uuid4().hex[:12]
        self.agreements.append({"id": agreement_id, "product": offer["product"], "offer": request["offer"], "status": "ACTIVE"})
        if request["trial"]:
            self.trials_used.add(offer["product"])
        self._polls[agreement_id] = self.pending_polls
        return {"agreementId": agreement_id}

    def _getAgreementEntitlements(self, body):
        agreement = next((a for a in self.agreements if a["id"] == body.get("agreementId")), None)
        if agreement is None:
            raise Refused("ResourceNotFoundException", "agreement not found", 404)
        if self._polls.get(agreement["id"], 0) > 0:
            self._polls[agreement["id"]] -= 1
            return {"agreementEntitlements": []}
        return {"agreementEntitlements": [{"resource": {"id": agreement["product"], "type": "Product"},
                                           "type": "SageMakerModelPackage", "status": "ACTIVE"}]}
