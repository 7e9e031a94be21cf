"""`mpkit deploy` with seed 004's options against moto's server through the fault proxy: variants
with weights, data capture, autoscaling, `--update`, the preflight that refuses before anything is
created, a dry run whose every request botocore accepts, and teardown of all of it."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from listing import buyer
from listing.deploy import Autoscaling, DataCapture, Variant, deploy, unique_name, update_weights
from listing.planned import request_problems
from package.buyer_cli import ARN as EXAMPLE_ARN  # noqa: F401 - the help's example stays importable
from package.cli import main
from package.errors import ConfigurationError
from package.local_target import CREDENTIALS
from tests.conftest import emulator_client as client
from tests.unit.conftest import published_package

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/buyer-sagemaker"
V1 = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/seller-product-1-0-0"
V2 = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/seller-product-1-1-0"
CREATES = ("CreateModel", "CreateEndpointConfig", "CreateEndpoint", "RegisterScalableTarget", "PutScalingPolicy")


@pytest.fixture(autouse=True)
def fresh(moto_url, proxy):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()
    proxy.clear()
    published_package(moto_url, "seller-product-1-0-0", realtime=("ml.m5.large", "ml.m5.xlarge"))
    published_package(moto_url, "seller-product-1-1-0", realtime=("ml.m5.large", "ml.m5.xlarge"))


def _quota(proxy, instance_type="ml.m5.large", value=4):
    proxy.inject("ListServiceQuotas", "reply:" + json.dumps({"Quotas": [
        {"QuotaName": f"{instance_type} for endpoint usage", "QuotaCode": "L-1", "Value": value}]}), times=5)


def _left(moto_url) -> dict:
    sm, scaling = client(moto_url, "sagemaker"), client(moto_url, "application-autoscaling")
    return {"endpoints": len(sm.list_endpoints()["Endpoints"]), "configs": len(sm.list_endpoint_configs()["EndpointConfigs"]),
            "models": len(sm.list_models()["Models"]),
            "targets": len(scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]),
            "policies": len(scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"])}


def test_two_variants_with_weights_data_capture_and_autoscaling_then_teardown_removes_all(aws, record, proxy, moto_url):
    _quota(proxy)
    result = deploy(aws, record, arn=V1, variants=[Variant("ml.m5.large", weight=0.9),
                                                    Variant("ml.m5.large", weight=0.1, model_package=V2)],
                    role=ROLE, data_capture=DataCapture("s3://buyer-data/capture/", 20),
                    autoscaling=Autoscaling(1, 2, 50), say=lambda _: None)
    assert len(result.models) == 2 and [v["name"] for v in result.variants] == ["variant-1", "variant-2"]
    config = json.loads(proxy.bodies["CreateEndpointConfig"][-1])
    assert [(v["ModelName"], v["InitialVariantWeight"]) for v in config["ProductionVariants"]] == [
        (result.models[0], 0.9), (result.models[1], 0.1)]
    assert config["DataCaptureConfig"] == {"EnableCapture": True, "InitialSamplingPercentage": 20,
                                           "DestinationS3Uri": "s3://buyer-data/capture/",
                                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    models = [json.loads(b) for b in proxy.bodies["CreateModel"]]
    assert [m["PrimaryContainer"]["ModelPackageName"] for m in models] == [V1, V2]
    assert all(m["EnableNetworkIsolation"] is True and "Environment" not in m["PrimaryContainer"] for m in models)
    policy = json.loads(proxy.bodies["PutScalingPolicy"][-1])
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 50
    assert _left(moto_url) == {"endpoints": 1, "configs": 1, "models": 2, "targets": 2, "policies": 2}

    removed = buyer.teardown(aws, record, say=lambda _: None)
    assert [r["kind"] for r in removed] == ["scaling-policy"] * 2 + ["scaling-target"] * 2 + [
        "endpoint", "endpoint-config", "model", "model"]
    assert _left(moto_url) == {"endpoints": 0, "configs": 0, "models": 0, "targets": 0, "policies": 0}


@pytest.mark.parametrize("variants, kwargs, words", [
    ([Variant("ml.c5.xlarge")], {}, "is not one the package supports"),
    ([Variant("ml.m5.large", count=3)], {"autoscaling": Autoscaling(1, 6)}, "would exceed the account's quota"),
    ([Variant("ml.m5.large")], {"startup_timeout": 30}, "60 to 3600"),
    ([Variant("ml.m5.large")], {"autoscaling": Autoscaling(3, 2)}, "at most the maximum"),
    ([Variant("ml.m5.large")], {"data_capture": DataCapture("bucket/capture")}, "s3:// prefix"),
    ([Variant("ml.m5.larg")], {}, "is not a SageMaker ProductionVariantInstanceType"),
])
def test_every_refusal_comes_before_anything_is_created(aws, record, proxy, variants, kwargs, words):
    _quota(proxy)
    with pytest.raises(ConfigurationError, match=words):
        deploy(aws, record, arn=V1, variants=variants, role=ROLE, say=lambda _: None, **kwargs)
    assert not any(proxy.calls[c] for c in CREATES), dict(proxy.calls)


def test_the_quota_counts_the_instances_already_running(aws, record, proxy):
    _quota(proxy, value=2)
    deploy(aws, record, arn=V1, variants=[Variant("ml.m5.large")], role=ROLE, say=lambda _: None)
    _quota(proxy, value=2)
    with pytest.raises(ConfigurationError, match="quota in us-east-1: ml.m5.large for endpoint usage is 2, 1 in use"):
        deploy(aws, record, arn=V1, variants=[Variant("ml.m5.large", count=2)], role=ROLE, say=lambda _: None)


def test_two_deploys_in_one_second_get_different_names():
    assert len({unique_name(V1) for _ in range(20)}) == 20


def test_update_shifts_the_weights(aws, record, proxy):
    result = deploy(aws, record, arn=V1, variants=[Variant("ml.m5.large"), Variant("ml.m5.large", model_package=V2)],
                    role=ROLE, say=lambda _: None)
    update_weights(aws, endpoint=result.endpoint, weights={"variant-1": 0.5, "variant-2": 0.5}, say=lambda _: None)
    sent = json.loads(proxy.bodies["UpdateEndpointWeightsAndCapacities"][-1])
    assert sent["DesiredWeightsAndCapacities"] == [{"VariantName": "variant-1", "DesiredWeight": 0.5},
                                                   {"VariantName": "variant-2", "DesiredWeight": 0.5}]
    with pytest.raises(ConfigurationError, match="has no variant blue"):
        update_weights(aws, endpoint=result.endpoint, weights={"blue": 1.0}, say=lambda _: None)


def test_the_dry_run_prints_requests_botocore_accepts_checks_first_and_creates_nothing(proxy, moto_url, capsys,
                                                                                   monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    _quota(proxy)
    code = main(["deploy", "--dry-run", "--json", "--model-package", V1, "--role", ROLE, "--region", REGION,
                 "--endpoint-url", proxy.url, "--variant", "instance-type=ml.m5.large,weight=0.9",
                 "--variant", f"instance-type=ml.m5.large,weight=0.1,model-package={V2}",
                 "--data-capture", "s3://buyer-data/capture/", "--capture-percent", "20", "--autoscale", "1:2",
                 "--record", str(tmp_path / "r.json")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    operations = [r["operation"] for r in out["requests"]]
    first_create = operations.index("create_model")
    assert {"describe_model_package", "list_service_quotas"} <= set(operations[:first_create])
    writes = [o for o in operations[first_create:] if not o.startswith(("describe_", "list_", "get_"))]
    assert writes == ["create_model", "create_model", "create_endpoint_config", "create_endpoint",
                                         "register_scalable_target", "put_scaling_policy",
                                         "register_scalable_target", "put_scaling_policy"]
    assert all(request_problems(r) == [] for r in out["requests"]), [request_problems(r) for r in out["requests"]]
    assert not any(proxy.calls[c] for c in CREATES) and not (tmp_path / "r.json").exists()


def test_a_dry_run_needs_no_credentials(capsys, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code = main(["deploy", "--dry-run", "--json", "--model-package", V1, "--role", ROLE, "--region", REGION,
                 "--instance-type", "ml.m5.large"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["notes"] and out["requests"][-1]["operation"] == "create_endpoint"
    assert all(request_problems(r) == [] for r in out["requests"])


def test_a_failed_start_names_the_step_and_shows_the_containers_log_tail(aws, record, proxy, moto_url):
    name = "fails-to-start"
    logs = client(moto_url, "logs")
    logs.create_log_group(logGroupName=f"/aws/sagemaker/Endpoints/{name}")
    logs.create_log_stream(logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName="AllTraffic/i-0abc")
    logs.put_log_events(logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName="AllTraffic/i-0abc",
                        logEvents=[{"timestamp": int(time.time() * 1000) + i, "message": m} for i, m in
                                   enumerate(["starting server", "ModuleNotFoundError: No module named 'xgboost'"])])
    proxy.inject("DescribeEndpoint", "reply:" + json.dumps({
        "EndpointName": name, "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x",
        "EndpointConfigName": name, "EndpointStatus": "Failed", "CreationTime": 1, "LastModifiedTime": 1,
        "FailureReason": "The primary container for production variant AllTraffic did not pass the ping health check."}),
        times=3)
    from package.errors import AwsError

    with pytest.raises(AwsError) as failed:
        deploy(aws, record, arn=V1, variants=[Variant("ml.m5.large")], role=ROLE, name=name, say=lambda _: None)
    text = str(failed.value)
    assert "the endpoint's start" in text and "did not pass the ping health check" in text
    assert "No module named 'xgboost'" in text and f"/aws/sagemaker/Endpoints/{name}" in failed.value.hint
    buyer.teardown(aws, record, say=lambda _: None)
    assert _left(moto_url)["endpoints"] == 0


def test_a_startup_timeout_shorter_than_the_measured_startup_is_refused_before_anything(aws, record, proxy):
    with pytest.raises(ConfigurationError, match="took 95 s to answer /ping"):
        deploy(aws, record, arn=V1, variants=[Variant("ml.m5.large")], role=ROLE, startup_timeout=60,
               measured_startup=95.0, say=lambda _: None)
    assert not any(proxy.calls[c] for c in CREATES)


@pytest.mark.parametrize("weight", ["variant-1", "variant-1=heavy", "=0.5"])
def test_a_malformed_weight_is_a_usage_error(weight, capsys):
    assert main(["deploy", "--update", "ep", "--weight", weight, "--region", REGION, "--dry-run"]) == 2
    assert "give VARIANT=WEIGHT" in capsys.readouterr().err
