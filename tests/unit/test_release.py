"""`mpkit release` end to end against moto's server (SageMaker, IAM, STS) and the Catalog emulator,
over HTTP with the real boto3: a first release, a second version, a re-run, runs cut off after
each change set, each documented error code, restricting, the access role, a dry run."""

from __future__ import annotations

import json
import urllib.request

import pytest

from listing import release_plan as rp
from listing.release import release
from listing.release_record import ReleaseRecord
from listing.sources import Sources
from listing.writer import write_documents
from package.aws import Aws, Target
from package.build import build_dir
from package.errors import AwsError, ConfigurationError, ListingRejected
from package.local_target import CREDENTIALS
from package.manifest import ManifestError, load_manifest
from package.publish_record import PackageStep, PublishRecord
from tests.catalog_emulator import CatalogEmulator
from tests.conftest import emulator_client, write_manifest
from tests.unit.test_listing import REPORT, _samples

REGION = "us-east-1"
ACCESS_ROLE = "arn:aws:iam::123456789012:role/mpkit-marketplace-access"


@pytest.fixture(autouse=True)
def fresh(moto_url):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()


@pytest.fixture
def catalog(moto_url):
    emulator = CatalogEmulator(aws_endpoint=moto_url)
    yield emulator
    emulator.close()


def _trusting_role(moto_url, name="mpkit-marketplace-access", principal="assets.marketplace.amazonaws.com"):
    iam = emulator_client(moto_url, "iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:DescribeModelPackage", "Resource": "*"}]}))


class Seller:
    """A product folder whose package is published to moto and whose listing folder is written."""

    def __init__(self, product, folder, moto_url, catalog):
        self.product, self.folder, self.moto_url, self.catalog = product, folder, moto_url, catalog
        folder.mkdir(exist_ok=True)
        if not (folder / "example").exists():
            (folder / "example").symlink_to(product / "example")
        self.lines: list[str] = []

    def version(self, version="1.0.0", *, publish=True, status_ok=True, **changes):
        m = load_manifest(write_manifest(self.folder, version=version, **changes))
        arn = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{m.package_name}"
        if publish:
            emulator_client(self.moto_url, "sagemaker").create_model_package(
                ModelPackageName=m.package_name, CertifyForMarketplace=status_ok,
                InferenceSpecification={
                    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/p@sha256:" + "a" * 64}],
                    "SupportedContentTypes": list(m.serving.content_types),
                    "SupportedResponseMIMETypes": list(m.serving.accept_types),
                    "SupportedRealtimeInferenceInstanceTypes": list(m.instance_types.realtime),
                    "SupportedTransformInstanceTypes": list(m.instance_types.batch)})
            record = PublishRecord.load(PublishRecord.path_for(m.root, m.package_name, "emulator"))
            record.done(PackageStep(arn=arn))
        listing = build_dir(m) / "listing"
        if listing.exists():
            import shutil
            shutil.rmtree(listing)
        sources = Sources(manifest=m, listing=m.listing, report=REPORT, report_path=self.folder / "validation.json",
                          metrics={"name": "rmse", "value": 57.5, "holdout_rows": 89}, arn=arn, region=REGION,
                          arns={REGION: arn})
        write_documents(sources, _samples(m, listing), listing)
        return m

    def release(self, m, **kwargs):
        kwargs.setdefault("apply", True)
        return release(m, target="emulator", aws=Aws(Target(region=REGION, endpoint_url=self.moto_url,
                                                            credentials=CREDENTIALS)),
                       catalog_aws=Aws(Target(region="us-east-1", endpoint_url=self.catalog.url, credentials=CREDENTIALS)),
                       poll=0.01, say=self.lines.append, **kwargs)

    def record(self, m) -> ReleaseRecord:
        return ReleaseRecord.load(ReleaseRecord.path_for(m.root, m.name, "emulator"))


@pytest.fixture
def seller(product, tmp_path, moto_url, catalog):
    _trusting_role(moto_url)
    return Seller(product, tmp_path / "p", moto_url, catalog)


