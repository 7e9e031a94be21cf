"""The buyer's first steps against emulators over HTTP with the real boto3: `mpkit subscribe`
(Discovery and Agreement APIs, tests/marketplace_buyer_emulator.py) and `mpkit resolve` (the
Catalog emulator and the listing's Region -> ARN map)."""

from __future__ import annotations

import json

import pytest

from listing.catalog import Catalog
from listing.planned import request_problems
from listing.resolve import MANUAL_STEP, resolve
from listing.subscribe import subscribe
from package.aws import Aws, Target
from package.cli import main
from package.errors import NotSubscribed
from package.local_target import CREDENTIALS
from tests.catalog_emulator import CatalogEmulator
from tests.marketplace_buyer_emulator import BuyerEmulator

PRODUCT = "prod-abc123example"
RATES = {"ml.m5.large.m.i.r": 0.2, "ml.m5.large.m.i.b": 0.1}


@pytest.fixture
def market():
    emulator = BuyerEmulator()
    yield emulator
    emulator.close()


@pytest.fixture
def aws(market):
    return Aws(Target(region="us-east-1", endpoint_url=market.url, credentials=CREDENTIALS))


def test_a_quote_accepts_nothing_and_accept_subscribes_once(market, aws):
    offer = market.add_product(PRODUCT, rates=RATES, trial_days=14)
    quoted = subscribe(aws, PRODUCT, say=lambda _: None)
    assert quoted.state == "quoted" and quoted.offer_id == offer and quoted.free_trial == "P14D"
    assert {p["dimension"]: p["price"] for p in quoted.prices} == {"ml.m5.large.m.i.r": "0.2", "ml.m5.large.m.i.b": "0.1"}
    assert market.agreements == [] and any("--accept" in n for n in quoted.notes)

    market.pending_polls = 2
    done = subscribe(aws, PRODUCT, accept=True, poll=0.01, say=lambda _: None)
    assert done.state == "subscribed" and len(market.agreements) == 1
    again = subscribe(aws, PRODUCT, accept=True, say=lambda _: None)
    assert again.state == "already-subscribed" and again.agreement_id == done.agreement_id and len(market.agreements) == 1


def test_a_free_trial_already_used_is_retried_without_it_and_said(market, aws):
    market.add_product(PRODUCT, rates=RATES, trial_days=14)
    market.trials_used.add(PRODUCT)
    result = subscribe(aws, PRODUCT, accept=True, poll=0.01, say=lambda _: None)
    assert result.state == "subscribed" and result.free_trial is None
    assert any("free trial (P14D) was already used" in n for n in result.notes)
    asked = [body for op, body in market.calls if op == "CreateAgreementRequest"]
    assert len(asked) == 2 and len(asked[1]["requestedTerms"]) == len(asked[0]["requestedTerms"]) - 1


def test_only_a_private_offer_is_named(market, aws):
    offer = market.add_product(PRODUCT, rates=RATES, private=True)
    with pytest.raises(NotSubscribed, match="only a private offer applies") as refused:
        subscribe(aws, PRODUCT, say=lambda _: None)
    assert f"--offer {offer}" in refused.value.hint
    assert subscribe(aws, PRODUCT, offer_id=offer, say=lambda _: None).state == "quoted"


def test_subscribe_dry_run_prints_requests_botocore_accepts(market, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    market.add_product(PRODUCT, rates=RATES)
    assert main(["subscribe", PRODUCT, "--accept", "--dry-run", "--json", "--endpoint-url", market.url]) == 0
    out = json.loads(capsys.readouterr().out)
    operations = [r["operation"] for r in out["requests"]]
    assert operations[:4] == ["search_agreements", "list_purchase_options", "get_offer_terms", "get_offer"]
    assert operations[-1] == "accept_agreement_request"
    assert all(request_problems(r) == [] for r in out["requests"])
    assert not any(op in ("CreateAgreementRequest", "AcceptAgreementRequest") for op, _ in market.calls)


def test_resolve_finds_the_arn_of_each_region_or_names_the_manual_step(tmp_path):
    index = tmp_path / "listing.json"
    arns = {"us-east-1": "arn:aws:sagemaker:us-east-1:865070037744:model-package/p-1-0-0-4d938caa",
            "eu-west-1": "arn:aws:sagemaker:eu-west-1:985815980388:model-package/p-1-0-0-4d938caa"}
    index.write_text(json.dumps({"version": "1.0.0", "model_package_arns": arns}))
    for region, arn in arns.items():
        assert resolve(product_id=PRODUCT, region=region, listing_index=index)["arn"] == arn
    with pytest.raises(NotSubscribed, match="no model package ARN for prod-abc123example in ap-south-1") as missing:
        resolve(product_id=PRODUCT, region="ap-south-1", listing_index=index)
    assert missing.value.hint == MANUAL_STEP


def test_resolve_reads_the_sellers_product_from_the_catalog(moto_url):
    catalog = CatalogEmulator()
    try:
        catalog.entities["prod-seller1"] = {"type": "MachineLearningProduct@1.0", "details": {"Versions": [
            {"VersionTitle": "1.0.0", "Sources": [{"ModelPackageArn": "arn:aws:sagemaker:us-east-2:123456789012:model-package/a"}]},
            {"VersionTitle": "1.1.0", "Sources": [{"ModelPackageArn": "arn:aws:sagemaker:us-east-2:123456789012:model-package/b"}]}]}}
        reader = Catalog(Aws(Target(region="us-east-1", endpoint_url=catalog.url, credentials=CREDENTIALS)))
        assert resolve(product_id="prod-seller1", region="us-east-2", catalog=reader)["arn"].endswith("/b")
        assert resolve(product_id="prod-seller1", region="us-east-2", catalog=reader, version="1.0.0")["arn"].endswith("/a")
        with pytest.raises(NotSubscribed, match="names no package in eu-west-1"):
            resolve(product_id="prod-seller1", region="eu-west-1", catalog=reader)
    finally:
        catalog.close()


def test_deploy_by_product_resolves_the_regions_arn_first(tmp_path, capsys, monkeypatch):
    index = tmp_path / "listing.json"
    arn = "arn:aws:sagemaker:eu-west-1:985815980388:model-package/p-1-0-0-4d938caa"
    index.write_text(json.dumps({"version": "1.0.0", "model_package_arns": {"eu-west-1": arn}}))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    catalog = CatalogEmulator()
    try:
        code = main(["deploy", "--product", PRODUCT, "--listing", str(index), "--catalog-endpoint-url", catalog.url,
                     "--region", "eu-west-1", "--instance-type", "ml.m5.large", "--role",
                     "arn:aws:iam::111122223333:role/buyer", "--dry-run", "--json"])
    finally:
        catalog.close()
    out = json.loads(capsys.readouterr().out)
    created = next(r for r in out["requests"] if r["operation"] == "create_model")
    assert code == 0 and created["params"]["PrimaryContainer"] == {"ModelPackageName": arn}
