"""What `mpkit release` would send to the Catalog API, as plain data: the change sets of a first
release, of a later version, of a restriction and of a text-only update, built from the manifest,
the listing folder's AddDeliveryOptions document and what the Catalog says exists (`ProductState`).
Nothing here calls AWS; `release.py` runs what this plans.

A first release is one change set: the product and its offer are created, described, priced and
released together, the later changes naming the new entities by reference
(`$CreateProductChange.Entity.Identifier`, as in the Catalog's own examples). So `Intent=VALIDATE`
checks all of it before anything exists, and nothing is ever left half made."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from package import rules
from package.manifest import Manifest

PRODUCT = "MachineLearningProduct@1.0"
OFFER = "Offer@1.0"
CREATE_PRODUCT = "CreateProductChange"
CREATE_OFFER = "CreateOfferChange"
PRODUCT_REF = f"${CREATE_PRODUCT}.Entity.Identifier"
OFFER_REF = f"${CREATE_OFFER}.Entity.Identifier"


@dataclass(frozen=True)
class VersionState:
    """One version (delivery option) of the product, as DescribeEntity gives it."""
    title: str
    arn: str | None
    delivery_option_id: str | None
    visibility: str = "Public"  # Public | Restricted | Limited
    realtime: tuple = ()  # supported instance types
    batch: tuple = ()


@dataclass(frozen=True)
class ProductState:
    """The product and offer as the Catalog has them; an empty state is a product not yet made."""
    product_id: str | None = None
    offer_id: str | None = None
    visibility: str | None = None  # Draft | Limited | Public | Restricted
    versions: tuple = ()
    dimensions: tuple = ()  # pricing dimension keys
    information: dict = field(default_factory=dict)  # the Description fields now on the product
    buyer_accounts: tuple = ()

    @property
    def exists(self) -> bool:
        return bool(self.product_id)

    def version(self, title: str) -> VersionState | None:
        return next((v for v in self.versions if v.title == title), None)

    @property
    def open_versions(self) -> list:
        return [v for v in self.versions if v.visibility != "Restricted"]

    @property
    def priced_types(self) -> dict:
        """Instance types already covered by a dimension, per side."""
        covered = {"realtime": set(), "batch": set()}
        for key in self.dimensions:
            for side, pattern in (("realtime", rules.DIMENSION_REALTIME), ("batch", rules.DIMENSION_BATCH)):
                suffix = pattern.replace("{type}", "")
                if key.endswith(suffix):
                    covered[side].add(key[: -len(suffix)])
        return covered


@dataclass
class ChangeSetPlan:
    """One StartChangeSet: `key` names it in the release record, `summary` says each change."""
    key: str
    summary: list
    request: dict  # StartChangeSet's parameters, without Intent and ClientRequestToken

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.request, sort_keys=True).encode()).hexdigest()

    def token(self, intent: str, attempt: int = 0) -> str:
        """The same change set, intent and attempt give the same token, so a retried call starts
        nothing twice; a new attempt after a failed one is a new change set."""
        return hashlib.sha256(f"{self.sha256}:{intent}{f':{attempt}' if attempt else ''}".encode()).hexdigest()[:64]

    def to_dict(self) -> dict:
        return {"key": self.key, "summary": self.summary, "request": self.request}


def change(change_type: str, entity_type: str, identifier: str | None, details: dict, name: str | None = None) -> dict:
    entity = {"Type": entity_type}
    if identifier:
        entity["Identifier"] = identifier
    item = {"ChangeType": change_type, "Entity": entity, "DetailsDocument": details}
    if name:
        item["ChangeName"] = name
    return item


def request(name: str, changes: list) -> dict:
    return {"Catalog": "AWSMarketplace", "ChangeSetName": name[:100], "ChangeSet": changes}


# ---- the documents, one per change type

def information(manifest: Manifest, long_description: str) -> dict:
    """UpdateInformation on the product: its page."""
    listing = manifest.listing
    doc = {"ProductTitle": listing.title or "", "ShortDescription": (listing.short_description or manifest.description).strip(),
           "LongDescription": (listing.long_description or long_description).strip()}
    for key, values in (("Highlights", listing.highlights), ("SearchKeywords", listing.keywords),
                        ("Categories", listing.categories)):
        if values:  # an empty list is below the shape's minimum; the release checks require the first and last
            doc[key] = list(values)
    if listing.logo_url:
        doc["LogoUrl"] = listing.logo_url
    if listing.support:
        doc["SupportDescription"] = listing.support.strip()
    return doc


def supported_types(manifest: Manifest) -> dict:
    return {"realtime": list(manifest.instance_types.realtime), "batch": list(manifest.instance_types.batch)}


def pricing_terms(manifest: Manifest, types: dict) -> dict:
    """UpdatePricingTerms on the offer: a price for every supported type, real-time and batch,
    and for the inference count (rules.PRICING_SOURCE). What the model does not charge is 0."""
    pricing = manifest.pricing
    card = []
    for side, pattern in (("realtime", rules.DIMENSION_REALTIME), ("batch", rules.DIMENSION_BATCH)):
        for instance_type in types[side]:
            price = pricing.hourly_rate(side, instance_type) if pricing.model == "hourly" else 0
            card.append({"DimensionKey": pattern.format(type=instance_type), "Price": _price(price)})
    card.append({"DimensionKey": rules.DIMENSION_INFERENCE,
                 "Price": _price(pricing.inference if pricing.model == "inference" else 0)})
    terms = [{"Type": "UsageBasedPricingTerm", "CurrencyCode": "USD", "RateCards": [{"RateCard": card}]}]
    if pricing.free_trial_days:
        terms.append({"Type": "FreeTrialPricingTerm", "Duration": f"P{pricing.free_trial_days}D",
                      "Grants": [{"DimensionKey": item["DimensionKey"]} for item in card]})
    return {"PricingModel": "Usage", "Terms": terms}


def legal_terms(manifest: Manifest) -> dict:
    eula = manifest.listing.eula or "standard"
    document = ({"Type": "StandardEula", "Version": rules.STANDARD_EULA_VERSION} if eula == "standard"
                else {"Type": "CustomEula", "Url": eula})
    return {"Terms": [{"Type": "LegalTerm", "Documents": [document]}]}


def support_terms(manifest: Manifest) -> dict:
    policy = manifest.listing.refund_policy or "No refunds: the software charge of this product is its published price."
    return {"Terms": [{"Type": "SupportTerm", "RefundPolicy": policy.strip()}]}


def delivery_for(details_document: dict, arn: str, access_role: str) -> dict:
    """The listing folder's AddDeliveryOptions document for this package and access role."""
    doc = json.loads(json.dumps(details_document))
    for option in doc.get("DeliveryOptions") or []:
        inner = option["Details"]["SageMakerModelPackageDeliveryOptionDetails"]
        inner["SageMakerModelPackageArn"] = arn
        inner["AccessRoleArn"] = access_role
    return doc


