"""Static checks: each broken input fails exactly its check, with a hint (no Docker needed)."""

import io
import json
import tarfile
from xml.etree import ElementTree as ET

import pytest

from package.manifest import load_manifest
from package.report import Report
from tests.conftest import write_manifest
from validation import static_checks


def _by_id(checks):
    return {c.id: c for c in checks}


def _failed(checks):
    return sorted(c.id for c in checks if c.status == "fail")


def test_the_example_manifest_passes(tmp_path):
    checks = static_checks.manifest_checks(load_manifest(write_manifest(tmp_path)))
    assert _failed(checks) == []


def test_a_validation_role_that_is_a_name_not_an_arn(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, **{"validation.role": "MyValidationRole"}))
    checks = static_checks.manifest_checks(manifest)
    assert _failed(checks) == ["validation-role"]
    hint = _by_id(checks)["validation-role"].hint
    assert "arn:aws:iam::123456789012:role/MyValidationRole" in hint
    assert "manifest.yaml:" in _by_id(checks)["validation-role"].details[0]


def test_a_name_and_version_too_long_together_for_a_model_package_name(tmp_path):
    """Each fits the schema; NAME-VERSION, the ModelPackageName, is 64 characters (API: 1-63)."""
    manifest = load_manifest(write_manifest(tmp_path, name="p" * 58, version="1.0.0"))
    assert len(manifest.package_name) == 64
    checks = static_checks.manifest_checks(manifest)
    assert _failed(checks) == ["model-package-name"]
    assert "manifest.yaml:" in _by_id(checks)["model-package-name"].details[0]
    ok = load_manifest(write_manifest(tmp_path, name="p" * 57, version="1.0.0"))
    assert _failed(static_checks.manifest_checks(ok)) == []


def test_an_instance_type_that_does_not_exist(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, **{"instance_types.batch": ["ml.m5.large", "ml.m5.huge"]}))
    checks = static_checks.manifest_checks(manifest)
    assert _failed(checks) == ["instance-types"]
    assert "ml.m5.huge" in _by_id(checks)["instance-types"].details[0]


def test_graviton_is_fine_for_real_time_but_not_for_batch(tmp_path):
    ok = load_manifest(write_manifest(tmp_path, **{"instance_types.realtime": ["ml.c7g.large"]}))
    assert _failed(static_checks.manifest_checks(ok)) == []
    bad = load_manifest(write_manifest(tmp_path, **{"instance_types.batch": ["ml.c7g.large"]}))
    assert _failed(static_checks.manifest_checks(bad)) == ["instance-types"]


def test_payload_times_concurrency_over_100(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, **{"validation.max_payload_mb": 60,
                                                         "validation.max_concurrent_transforms": 2}))
    assert _failed(static_checks.manifest_checks(manifest)) == ["batch-payload-x-concurrency"]


def test_a_batch_strategy_without_a_split_type(tmp_path):
    manifest = load_manifest(write_manifest(tmp_path, **{"validation.split_type": "None"}))
    assert _failed(static_checks.manifest_checks(manifest)) == ["batch-strategy-split"]


def _tar(tmp_path, members: dict[str, bytes], links: dict[str, str] | None = None):
    links = links or {}
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


EXPECTED = ["mpkit-model.json", "model.ubj"]


def test_a_good_archive_passes(tmp_path):
    assert static_checks.archive_check(_tar(tmp_path, {"mpkit-model.json": b"{}", "model.ubj": b"x"}), EXPECTED).status == "pass"


def test_a_tarball_with_an_extra_top_folder(tmp_path):
    result = static_checks.archive_check(_tar(tmp_path, {"model/mpkit-model.json": b"{}", "model/model.ubj": b"x"}), EXPECTED)
    assert result.status == "fail" and "extra top folder" in result.details[0]
    assert "tar -czf model.tar.gz -C model ." in result.hint


