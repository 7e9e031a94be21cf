"""`mpkit release`: the published package onto AWS Marketplace as a version of the product, from
the manifest, the publish record and the listing folder. A first release creates, describes,
prices and releases the product and its offer in one change set; a later version adds one
delivery option and prices any type it adds; `--restrict` restricts an old version; changed texts
go as updates. Each change set is sent with Intent=VALIDATE, and with `apply` then APPLY; each
id is recorded before the wait, so a run cut off anywhere carries on (release_record.py). A dry
run calls nothing that changes anything and needs no credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from package import rules
from package.build import build_dir
from package.errors import AwsError, ConfigurationError, ListingRejected
from package.manifest import Manifest, ManifestError
from package.publish_record import PublishRecord, ReleaseStep

from . import access_role, release_checks
from . import release_plan as rp
from .catalog import Catalog, created_entities, intents
from .lint import INDEX
from .release_record import ReleaseRecord


@dataclass
class ReleaseResult:
    product: str
    version: str
    target: str
    dry_run: bool
    apply: bool
    plans: list = field(default_factory=list)  # ChangeSetPlan, in order
    sent: list = field(default_factory=list)  # {key, intent, id, status}
    problems: list = field(default_factory=list)  # a dry run's findings that a real run refuses
    notes: list = field(default_factory=list)
    product_id: str | None = None
    offer_id: str | None = None
    package_arn: str | None = None
    record: str | None = None

    def requests(self) -> list:
        """Every StartChangeSet request, in the order it is (or would be) sent."""
        out = []
        for plan in self.plans:
            for intent in intents(self.apply):
                out.append({"key": plan.key, "intent": intent, "summary": plan.summary,
                            "request": {**plan.request, "Intent": intent, "ClientRequestToken": plan.token(intent)}})
        return out

    def to_dict(self) -> dict:
        return {"product": self.product, "version": self.version, "target": self.target, "dry_run": self.dry_run,
                "apply": self.apply, "package_arn": self.package_arn, "product_id": self.product_id,
                "offer_id": self.offer_id, "change_sets": self.requests(), "sent": self.sent,
                "problems": self.problems, "notes": self.notes, "record": self.record}

    def table(self) -> str:
        lines = []
        for n, plan in enumerate(self.plans, 1):
            lines.append(f"  change set {n}: {plan.key} ({len(plan.request['ChangeSet'])} changes, "
                         + ("VALIDATE then APPLY)" if self.apply else "VALIDATE only; --apply applies it)"))
            width = max(len(c["ChangeType"]) for c in plan.request["ChangeSet"])
            entity_width = max(len(_entity(c)) for c in plan.request["ChangeSet"])
            for item, line in zip(plan.request["ChangeSet"], _lines(plan), strict=True):
                lines.append(f"    {item['ChangeType'].ljust(width)}  {_entity(item).ljust(entity_width)}  {line}")
        return "\n".join(lines) if lines else "  nothing to send: the product already has this version, unchanged"


def release(manifest: Manifest, *, target: str, aws=None, catalog_aws=None, dry_run: bool = False,
            apply: bool = False, restrict: str | None = None, create_access_role: bool = False,
            publish=None, listing_folder: Path | None = None, record_path: Path | None = None,
            poll: float = 5.0, wait_timeout: float = 6 * 3600, say=print) -> ReleaseResult:
    """`aws` reaches IAM, STS and SageMaker in the package's Region, `catalog_aws` the Catalog (us-east-1);
    either may be None in a dry run. `publish()` publishes the package when the record has none."""
    m = manifest
    if not m.listing:
        raise ConfigurationError(f"{m.where()}: the manifest has no `listing:` section",
                                 hint="add it (see the example manifest.yaml): a release is made from it")
    result = ReleaseResult(product=m.name, version=m.version, target=target, dry_run=dry_run, apply=apply)
    problems = release_checks.manifest_problems(m, local=target != "aws")  # refused where AWS is real
    _refuse_or_note(problems, result)

    record = ReleaseRecord.load(ReleaseRecord.path_for(m.root, m.name, target), persist=not dry_run)
    result.record = str(record.path)
    publish_path = record_path or PublishRecord.path_for(m.root, m.package_name, target)
    published = PublishRecord.load(publish_path, persist=not dry_run)
    arn = published.package.arn
    if not arn:
        if dry_run:
            arn = _expected_arn(m, aws, result.notes)
            result.notes.append(f"no package is published for {m.version} on this target ({publish_path}): "
                                f"a release first publishes it, as {arn}")
        elif publish is None:
            raise ConfigurationError(f"{publish_path}: no published package for {m.version}",
                                     hint="run `mpkit publish` first")
        else:
            say(f"no package published for {m.version} yet: publishing it first")
            published = publish()
            arn = published.package.arn
    result.package_arn = arn
    delivery, long_description = read_listing_folder(m, folder=listing_folder or build_dir(m) / "listing")
    delivery = rp.delivery_for(delivery, arn, m.listing.access_role_arn)

    catalog = Catalog(catalog_aws, poll=poll, timeout=wait_timeout, say=say) if catalog_aws else None
    product_id = m.listing.product_id or record.product_id
    offer_id = m.listing.offer_id or record.offer_id
    state = rp.ProductState(product_id=product_id, offer_id=offer_id, versions=tuple(
        rp.VersionState(title, v.get("arn"), v.get("delivery_option_id"),
                        "Restricted" if v.get("restricted_at") else "Public")
        for title, v in record.versions().items()))  # what the record knows, when the Catalog is not read
    if product_id and catalog:
        try:
            state = catalog.product_state(product_id, offer_id)
        except (AwsError, ConfigurationError) as exc:
            if not dry_run:
                raise
            result.notes.append(f"the product {product_id} could not be read ({exc}); planned as it is recorded")
    elif product_id and dry_run:
        result.notes.append(f"the product {product_id} was not read (no Catalog endpoint in a dry run)")
    result.product_id, result.offer_id = state.product_id, state.offer_id

    result.plans = plan(m, state, record, delivery=delivery, long_description=long_description, restrict=restrict)
    _refuse_or_note(release_checks.plan_problems(result.plans), result)
    if dry_run:
        return result

    if aws is not None:
        if create_access_role:
            access_role.ensure(aws, m.listing.access_role_arn, package_arn=arn, product=m.name,
                               repository_arn=published.repository.arn,
                               artifact_uri=published.upload("model_artifact").uri, say=say)
        checked = access_role.check(aws, m.listing.access_role_arn, package_arn=arn)
        result.notes += checked.notes
        if not checked.ok:
            raise ListingRejected("the access role would be refused (INVALID_ACCESS_ROLE):\n  " + "\n  ".join(checked.problems),
                                  hint="fix it as said above, then run `mpkit release` again")
        _require_completed(aws, arn)
    if catalog is None:
        raise ConfigurationError("no Catalog API to send the change sets to",
                                 hint="the local target has none: use --dry-run, or --catalog-endpoint-url")
    for change_set in result.plans:
        for intent in intents(apply):
            described = catalog.run(change_set, intent, record)
            result.sent.append({"key": change_set.key, "intent": intent, "id": described["ChangeSetId"],
                                "status": described["Status"]})
            if intent == "APPLY":
                _applied(m, change_set, described, catalog, record, published, arn, delivery, say)
    result.product_id, result.offer_id = record.product_id or result.product_id, record.offer_id or result.offer_id
    return result


def plan(m: Manifest, state: rp.ProductState, record: ReleaseRecord, *, delivery: dict, long_description: str,
         restrict: str | None) -> list:
    """The change sets to send, in order; refuses up front what the Catalog would refuse later."""
    if restrict:
        version = state.version(restrict) if state.exists else None
        if not state.exists:
            raise ConfigurationError("there is no product to restrict a version of",
                                     hint="release it first; listing.product_id names an existing product")
        if version is None:
            raise ConfigurationError(f"the product has no version {restrict!r}; it has "
                                     f"{', '.join(v.title for v in state.versions) or 'none'}")
        if version.visibility == "Restricted":
            return []
        if [v.title for v in state.open_versions] == [restrict]:
            raise ConfigurationError(f"version {restrict} is the product's last open version: AWS Marketplace never "
                                     "restricts the last one (ml-restrict-version)",
                                     hint="release the version that replaces it first, then restrict this one")
        return [rp.restriction(m, state, restrict)]
    if not state.exists:
        return [rp.first_release(m, delivery=delivery, long_description=long_description)]

    arn = delivery["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"]["SageMakerModelPackageArn"]
    existing = state.version(m.version)
    if existing is None:
        same_package = next((v for v in state.versions if v.arn == arn), None)
        if same_package:
            raise ConfigurationError(f"{arn} is already version {same_package.title} of the product (DUPLICATE_ASSET)",
                                     hint="a version's package never changes: publish this version as its own package "
                                          "(raise the manifest's version and run `mpkit publish`)")
        return [rp.new_version(m, state, delivery=delivery, long_description=long_description)]
    if existing.arn and existing.arn != arn:
        raise ConfigurationError(f"{m.where('version')}: version {m.version} is already on the product with the package "
                                 f"{existing.arn}, not {arn} (DUPLICATE_VERSION_TITLE)",
                                 hint="raise the manifest's version: a new image or model is a new version")
    texts = rp.texts_update(m, existing, state, delivery=delivery, recorded_digest=record.version(m.version).get("texts"),
                            long_description=long_description)
    return [texts] if texts else []


def read_listing_folder(m: Manifest, *, folder: Path) -> tuple[dict, str]:
    """The AddDeliveryOptions document and the description `mpkit listing` wrote for this version."""
    index_path = folder / INDEX
    if not index_path.is_file():
        raise ConfigurationError(f"{folder}: no listing folder for {m.name}", hint="run `mpkit listing` first")
    index = json.loads(index_path.read_text())
    if index.get("version") != m.version or index.get("product") != m.name:
        raise ConfigurationError(f"{folder}: the listing folder is for {index.get('product')} {index.get('version')}, "
                                 f"not {m.name} {m.version}", hint="run `mpkit listing` for this manifest")
    items = index.get("items") or {}
    params = json.loads((folder / items.get("changeset", "changeset.json")).read_text())
    delivery = next(c["DetailsDocument"] for c in params["ChangeSet"] if c["ChangeType"] == "AddDeliveryOptions")
    description = (folder / items.get("description", "DESCRIPTION.md")).read_text()
    return delivery, description


def restrict_support_until(at: datetime) -> str:
    return (at + timedelta(days=rules.RESTRICT_SUPPORT_DAYS)).date().isoformat()


def _applied(m, change_set, described, catalog, record, published, arn, delivery, say) -> None:
    """After an APPLY: the new entities' ids, this version's delivery option, the restriction date."""
    made = created_entities(described)
    record.entities(product_id=made.get(rp.PRODUCT), offer_id=made.get(rp.OFFER))
    now = datetime.now(timezone.utc)
    if change_set.key.startswith("restrict-"):
        title = change_set.key[len("restrict-"):]
        record.set_version(title, restricted_at=now.isoformat(timespec="seconds"),
                           support_until=restrict_support_until(now))
        say(f"version {title} restricted; existing subscribers must be supported until {restrict_support_until(now)}")
        return
    state = catalog.product_state(record.product_id, record.offer_id)
    version = state.version(m.version)
    record.set_version(m.version, arn=arn, delivery_option_id=version.delivery_option_id if version else None,
                       texts=rp.texts_digest(delivery), released_at=now.isoformat(timespec="seconds"))
    if published.persist and published.package.arn:
        published.done(ReleaseStep(product_id=record.product_id, offer_id=record.offer_id,
                                   delivery_option_id=version.delivery_option_id if version else None,
                                   change_set_id=described["ChangeSetId"]))


def _require_completed(aws, arn: str) -> None:
    described = aws.call("sagemaker", "describe_model_package", ModelPackageName=arn)
    status = described.get("ModelPackageStatus")
    if status != "Completed" or not described.get("CertifyForMarketplace"):
        raise ListingRejected(f"{arn} is {status}" + ("" if described.get("CertifyForMarketplace") else
                                                      ", not certified for Marketplace"),
                              hint="AWS Marketplace copies only a Completed, certified package (ASSET_VALIDATION_EXCEPTION "
                                   "otherwise): `mpkit status --wait`, then release")


def _expected_arn(m: Manifest, aws, notes: list) -> str:
    """The ARN `mpkit publish` will make: its name is the package name, in this account and Region."""
    account = region = None
    if aws is not None:
        region = aws.region
        try:
            account = aws.call("sts", "get_caller_identity")["Account"]
        except (AwsError, ConfigurationError):
            account = None
    if not (m.publish.region or region):
        region = "us-east-1"
        notes.append("no Region is configured (publish.region, --region, AWS_REGION): the plan assumes us-east-1")
    region = m.publish.region or region
    if not account:
        role = m.validation.role if m.validation else ""
        account = role.split(":")[4] if role.count(":") >= 5 else "000000000000"
    return f"arn:aws:sagemaker:{region}:{account}:model-package/{m.package_name}"


def _refuse_or_note(problems: list, result: ReleaseResult) -> None:
    if not problems:
        return
    if result.dry_run:
        result.problems += problems
    else:
        raise ManifestError(problems)


def _entity(item: dict) -> str:
    entity = item["Entity"]
    ident = entity.get("Identifier") or "(new)"
    if ident.startswith("$"):
        ident = "(new " + ("product" if "Product" in ident else "offer") + ")"
    return f"{entity['Type'].split('@')[0]} {ident}"


def _lines(plan) -> list:
    """One readable line per change; the plan's summary when it says one thing per change."""
    items = plan.request["ChangeSet"]
    out = []
    for item in items:
        doc = item.get("DetailsDocument") or {}
        kind = item["ChangeType"]
        if kind == "CreateProduct":
            out.append(f"title {doc.get('ProductTitle')!r}")
        elif kind == "UpdateInformation" and "ProductTitle" in doc:
            out.append(f"{len(doc.get('Highlights') or [])} highlights, {len(doc.get('SearchKeywords') or [])} keywords, "
                       f"categories {', '.join(doc.get('Categories') or []) or '-'}")
        elif kind == "UpdateInformation":
            out.append(f"offer name {doc.get('Name')!r}")
        elif kind == "UpdateTargeting":
            out.append("allowlist " + ", ".join(doc["PositiveTargeting"]["BuyerAccounts"]))
        elif kind == "AddDeliveryOptions":
            option = doc["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"]
            out.append(f"version {doc['Version']['VersionTitle']}: {option['SageMakerModelPackageArn']}")
        elif kind == "UpdatePricingTerms":
            card = doc["Terms"][0]["RateCards"][0]["RateCard"]
            priced = [f"{c['DimensionKey']}={c['Price']}" for c in card]
            trial = next((t["Duration"] for t in doc["Terms"] if t["Type"] == "FreeTrialPricingTerm"), None)
            out.append(f"{len(card)} dimensions (USD): " + ", ".join(priced) + (f"; free trial {trial}" if trial else ""))
        elif kind == "UpdateLegalTerms":
            out.append(doc["Terms"][0]["Documents"][0]["Type"])
        elif kind == "UpdateSupportTerms":
            out.append("refund policy")
        elif kind == "RestrictDeliveryOptions":
            out.append("delivery option " + ", ".join(doc["DeliveryOptionIds"]))
        elif kind == "UpdateDeliveryOptions":
            out.append(f"version {doc['Version']['VersionTitle']}: usage, samples, release notes")
        elif kind == "CreateOffer":
            out.append("public offer of the new product")
        elif kind == "ReleaseProduct":
            out.append("Draft -> Limited: the allowlisted accounts can see and subscribe")
        elif kind == "ReleaseOffer":
            out.append("the offer applies to every buyer who can see the product")
        else:
            out.append("")
    return out
