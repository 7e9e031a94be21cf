"""What `mpkit release` would send, planned without any call: the first release's change set, the
checks that refuse a release before anything is sent, and botocore's verdict on every request."""

from __future__ import annotations

import json

import pytest

from listing import release_checks
from listing import release_plan as rp
from listing.changeset import botocore_problems
from package.manifest import load_manifest
from tests.conftest import DELETE, write_manifest

ARN = "arn:aws:sagemaker:us-east-1:111122223333:model-package/diabetes-progression-1-0-0"
DELIVERY = {"Version": {"VersionTitle": "1.0.0", "ReleaseNotes": "First."},
            "DeliveryOptions": [{"Details": {"SageMakerModelPackageDeliveryOptionDetails": {
                "UsageInstructions": "Send CSV.", "SampleNotebookUrl": "https://example.com/n.ipynb",
                "RepositoryUrl": "https://example.com/r", "SageMakerModelPackageArn": "x", "AccessRoleArn": "y",
                "InputProperties": {"Description": "CSV", "Limitations": "none"},
                "OutputProperties": {"Description": "CSV"},
                "RecommendedInstanceTypes": {"RealtimeInference": "ml.m5.large", "BatchTransform": "ml.m5.large"}}}}]}


def _manifest(product, tmp_path, **changes):
    folder = tmp_path / "p"
    folder.mkdir(exist_ok=True)
    (folder / "example").exists() or (folder / "example").symlink_to(product / "example")
    return load_manifest(write_manifest(folder, **changes))


def _first(m):
    return rp.first_release(m, delivery=rp.delivery_for(DELIVERY, ARN, m.listing.access_role_arn),
                            long_description="# The product\n\nWhat it does.")


def test_a_first_release_is_one_change_set_that_makes_and_releases_product_and_offer(product, tmp_path):
    m = _manifest(product, tmp_path)
    plan = _first(m)
    kinds = [(c["ChangeType"], c["Entity"]["Type"]) for c in plan.request["ChangeSet"]]
    assert kinds == [("CreateProduct", rp.PRODUCT), ("UpdateInformation", rp.PRODUCT), ("UpdateTargeting", rp.PRODUCT),
                     ("AddDeliveryOptions", rp.PRODUCT), ("CreateOffer", rp.OFFER), ("UpdateInformation", rp.OFFER),
                     ("UpdatePricingTerms", rp.OFFER), ("UpdateLegalTerms", rp.OFFER), ("UpdateSupportTerms", rp.OFFER),
                     ("ReleaseProduct", rp.PRODUCT), ("ReleaseOffer", rp.OFFER)]
    changes = plan.request["ChangeSet"]
    # the later changes name the new entities by reference, so nothing exists before the whole set is valid
    assert all(c["Entity"].get("Identifier") == rp.PRODUCT_REF for c in changes[1:4] + changes[9:10])
    assert changes[4]["DetailsDocument"] == {"ProductId": rp.PRODUCT_REF}
    assert all(c["Entity"].get("Identifier") == rp.OFFER_REF for c in changes[5:9] + changes[10:])
    option = changes[3]["DetailsDocument"]["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"]
    assert option["SageMakerModelPackageArn"] == ARN and option["AccessRoleArn"] == m.listing.access_role_arn
    assert changes[2]["DetailsDocument"] == {"PositiveTargeting": {"BuyerAccounts": ["111122223333"]}}
    info = changes[1]["DetailsDocument"]
    assert info["ProductTitle"] == m.listing.title and len(info["Highlights"]) == 3 and info["LogoUrl"].startswith("https://")
    assert botocore_problems({**plan.request, "Intent": "VALIDATE", "ClientRequestToken": plan.token("VALIDATE")}) == []
    assert release_checks.plan_problems([plan]) == []
    assert plan.token("VALIDATE") != plan.token("APPLY") and plan.token("APPLY") == _first(m).token("APPLY")


def test_pricing_covers_every_supported_type_real_time_and_batch(product, tmp_path):
    m = _manifest(product, tmp_path)
    terms = rp.pricing_terms(m, rp.supported_types(m))
    card = {c["DimensionKey"]: c["Price"] for c in terms["Terms"][0]["RateCards"][0]["RateCard"]}
    assert card == {"ml.m5.large.m.i.r": "0.2", "ml.m5.xlarge.m.i.r": "0.4", "ml.c5.xlarge.m.i.r": "0.4",
                    "ml.m5.large.m.i.b": "0.1", "ml.m5.xlarge.m.i.b": "0.1", "inference.count.m.i.c": "0"}
    trial = terms["Terms"][1]
    assert trial["Type"] == "FreeTrialPricingTerm" and trial["Duration"] == "P14D" and len(trial["Grants"]) == 6

    metered = _manifest(product, tmp_path, pricing={"model": "inference", "inference": 0.0002})
    card = {c["DimensionKey"]: c["Price"] for c in rp.pricing_terms(metered, rp.supported_types(metered))["Terms"][0]
            ["RateCards"][0]["RateCard"]}
    assert card["inference.count.m.i.c"] == "0.0002" and card["ml.m5.large.m.i.r"] == "0"

    free = _manifest(product, tmp_path, pricing={"model": "free"})
    terms = rp.pricing_terms(free, rp.supported_types(free))
    assert {c["Price"] for c in terms["Terms"][0]["RateCards"][0]["RateCard"]} == {"0"} and len(terms["Terms"]) == 1