@pytest.mark.parametrize("members,links,problem", [
    ({"/etc/evil": b""}, {}, "absolute path"),
    ({"../evil": b""}, {}, "`..`"),
    ({}, {"link": "../../etc/passwd"}, "leaves the archive"),
    ({}, {"link": "/etc/passwd"}, "leaves the archive"),
])
def test_archive_entries_that_escape(tmp_path, members, links, problem):
    members = {"mpkit-model.json": b"{}", "model.ubj": b"x", **members}
    result = static_checks.archive_check(_tar(tmp_path, members, links), EXPECTED)
    assert result.status == "fail" and any(problem in d for d in result.details)


IMAGE = {"Os": "linux", "Architecture": "amd64", "Size": 400_000_000,
         "Config": {"Entrypoint": ["/opt/venv/bin/python3", "-m", "inference_image"], "Cmd": ["serve"], "User": "",
                    "Labels": {"com.amazonaws.sagemaker.capabilities.accept-bind-to-port": "true"}}}


def _image(**config):
    return {**IMAGE, "Config": {**IMAGE["Config"], **config}}


def test_our_image_config_passes():
    assert _failed(static_checks.image_checks(IMAGE)) == []


@pytest.mark.parametrize("config,failing", [
    ({"Entrypoint": ["/bin/sh", "-c", "python3 serve.py"]}, "entrypoint-exec-form"),
    ({"Entrypoint": ["/usr/bin/tini", "--", "python3"]}, "entrypoint-not-tini"),
    ({"User": "1000"}, "root-user"),
])
def test_image_config_cases(config, failing):
    assert _failed(static_checks.image_checks(_image(**config))) == [failing]


def test_an_arm_image_fails():
    assert _failed(static_checks.image_checks({**IMAGE, "Architecture": "arm64"})) == ["architecture"]


def test_downloads_at_start_are_found_in_the_entry_script():
    script = "#!/bin/sh\n# pip install is how people do it\npip install -r requirements.txt\nexec python3 serve.py\n"
    result = static_checks.downloads_check(["/serve.sh"], {"/serve.sh": script})
    assert result.status == "fail" and result.details == ["/serve.sh:3: pip install -r requirements.txt"]
    assert static_checks.downloads_check(["/opt/venv/bin/python3", "-m", "inference_image", "serve"], {}).status == "pass"


def test_secrets_by_name_and_by_content():
    files = [("/root/.aws/credentials", b"[default]"), ("/opt/app/settings.py", b"KEY = 'AKIAABCDEFGHIJKLMNOP'"),
             ("/opt/app/model.bin", b"\x00\x01"), ("/usr/lib/ssl/private.key", None)]
    result = static_checks.secrets_check(files)
    assert result.status == "fail" and len(result.details) == 2


def test_the_report_in_three_forms(tmp_path):
    report = Report(subject={"name": "p"})
    report.add(*static_checks.image_checks(_image(User="1000")))
    paths = report.write(tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["summary"]["verdict"] == "fail" and data["summary"]["fail"] == 1
    assert set(data["checks"][0]) == {"id", "rule", "source", "measured", "limit", "status", "hint", "details"}
    suite = ET.parse(paths["junit"]).getroot()
    assert suite.get("failures") == "1" and suite.find(".//failure") is not None
    assert "FAIL root-user" in paths["table"].read_text() and "fix: remove USER" in report.table()


def test_more_than_16_transform_environment_entries(tmp_path):
    env = {f"KEY_{i}": "v" for i in range(17)}
    manifest = load_manifest(write_manifest(tmp_path, **{"validation.environment": env}))
    assert _failed(static_checks.manifest_checks(manifest)) == ["transform-environment"]


def test_no_validation_profile(tmp_path):
    path = write_manifest(tmp_path)
    text = path.read_text()
    path.write_text(text[:text.index("validation:")] + text[text.index("samples:"):])
    assert _failed(static_checks.manifest_checks(load_manifest(path))) == ["validation-profile"]


def test_an_image_over_the_ecr_layer_limit():
    assert _failed(static_checks.image_checks({**IMAGE, "Size": 60_000 * 1024 * 1024})) == ["image-size"]
