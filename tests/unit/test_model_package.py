"""The CreateModelPackage request as data, against the real service model; comparison with a
published package; status reading; the publish record; ECR URIs."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from package import model_package as mp
from package.ecr import _scan_result, registry_of
from package.manifest import load_manifest
from package.publish_record import ImageStep, PublishRecord
from tests.conftest import write_manifest

DIGEST = "sha256:" + "ab" * 32
WHERE = mp.Locations(image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/p@{DIGEST}", image_digest=DIGEST,
                     model_data_url=None, validation_input="s3://b/p/1.0.0/validation-input/abc/",
                     validation_output="s3://b/p/1.0.0/validation-output/")


def shape():
    return botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModelPackage").input_shape


@pytest.fixture
def manifest(tmp_path):
    return load_manifest(write_manifest(tmp_path))


def test_request_has_the_real_services_shape_and_the_manifests_intent(manifest):
    request = mp.create_request(manifest, WHERE, tags={"team": "ml"})
    validate_parameters(request, shape())
    assert request["ModelPackageName"] == "diabetes-progression-1-0-0" and "ModelPackageGroupName" not in request
    assert request["CertifyForMarketplace"] is True
    spec = request["InferenceSpecification"]
    assert spec["Containers"] == [{"Image": WHERE.image, "ImageDigest": DIGEST}]
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge"]
    assert spec["SupportedTransformInstanceTypes"] == ["ml.m5.large", "ml.m5.xlarge"]
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json", "application/jsonlines"]
    profiles = request["ValidationSpecification"]["ValidationProfiles"]
    assert len(profiles) == 1
    job = profiles[0]["TransformJobDefinition"]
    assert job == {
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": WHERE.validation_input}},
                           "ContentType": "text/csv", "CompressionType": "None", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": WHERE.validation_output, "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "MaxConcurrentTransforms": 2, "MaxPayloadInMB": 1, "BatchStrategy": "MultiRecord",
    }
    assert {"Key": "team", "Value": "ml"} in request["Tags"]


def test_s3_delivery_names_the_model_archive(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, **{"model.delivery": "s3"}))
    where = mp.Locations(**{**WHERE.__dict__, "model_data_url": "s3://b/p/1.0.0/model-0123456789ab.tar.gz"})
    request = mp.create_request(manifest, where)
    validate_parameters(request, shape())
    assert request["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == where.model_data_url


def test_botocore_refuses_what_aws_would(manifest):
    """The validator used by the tests and the dry run is not a rubber stamp."""
    request = mp.create_request(manifest, WHERE)
    request["InferenceSpecification"]["SupportedTransformInstanceTypes"] = []  # min 1
    with pytest.raises(ParamValidationError):
        validate_parameters(request, shape())


def test_client_token_is_stable_and_follows_the_inputs(manifest):
    a, b = mp.create_request(manifest, WHERE), mp.create_request(manifest, WHERE)
    assert a["ClientToken"] == b["ClientToken"] and 1 <= len(a["ClientToken"]) <= 36
    other = mp.create_request(manifest, mp.Locations(**{**WHERE.__dict__, "image_digest": "sha256:" + "cd" * 32}))
    assert other["ClientToken"] != a["ClientToken"]


def test_differences_name_what_changed_and_ignore_what_the_service_adds(manifest):
    request = mp.create_request(manifest, WHERE)
    described = json.loads(json.dumps(request))
    described["ModelPackageArn"] = "arn:aws:sagemaker:us-east-1:123456789012:model-package/x"
    described["InferenceSpecification"]["Containers"][0]["ImageDigest"] = "sha256:" + "00" * 32
    described["InferenceSpecification"]["Containers"][0]["ProductId"] = "prod-added-by-aws"
    described["InferenceSpecification"]["SupportedTransformInstanceTypes"] = ["ml.m5.large"]
    diffs = mp.differences(request, described)
    assert len(diffs) == 2
    assert diffs[0].startswith("InferenceSpecification.Containers[0].ImageDigest: published")
    assert "SupportedTransformInstanceTypes" in diffs[1] and "ml.m5.xlarge" in diffs[1]
    assert mp.differences(request, described, skip=("InferenceSpecification.Containers[0].ImageDigest",)) == diffs[1:]


def test_status_lines_carry_every_failure_reason():
    described = {"ModelPackageName": "p-1", "ModelPackageStatus": "Failed", "ModelPackageStatusDetails": {
        "ValidationStatuses": [{"Name": "validation", "Status": "Failed", "FailureReason": "ClientError: no .out file"}],
        "ImageScanStatuses": [{"Name": "img", "Status": "Completed"}]}}
    assert mp.status_lines(described) == ["p-1: Failed", "  validation validation: Failed: ClientError: no .out file",
                                          "  image scan img: Completed"]
    assert "/aws/sagemaker/TransformJobs" in mp.failure_help(described, "eu-west-1")


def test_registry_of_reads_account_and_region():
    assert registry_of("999999999999.dkr.ecr.eu-west-1.amazonaws.com/repo") == ("999999999999", "eu-west-1")
    assert registry_of("docker.io/library/python") is None
    assert registry_of("127.0.0.1:5000/repo") is None


def test_scan_findings_are_read_from_basic_and_enhanced_scans():
    found = {"imageScanStatus": {"status": "COMPLETE"}, "imageScanFindings": {
        "findings": [{"name": "CVE-1", "severity": "HIGH", "attributes": [{"key": "package_name", "value": "zlib"}]}],
        "enhancedFindings": [{"severity": "CRITICAL", "packageVulnerabilityDetails": {
            "vulnerabilityId": "CVE-2", "vulnerablePackages": [{"name": "openssl", "version": "3.0"}]}}],
        "findingSeverityCounts": {"HIGH": 1, "CRITICAL": 1}}}
    result = _scan_result(found)
    assert [(f["name"], f["package"]) for f in result.blocking] == [("CVE-1", "zlib"), ("CVE-2", "openssl")]
    assert "openssl" in result.table()
    assert _scan_result({"imageScanStatus": {"status": "COMPLETE"}, "imageScanFindings": {
        "findings": [{"name": "CVE-3", "severity": "MEDIUM"}]}}).blocking == []


def test_publish_record_is_written_at_each_step_and_survives_a_reload(tmp_path):
    path = tmp_path / "sub" / "record.json"
    record = PublishRecord.load(path)
    record.done(ImageStep(digest=DIGEST))
    again = PublishRecord.load(path)
    assert again.image.digest == DIGEST and again.image.at and not again.package
    assert json.loads(path.read_text())["steps"]["image"]["digest"] == DIGEST
    dry = PublishRecord.load(tmp_path / "dry.json", persist=False)
    dry.done(ImageStep(digest=DIGEST))
    assert not (tmp_path / "dry.json").exists()
    path.write_text("{not json")
    assert PublishRecord.load(path).to_dict() == {"steps": {}}
    assert path.with_suffix(".unreadable.json").exists()


def test_the_record_has_one_place_for_its_path_and_refuses_an_unknown_target(tmp_path):
    assert PublishRecord.path_for(tmp_path, "p-1-0", "local") == tmp_path / ".mpkit" / "publish" / "local" / "p-1-0.json"
    with pytest.raises(ValueError):
        PublishRecord.path_for(tmp_path, "p-1-0", "elsewhere")
