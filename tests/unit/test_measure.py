"""`mpkit listing --measure-on-aws` against moto's server through the fault proxy: the package is
deployed as a buyer deploys it, measured with the samples, and everything it made is deleted,
after an injected failure too."""

from __future__ import annotations

import urllib.request

import pytest

from listing.measure import measure, rows_markdown
from package.aws import Aws, Target
from package.errors import AwsError
from package.local_target import CREDENTIALS
from tests.conftest import emulator_client as client
from tests.unit.conftest import published_package

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/mpkit-validation"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/seller-product-1-0-0"
SAMPLES = [(b"59,male,32.1,101\n", "text/csv", "text/csv"), (b'{"instances": [[59, "male"]]}', "application/json", None)]


@pytest.fixture(autouse=True)
def fresh(moto_url, proxy):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()
    proxy.clear()
    published_package(moto_url, "seller-product-1-0-0")


def _left(moto_url) -> dict:
    sm = client(moto_url, "sagemaker")
    return {"endpoints": sm.list_endpoints()["Endpoints"], "configs": sm.list_endpoint_configs()["EndpointConfigs"],
            "models": sm.list_models()["Models"]}


def test_measures_each_sample_on_the_recommended_type_and_deletes_what_it_made(proxy, moto_url, tmp_path):
    aws = Aws(Target(region=REGION, endpoint_url=proxy.url, credentials=CREDENTIALS))
    rows = measure(aws, arn=ARN, role=ROLE, instance_types=["ml.m5.large"], samples=SAMPLES,
                   record_path=tmp_path / "resources.json", requests=5, concurrency=2, say=lambda _: None)
    assert [(r["instance_type"], r["content_type"]) for r in rows] == [("ml.m5.large", "text/csv"),
                                                                         ("ml.m5.large", "application/json")]
    assert all(r["p50_ms"] > 0 and r["requests_per_s"] > 0 and r["concurrency"] == 2 for r in rows)
    assert proxy.calls["S3:POST"] >= 2 * (1 + 5 + 5)  # InvokeEndpoint (rest-json): warm-up, latency, throughput
    assert "| ml.m5.large | text/csv | 17 B |" in "\n".join(rows_markdown(rows))
    assert _left(moto_url) == {"endpoints": [], "configs": [], "models": []}


@pytest.mark.parametrize("call, fault", [("CreateEndpoint", "error:ResourceLimitExceeded:The account-level service limit"),
                                         ("S3:POST", "fail")])
def test_an_injected_failure_still_deletes_everything(proxy, moto_url, tmp_path, call, fault):
    aws = Aws(Target(region=REGION, endpoint_url=proxy.url, credentials=CREDENTIALS), max_attempts=1)
    proxy.inject(call, fault, times=50)
    with pytest.raises(AwsError):
        measure(aws, arn=ARN, role=ROLE, instance_types=["ml.m5.large"], samples=SAMPLES,
                record_path=tmp_path / "resources.json", requests=3, say=lambda _: None)
    assert proxy.injected[call] >= 1
    assert _left(moto_url) == {"endpoints": [], "configs": [], "models": []}
    assert (tmp_path / "resources.json").read_text().count('"name"') == 0


def test_a_run_killed_mid_way_is_cleaned_up_by_the_next(proxy, moto_url, tmp_path):
    from listing import buyer
    from listing.deploy import Variant, deploy

    aws = Aws(Target(region=REGION, endpoint_url=proxy.url, credentials=CREDENTIALS))
    record = buyer.BuyerRecord(tmp_path / "resources.json")
    deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.large")], role=ROLE, name="left-behind", say=lambda _: None)
    said = []
    measure(aws, arn=ARN, role=ROLE, instance_types=["ml.m5.large"], samples=SAMPLES[:1],
            record_path=tmp_path / "resources.json", requests=2, say=said.append)
    assert any("an earlier measurement left" in line for line in said)
    assert _left(moto_url) == {"endpoints": [], "configs": [], "models": []}
