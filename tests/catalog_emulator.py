"""A small emulator of the AWS Marketplace Catalog API for machine learning products, which moto
does not have. It speaks the service's rest-json protocol over HTTP (StartChangeSet,
DescribeChangeSet, DescribeEntity, ListEntities), so the real boto3 client talks to it as to AWS.

It keeps products (`MachineLearningProduct@1.0`) and offers (`Offer@1.0`) with their state, runs
each change set's changes in order on a copy (`$Name.Entity.Identifier` references resolved),
and commits the copy only for `Intent=APPLY` when no change failed, as the Catalog does. The
rules it applies are the documented ones (marketplace-lifecycle.md §2), written here on their
own so that they test mpkit's checks rather than repeat them: DUPLICATE_VERSION_TITLE,
DUPLICATE_ASSET, UPDATE_PRICING_REQUIRED, INVALID_RECOMMENDED_INSTANCE_TYPE, INVALID_ACCESS_ROLE,
ASSET_NOT_FOUND, ASSET_VALIDATION_EXCEPTION, INCOMPATIBLE_PRODUCT_STATUS, ENTITY_NOT_FOUND, and
field limits. Given moto's URL it reads the model package and the access role from there, as
Marketplace reads them from the seller's account.

Tests read `change_sets` (every change set, with its Intent) and `calls`; `pending_polls` keeps
a change set in progress for that many DescribeChangeSet calls; `inject` fails the next change
set with a given error code. Idempotent on ClientRequestToken, as the service is."""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from urllib.parse import parse_qs, urlparse

from tests.loopback_http import LoopbackService, QuietHandler

PRODUCT = "MachineLearningProduct@1.0"
OFFER = "Offer@1.0"
PRINCIPAL = "assets.marketplace.amazonaws.com"
ACCOUNT = "123456789012"
LIMITS = {"ProductTitle": 72, "ShortDescription": 1000, "LongDescription": 5000, "SupportDescription": 2000}
LISTS = {"Highlights": (1, 3, 500), "SearchKeywords": (1, 15, 50), "Categories": (1, 3, 100)}


class Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class CatalogEmulator(LoopbackService):
    def __init__(self, products=(), *, aws_endpoint: str | None = None):
        self.entities: dict[str, dict] = {}
        for product_id in products:
            product_id = product_id.split("@")[0]
            self.entities[product_id] = _new_product(product_id, "Seeded product")
            self.entities[product_id]["details"]["Description"]["Visibility"] = "Limited"
        self.change_sets: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.calls: list[tuple[str, dict]] = []
        self.aws_endpoint = aws_endpoint
        self.pending_polls = 0
        self.inject: tuple[str, str] | None = None
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()
        emulator = self

        class Handler(QuietHandler):
            def _reply(self, status: int, data: dict, error: str | None = None):
                body = json.dumps(data, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error:
                    self.send_header("x-amzn-ErrorType", error)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                operation = urlparse(self.path).path.strip("/")
                emulator.calls.append((operation, body))
                if body.get("Catalog") != "AWSMarketplace":
                    return self._reply(400, {"Message": "Catalog must be AWSMarketplace"}, "ValidationException")
                with emulator._lock:
                    if operation == "StartChangeSet":
                        return self._reply(200, emulator._start(body))
                    if operation == "ListEntities":
                        return self._reply(200, emulator._list(body))
                self._reply(404, {"Message": f"unknown operation {operation}"}, "ResourceNotFoundException")

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                operation = url.path.strip("/")
                emulator.calls.append((operation, query))
                with emulator._lock:
                    if operation == "DescribeChangeSet" and query.get("changeSetId") in emulator.change_sets:
                        return self._reply(200, emulator._describe_change_set(query["changeSetId"]))
                    if operation == "DescribeEntity" and query.get("entityId") in emulator.entities:
                        return self._reply(200, emulator._describe_entity(query["entityId"]))
                self._reply(404, {"Message": f"{operation}: not found"}, "ResourceNotFoundException")

        self._serve(Handler)

    # ---- what the tests read
    def products(self) -> list[dict]:
        return [e for e in self.entities.values() if e["type"] == PRODUCT]

    def offers(self) -> list[dict]:
        return [e for e in self.entities.values() if e["type"] == OFFER]

    def started(self, intent: str | None = None) -> list[dict]:
        return [c for c in self.change_sets.values() if intent in (None, c["Intent"])]

    # ---- the operations
    def _start(self, body: dict) -> dict:
        token = body.get("ClientRequestToken")
        if token in self.tokens:
            found = self.change_sets[self.tokens[token]]
            return {"ChangeSetId": found["ChangeSetId"], "ChangeSetArn": found["ChangeSetArn"]}
        change_set_id = uuid.uuid4().hex[:25]
        intent = body.get("Intent", "APPLY")
        state = copy.deepcopy(self.entities)
        names: dict[str, str] = {}
        changes, failed = [], False
        for change in body["ChangeSet"]:
            entity = dict(change.get("Entity") or {})
            item = {"ChangeType": change["ChangeType"], "Entity": entity, "DetailsDocument": change.get("DetailsDocument"),
                    "ErrorDetailList": []}
            if change.get("ChangeName"):
                item["ChangeName"] = change["ChangeName"]
            try:
                if self.inject and not failed:
                    code, message = self.inject
                    self.inject = None
                    raise Refused(code, message)
                self._apply(state, names, change, entity)
            except Refused as refusal:
                item["ErrorDetailList"].append({"ErrorCode": refusal.code, "ErrorMessage": str(refusal)})
                failed = True
            changes.append(item)
        if not failed:
            for code, message, index in self._pricing_gaps(state, body["ChangeSet"]):
                changes[index]["ErrorDetailList"].append({"ErrorCode": code, "ErrorMessage": message})
                failed = True
        record = {"ChangeSetId": change_set_id, "ChangeSetName": body.get("ChangeSetName"),
                  "ChangeSetArn": f"arn:aws:aws-marketplace:us-east-1:{ACCOUNT}:AWSMarketplace/ChangeSet/{change_set_id}",
                  "Intent": intent, "Status": "FAILED" if failed else "SUCCEEDED", "ChangeSet": changes}
        if failed:
            record["FailureCode"] = "CLIENT_ERROR"
        elif intent == "APPLY":
            self.entities = state
        self.change_sets[change_set_id] = record
        self._polls[change_set_id] = self.pending_polls
        if token:
            self.tokens[token] = change_set_id
        return {"ChangeSetId": change_set_id, "ChangeSetArn": record["ChangeSetArn"]}

    def _describe_change_set(self, change_set_id: str) -> dict:
        found = dict(self.change_sets[change_set_id])
        if self._polls.get(change_set_id, 0) > 0:
            self._polls[change_set_id] -= 1
            found["Status"] = "APPLYING" if found["Intent"] == "APPLY" else "PREPARING"
            found.pop("FailureCode", None)
        return found

    def _describe_entity(self, entity_id: str) -> dict:
        entity = self.entities[entity_id]
        return {"EntityType": entity["type"], "EntityIdentifier": f"{entity_id}@1",
                "EntityArn": f"arn:aws:aws-marketplace:us-east-1:{ACCOUNT}:AWSMarketplace/{entity['type'].split('@')[0]}/{entity_id}",
                "LastModifiedDate": "2026-12-02T00:00:00Z", "DetailsDocument": entity["details"]}

    def _list(self, body: dict) -> dict:
        wanted = ((body.get("EntityTypeFilters") or {}).get("OfferFilters") or {}).get("ProductId", {}).get("ValueList")
        out = []
        for entity_id, entity in self.entities.items():
            if entity["type"].split("@")[0] != body.get("EntityType"):
                continue
            details = entity["details"]
            if wanted and details.get("ProductId") not in wanted:
                continue
            out.append({"EntityId": entity_id, "EntityType": body["EntityType"], "Name": details.get("Name"),
                        "OfferSummary": {"Name": details.get("Name"), "ProductId": details.get("ProductId"),
                                         "State": details.get("State")}})
        return {"EntitySummaryList": out}

    # ---- the rules, per change type
    def _apply(self, state: dict, names: dict, change: dict, entity: dict) -> None:
        kind, doc = change["ChangeType"], change.get("DetailsDocument") or {}
        ident = entity.get("Identifier")
        if ident and ident.startswith("$"):
            ident = names.get(ident.split(".")[0][1:])
            if not ident:
                raise Refused("INVALID_INPUT", f"unresolved reference {entity['Identifier']}")
        if ident:
            ident = ident.split("@")[0]
        if kind == "CreateProduct":
            title = doc.get("ProductTitle") or ""
            if not 1 <= len(title) <= LIMITS["ProductTitle"]:
                raise Refused("INVALID_INPUT", f"ProductTitle must be 1 to 72 characters, not {len(title)}")
            new = "prod-" + uuid.uuid4().hex[:13]
            state[new] = _new_product(new, title)
            entity["Identifier"] = new
            names[change.get("ChangeName") or "CreateProduct"] = new
            return
        if kind == "CreateOffer":
            product = doc.get("ProductId", "")
            product = names.get(product.split(".")[0][1:], "") if product.startswith("$") else product.split("@")[0]
            if product not in state:
                raise Refused("ENTITY_NOT_FOUND", f"product {doc.get('ProductId')} was not found")
            new = "offer-" + uuid.uuid4().hex[:13]
            state[new] = {"type": OFFER, "details": {"ProductId": product, "State": "Draft", "Name": None, "Terms": []}}
            entity["Identifier"] = new
            names[change.get("ChangeName") or "CreateOffer"] = new
            return
        if ident not in state:
            raise Refused("ENTITY_NOT_FOUND", f"Entity {entity.get('Identifier')} was not found")
        entity["Identifier"] = ident
        target = state[ident]
        if target["type"] != entity.get("Type"):
            raise Refused("INVALID_INPUT", f"{ident} is a {target['type']}, not a {entity.get('Type')}")
        details = target["details"]
        handler = getattr(self, f"_{_snake(kind)}", None)
        if handler is None:
            raise Refused("INVALID_INPUT", f"{kind} is not a change type of {target['type']}")
        handler(state, details, doc)

    def _update_information(self, state, details, doc):
        if "ProductId" in details:  # an offer
            details["Name"] = doc.get("Name")
            details["Description"] = doc.get("Description")
            return
        for key, most in LIMITS.items():
            if key in doc and not 1 <= len(doc[key]) <= most:
                raise Refused("INVALID_INPUT", f"{key} must be 1 to {most} characters, not {len(doc[key])}")
        for key, (low, high, each) in LISTS.items():
            if key in doc and (not low <= len(doc[key]) <= high or any(len(v) > each for v in doc[key])):
                raise Refused("INVALID_INPUT", f"{key}: {low} to {high} items of at most {each} characters")
        if "LogoUrl" in doc and not doc["LogoUrl"].startswith("https://"):
            raise Refused("INVALID_INPUT", "LogoUrl must be an https URL")
        description = details["Description"]
        for key in ("ProductTitle", "ShortDescription", "LongDescription", "Highlights", "SearchKeywords", "Categories"):
            if key in doc:
                description[key] = doc[key]
        if "LogoUrl" in doc:
            details["PromotionalResources"]["LogoUrl"] = doc["LogoUrl"]
        if "SupportDescription" in doc:
            details["SupportInformation"]["Description"] = doc["SupportDescription"]

    def _update_targeting(self, state, details, doc):
        accounts = (doc.get("PositiveTargeting") or {}).get("BuyerAccounts") or []
        if any(not re.fullmatch(r"\d{12}", a) for a in accounts):
            raise Refused("INVALID_INPUT", "BuyerAccounts are 12-digit AWS account IDs")
        details["Targeting"] = {"PositiveTargeting": {"BuyerAccounts": accounts}}

    def _add_delivery_options(self, state, details, doc):
        if details["Description"]["Visibility"] == "Restricted":
            raise Refused("INCOMPATIBLE_PRODUCT_STATUS", "the product is Restricted")
        title = (doc.get("Version") or {}).get("VersionTitle")
        if any(v["VersionTitle"] == title for v in details["Versions"]):
            raise Refused("DUPLICATE_VERSION_TITLE", f"a version titled {title} already exists")
        option = doc["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"]
        arn = option.get("SageMakerModelPackageArn")
        if any(s["ModelPackageArn"] == arn for v in details["Versions"] for s in v["Sources"]):
            raise Refused("DUPLICATE_ASSET", f"{arn} is already a version of this product")
        recommended = option.get("RecommendedInstanceTypes") or {}
        supported = self._package_types(arn) if self.aws_endpoint else {
            "realtime": [recommended.get("RealtimeInference")], "batch": [recommended.get("BatchTransform")]}
        for side, key in (("RealtimeInference", "realtime"), ("BatchTransform", "batch")):
            if recommended.get(side) and recommended[side] not in supported[key]:
                raise Refused("INVALID_RECOMMENDED_INSTANCE_TYPE",
                              f"{recommended[side]} is not a supported {side} instance type of {arn}")
        self._check_access_role(option.get("AccessRoleArn"))
        source_id, option_id = str(uuid.uuid4()), str(uuid.uuid4())
        details["Versions"].append({
            "Id": str(uuid.uuid4()), "VersionTitle": title, "ReleaseNotes": doc["Version"].get("ReleaseNotes"),
            "Sources": [{"Type": "SageMakerModelPackage", "Id": source_id, "ModelPackageArn": arn}],
            "DeliveryOptions": [{"Id": option_id, "Type": "SageMakerModelPackage", "SourceId": source_id,
                                 "Visibility": "Public", "Instructions": {"Usage": option.get("UsageInstructions")},
                                 "RecommendedInstanceTypes": recommended,
                                 "SupportedInstanceTypes": {"RealtimeInference": supported["realtime"],
                                                            "BatchTransform": supported["batch"]}}]})
        keys = {d["Key"] for d in details["Dimensions"]}
        for instance_type in supported["realtime"]:
            _dimension(details, keys, f"{instance_type}.m.i.r", f"{instance_type} Inference (Real-Time)")
        for instance_type in supported["batch"]:
            _dimension(details, keys, f"{instance_type}.m.i.b", f"{instance_type} Inference (Batch)")
        _dimension(details, keys, "inference.count.m.i.c", "inference.count.m.i.c Inference Pricing")
        details["_touched"] = True

    def _update_delivery_options(self, state, details, doc):
        for option in doc.get("DeliveryOptions") or []:
            inner = (option.get("Details") or {}).get("SageMakerModelPackageDeliveryOptionDetails") or {}
            if "SageMakerModelPackageArn" in inner or "AccessRoleArn" in inner:
                raise Refused("INVALID_INPUT", "a version's package and access role cannot be updated")
            found = [o for v in details["Versions"] for o in v["DeliveryOptions"] if o["Id"] == option.get("Id")]
            if not found:
                raise Refused("ENTITY_NOT_FOUND", f"delivery option {option.get('Id')} was not found")
            found[0]["Instructions"]["Usage"] = inner.get("UsageInstructions", found[0]["Instructions"]["Usage"])

    def _restrict_delivery_options(self, state, details, doc):
        options = [o for v in details["Versions"] for o in v["DeliveryOptions"]]
        wanted = set(doc.get("DeliveryOptionIds") or [])
        if not wanted <= {o["Id"] for o in options}:
            raise Refused("ENTITY_NOT_FOUND", "a delivery option to restrict was not found")
        if all(o["Visibility"] == "Restricted" or o["Id"] in wanted for o in options):
            raise Refused("INCOMPATIBLE_PRODUCT_STATUS", "the last unrestricted version cannot be restricted")
        for option in options:
            if option["Id"] in wanted:
                option["Visibility"] = "Restricted"

    def _release_product(self, state, details, doc):
        if details["Description"]["Visibility"] != "Draft":
            raise Refused("INCOMPATIBLE_PRODUCT_STATUS", f"the product is {details['Description']['Visibility']}, not Draft")
        if not details["Versions"]:
            raise Refused("INCOMPATIBLE_PRODUCT_STATUS", "a product without a version cannot be released")
        details["Description"]["Visibility"] = "Limited"

    def _update_pricing_terms(self, state, details, doc):
        details["Terms"] = [t for t in details["Terms"] if t.get("Type") not in ("UsageBasedPricingTerm", "FreeTrialPricingTerm")]
        details["Terms"] += doc.get("Terms") or []
        details["_touched"] = True

    def _update_legal_terms(self, state, details, doc):
        details["Terms"] = [t for t in details["Terms"] if t.get("Type") != "LegalTerm"] + (doc.get("Terms") or [])

    def _update_support_terms(self, state, details, doc):
        details["Terms"] = [t for t in details["Terms"] if t.get("Type") != "SupportTerm"] + (doc.get("Terms") or [])

    def _release_offer(self, state, details, doc):
        if state[details["ProductId"]]["details"]["Description"]["Visibility"] == "Draft":
            raise Refused("INCOMPATIBLE_PRODUCT_STATUS", "release the product before its offer")
        details["State"] = "Released"

    def _pricing_gaps(self, state: dict, changes: list):
        """Each product this change set gave a version or new prices must price every dimension."""
        for offer in state.values():
            if offer["type"] != OFFER:
                continue
            product = state[offer["details"]["ProductId"]]["details"]
            if not (product.pop("_touched", False) | offer["details"].pop("_touched", False)):
                continue
            priced = {c["DimensionKey"] for t in offer["details"]["Terms"] if t.get("Type") == "UsageBasedPricingTerm"
                      for card in t.get("RateCards") or [] for c in card.get("RateCard") or []}
            missing = sorted({d["Key"] for d in product["Dimensions"]} - priced)
            if missing:
                index = next((i for i, c in enumerate(changes) if c["ChangeType"] == "AddDeliveryOptions"), 0)
                yield "UPDATE_PRICING_REQUIRED", f"no price for {', '.join(missing)}", index
        for entity in state.values():
            entity["details"].pop("_touched", None)

    # ---- what Marketplace reads from the seller's account
    def _package_types(self, arn: str) -> dict:
        client = _client("sagemaker", self.aws_endpoint, arn.split(":")[3])
        try:
            described = client.describe_model_package(ModelPackageName=arn)
        except Exception as exc:  # any answer but the package is the asset not being found
            raise Refused("ASSET_NOT_FOUND", f"{arn}: {exc}") from exc
        if described.get("ModelPackageStatus") != "Completed" or not described.get("CertifyForMarketplace"):
            raise Refused("ASSET_VALIDATION_EXCEPTION", f"Unable to ingest SagemakerModelArn {arn} into AWS Sagemaker account")
        spec = described.get("InferenceSpecification") or {}
        return {"realtime": list(spec.get("SupportedRealtimeInferenceInstanceTypes") or []),
                "batch": list(spec.get("SupportedTransformInstanceTypes") or [])}

    def _check_access_role(self, role_arn: str | None) -> None:
        if not self.aws_endpoint:
            return
        client = _client("iam", self.aws_endpoint, "us-east-1")
        try:
            role = client.get_role(RoleName=(role_arn or "").rsplit("/", 1)[-1])["Role"]
        except Exception as exc:
            raise Refused("INVALID_ACCESS_ROLE", f"{role_arn} cannot be assumed: {exc}") from exc
        trust = role.get("AssumeRolePolicyDocument")
        trust = json.loads(trust) if isinstance(trust, str) else trust
        statements = trust.get("Statement") or []
        statements = statements if isinstance(statements, list) else [statements]
        services = [s for st in statements for s in _as_list((st.get("Principal") or {}).get("Service"))]
        if PRINCIPAL not in services:
            raise Refused("INVALID_ACCESS_ROLE", f"{role_arn} does not trust {PRINCIPAL}")


def _new_product(product_id: str, title: str) -> dict:
    return {"type": PRODUCT, "details": {
        "Versions": [], "Description": {"ProductTitle": title, "Visibility": "Draft", "ProductState": "Active"},
        "PromotionalResources": {"LogoUrl": None, "Videos": [], "AdditionalResources": []},
        "SupportInformation": {"Description": None}, "Targeting": {"PositiveTargeting": {"BuyerAccounts": []}},
        "Dimensions": [], "RegionAvailability": {"Regions": ["us-east-1", "us-east-2", "us-west-2", "eu-west-1"]}}}


def _dimension(details: dict, keys: set, key: str, name: str) -> None:
    if key not in keys:
        unit = "Requests" if key.startswith("inference.") else "HostHrs"
        details["Dimensions"].append({"Name": name, "Description": name, "Key": key, "Unit": unit, "Types": ["Metered"]})
        keys.add(key)


def _client(service: str, endpoint: str, region: str):
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]
