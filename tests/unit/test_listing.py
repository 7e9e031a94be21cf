"""The listing's documents, change set and lint, without Docker: the samples here are the example's
inputs with answers written by the test (the Docker tier checks the image's real answers)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from listing import changeset, lint
from listing.samples import SampleFile
from listing.sources import Sources, gather
from listing.writer import write_documents
from package.errors import ConfigurationError

ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/diabetes-progression-1-0-0"
REPORT = {"subject": {"name": "diabetes-progression", "version": "1.0.0"},
          "machine": {"cpus": 2, "processor": "x86_64", "system": "Linux"},
          "performance": [{"rows": 1, "bytes": 52, "concurrency": 1, "requests": 40, "failures": 0,
                           "requests_per_s": 400.0, "p50_ms": 1.5, "p99_ms": 4.0}]}


def _sources(manifest, tmp_path, **listing) -> Sources:
    return Sources(manifest=manifest, listing=dataclasses.replace(manifest.listing, **listing), report=REPORT,
                   report_path=tmp_path / "validation.json",
                   metrics={"name": "rmse", "value": 57.5, "holdout_rows": 89}, arn=ARN, region="us-east-1",
                   arns={"us-east-1": ARN})


def _samples(manifest, folder) -> list[SampleFile]:
    """The manifest's sample inputs, and for each an answer of the declared type."""
    answers = {"text/csv": "150.0\n", "application/json": '{"predictions": [150.0]}',
               "application/jsonlines": '{"progression": 150.0}\n'}
    out = []
    (folder / "samples" / "realtime").mkdir(parents=True)
    (folder / "samples" / "batch").mkdir(parents=True)
    for s in manifest.samples:
        shutil.copyfile(s.file, folder / "samples" / "realtime" / s.file.name)
        name = f"samples/realtime/output-{s.file.suffix[1:]}.{s.file.suffix[1:]}"
        (folder / name).write_text(answers[s.accept])
        out.append(SampleFile("realtime", f"samples/realtime/{s.file.name}", name, s.content_type, s.accept))
    batch = manifest.validation.input
    shutil.copyfile(batch, folder / "samples" / "batch" / batch.name)
    (folder / "samples" / "batch" / f"{batch.name}.out").write_text("150.0\n" * len(batch.read_text().splitlines()))
    out.append(SampleFile("batch", f"samples/batch/{batch.name}", f"samples/batch/{batch.name}.out", "text/csv", "text/csv"))
    return out


@pytest.fixture
def written(manifest, tmp_path):
    folder = tmp_path / "listing"
    result = write_documents(_sources(manifest, tmp_path), _samples(manifest, folder), folder)
    return folder, result


def _failed(folder) -> set[str]:
    return {c.id for c in lint.lint(folder) if c.status == "fail"}


def test_a_complete_listing_passes_its_lint(written):
    folder, result = written
    assert result.ok, [(c.id, c.details) for c in result.checks if c.status != "pass"]
    index = json.loads((folder / "listing.json").read_text())
    assert index["metric"] == {"name": "rmse", "value": 57.5, "holdout_rows": 89}
    usage = (folder / "USAGE.md").read_text()
    assert len(usage) <= 10000 and "`age`" in usage and "text/csv" in usage and "413" in usage
    description = (folder / "DESCRIPTION.md").read_text()
    assert "rmse = **57.5** on 89 held-out records" in description
    assert "| 1 | 52 B | 1 | 1.5 ms | 4.0 ms | 400 | 400 |" in description and "2 CPUs (x86_64" in description


def test_the_notebook_is_valid_nbformat_and_boto3_only(written):
    folder, _ = written
    book = nbformat.read(str(folder / "buyer-notebook.ipynb"), as_version=4)
    nbformat.validate(book)
    code = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    assert "EnableNetworkIsolation=True" in code and ARN in code
    assert "import sagemaker" not in code and "ModelPackage(" not in code
    compile(code, "notebook", "exec")
    compile((folder / "examples" / "boto3_example.py").read_text(), "boto3_example.py", "exec")
    cli = folder / "examples" / "aws-cli.sh"
    text = cli.read_text()
    assert f'MODEL_PACKAGE_ARN="${{MODEL_PACKAGE_ARN:-{ARN}}}"' in text and "--enable-network-isolation" in text
    # cleans up on any exit, and leaves the buyer's configured Region alone
    assert "trap cleanup EXIT" in text and text.index("trap cleanup EXIT") < text.index("create-model")
    assert "export AWS_DEFAULT_REGION" not in text and "--region" not in text
    subprocess.run(["sh", "-n", str(cli)], check=True)  # the shell can parse it