def _starts(catalog) -> list:
    return [(c[1]["ChangeSetName"], c[1]["Intent"]) for c in catalog.calls if c[0] == "StartChangeSet"]


def test_a_first_release_creates_product_offer_pricing_and_version(seller, catalog):
    m = seller.version()
    result = seller.release(m)
    assert [s["intent"] for s in result.sent] == ["VALIDATE", "APPLY"] and {s["status"] for s in result.sent} == {"SUCCEEDED"}
    [product], [offer] = catalog.products(), catalog.offers()
    details = product["details"]
    assert details["Description"]["Visibility"] == "Limited" and details["Description"]["ProductTitle"] == m.listing.title
    assert details["Targeting"]["PositiveTargeting"]["BuyerAccounts"] == ["111122223333"]
    assert [v["VersionTitle"] for v in details["Versions"]] == ["1.0.0"]
    assert offer["details"]["State"] == "Released" and offer["details"]["ProductId"] == result.product_id
    priced = {c["DimensionKey"] for c in offer["details"]["Terms"][0]["RateCards"][0]["RateCard"]}
    assert {d["Key"] for d in details["Dimensions"]} <= priced
    record = seller.record(m)
    assert record.product_id == result.product_id and record.offer_id == result.offer_id
    version = record.version("1.0.0")
    assert version["delivery_option_id"] == details["Versions"][0]["DeliveryOptions"][0]["Id"]
    published = PublishRecord.load(PublishRecord.path_for(m.root, m.package_name, "emulator"))
    assert published.release.product_id == result.product_id


def test_a_rerun_changes_nothing_and_a_second_version_adds_one_delivery_option(seller, catalog):
    m = seller.version()
    seller.release(m)
    before = len(_starts(catalog))
    again = seller.release(m)
    assert again.plans == [] and len(_starts(catalog)) == before and "nothing to send" in again.table()

    m2 = seller.version("1.1.0", **{"instance_types.realtime": ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge",
                                                                 "ml.c5.2xlarge"],
                                    "pricing.realtime": 0.25})
    second = seller.release(m2)
    assert [p.key for p in second.plans] == ["version-1.1.0"]
    kinds = [c["ChangeType"] for c in second.plans[0].request["ChangeSet"]]
    assert kinds == ["UpdateInformation", "AddDeliveryOptions", "UpdatePricingTerms"]  # the page names the new version
    [product] = catalog.products()
    assert [v["VersionTitle"] for v in product["details"]["Versions"]] == ["1.0.0", "1.1.0"]
    assert "ml.c5.2xlarge.m.i.r" in {d["Key"] for d in product["details"]["Dimensions"]}
    assert len(catalog.products()) == 1 and len(catalog.offers()) == 1  # the record's product, not a new one
    applied = catalog.started("APPLY")[-1]
    assert [c["ChangeType"] for c in applied["ChangeSet"]].count("AddDeliveryOptions") == 1


def test_a_run_cut_off_after_each_change_set_carries_on(seller, catalog):
    m = seller.version()
    seller.release(m, apply=False)  # VALIDATE alone: a run that stopped after its first change set
    assert _starts(catalog) == [(f"{m.package_name} first release", "VALIDATE")]
    catalog.pending_polls = 1000  # the APPLY goes on for longer than this run waits
    with pytest.raises(AwsError, match="still APPLYING"):
        seller.release(m, wait_timeout=0.05)
    assert [i for _, i in _starts(catalog)] == ["VALIDATE", "APPLY"]  # VALIDATE was not sent again
    catalog.pending_polls = 0
    catalog._polls = {k: 0 for k in catalog._polls}
    done = seller.release(m)
    assert [i for _, i in _starts(catalog)] == ["VALIDATE", "APPLY"]  # the APPLY was waited on, not sent again
    assert any("started by an earlier run" in line for line in seller.lines)
    assert done.product_id and len(catalog.products()) == 1


