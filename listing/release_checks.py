"""Before `mpkit release` sends anything: every field of every planned change set within the
Catalog's limits (CAT, MP-REQ), pricing for every supported type, recommended types among the
supported ones, no value left from AWS's documentation or mpkit's example, and each request
accepted by botocore's model of StartChangeSet. Each problem names the manifest field and its fix.
"""

from __future__ import annotations

import re

from package import rules
from package.manifest import Manifest

from . import changeset as cs
from .release_plan import ChangeSetPlan


def manifest_problems(manifest: Manifest, *, local: bool) -> list[str]:
    """The manifest's own mistakes for a release; `local` (the local target) lets the example's
    account and repository through, as they are the local target's own."""
    m, listing = manifest, manifest.listing
    problems = []

    def bad(path: tuple, what: str, fix: str) -> None:
        problems.append(f"{m.where(*path)}: {'.'.join(map(str, path))}: {what}\n    fix: {fix}")

    if not listing.title:
        bad(("listing", "title"), "a release needs the product's title (ProductTitle)",
            "add listing.title: the name buyers see, at most 72 characters")
    if not listing.highlights:
        bad(("listing", "highlights"), "a listing needs 1 to 3 highlights (Highlights; CAT)",
            "add listing.highlights: what the model does best, each at most 500 characters; include its latency or "
            "throughput on the recommended instance type (MP-REQ)")
    if not listing.categories:
        bad(("listing", "categories"), "a listing needs 1 to 3 categories (Categories; CAT)",
            "add listing.categories, e.g. [Machine Learning]")
    if not listing.logo_url:
        bad(("listing", "logo_url"), "a listing needs a public https logo (LogoUrl)", "add listing.logo_url: https://...")
    eula = listing.eula or "standard"
    if eula != "standard" and not re.match(rules.CATALOG_HTTPS_URL, eula):
        bad(("listing", "eula"), f"{eula!r} is neither `standard` nor an https URL",
            "write standard (AWS's Standard Contract for AWS Marketplace) or your EULA's https URL")
    for i, feature in enumerate(m.model.features if m.model else ()):
        if not feature.description:
            bad(("model", "features", i, "description"), f"feature {feature.name!r} has no description; the listing "
                "would show it as its name and type alone", "add description: what the value means and its unit")

    pricing, types = m.pricing, {"realtime": m.instance_types.realtime, "batch": m.instance_types.batch}
    if not pricing.model:
        bad(("pricing", "model"), "a release needs the pricing model", "add pricing.model: free, hourly or inference")
    elif pricing.model == "hourly":
        for side in types:
            missing = [t for t in types[side] if pricing.hourly_rate(side, t) is None]
            if missing:
                bad(("pricing", side), f"no {side} price for {', '.join(missing)}: every supported instance type needs "
                    f"one (UPDATE_PRICING_REQUIRED; {rules.PRICING_SOURCE})",
                    f"give pricing.{side} one price for all types, or a price for each of instance_types.{side}")
    elif pricing.model == "inference":
        if not pricing.inference:
            bad(("pricing", "inference"), "inference pricing needs the price of one inference",
                "add pricing.inference: USD per inference, e.g. 0.0002")
    else:
        for key in ("realtime", "batch", "inference"):
            if getattr(pricing, key):
                bad(("pricing", key), "a free product charges nothing", f"remove pricing.{key}, or choose hourly or inference")
    if pricing.free_trial_days is not None:
        low, high = rules.FREE_TRIAL_DAYS
        if pricing.model not in ("hourly", "inference"):
            bad(("pricing", "free_trial_days"), "a free trial is for a paid product", "remove it, or price the product")
        elif not low <= pricing.free_trial_days <= high:
            bad(("pricing", "free_trial_days"), f"{pricing.free_trial_days} days; a free trial is {low} to {high} days "
                "(MP-REQ)", f"choose {low} to {high}")

    for side, chosen in (("realtime", listing.recommended_realtime), ("batch", listing.recommended_batch)):
        if chosen and chosen not in types[side]:
            bad(("listing", "recommended", side), f"{chosen} is not among instance_types.{side} "
                "(INVALID_RECOMMENDED_INSTANCE_TYPE)", f"recommend one of {', '.join(types[side])}, or add it there")

    if not local:
        problems += placeholder_problems(m)
    return problems


def placeholder_problems(m: Manifest) -> list[str]:
    """Values from AWS's documentation and mpkit's example, which must not reach real AWS Marketplace."""
    listing, problems = m.listing, []

    def bad(path: tuple, what: str, fix: str) -> None:
        problems.append(f"{m.where(*path)}: {'.'.join(map(str, path))}: {what}\n    fix: {fix}")

    if f":{rules.DOCUMENTATION_ACCOUNT}:" in listing.access_role_arn:
        bad(("listing", "access_role_arn"), f"{listing.access_role_arn} is in account {rules.DOCUMENTATION_ACCOUNT}, "
            "AWS's documentation account (and the local target's)", "use your account's role; `mpkit release "
            "--create-access-role` makes one")
    if rules.EXAMPLE_REPOSITORY in listing.repository_url:
        bad(("listing", "repository_url"), f"{listing.repository_url} is mpkit's example repository",
            "use the public repository that will host your listing folder")
    for i, account in enumerate(listing.test_accounts):
        if account == rules.DOCUMENTATION_ACCOUNT:
            bad(("listing", "test_accounts", i), f"{account} is AWS's documentation account", "list your test accounts")
    return problems


def plan_problems(plans: list[ChangeSetPlan]) -> list[str]:
    """Each planned request's fields against the Catalog's limits, and against botocore."""
    problems = []
    for plan in plans:
        for item in plan.request["ChangeSet"]:
            doc, kind = item.get("DetailsDocument") or {}, item["ChangeType"]
            where = f"{plan.key}: {kind}"
            if kind == "AddDeliveryOptions":
                problems += [f"{where}: {p}" for p in cs.problems(doc)]
            elif kind == "UpdateInformation" and item["Entity"]["Type"].startswith("MachineLearningProduct"):
                problems += [f"{where}: {p}" for p in information_problems(doc)]
            elif kind == "CreateProduct":
                problems += [f"{where}: {p}" for p in information_problems(doc)]
        problems += [f"{plan.key}: botocore: {p}" for p in cs.botocore_problems(plan.request)]
    return problems


def information_problems(doc: dict) -> list[str]:
    found = []
    for key, limits in rules.PRODUCT_FIELDS.items():
        many = key.endswith("[]")
        name = key[:-2] if many else key
        for i, value in enumerate((doc[name] if many else [doc[name]]) if name in doc else []):
            found += cs.string_problems(f"{name}[{i}]" if many else name, value, *limits, source="CAT")
    for name, (low, high) in rules.PRODUCT_LISTS.items():
        if name in doc and not low <= len(doc[name]) <= high:
            found.append(f"{name}: {len(doc[name])} items; allowed {low} to {high} (CAT)")
    return found
