import pytest
import yaml

from package.cli import main
from package.manifest import ManifestError, load_manifest
from tests.conftest import ROOT, write_manifest
from validation.static_checks import manifest_errors


def test_the_example_manifest_loads():
    manifest = load_manifest(ROOT / "manifest.yaml")
    assert manifest.name == "diabetes-progression" and manifest.delivery == "image"
    assert [f.name for f in manifest.model.features][:3] == ["age", "sex", "bmi"]


def _problems(tmp_path, text):
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    return err.value.problems


@pytest.mark.parametrize("name", ["-starts-with-dash", "has_underscore", "x" * 64, ""])
def test_bad_package_names_are_refused_with_field_and_line(tmp_path, name):
    path = write_manifest(tmp_path, name=name)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("name:"))
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert any(p.startswith(f"{path}:{line}: name:") for p in err.value.problems), err.value.problems


def test_nested_errors_name_the_field_path_and_line(tmp_path):
    text = (ROOT / "manifest.yaml").read_text().replace("max_payload_mb: 6\n  workers", "max_payload_mb: 600\n  workers")
    problems = _problems(tmp_path, text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "max_payload_mb: 600" in t)
    assert problems == [f"{tmp_path / 'manifest.yaml'}:{line}: serving.max_payload_mb: 600 is greater than the maximum of 100"
                        "\n    fix: use at most 100"]


def test_unknown_field_and_bad_feature(tmp_path):
    text = (ROOT / "manifest.yaml").read_text().replace("{name: age, type: number", "{name: age, type: integer")
    text += "colour: blue\n"
    problems = _problems(tmp_path, text)
    assert any("model.features[0].type" in p for p in problems)
    assert any("colour" in p for p in problems)


def test_rules_beyond_the_schema(tmp_path):
    path = write_manifest(tmp_path, **{"serving.default_accept": "application/x-npy"})
    with pytest.raises(ManifestError, match="serving.default_accept"):
        load_manifest(path)


def test_a_version_that_yaml_reads_as_a_number(tmp_path):
    problems = _problems(tmp_path, (ROOT / "manifest.yaml").read_text().replace("version: 1.0.0", "version: 1.0"))
    assert any(":4: version: 1.0 is not of type 'string'" in p for p in problems), problems


def test_invalid_yaml_names_the_line_the_column_and_shows_the_source(tmp_path):
    problems = _problems(tmp_path, "name: x\nmodel: {framework: sklearn\nserving: [a, b\n")
    assert problems[0].startswith(f"{tmp_path / 'manifest.yaml'}:3:8: not valid YAML")
    assert problems[1] == "    serving: [a, b" and problems[2] == "           ^"


def test_a_mistyped_key_is_named_at_its_own_line_once_with_what_was_meant(tmp_path):
    text = (ROOT / "manifest.yaml").read_text().replace("  default_accept: application/json",
                                                        "  default_accept: application/json\n  content_type: text/csv")
    text = text.replace("instance_types:", "instance_type:", 1)
    problems = _problems(tmp_path, text)
    lines = text.splitlines()
    at = {key: next(i for i, t in enumerate(lines, 1) if t.strip().startswith(key + ":")) for key in ("content_type", "instance_type")}
    joined = "\n".join(problems)
    assert f"manifest.yaml:{at['content_type']}: serving.content_type: unknown field `content_type`; did you mean " \
           "`content_types`?" in joined
    assert f"manifest.yaml:{at['instance_type']}: instance_type: unknown field `instance_type`; did you mean " \
           "`instance_types`?" in joined and "fix: rename it to 'instance_types'" in joined
    assert joined.count("unknown field `instance_type`") == 1 and "\\\\" not in joined


def test_missing_model_file_names_field_and_line(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path))
    with pytest.raises(ManifestError, match=r"manifest.yaml:\d+: model.files.featurizer: file .* not found"):
        manifest.require_file("model", "files", "featurizer")


def test_every_missing_declared_file_is_named_with_its_field_and_line(tmp_path, product):
    (tmp_path / "example").symlink_to(product / "example")
    manifest = load_manifest(write_manifest(tmp_path, **{"validation.input": "nowhere/input.csv",
                                                          "samples": [{"file": "gone.csv", "content_type": "text/csv"}]}))
    with pytest.raises(ManifestError) as caught:
        manifest.require_declared_files()
    assert len(caught.value.problems) == 2
    assert any("nowhere/input.csv)\n    fix: write the file" in p and ": validation.input: input.csv not found" in p
               for p in caught.value.problems)
    assert any(": samples[0].file: gone.csv not found" in p and "manifest.yaml:" in p for p in caught.value.problems)