def _price(value) -> str:
    """Prices go as decimal strings, as the Catalog returns them, so no float rounding reaches it."""
    return format(float(value or 0), "f").rstrip("0").rstrip(".") or "0"


# ---- the change sets

def first_release(manifest: Manifest, *, delivery: dict, long_description: str) -> ChangeSetPlan:
    listing = manifest.listing
    title = listing.title or manifest.name
    changes = [
        change("CreateProduct", PRODUCT, None, {"ProductTitle": title}, CREATE_PRODUCT),
        change("UpdateInformation", PRODUCT, PRODUCT_REF, information(manifest, long_description)),
    ]
    summary = [f"create the product {title!r} (Draft)", "set its title, descriptions, highlights, keywords, categories"]
    if listing.test_accounts:
        changes.append(change("UpdateTargeting", PRODUCT, PRODUCT_REF,
                              {"PositiveTargeting": {"BuyerAccounts": list(listing.test_accounts)}}))
        summary.append(f"allowlist {len(listing.test_accounts)} test account(s): {', '.join(listing.test_accounts)}")
    changes.append(change("AddDeliveryOptions", PRODUCT, PRODUCT_REF, delivery))
    summary.append(f"add version {manifest.version} (the model package)")
    types = supported_types(manifest)
    changes += [
        change("CreateOffer", OFFER, None, {"ProductId": PRODUCT_REF}, CREATE_OFFER),
        change("UpdateInformation", OFFER, OFFER_REF, {"Name": f"{title} public offer",
                                                       "Description": f"The public offer of {title}."}),
        change("UpdatePricingTerms", OFFER, OFFER_REF, pricing_terms(manifest, types)),
        change("UpdateLegalTerms", OFFER, OFFER_REF, legal_terms(manifest)),
        change("UpdateSupportTerms", OFFER, OFFER_REF, support_terms(manifest)),
        change("ReleaseProduct", PRODUCT, PRODUCT_REF, {}),
        change("ReleaseOffer", OFFER, OFFER_REF, {}),
    ]
    summary += ["create its public offer", _pricing_line(manifest, types), "legal terms: " + _eula_line(manifest),
                "support terms: refund policy", "release the product (Limited: visible to the allowlisted accounts)",
                "release the offer"]
    return ChangeSetPlan(key="first-release", summary=summary,
                         request=request(f"{manifest.package_name} first release", changes))