def test_an_apply_whose_record_was_lost_is_found_by_its_token(seller, catalog):
    m = seller.version()
    first = seller.release(m)
    seller.record(m).path.unlink()  # the run died after APPLY, before it wrote anything
    again = seller.release(m)
    assert again.product_id == first.product_id and len(catalog.products()) == 1


@pytest.mark.parametrize("code", ["UPDATE_PRICING_REQUIRED", "DUPLICATE_VERSION_TITLE", "DUPLICATE_ASSET",
                                  "INVALID_ACCESS_ROLE", "INVALID_RECOMMENDED_INSTANCE_TYPE",
                                  "INCOMPATIBLE_PRODUCT_STATUS", "ASSET_VALIDATION_EXCEPTION"])
def test_each_documented_error_code_surfaces_with_its_fix(seller, catalog, code):
    from listing.catalog import FIXES

    m = seller.version()
    catalog.inject = (code, "as the Catalog says it")
    with pytest.raises(ListingRejected) as failed:
        seller.release(m)
    assert f"{code}: as the Catalog says it" in str(failed.value) and FIXES[code] in str(failed.value)
    assert catalog.started("APPLY") == [] and catalog.products() == []  # a failed VALIDATE is never applied


def test_the_catalog_itself_refuses_a_product_that_cannot_take_a_version(seller, catalog):
    m = seller.version()
    first = seller.release(m)
    catalog.entities[first.product_id]["details"]["Description"]["Visibility"] = "Restricted"
    m2 = seller.version("1.1.0")
    with pytest.raises(ListingRejected, match="INCOMPATIBLE_PRODUCT_STATUS") as failed:
        seller.release(m2)
    assert "fix: the product is not in a state" in str(failed.value)