def test_the_change_set_is_accepted_by_botocore_and_within_the_catalog_limits(written):
    _, result = written
    request = result.changeset_request
    details = request["ChangeSet"][0]["DetailsDocument"]
    option = details["DeliveryOptions"][0]["Details"]["SageMakerModelPackageDeliveryOptionDetails"]
    assert request["ChangeSet"][0]["ChangeType"] == "AddDeliveryOptions"
    assert request["ChangeSet"][0]["Entity"]["Type"] == "MachineLearningProduct@1.0"
    assert option["SageMakerModelPackageArn"] == ARN
    assert option["SampleNotebookUrl"].endswith("/blob/main/buyer-notebook.ipynb")
    assert {p["Name"] for p in option["InputProperties"]["Parameters"]} >= {"age", "sex", "bmi"}
    assert changeset.problems(details) == []
    assert changeset.botocore_problems({**request, "Intent": "VALIDATE"}) == []
    # The validator is really consulted: a missing required member and an empty change set are refused.
    assert changeset.botocore_problems({k: v for k, v in request.items() if k != "Catalog"}) != []
    assert changeset.botocore_problems({**request, "ChangeSet": []}) != []


OPTION = "DeliveryOptions.0.Details.SageMakerModelPackageDeliveryOptionDetails"


@pytest.mark.parametrize("path, value, expected", [
    (f"{OPTION}.UsageInstructions", "x" * 10001, "10001 characters"),
    (f"{OPTION}.AccessRoleArn", "mpkit-marketplace-access", "does not match"),
    (f"{OPTION}.RepositoryUrl", "http://github.com/x/y", "does not match"),
    (f"{OPTION}.SampleNotebookUrl", "ftp://example.com/n.ipynb", "does not match"),
    (f"{OPTION}.SageMakerModelPackageArn", "arn:aws:sagemaker:us-east-1:1234:model-package/x", "does not match"),
    (f"{OPTION}.InputProperties.Limitations", "y" * 1001, "1001 characters"),
    (f"{OPTION}.InputProperties.Parameters.0.Name", "n" * 101, "101 characters"),
    (f"{OPTION}.InputProperties.Parameters", [{"Name": "f"}] * 36, "36 items"),
    (f"{OPTION}.OutputProperties.SampleOutput.RealtimeInferenceText", "z" * 10001, "10001 characters"),
    (f"{OPTION}.RecommendedInstanceTypes.RealtimeInference", "ml.m5 large", "does not match"),
    (f"{OPTION}.RecommendedInstanceTypes", None, "required"),
    ("Version.VersionTitle", "v" * 65, "65 characters"),
])
def test_a_change_set_field_outside_the_catalog_limits_is_named(written, path, value, expected):
    _, result = written
    details = json.loads(json.dumps(result.changeset_request["ChangeSet"][0]["DetailsDocument"]))
    node = details
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node[int(last)] = value
    elif value is None:
        del node[last]
    else:
        node[last] = value
    found = changeset.problems(details)
    name = [p for p in path.split(".") if not p.isdigit()][-1]
    assert any(name in p and expected in p for p in found), found


@pytest.mark.parametrize("marker", ["For Seller to update", "TODO", "TBD", "<your model name>", "{{MODEL_ARN}}",
                                    "Lorem ipsum", "REPLACE_ME"])
def test_lint_fails_on_placeholder_text(written, marker):
    folder, _ = written
    text = (folder / "DESCRIPTION.md").read_text()
    (folder / "DESCRIPTION.md").write_text(text + f"\nLatency: {marker}\n")
    assert _failed(folder) == {"listing-no-placeholders"}


def test_lint_fails_on_a_missing_batch_sample(written):
    folder, _ = written
    (folder / "samples" / "batch" / "input.csv.out").unlink()
    assert "listing-required-items" in _failed(folder)


def test_lint_fails_on_usage_text_over_ten_thousand_characters(written):
    folder, _ = written
    (folder / "USAGE.md").write_text("a" * 10001)
    assert _failed(folder) == {"listing-usage-length"}


def test_lint_fails_on_a_feature_without_description(manifest, tmp_path):
    features = tuple(dataclasses.replace(f, description=None) if f.name == "bmi" else f for f in manifest.model.features)
    bare = dataclasses.replace(manifest, model=dataclasses.replace(manifest.model, features=features))
    folder = tmp_path / "listing"
    result = write_documents(_sources(bare, tmp_path), _samples(bare, folder), folder)
    failed = next(c for c in result.checks if c.id == "listing-feature-descriptions")
    assert failed.status == "fail" and failed.details == ["bmi: no description"]
    assert _failed(folder) == {"listing-feature-descriptions"}


def test_lint_fails_on_a_sample_that_does_not_parse_as_its_type(written):
    folder, _ = written
    (folder / "samples" / "realtime" / "output-json.json").write_text("{not json")
    assert _failed(folder) == {"listing-samples-parse"}


def test_lint_fails_on_a_notebook_that_imports_the_sdk(written):
    folder, _ = written
    book = nbformat.read(str(folder / "buyer-notebook.ipynb"), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell("from sagemaker import ModelPackage"))
    nbformat.write(book, str(folder / "buyer-notebook.ipynb"))
    assert _failed(folder) == {"listing-notebook"}