BROKEN = {
    "a number over its maximum": ("max_payload_mb: 6\n  workers", "max_payload_mb: 600\n  workers"),
    "a version YAML reads as a number": ("version: 1.0.0", "version: 1.0"),
    "an unknown field": ("instance_types:", "instance_typez:"),
    "a value outside its enum": ("framework: pipeline", "framework: pipelin"),
    "a package name out of its pattern": ("name: diabetes-progression", "name: diabetes_progression"),
    "a default accept not served": ("default_accept: application/json", "default_accept: text/html"),
    "YAML that does not parse": ("serving:", "serving: [a,"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_every_manifest_error_carries_a_fix_line(tmp_path, case):
    old, new = BROKEN[case]
    text = (ROOT / "manifest.yaml").read_text()
    assert old in text
    problems = _problems(tmp_path, text.replace(old, new, 1))
    assert problems and all(line.startswith(str(tmp_path)) or line.startswith("    ") for line in problems)
    assert "\n".join(problems).count("    fix: ") >= 1, problems
    mistakes = [p for p in problems if p.startswith(str(tmp_path))]
    assert all("\n    fix: " in p for p in mistakes if "not valid YAML" not in p), mistakes


def test_api_rules_in_the_manifest_are_user_errors_with_a_did_you_mean(tmp_path, product):
    (tmp_path / "example").symlink_to(product / "example")
    path = write_manifest(tmp_path, **{"instance_types.realtime": ["ml.m5.large", "ml.m5.larg"],
                                       "validation.instance_type": "ml.c5.xlarg", "validation.role": "mpkit-validation"})
    manifest = load_manifest(path)  # the schema's pattern holds; the API's enum does not
    problems = manifest_errors(manifest)
    lines = path.read_text().splitlines()
    role_line = next(i for i, t in enumerate(lines, 1) if "role: mpkit-validation" in t)
    joined = "\n".join(problems)
    assert "instance_types.realtime[1]: 'ml.m5.larg' is not a ProductionVariantInstanceType; did you mean ml.m5.large?" in joined
    assert "validation.instance_type: 'ml.c5.xlarg' is not a TransformInstanceType; did you mean ml.c5.xlarge?" in joined
    assert f"manifest.yaml:{role_line}: validation.role: 'mpkit-validation' is not a role ARN" in joined
    assert len(problems) == 3 and all("\n    fix: " in p for p in problems)


@pytest.mark.parametrize("command", ["validate", "publish"])
def test_validate_and_publish_refuse_an_unknown_instance_type_at_exit_2_before_docker_or_aws(
        tmp_path, product, command, monkeypatch, capsys):
    (tmp_path / "example").symlink_to(product / "example")
    path = write_manifest(tmp_path, **{"validation.instance_type": "ml.m5.larg"})
    # Neither an engine nor AWS is reachable: reaching either would end in exit 3 or 6.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    extra = ["--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"] if command == "publish" else []
    code = main([command, "--manifest", str(path), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "validation.instance_type: 'ml.m5.larg' is not a TransformInstanceType; did you mean ml.m5.large?" in err
    assert "fix: " in err and "Traceback" not in err


def test_a_prebuilt_image_takes_the_place_of_the_model_section(tmp_path):
    base = {"name": "my-server", "version": "1.0.0",
            "serving": {"content_types": ["text/csv"], "accept_types": ["text/csv"]},
            "instance_types": {"realtime": ["ml.m5.large"], "batch": ["ml.m5.large"]}}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({**base, "image": {"ref": "my-registry/my-server:1"}}))
    manifest = load_manifest(path)
    assert manifest.image == "my-registry/my-server:1" and manifest.delivery == "image" and manifest.model.files == {}
    path.write_text(yaml.safe_dump({**base, "image": {"ref": "x:1", "model_archive": "weights.tar.gz"}}))
    manifest = load_manifest(path)
    assert manifest.delivery == "s3" and manifest.prebuilt.model_archive == tmp_path / "weights.tar.gz"
    with pytest.raises(ManifestError) as missing:
        manifest.require_declared_files()
    assert "image.model_archive: weights.tar.gz not found" in missing.value.problems[0]
    both = _problems(tmp_path, yaml.safe_dump({**base, "image": {"ref": "x:1"},
                                              "model": {"framework": "xgboost", "files": {"model": "m.ubj"}}}))
    assert any("has no `model` section" in p and "fix: remove `model`" in p for p in both), both
    neither = _problems(tmp_path, yaml.safe_dump(base))
    assert any("'model' is a required property (or `image:` naming a prebuilt image)" in p for p in neither), neither