@pytest.mark.parametrize("changes, field, words", [
    ({"pricing": {"model": "hourly", "realtime": {"ml.m5.large": 0.2}, "batch": 0.1}}, "pricing.realtime",
     "no realtime price for ml.m5.xlarge, ml.c5.xlarge"),
    ({"pricing": {"model": "inference"}}, "pricing.inference", "needs the price of one inference"),
    ({"pricing": {"model": "free", "batch": 0.1}}, "pricing.batch", "a free product charges nothing"),
    ({"pricing.free_trial_days": 60}, "pricing.free_trial_days", "14 to 30 days"),
    ({"listing.recommended": {"realtime": "ml.g5.xlarge"}}, "listing.recommended.realtime",
     "INVALID_RECOMMENDED_INSTANCE_TYPE"),
    ({"listing.highlights": []}, "listing.highlights", "1 to 3 highlights"),
    ({"listing.title": DELETE}, "listing.title", "product's title"),
    ({"listing.eula": "ftp://eula"}, "listing.eula", "neither `standard` nor an https URL"),
])
def test_a_release_is_refused_at_its_field_before_any_call(product, tmp_path, changes, field, words):
    m = _manifest(product, tmp_path, **changes)
    problems = release_checks.manifest_problems(m, local=True)
    assert any(f": {field}:" in p and words in p and "fix:" in p for p in problems), problems


def test_a_feature_without_description_is_refused(product, tmp_path):
    data = json.loads(json.dumps(load_manifest(product / "manifest.yaml")._raw["model"]["features"]))
    del data[0]["description"]
    m = _manifest(product, tmp_path, **{"model.features": data})
    assert any("model.features.0.description" in p and "'age'" in p for p in release_checks.manifest_problems(m, local=True))


def test_the_documentation_account_and_the_example_repository_pass_only_the_local_target(product, tmp_path):
    m = _manifest(product, tmp_path)
    assert release_checks.manifest_problems(m, local=True) == []
    problems = release_checks.manifest_problems(m, local=False)
    assert len(problems) == 2
    assert "listing.access_role_arn" in problems[0] and "123456789012" in problems[0]
    assert "listing.repository_url" in problems[1] and "example repository" in problems[1]


def test_the_catalog_limits_of_the_product_page_are_checked_with_their_source(product, tmp_path):
    m = _manifest(product, tmp_path, **{"listing.title": "T" * 73, "listing.highlights": ["h"] * 4,
                                        "listing.keywords": ["k" * 51]})
    found = release_checks.plan_problems([_first(m)])
    assert any("ProductTitle: 73 characters; allowed 1 to 72 (CAT)" in p for p in found), found
    assert any("Highlights: 4 items; allowed 1 to 3 (CAT)" in p for p in found)
    assert any("SearchKeywords[0]: 51 characters" in p for p in found)


def test_a_later_version_prices_the_types_it_adds(product, tmp_path):
    m = _manifest(product, tmp_path, **{"version": "1.1.0", "instance_types.realtime": ["ml.m5.large", "ml.c5.2xlarge"],
                                        "pricing.realtime": 0.3})
    state = rp.ProductState(product_id="prod-1", offer_id="offer-1",
                            versions=(rp.VersionState("1.0.0", "arn:old", "d-1"),),
                            dimensions=("ml.m5.large.m.i.r", "ml.m5.xlarge.m.i.r", "ml.m5.large.m.i.b",
                                        "ml.m5.xlarge.m.i.b", "inference.count.m.i.c"))
    plan = rp.new_version(m, state, delivery=rp.delivery_for(DELIVERY, ARN, m.listing.access_role_arn),
                          long_description="x")
    assert [c["ChangeType"] for c in plan.request["ChangeSet"]] == ["UpdateInformation", "AddDeliveryOptions", "UpdatePricingTerms"]
    card = {c["DimensionKey"] for c in plan.request["ChangeSet"][2]["DetailsDocument"]["Terms"][0]["RateCards"][0]["RateCard"]}
    assert {"ml.c5.2xlarge.m.i.r", "ml.m5.xlarge.m.i.r", "ml.m5.large.m.i.r"} <= card  # old types keep their price
    assert "new: ml.c5.2xlarge (realtime)" in plan.summary[2]


def test_listing_submit_to_real_aws_refuses_the_example_values_before_anything(product, tmp_path):
    from listing.runner import make_listing
    from package.aws import Target
    from package.manifest import ManifestError

    m = _manifest(product, tmp_path)
    with pytest.raises(ManifestError, match="documentation account"):
        make_listing(m, submit_to=Target(region="us-east-1"), engine=object(), say=lambda _: None)


def test_a_hand_broken_release_record_is_kept_aside_and_the_run_starts_afresh(tmp_path):
    from listing.release_record import ReleaseRecord

    path = ReleaseRecord.path_for(tmp_path, "p", "aws")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    record = ReleaseRecord.load(path)
    assert record.product_id is None and path.with_suffix(".unreadable.json").read_text() == "{not json"
