"""Buyer commands against the AWS emulator (moto's server over HTTP, the real boto3), through the
fault proxy that records each call's body and can answer as AWS does where moto cannot."""

from __future__ import annotations

import json
import urllib.request

import pytest

from listing import buyer
from listing.deploy import Variant, deploy
from package.aws import Aws, Target
from package.cli import main
from package.errors import ConfigurationError, NotSubscribed
from package.local_target import CREDENTIALS
from tests.conftest import emulator_client as client
from tests.unit.conftest import published_package

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/buyer-sagemaker"
PACKAGE = "seller-product-1-0-0"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{PACKAGE}"




@pytest.fixture(autouse=True)
def fresh(moto_url, proxy):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).read()
    proxy.clear()
    # The package as a buyer finds it: published and validated by its seller.
    published_package(moto_url, PACKAGE)




def _names(moto_url) -> dict:
    sm = client(moto_url, "sagemaker")
    return {"models": {m["ModelName"] for m in sm.list_models()["Models"]},
            "configs": {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]},
            "endpoints": {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]}}


def _someone_elses(moto_url):
    """Resources the buyer made by other means: teardown must leave them alone."""
    sm = client(moto_url, "sagemaker")
    sm.create_model(ModelName="theirs", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": ARN})
    sm.create_endpoint_config(EndpointConfigName="theirs", ProductionVariants=[{
        "VariantName": "v", "ModelName": "theirs", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="theirs", EndpointConfigName="theirs")


def test_deploy_creates_its_three_resources_with_isolation_and_teardown_removes_only_them(aws, record, proxy, moto_url):
    _someone_elses(moto_url)
    result = deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.large")], role=ROLE, name="mine", say=lambda _: None)
    assert result.status == "InService"
    sent = json.loads(proxy.bodies["CreateModel"][-1])
    assert sent["EnableNetworkIsolation"] is True and "Environment" not in sent["PrimaryContainer"]
    assert sent["PrimaryContainer"] == {"ModelPackageName": ARN}
    assert _names(moto_url) == {"models": {"theirs", "mine"}, "configs": {"theirs", "mine"}, "endpoints": {"theirs", "mine"}}
    assert [(i["kind"], i["name"]) for i in record.items] == [("model", "mine"), ("endpoint-config", "mine"), ("endpoint", "mine")]

    removed = buyer.teardown(aws, buyer.BuyerRecord(record.path), say=lambda _: None)
    assert [(r["kind"], r["outcome"]) for r in removed] == [("endpoint", "deleted"), ("endpoint-config", "deleted"),
                                                           ("model", "deleted")]
    assert _names(moto_url) == {"models": {"theirs"}, "configs": {"theirs"}, "endpoints": {"theirs"}}
    assert json.loads(record.path.read_text()) == {"resources": []}
    assert buyer.teardown(aws, buyer.BuyerRecord(record.path), say=lambda _: None) == []


def test_invoke_returns_the_endpoints_answer(aws, record, moto_url):
    deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.large")], role=ROLE, name="mine", say=lambda _: None)
    results = {"results": [{"Body": "137.5\n", "ContentType": "text/csv", "InvokedProductionVariant": "AllTraffic"}]}
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/static/sagemaker/endpoint-results",
                                                  data=json.dumps(results).encode(), method="POST")).read()
    reply = buyer.invoke(aws, endpoint="mine", body=b"47,male,22.5,82,131,66.8,41,3,4.75,89\n", content_type="text/csv",
                         accept="text/csv")
    assert reply["body"] == b"137.5\n" and reply["content_type"] == "text/csv"


def test_transform_creates_its_model_and_job_and_teardown_leaves_a_finished_job(aws, record, proxy, moto_url):
    client(moto_url, "s3").create_bucket(Bucket="buyer-data")
    client(moto_url, "s3").put_object(Bucket="buyer-data", Key="in/rows.csv", Body=b"1,2\n")
    result = buyer.transform(aws, record, arn=ARN, input_uri="s3://buyer-data/in/", output_uri="s3://buyer-data/out/",
                             role=ROLE, name="batch", say=lambda _: None)
    assert result.status == "Completed"
    # moto's job writes nothing: a completed job with no output is a failure, with its reason
    assert not result.ok and "wrote no .out file" in result.failure and result.missing == ["s3://buyer-data/in/rows.csv"]
    sent = json.loads(proxy.bodies["CreateTransformJob"][-1])
    assert sent["ModelName"] == "batch" and sent["TransformInput"]["ContentType"] == "text/csv"
    assert sent["TransformResources"]["InstanceType"] == "ml.m5.large"
    assert json.loads(proxy.bodies["CreateModel"][-1])["EnableNetworkIsolation"] is True
    removed = buyer.teardown(aws, record, say=lambda _: None)
    assert [(r["kind"], r["outcome"]) for r in removed] == [("model", "deleted"),
                                                           ("transform-job", "nothing to do (Completed)")]


def test_an_arn_for_another_region_is_refused_before_any_call(proxy, record):
    other = Aws(Target(region="eu-west-1", endpoint_url=proxy.url, credentials=CREDENTIALS))
    with pytest.raises(NotSubscribed, match="this session is in eu-west-1") as caught:
        deploy(other, record, arn=ARN, variants=[Variant("ml.m5.large")], role=ROLE, say=lambda _: None)
    assert "--region us-east-1" in caught.value.hint
    assert proxy.calls["CreateModel"] == 0 and record.items == []


def test_a_package_this_account_cannot_see_is_explained(aws, record, proxy):
    missing = ARN.replace(PACKAGE, "nobody-sells-this")
    with pytest.raises(NotSubscribed, match="not subscribed to the product, or the ARN is mistyped") as caught:
        deploy(aws, record, arn=missing, variants=[Variant("ml.m5.large")], role=ROLE, say=lambda _: None)
    assert "Continue to Subscribe" in caught.value.hint
    assert proxy.calls["CreateModel"] == 0


def test_awss_not_subscribed_error_becomes_a_sentence_with_the_next_step(aws, record, proxy, moto_url):
    proxy.inject("CreateModel", "error:ValidationException:Caller is not subscribed to the marketplace offering.")
    with pytest.raises(NotSubscribed) as caught:
        deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.large")], role=ROLE, say=lambda _: None)
    assert "123456789012" in str(caught.value) and "Caller is not subscribed" in str(caught.value)
    assert "Continue to Subscribe" in caught.value.hint
    assert record.items == [] and _names(moto_url)["endpoints"] == set()


def test_the_cli_exits_10_with_the_sentence(proxy, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "t")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "t")
    proxy.inject("CreateModel", "error:ValidationException:Caller is not subscribed to the marketplace offering.")
    code = main(["deploy", "--model-package", ARN, "--instance-type", "ml.m5.large", "--role", ROLE,
                 "--region", REGION, "--endpoint-url", proxy.url, "--record", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 10 and "not subscribed" in err and "Continue to Subscribe" in err


def test_a_role_name_instead_of_an_arn_is_refused(aws, record):
    with pytest.raises(ConfigurationError, match="not an IAM role ARN"):
        deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.large")], role="buyer-sagemaker", say=lambda _: None)
    with pytest.raises(ConfigurationError, match="no execution role"):
        deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.large")], role=None, say=lambda _: None)


def test_a_body_over_the_realtime_limit_is_refused_before_the_call(aws, proxy):
    from package import rules

    body = b"1\n" * (int(rules.REALTIME_PAYLOAD_BYTES.value) // 2 + 1)
    with pytest.raises(ConfigurationError, match="6 MiB"):
        buyer.invoke(aws, endpoint="any", body=body, content_type="text/csv", accept=None)
    assert sum(proxy.calls.values()) == 0  # nothing reached the emulator


def test_an_instance_type_outside_the_enum_is_refused_with_a_did_you_mean_before_any_call(aws, record, proxy):
    with pytest.raises(ConfigurationError, match="ml.m5.larg is not a SageMaker ProductionVariantInstanceType; "
                                                 "did you mean ml.m5.large"):
        deploy(aws, record, arn=ARN, variants=[Variant("ml.m5.larg")], role=ROLE, say=lambda _: None)
    with pytest.raises(ConfigurationError, match="not a SageMaker TransformInstanceType"):
        buyer.transform(aws, record, arn=ARN, input_uri="s3://b/in/", output_uri="s3://b/out/", role=ROLE,
                        instance_type="ml.m5.larg", say=lambda _: None)
    assert not proxy.bodies, "an AWS call was made"


@pytest.mark.parametrize("command", ["deploy", "transform"])
def test_a_type_the_package_does_not_support_is_refused_before_a_model_is_created(aws, record, proxy, moto_url, command):
    with pytest.raises(ConfigurationError, match="ml.c5.xlarge is not one the package supports"):
        if command == "deploy":
            deploy(aws, record, arn=ARN, variants=[Variant("ml.c5.xlarge")], role=ROLE, say=lambda _: None)
        else:
            buyer.transform(aws, record, arn=ARN, input_uri="s3://b/in/", output_uri="s3://b/out/", role=ROLE,
                            instance_type="ml.c5.xlarge", say=lambda _: None)
    assert "CreateModel" not in proxy.bodies and _names(moto_url)["models"] == set() and record.items == []


def _answers_every_file_but(moto_url, skip: set):
    """What SageMaker's job does with its input: one `.out` per input file, under the output path."""
    def after(body: bytes) -> None:
        job = json.loads(body)
        s3 = client(moto_url, "s3")
        source = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"][len("s3://"):]
        bucket, _, prefix = source.partition("/")
        out_bucket, _, out_prefix = job["TransformOutput"]["S3OutputPath"][len("s3://"):].partition("/")
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            name = item["Key"][len(prefix):]
            if name not in skip:
                s3.put_object(Bucket=out_bucket, Key=f"{out_prefix.rstrip('/')}/{name}.out", Body=b"1.0\n")
    return after


@pytest.mark.parametrize("skip, ok", [(set(), True), ({"part-2.csv"}, False)])
def test_a_transform_on_several_instances_reports_each_input_and_fails_on_a_missing_out(aws, record, proxy, moto_url,
                                                                                       skip, ok):
    s3 = client(moto_url, "s3")
    s3.create_bucket(Bucket="buyer-data")
    for n in range(1, 4):
        s3.put_object(Bucket="buyer-data", Key=f"in/part-{n}.csv", Body=b"1,2\n")
    proxy.after["CreateTransformJob"] = _answers_every_file_but(moto_url, skip)
    said = []
    result = buyer.transform(aws, record, arn=ARN, input_uri="s3://buyer-data/in/", output_uri="s3://buyer-data/out/",
                             role=ROLE, instance_count=2, say=said.append)
    assert json.loads(proxy.bodies["CreateTransformJob"][-1])["TransformResources"]["InstanceCount"] == 2
    assert len(result.inputs) == 3 and result.ok is ok
    if ok:
        assert result.outputs == [f"s3://buyer-data/out/part-{n}.csv.out" for n in range(1, 4)] and not result.missing
    else:
        assert result.missing == ["s3://buyer-data/in/part-2.csv"] and "no .out for 1 of 3" in result.failure
    assert not any("sit idle" in line for line in said)


def test_more_instances_than_files_is_said_and_an_empty_input_refused_before_anything(aws, record, proxy, moto_url):
    s3 = client(moto_url, "s3")
    s3.create_bucket(Bucket="buyer-data")
    with pytest.raises(ConfigurationError, match="no files there"):
        buyer.transform(aws, record, arn=ARN, input_uri="s3://buyer-data/in/", output_uri="s3://buyer-data/out/",
                        role=ROLE, say=lambda _: None)
    assert not proxy.calls["CreateModel"]
    s3.put_object(Bucket="buyer-data", Key="in/only.csv", Body=b"1,2\n")
    said = []
    buyer.transform(aws, record, arn=ARN, input_uri="s3://buyer-data/in/", output_uri="s3://buyer-data/out/",
                    role=ROLE, instance_count=3, wait=False, say=said.append)
    assert any("1 input file(s) for 3 instances" in line for line in said)


def test_transform_dry_run_with_two_instances_prints_requests_botocore_accepts(proxy, moto_url, capsys, monkeypatch):
    from listing.planned import request_problems

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    client(moto_url, "s3").create_bucket(Bucket="buyer-data")
    client(moto_url, "s3").put_object(Bucket="buyer-data", Key="in/a.csv", Body=b"1\n")
    code = main(["transform", "--dry-run", "--json", "--model-package", ARN, "--role", ROLE, "--region", REGION,
                 "--endpoint-url", proxy.url, "--input", "s3://buyer-data/in/", "--output", "s3://buyer-data/out/",
                 "--instance-count", "2"])
    out = json.loads(capsys.readouterr().out)
    operations = [r["operation"] for r in out["requests"]]
    assert code == 0 and operations.index("describe_model_package") < operations.index("create_model")
    assert operations[-1] == "create_transform_job"
    assert out["requests"][-1]["params"]["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 2}
    assert all(request_problems(r) == [] for r in out["requests"])
    assert not proxy.calls["CreateModel"] and not proxy.calls["CreateTransformJob"]


@pytest.mark.parametrize("failing", ["DescribeEndpoint", "S3:POST"])  # the endpoint's start, then an invocation
def test_the_boto3_example_leaves_nothing_behind_when_a_step_after_create_endpoint_fails(proxy, moto_url, tmp_path,
                                                                                        monkeypatch, failing):
    """The generated example, run as a buyer runs it, against the emulator through the proxy."""
    import subprocess
    import sys

    from listing.buyer_code import parameters
    from listing.examples import boto3_script
    from listing.samples import SampleFile

    folder = tmp_path / "listing"
    (folder / "samples").mkdir(parents=True)
    (folder / "examples").mkdir()
    (folder / "samples" / "in.csv").write_text("59,male\n")
    samples = [SampleFile("realtime", "samples/in.csv", "samples/out.csv", "text/csv", "text/csv"),
               SampleFile("batch", "samples/in.csv", "samples/in.csv.out", "text/csv", "text/csv")]
    script = boto3_script(parameters(package_name=PACKAGE, arns={REGION: ARN},
                                     recommended={"realtime": "ml.m5.large", "batch": "ml.m5.large"},
                                     samples=samples, batch_job={}))
    (folder / "examples" / "boto3_example.py").write_text(script)
    proxy.inject(failing, "error:ValidationException:injected after create_endpoint" if failing != "S3:POST" else "fail",
                 times=20)
    env = {**__import__("os").environ, "AWS_ENDPOINT_URL": proxy.url, "AWS_DEFAULT_REGION": REGION,
           "AWS_ACCESS_KEY_ID": CREDENTIALS[0], "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1], "SAGEMAKER_ROLE_ARN": ROLE,
           "AWS_MAX_ATTEMPTS": "1"}
    run = subprocess.run([sys.executable, str(folder / "examples" / "boto3_example.py")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and proxy.calls["CreateEndpoint"] == 1, run.stdout + run.stderr
    assert "cleaned up" in run.stdout and "endpoint" in run.stdout.split("cleaned up", 1)[1]
    sm = client(moto_url, "sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
