"""`mpkit listing` on the example product with the real image, and the buyer notebook run headless
(nbclient) against the AWS emulator: moto's server over HTTP, behind the proxy whose transform
runner does what SageMaker does with a transform job, with the real image."""

from __future__ import annotations

import json
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient

from listing import buyer
from package.aws import Aws, Target
from package.base_image import DEFAULT_BASE, resolve_base
from package.cli import main
from package.local_target import CREDENTIALS
from tests.conftest import emulator_client as client
from tests.docker.batch_jobs import transform_runner

pytestmark = pytest.mark.docker
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/buyer-sagemaker"




@pytest.fixture(scope="module")
def published(moto_url, manifest, tmp_path_factory):
    """The example's package in the emulator, and the publish record that names it."""
    sm = client(moto_url, "sagemaker")
    arn = sm.create_model_package(
        ModelPackageName=manifest.package_name, CertifyForMarketplace=True,
        InferenceSpecification={"Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/p@sha256:" + "b" * 64}],
                                "SupportedContentTypes": list(manifest.serving.content_types),
                                "SupportedResponseMIMETypes": list(manifest.serving.accept_types),
                                "SupportedRealtimeInferenceInstanceTypes": list(manifest.instance_types.realtime),
                                "SupportedTransformInstanceTypes": list(manifest.instance_types.batch)},
    )["ModelPackageArn"]
    record = tmp_path_factory.mktemp("record") / "record.json"
    record.write_text(json.dumps({"package_name": manifest.package_name, "region": REGION,
                                  "steps": {"package": {"arn": arn}}}))
    return arn, record


@pytest.fixture(scope="module")
def listing_folder(manifest, baked, example_validation, published, tmp_path_factory, engine):
    _, reports = example_validation
    _, record = published
    folder = tmp_path_factory.mktemp("listing") / "out"
    code = main(["listing", "--manifest", str(manifest.path), "--record", str(record), "--report",
                 str(reports / "validation.json"), "--output", str(folder), "--image", baked.image, "--json"])
    assert code == 0
    return folder


def test_the_listing_has_every_item_and_its_outputs_are_the_images_answers(listing_folder, server, engine, baked):
    from listing.lint import lint

    assert [c.id for c in lint(listing_folder) if c.status != "pass"] == []
    index = json.loads((listing_folder / "listing.json").read_text())
    for sample in index["samples"]:
        body = (listing_folder / sample["input"]).read_bytes()
        if sample["kind"] == "realtime":
            answer = server.invoke(body, sample["content_type"], sample["accept"])
            assert answer.status == 200
            assert (listing_folder / sample["output"]).read_bytes() == answer.body, sample
        else:  # the batch output, record by record, is the real-time answer to the same records
            answer = server.invoke(body, sample["content_type"], sample["accept"])
            assert (listing_folder / sample["output"]).read_bytes().splitlines() == answer.body.splitlines()
    assert "57." in (listing_folder / "DESCRIPTION.md").read_text()  # the training metric, as measured


@pytest.fixture
def emulator(moto_url, proxy, engine, baked):
    runner = transform_runner(moto_url, engine, baked.image, resolve_base(engine, DEFAULT_BASE, say=lambda _: None))
    proxy.clear()
    proxy.after["CreateTransformJob"] = runner
    iam = client(moto_url, "iam")
    if "buyer-sagemaker" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        iam.create_role(RoleName="buyer-sagemaker", AssumeRolePolicyDocument="{}")
    yield runner
    proxy.after.clear()


def _canned_answers(moto_url, folder, samples):
    """moto answers invocations from a queue: load it with the image's real answers, in order."""
    results = [{"Body": (folder / s["output"]).read_text(), "ContentType": s["accept"], "InvokedProductionVariant": "AllTraffic"}
               for s in samples if s["kind"] == "realtime"]
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/static/sagemaker/endpoint-results",
                                                  data=json.dumps({"results": results}).encode(), method="POST")).read()