def new_version(manifest: Manifest, state: ProductState, *, delivery: dict, long_description: str) -> ChangeSetPlan:
    """A later version: its delivery option and, in the same change set, the prices of every
    supported type, those this version adds included (UPDATE_PRICING_REQUIRED otherwise), and the
    product page when it changed."""
    covered = state.priced_types
    types = supported_types(manifest)
    for side in types:
        types[side] = sorted(set(types[side]) | covered[side])
    new = {side: sorted(set(supported_types(manifest)[side]) - covered[side]) for side in types}
    changes = [change("AddDeliveryOptions", PRODUCT, state.product_id, delivery),
               change("UpdatePricingTerms", OFFER, state.offer_id, pricing_terms(manifest, types))]
    added = [f"{t} ({side})" for side in new for t in new[side]]
    summary = [f"add version {manifest.version} (the model package)",
               _pricing_line(manifest, types) + (f"; new: {', '.join(added)}" if added else "")]
    info = information_change(manifest, state, long_description=long_description)
    if info:
        changes.insert(0, info[0])
        summary.insert(0, f"update the product page: {', '.join(info[1])}")
    return ChangeSetPlan(key=f"version-{manifest.version}", summary=summary,
                         request=request(f"{manifest.package_name} release", changes))


def information_change(manifest: Manifest, state: ProductState, *, long_description: str) -> tuple[dict, list] | None:
    """UpdateInformation, and the fields it changes, when the manifest's product page differs from
    the product's (the long description names the version and its measurements, so a new version
    usually changes it)."""
    wanted = information(manifest, long_description)
    changed = sorted(k for k in wanted if not _same(state.information.get(k), wanted[k]))
    if not changed:
        return None
    return change("UpdateInformation", PRODUCT, state.product_id, wanted), changed


def texts_digest(delivery: dict) -> str:
    """What a text-only update compares: the version's texts, without the package and the role,
    which a version can never change."""
    return _short(_texts(delivery))


def texts_update(manifest: Manifest, version: VersionState, state: ProductState, *, delivery: dict,
                 recorded_digest: str | None, long_description: str) -> ChangeSetPlan | None:
    """For a released version: UpdateDeliveryOptions when its texts changed since they were sent
    from here (ml-update-version: the package and the role never change), and UpdateInformation
    when the product page changed; None when neither did."""
    changes, summary = [], []
    info = information_change(manifest, state, long_description=long_description)
    if info:
        changes.append(info[0])
        summary.append(f"update the product page: {', '.join(info[1])}")
    digest = texts_digest(delivery)
    if recorded_digest not in (None, digest):
        option, notes = _texts(delivery)
        details = {"Version": {"VersionTitle": version.title, "ReleaseNotes": notes},
                   "DeliveryOptions": [{"Id": version.delivery_option_id,
                                        "Details": {"SageMakerModelPackageDeliveryOptionDetails": option}}]}
        changes.append(change("UpdateDeliveryOptions", PRODUCT, state.product_id, details))
        summary.append(f"update version {version.title}'s usage, samples and release notes")
    if not changes:
        return None
    return ChangeSetPlan(key=f"texts-{version.title}-{_short(changes)}", summary=summary,
                         request=request(f"{manifest.package_name} texts", changes))


def _texts(delivery: dict) -> tuple:
    option = json.loads(json.dumps(delivery["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"]))
    for fixed in ("SageMakerModelPackageArn", "AccessRoleArn"):
        option.pop(fixed, None)
    return option, delivery["Version"]["ReleaseNotes"]


def restriction(manifest: Manifest, state: ProductState, title: str) -> ChangeSetPlan:
    version = state.version(title)
    return ChangeSetPlan(key=f"restrict-{title}", summary=[f"restrict version {title}: no new subscribers; current "
                                                           f"ones keep it, supported for {rules.RESTRICT_SUPPORT_DAYS} days"],
                         request=request(f"{manifest.name} restrict {title}",
                                         [change("RestrictDeliveryOptions", PRODUCT, state.product_id,
                                                 {"DeliveryOptionIds": [version.delivery_option_id]})]))


def _pricing_line(manifest: Manifest, types: dict) -> str:
    pricing = manifest.pricing
    count = len(types["realtime"]) + len(types["batch"])
    if pricing.model == "hourly":
        what = "hourly"
    elif pricing.model == "inference":
        what = f"USD {_price(pricing.inference)} per inference"
    else:
        what = "free"
    trial = f", {pricing.free_trial_days}-day free trial" if pricing.free_trial_days else ""
    return f"price every supported type ({count}: real-time and batch), {what}{trial}"


def _eula_line(manifest: Manifest) -> str:
    eula = manifest.listing.eula or "standard"
    return "the Standard Contract for AWS Marketplace" if eula == "standard" else f"EULA at {eula}"


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _short(doc) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
