"""`mpkit resolve`: the model package ARN of a product for the session's Region. AWS Marketplace
copies a listed package into every Region under an AWS-owned account, each with its own ARN
(marketplace-lifecycle.md §1, "Each region has its own ARN"), and no documented buyer API returns
them. What does carry them, in order: the Catalog's DescribeEntity on the product, which answers
its seller (Versions[].Sources[].ModelPackageArn), and the listing folder's index, whose
Region -> ARN map the seller publishes with the listing. Where neither has the Region, the one
manual step is named."""

from __future__ import annotations

import json
from pathlib import Path

from package.errors import AwsError, ConfigurationError, NotSubscribed

from .sources import ARN_PATTERN

MANUAL_STEP = ("In AWS Marketplace, open Manage subscriptions, choose the product, then Launch new instance (or "
               "Continue to Configuration), pick the Region: the page shows the model package ARN for it. Pass it "
               "as --model-package.")


def resolve(*, product_id: str, region: str, catalog=None, listing_index: Path | None = None,
            version: str | None = None) -> dict:
    """{"arn", "region", "source", "version"}; NotSubscribed naming the manual step when nothing has it."""
    if not product_id.startswith("prod-"):
        raise ConfigurationError(f"{product_id!r} is not a product ID", hint="it looks like prod-abc123...")
    tried = []
    if catalog is not None:
        try:
            found = _from_catalog(catalog, product_id, region, version)
            if found:
                return found
            tried.append("the Catalog's description of the product names no package in " + region)
        except (AwsError, ConfigurationError) as exc:  # not this account's product, or no credentials
            tried.append(f"the Catalog's description of the product is not readable here "
                         f"({getattr(exc, 'code', '') or str(exc).splitlines()[0]})")
    if listing_index is not None and listing_index.is_file():
        index = json.loads(listing_index.read_text())
        arn = (index.get("model_package_arns") or {}).get(region)
        if arn:
            return {"arn": arn, "region": region, "source": str(listing_index), "version": index.get("version")}
        tried.append(f"{listing_index} has no ARN for {region} (it has {', '.join(index.get('model_package_arns') or {})})")
    raise NotSubscribed(f"no model package ARN for {product_id} in {region}: " + "; ".join(tried or ["nothing to ask"]),
                        hint=MANUAL_STEP)


def _from_catalog(catalog, product_id: str, region: str, version: str | None) -> dict | None:
    entity = catalog.call("describe_entity", EntityId=product_id)
    details = entity.get("DetailsDocument") or json.loads(entity.get("Details") or "{}")
    versions = details.get("Versions") or []
    if version:
        versions = [v for v in versions if v.get("VersionTitle") == version]
    for v in reversed(versions):  # the latest version first
        for source in v.get("Sources") or []:
            arn = source.get("ModelPackageArn") or ""
            match = ARN_PATTERN.match(arn)
            if match and match.group(1) == region:
                return {"arn": arn, "region": region, "source": f"Catalog DescribeEntity {product_id}",
                        "version": v.get("VersionTitle")}
    return None