def test_the_buyer_notebook_runs_top_to_bottom_against_the_emulator(listing_folder, emulator, moto_url, proxy, monkeypatch):
    index = json.loads((listing_folder / "listing.json").read_text())
    _canned_answers(moto_url, listing_folder, index["samples"])
    for key, value in {"AWS_ENDPOINT_URL": proxy.url, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": CREDENTIALS[0],
                       "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1], "SAGEMAKER_ROLE_ARN": ROLE}.items():
        monkeypatch.setenv(key, value)
    book = nbformat.read(str(listing_folder / "buyer-notebook.ipynb"), as_version=4)
    NotebookClient(book, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(listing_folder)}}).execute()

    printed = {i: "".join(o.get("text", "") for o in c.get("outputs", [])) for i, c in enumerate(book.cells)
               if c.cell_type == "code"}
    text = "\n".join(printed.values())
    batch = next(s for s in index["samples"] if s["kind"] == "batch")
    first = (listing_folder / batch["output"]).read_text().splitlines()[0]
    assert emulator.runs and emulator.runs[-1]["ok"], emulator.runs
    assert f"{len((listing_folder / batch['input']).read_text().splitlines())} records" in text and first in text
    for s in index["samples"]:
        if s["kind"] == "realtime":
            assert (listing_folder / s["output"]).read_text()[:200] in text
    created = json.loads(proxy.bodies["CreateModel"][-1])
    assert created["EnableNetworkIsolation"] is True
    # The last cell deleted what the notebook created.
    sm = client(moto_url, "sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert proxy.calls["DeleteEndpoint"] == 1 and proxy.calls["DeleteModel"] == 1


def test_mpkit_transform_shows_where_the_out_files_are(listing_folder, emulator, published, moto_url, proxy, tmp_path):
    arn, _ = published
    s3 = client(moto_url, "s3")
    s3.create_bucket(Bucket="buyer-batch")
    index = json.loads((listing_folder / "listing.json").read_text())
    batch = next(s for s in index["samples"] if s["kind"] == "batch")
    s3.upload_file(str(listing_folder / batch["input"]), "buyer-batch", "in/input.csv")
    aws = Aws(Target(region=REGION, endpoint_url=proxy.url, credentials=CREDENTIALS))
    record = buyer.BuyerRecord(tmp_path / "resources.json")
    result = buyer.transform(aws, record, arn=arn, input_uri="s3://buyer-batch/in/", output_uri="s3://buyer-batch/out/",
                             role=ROLE, accept="text/csv", say=lambda _: None)
    assert result.status == "Completed" and result.outputs == ["s3://buyer-batch/out/input.csv.out"]
    body = s3.get_object(Bucket="buyer-batch", Key="out/input.csv.out")["Body"].read()
    assert body == (listing_folder / batch["output"]).read_bytes()
    buyer.teardown(aws, record, say=lambda _: None)
    assert record.items == []


def test_validate_lints_a_listing_folder(listing_folder, manifest, engine, tmp_path):
    import shutil

    from listing.lint import lint
    from validation.runner import validate

    broken = tmp_path / "listing"
    shutil.copytree(listing_folder, broken)
    (broken / "USAGE.md").write_text((broken / "USAGE.md").read_text() + "\nTODO: describe the output\n")
    report = validate(manifest, engine, image="mpkit/not-built:0", output=tmp_path / "reports", build_if_missing=False,
                      extra_checks=[("the listing folder", lambda: lint(broken))], say=lambda _: None)
    failed = {c.id for c in report.failed}
    assert "listing-no-placeholders" in failed and "image" in failed
    assert {c.id for c in report.checks} >= {"listing-required-items", "listing-changeset", "listing-notebook"}


def test_release_puts_the_real_listing_on_the_catalog(listing_folder, manifest, published, moto_url, tmp_path,
                                                      monkeypatch, capsys):
    """`mpkit release --apply` from the listing the image answered, against moto and the Catalog
    emulator: the product, its offer, the pricing of every supported type and this version."""
    from tests.catalog_emulator import CatalogEmulator

    arn, record = published
    folder = tmp_path / "product"
    folder.mkdir()
    (folder / "manifest.yaml").write_text(manifest.path.read_text())
    (folder / "example").symlink_to(manifest.root / "example")
    client(moto_url, "iam").create_role(RoleName="mpkit-marketplace-access", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "assets.marketplace.amazonaws.com"}}]}))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    catalog = CatalogEmulator(aws_endpoint=moto_url)
    try:
        common = ["release", "--manifest", str(folder / "manifest.yaml"), "--listing", str(listing_folder),
                  "--record", str(record), "--endpoint-url", moto_url, "--catalog-endpoint-url", catalog.url,
                  "--region", REGION, "--json"]
        assert main([*common, "--create-access-role", "--apply"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert [s["intent"] for s in result["sent"]] == ["VALIDATE", "APPLY"]
        [product], [offer] = catalog.products(), catalog.offers()
        option = product["details"]["Versions"][0]
        assert option["VersionTitle"] == manifest.version and option["Sources"][0]["ModelPackageArn"] == arn
        usage = option["DeliveryOptions"][0]["Instructions"]["Usage"]
        assert usage == (listing_folder / "USAGE.md").read_text()  # the listing folder's own words
        priced = {c["DimensionKey"] for c in offer["details"]["Terms"][0]["RateCards"][0]["RateCard"]}
        assert priced >= {f"{t}.m.i.r" for t in manifest.instance_types.realtime}
        assert main(common) == 0  # a re-run: nothing to send
        assert json.loads(capsys.readouterr().out)["change_sets"] == []
    finally:
        catalog.close()