def test_a_package_repeated_under_a_new_title_or_a_title_with_a_new_package_is_refused_up_front(seller, catalog):
    m = seller.version()
    seller.release(m)
    starts = len(_starts(catalog))
    m2 = seller.version("1.1.0", publish=False)
    PublishRecord.load(PublishRecord.path_for(m2.root, m2.package_name, "emulator")).done(
        PackageStep(arn=f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{m.package_name}"))
    with pytest.raises(ConfigurationError, match="DUPLICATE_ASSET"):
        seller.release(m2)
    m = seller.version(publish=False)  # the 1.0.0 listing folder again, now with another package on the product
    catalog.entities[seller.record(m).product_id]["details"]["Versions"][0]["Sources"][0]["ModelPackageArn"] = "arn:other"
    with pytest.raises(ConfigurationError, match="DUPLICATE_VERSION_TITLE"):
        seller.release(m)
    assert len(_starts(catalog)) == starts


def test_restricting_the_last_open_version_is_refused_before_any_call(seller, catalog):
    m = seller.version()
    seller.release(m)
    starts = len(_starts(catalog))
    with pytest.raises(ConfigurationError, match="last open version"):
        seller.release(m, restrict="1.0.0")
    assert len(_starts(catalog)) == starts

    m2 = seller.version("1.1.0")
    seller.release(m2)
    restricted = seller.release(m2, restrict="1.0.0")
    assert [p.key for p in restricted.plans] == ["restrict-1.0.0"]
    options = [o for v in catalog.products()[0]["details"]["Versions"] for o in v["DeliveryOptions"]]
    assert [o["Visibility"] for o in options] == ["Restricted", "Public"]
    kept = seller.record(m2).version("1.0.0")
    from datetime import date, timedelta
    restricted_on = date.fromisoformat(kept["restricted_at"][:10])
    assert date.fromisoformat(kept["support_until"]) == restricted_on + timedelta(days=90)  # ml-restrict-version
    assert seller.release(m2, restrict="1.0.0").plans == []  # already restricted: nothing to send


def test_changed_texts_of_a_released_version_go_as_an_update(seller, catalog):
    m = seller.version()
    seller.release(m)
    m = seller.version(publish=False, **{"listing.limitations": "Adults only; a research aid."})
    result = seller.release(m)
    kinds = [c["ChangeType"] for p in result.plans for c in p.request["ChangeSet"]]
    assert kinds == ["UpdateInformation", "UpdateDeliveryOptions"]  # the limitations are on the page and the version
    details = result.plans[0].request["ChangeSet"][1]["DetailsDocument"]["DeliveryOptions"][0]["Details"]
    assert "SageMakerModelPackageArn" not in details["SageMakerModelPackageDeliveryOptionDetails"]
    assert seller.release(m).plans == []


def test_the_access_role_is_checked_before_anything_is_sent_and_can_be_created(seller, catalog, moto_url):
    iam = emulator_client(moto_url, "iam")
    iam.delete_role_policy(RoleName="mpkit-marketplace-access", PolicyName="read")
    iam.delete_role(RoleName="mpkit-marketplace-access")
    _trusting_role(moto_url, principal="sagemaker.amazonaws.com")
    m = seller.version()
    with pytest.raises(ListingRejected, match="does not trust assets.marketplace.amazonaws.com") as failed:
        seller.release(m)
    assert "--create-access-role" in str(failed.value) and _starts(catalog) == []

    result = seller.release(m, create_access_role=True)
    assert result.product_id
    role = iam.get_role(RoleName="mpkit-marketplace-access")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "assets.marketplace.amazonaws.com"}
    policy = iam.get_role_policy(RoleName="mpkit-marketplace-access", PolicyName="mpkit-marketplace-access")
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == ["sagemaker:DescribeModelPackage"] and any(r.endswith("/diabetes-progression-*")
                                                                               for r in statement["Resource"])


def test_a_package_that_is_not_certified_is_refused_before_the_catalog_is_asked(seller, catalog):
    m = seller.version(status_ok=False)
    with pytest.raises(ListingRejected, match="not certified for Marketplace"):
        seller.release(m)
    assert _starts(catalog) == []


def test_the_manifest_mistakes_stop_a_real_release_at_their_line(seller, catalog):
    m = seller.version(**{"listing.recommended": {"batch": "ml.c5.4xlarge"}})
    with pytest.raises(ManifestError, match="listing.recommended.batch"):
        seller.release(m)
    assert catalog.calls == []


def test_the_dry_run_prints_every_request_botocore_accepts_and_sends_nothing(seller, catalog, moto_url, capsys,
                                                                           monkeypatch):
    from listing.changeset import botocore_problems
    from package.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    m = seller.version()
    code = main(["release", "--manifest", str(m.path), "--dry-run", "--json", "--apply", "--endpoint-url", moto_url,
                 "--catalog-endpoint-url", catalog.url, "--region", REGION])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and [c["intent"] for c in out["change_sets"]] == ["VALIDATE", "APPLY"]
    assert all(botocore_problems(c["request"]) == [] for c in out["change_sets"])
    kinds = [c["ChangeType"] for c in out["change_sets"][0]["request"]["ChangeSet"]]
    assert kinds[0] == "CreateProduct" and "UpdatePricingTerms" in kinds and kinds[-2:] == ["ReleaseProduct", "ReleaseOffer"]
    assert catalog.calls == [] and not ReleaseRecord.path_for(m.root, m.name, "emulator").exists()

    seller.release(m)
    calls = len(catalog.calls)
    main(["release", "--manifest", str(m.path), "--dry-run", "--json", "--endpoint-url", moto_url,
          "--catalog-endpoint-url", catalog.url, "--region", REGION])
    out = json.loads(capsys.readouterr().out)
    assert out["change_sets"] == [] and out["product_id"]
    assert {op for op, _ in catalog.calls[calls:]} <= {"DescribeEntity", "ListEntities"}  # reads only


def test_release_refuses_a_listing_folder_of_another_version(seller):
    m = seller.version()
    m2 = load_manifest(write_manifest(seller.folder, version="2.0.0"))
    PublishRecord.load(PublishRecord.path_for(m2.root, m2.package_name, "emulator")).done(PackageStep(arn="arn:x"))
    with pytest.raises(ConfigurationError, match="listing folder is for diabetes-progression 1.0.0"):
        seller.release(m2)
    assert rp.ProductState().exists is False and m.version == "1.0.0"


def test_the_emulator_refuses_what_the_catalog_refuses_when_mpkit_checks_are_bypassed(seller, catalog, moto_url):
    """The emulator's rules are its own: requests built past mpkit's checks fail there with the
    documented codes, so the tests above prove the checks, not an echo of them."""
    from listing.catalog import Catalog

    m = seller.version()
    first = seller.release(m)
    state = Catalog(Aws(Target(region="us-east-1", endpoint_url=catalog.url, credentials=CREDENTIALS))).product_state(
        first.product_id, first.offer_id)
    m2 = seller.version("1.1.0", **{"instance_types.realtime": ["ml.m5.large", "ml.c5.2xlarge"], "pricing.realtime": 0.3})
    listing = json.loads((build_dir(m2) / "listing" / "changeset.json").read_text())["ChangeSet"][0]["DetailsDocument"]
    arn2 = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{m2.package_name}"
    sm = Aws(Target(region="us-east-1", endpoint_url=catalog.url, credentials=CREDENTIALS))

    def codes(changes) -> list:
        started = sm.call("marketplace-catalog", "start_change_set", Catalog="AWSMarketplace", ChangeSet=changes,
                          Intent="VALIDATE")
        described = sm.call("marketplace-catalog", "describe_change_set", Catalog="AWSMarketplace",
                            ChangeSetId=started["ChangeSetId"])
        return [e["ErrorCode"] for c in described["ChangeSet"] for e in c["ErrorDetailList"]]

    def add(arn=arn2, title="1.1.0", role=ACCESS_ROLE, recommended=None):
        doc = rp.delivery_for(listing, arn, role)
        doc["Version"]["VersionTitle"] = title
        if recommended:
            doc["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"][
                "RecommendedInstanceTypes"]["RealtimeInference"] = recommended
        return rp.change("AddDeliveryOptions", rp.PRODUCT, state.product_id, doc)

    assert codes([add()]) == ["UPDATE_PRICING_REQUIRED"]  # ml.c5.2xlarge is supported and has no price
    assert codes([add(title="1.0.0")]) == ["DUPLICATE_VERSION_TITLE"]
    assert codes([add(arn=state.versions[0].arn)]) == ["DUPLICATE_ASSET"]
    assert codes([add(recommended="ml.p3.2xlarge")]) == ["INVALID_RECOMMENDED_INSTANCE_TYPE"]
    assert codes([add(role="arn:aws:iam::123456789012:role/nobody")]) == ["INVALID_ACCESS_ROLE"]
    assert codes([rp.change("ReleaseProduct", rp.PRODUCT, state.product_id, {})]) == ["INCOMPATIBLE_PRODUCT_STATUS"]
    assert codes([rp.change("UpdateInformation", rp.PRODUCT, state.product_id, {"ProductTitle": "T" * 73})]) == ["INVALID_INPUT"]
    priced = rp.new_version(m2, state, delivery=rp.delivery_for(listing, arn2, ACCESS_ROLE), long_description="x")
    assert codes(priced.request["ChangeSet"]) == []  # what mpkit plans is what the Catalog takes


def test_a_change_set_that_failed_for_a_reason_outside_the_request_is_sent_again(seller, catalog):
    """The same request after a failure (the package or the role mended in the account): a new
    attempt with a new token, since the old token would only return the failed change set."""
    m = seller.version()
    catalog.inject = ("ASSET_VALIDATION_EXCEPTION", "the package was not readable yet")
    with pytest.raises(ListingRejected):
        seller.release(m)
    result = seller.release(m)
    assert [s["status"] for s in result.sent] == ["SUCCEEDED", "SUCCEEDED"] and len(catalog.products()) == 1
    validates = [body["ClientRequestToken"] for op, body in catalog.calls
                 if op == "StartChangeSet" and body["Intent"] == "VALIDATE"]
    assert len(validates) == 2 and len(set(validates)) == 2