def test_gather_names_what_is_missing(manifest, tmp_path):
    with pytest.raises(ConfigurationError, match="no publish record"):
        gather(manifest, record_path=tmp_path / "none.json", report_path=tmp_path / "r.json")
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"steps": {"package": {"arn": ARN}}}))
    with pytest.raises(ConfigurationError, match="no validation report"):
        gather(manifest, record_path=record, report_path=tmp_path / "r.json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**REPORT, "subject": {"name": "another", "version": "1.0.0"}}))
    with pytest.raises(ConfigurationError, match="not diabetes-progression 1.0.0"):
        gather(manifest, record_path=record, report_path=other)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(REPORT))
    sources = gather(manifest, record_path=record, report_path=good)
    assert sources.arns == {"us-east-1": ARN} and sources.recommended == {"realtime": "ml.m5.large", "batch": "ml.m5.large"}


@pytest.fixture
def catalog():
    from tests.catalog_emulator import CatalogEmulator

    emulator = CatalogEmulator(products={"prod-abc123@1"})
    yield emulator
    emulator.close()


def _catalog_aws(catalog):
    from package.aws import Aws, Target
    from package.local_target import CREDENTIALS

    return Aws(Target(region="us-east-1", endpoint_url=catalog.url, credentials=CREDENTIALS))


def test_submit_validates_first_and_applies_only_when_asked(manifest, tmp_path, catalog):
    from listing.submit import submit

    folder = tmp_path / "listing"
    result = write_documents(_sources(manifest, tmp_path, product_id="prod-abc123@1"), _samples(manifest, folder), folder)
    runs = submit(_catalog_aws(catalog), result.changeset_request, apply=False, poll=0.01, say=lambda _: None)
    assert [r["intent"] for r in runs] == ["VALIDATE"] and runs[0]["status"] == "SUCCEEDED"
    assert [c["Intent"] for c in catalog.change_sets.values()] == ["VALIDATE"]

    runs = submit(_catalog_aws(catalog), result.changeset_request, apply=True, poll=0.01, say=lambda _: None)
    assert [r["intent"] for r in runs] == ["VALIDATE", "APPLY"]
    applied = [c for c in catalog.change_sets.values() if c["Intent"] == "APPLY"]
    assert len(applied) == 1 and applied[0]["ChangeSet"][0]["ChangeType"] == "AddDeliveryOptions"
    option = applied[0]["ChangeSet"][0]["DetailsDocument"]["DeliveryOptions"][0]["Details"]
    assert option["SageMakerModelPackageDeliveryOptionDetails"]["SageMakerModelPackageArn"] == ARN


def test_a_rejected_change_set_is_never_applied(manifest, tmp_path, catalog):
    from listing.submit import submit
    from package.errors import ListingRejected

    folder = tmp_path / "listing"
    result = write_documents(_sources(manifest, tmp_path, product_id="prod-unknown@1"), _samples(manifest, folder), folder)
    with pytest.raises(ListingRejected, match="ENTITY_NOT_FOUND"):
        submit(_catalog_aws(catalog), result.changeset_request, apply=True, poll=0.01, say=lambda _: None)
    assert [c["Intent"] for c in catalog.change_sets.values()] == ["VALIDATE"]


def test_submit_without_a_product_id_says_where_to_get_one(written, catalog):
    from listing.submit import submit

    _, result = written
    with pytest.raises(ConfigurationError, match="listing.product_id is not set"):
        submit(_catalog_aws(catalog), result.changeset_request, apply=False, say=lambda _: None)
    assert catalog.change_sets == {}


def test_the_framework_is_named_as_the_image_loads_it():
    from listing.description import framework_label
    from package.manifest import ModelSection

    def model(framework, **files):
        return ModelSection(framework=framework, files={role: Path(name) for role, name in files.items()})

    assert framework_label(model("pipeline", featurizer="f.joblib", predictor="m.ubj")) \
        == "scikit-learn featurizer + XGBoost predictor"
    assert framework_label(model("pipeline", featurizer="f.joblib", predictor="m.joblib")) \
        == "scikit-learn featurizer + scikit-learn predictor"
    assert framework_label(model("xgboost", model="m.json")) == "XGBoost"


def test_the_description_carries_figures_measured_on_aws_only_when_they_were(manifest, tmp_path):
    from listing.description import render

    local = render(_sources(manifest, tmp_path))
    assert "Measured by `mpkit validate` on 2 CPUs" in local and "Amazon SageMaker in" not in local
    rows = ({"instance_type": "ml.m5.large", "content_type": "text/csv", "bytes": 52, "p50_ms": 6.2, "p99_ms": 9.9,
             "requests_per_s": 310.0, "concurrency": 4},)
    measured = render(dataclasses.replace(_sources(manifest, tmp_path), aws_performance=rows))
    assert "Measured on Amazon SageMaker in us-east-1 by `mpkit listing --measure-on-aws`" in measured
    assert "| ml.m5.large | text/csv | 52 B | 6.2 ms | 9.9 ms | 310.0 (4) |" in measured
