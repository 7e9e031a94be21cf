"""The Catalog API change set that adds this version to the Marketplace product
(`MachineLearningProduct@1.0`, `AddDeliveryOptions`, marketplace-contract.md §1.6), built as plain
data, and checked against the field limits and patterns of the Catalog's shapes (CAT) and against
botocore's model of StartChangeSet."""

from __future__ import annotations

import re

from package import rules

CHANGESET = "changeset.json"
ENTITY_TYPE = "MachineLearningProduct@1.0"


def details(*, sources, usage: str, urls: dict, samples: list, texts: dict) -> dict:
    """The AddDeliveryOptions DetailsDocument."""
    manifest, listing = sources.manifest, sources.listing
    model = manifest.model
    features = model.features
    realtime = next(s for s in samples if s.kind == "realtime")
    batch = next(s for s in samples if s.kind == "batch")

    def sample(side: str) -> dict:
        out = {"RealtimeInferenceUrl": urls[getattr(realtime, side)], "BatchTransformUrl": urls[getattr(batch, side)]}
        for key, item in (("RealtimeInferenceText", realtime), ("BatchTransformText", batch)):
            text = texts[getattr(item, side)]
            if 0 < len(text) <= 10000:  # the text goes along only when all of it fits
                out[key] = text
        return out

    serving = manifest.serving
    option = {
        "UsageInstructions": usage,
        "SampleNotebookUrl": listing.sample_notebook_url or urls["notebook"],
        "RepositoryUrl": listing.repository_url,
        "InputProperties": {
            "Description": f"Content types: {', '.join(serving.content_types)}. "
                           + (f"{len(features)} features per record: {', '.join(f.name for f in features)}. "
                              if features else "") + "Formats and limits: see the usage instructions.",
            "Limitations": listing.limitations.strip(),
            "SampleInput": sample("input"),
            "Parameters": [_parameter(f) for f in features][:35],
        },
        "OutputProperties": {
            "Description": f"Content types: {', '.join(serving.accept_types)} (default "
                           f"{serving.default_accept}). One answer per input record"
                           + (f": {model.output_name}, {model.output_description or ''}." if model.output_name else "."),
            "SampleOutput": sample("output"),
        },
        "RecommendedInstanceTypes": {"RealtimeInference": sources.recommended["realtime"],
                                     "BatchTransform": sources.recommended["batch"]},
        "SageMakerModelPackageArn": sources.arn,
        "AccessRoleArn": listing.access_role_arn,
    }
    if model.output_name:
        option["OutputProperties"]["Parameters"] = [
            {"Name": model.output_name, "Description": model.output_description or model.output_name,
             "AlwaysReturned": True}]
    notes = listing.notes_for(manifest.version) or f"{manifest.name} {manifest.version}. {manifest.description}"
    return {"Version": {"VersionTitle": manifest.version, "ReleaseNotes": notes.strip()},
            "DeliveryOptions": [{"Details": {"SageMakerModelPackageDeliveryOptionDetails": option}}]}


def request(details_document: dict, *, product_id: str | None, name: str) -> dict:
    """StartChangeSet's parameters; Intent is set by the caller (VALIDATE first, then APPLY)."""
    entity = {"Type": ENTITY_TYPE}
    if product_id:
        entity["Identifier"] = product_id
    return {"Catalog": "AWSMarketplace", "ChangeSetName": name[:100],
            "ChangeSet": [{"ChangeType": "AddDeliveryOptions", "Entity": entity, "DetailsDocument": details_document}]}


def problems(details_document: dict) -> list[str]:
    """Each field outside the Catalog's limits or patterns, and each required field missing (CAT)."""
    found = []
    for path in rules.CATALOG_REQUIRED:
        if not list(_values(details_document, path)):
            found.append(f"{path}: required")
    for path, limits in rules.CATALOG_FIELDS.items():
        for where, value in _values(details_document, path):
            found += string_problems(where, value, *limits)
    for path, most in rules.CATALOG_LIST_MAX.items():
        for where, value in _values(details_document, path):
            if len(value) > most:
                found.append(f"{where}: {len(value)} items; at most {most}")
    return found


def string_problems(where: str, value, low: int, high: int, pattern: str | None, source: str = "") -> list[str]:
    """A Catalog string field against its length and pattern (CAT)."""
    suffix = f" ({source})" if source else ""
    if not isinstance(value, str):
        return [f"{where}: must be a string, not {type(value).__name__}"]
    if not low <= len(value) <= high:
        return [f"{where}: {len(value)} characters; allowed {low} to {high}{suffix}"]
    if pattern and not re.match(pattern, value):
        return [f"{where}: {value[:80]!r} does not match {pattern}{suffix}"]
    return []


def botocore_problems(params: dict) -> list[str]:
    """What botocore's own validator says about StartChangeSet with these parameters (the real
    service model: types, required members, minimum lengths)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("marketplace-catalog").operation_model("StartChangeSet")
    report = ParamValidator().validate(params, model.input_shape)
    return [line.strip() for line in report.generate_report().splitlines() if line.strip()] if report.has_errors() else []


def _parameter(feature) -> dict:
    constraints = []
    if feature.categories:
        constraints.append("one of " + ", ".join(map(str, feature.categories)))
    if feature.range:
        constraints.append(f"from {feature.range[0]} to {feature.range[1]}")
    if feature.unit:
        constraints.append(f"unit {feature.unit}")
    item = {"Name": feature.name, "Description": feature.description or bare_description(feature.name, feature.type),
            "Required": bool(feature.required)}
    if constraints:
        item["Constraints"] = f"{feature.type}, " + "; ".join(constraints)
    return item


def bare_description(name: str, kind: str) -> str:
    """What a feature without a description is called in the change set, where the field is
    required; the lint refuses it (`is_bare`)."""
    return f"{name} ({kind})"


def is_bare(name: str, description: str) -> bool:
    return re.fullmatch(re.escape(name) + r" \(\w+\)", description or "") is not None


def _values(node, path: str, where: str = ""):
    """(dotted location, value) for each value at `path`, where `name[]` walks each item of a list."""
    if not path:
        yield where, node
        return
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head[:-2] if many else head
    if not isinstance(node, dict) or key not in node:
        return
    child = node[key]
    here = f"{where}.{key}" if where else key
    if many:
        for i, item in enumerate(child if isinstance(child, list) else []):
            yield from _values(item, rest, f"{here}[{i}]")
    else:
        yield from _values(child, rest, here)
