"""Static checks: each broken input fails exactly its check, with a hint (no Docker needed)."""

import io
import json
import os
import tarfile
from pathlib import Path
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


def _tar(tmp_path, members: dict[str, bytes], links: dict[str, str] | None = None, after: dict[str, bytes] | None = None,
         name: str = "model.tar.gz"):
    """An archive of `members`, then symbolic `links` (name -> target), then the `after` members."""
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        def files(entries):
            for member, data in entries.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        files(members)
        for member, target in (links or {}).items():
            info = tarfile.TarInfo(member)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        files(after or {})
    return path


EXPECTED = ["mpkit-model.json", "model.ubj"]


def archive_check(path, expected):
    checks = static_checks.archive_checks(path, expected)
    assert [c.id for c in checks] == ["model-archive", "model-archive-files"]
    return checks[0]


def test_a_good_archive_passes(tmp_path):
    assert archive_check(_tar(tmp_path, {"mpkit-model.json": b"{}", "model.ubj": b"x"}), EXPECTED).status == "pass"


def test_a_tarball_with_an_extra_top_folder(tmp_path):
    result = archive_check(_tar(tmp_path, {"model/mpkit-model.json": b"{}", "model/model.ubj": b"x"}), EXPECTED)
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
    result = archive_check(_tar(tmp_path, members, links), EXPECTED)
    assert result.status == "fail" and any(problem in d for d in result.details)


GOOD = {"mpkit-model.json": b"{}", "model.ubj": b"x"}


def _chain(tmp_path) -> Path:
    """Each link stays inside on its own (`a/b -> ..` is the root, seen from a folder `a`), but `a`
    is a link to the root, so `a/b` is a link to the root's parent."""
    return _tar(tmp_path, GOOD, {"a": ".", "a/b": ".."}, after={"a/b/escaped.txt": b"x"}, name="chain.tar.gz")


def _long_name(tmp_path) -> Path:
    return _tar(tmp_path, {**GOOD, "x" * 300 + ".bin": b"1"})


def _truncated(tmp_path) -> Path:
    whole = _tar(tmp_path, {**GOOD, "weights.bin": bytes(range(256)) * 4096})
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def _not_tar(tmp_path) -> Path:
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"PK\x03\x04 a zip file, not a tar")
    return path


def _empty(tmp_path) -> Path:
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    return path


def _sparse_31_gib(tmp_path) -> Path:
    """A 200-byte archive that unpacks to 31 GiB: GNU tar stores the holes of a sparse file."""
    import subprocess

    (tmp_path / "big.bin").touch()
    os.truncate(tmp_path / "big.bin", 31 * 1024**3)
    (tmp_path / "mpkit-model.json").write_text("{}")
    (tmp_path / "model.ubj").write_text("x")
    path = tmp_path / "bomb.tar.gz"
    subprocess.run(["tar", "-cSzf", str(path), "-C", str(tmp_path), "big.bin", "mpkit-model.json", "model.ubj"], check=True)
    return path


@pytest.mark.parametrize("make,reason", [
    (_chain, "a/b: link to .. leaves the archive"),
    (_long_name, "a name too long for the file system"),
    (_truncated, "the archive is truncated"),
    (_not_tar, "the archive is unreadable"),
    (_empty, "the archive is empty"),
    (_sparse_31_gib, "31.0 GiB uncompressed, over the 30 GiB batch transform volume"),
])
def test_hostile_archives_fail_for_their_own_reason_and_nothing_is_written(tmp_path, make, reason):
    from package.untar import ArchiveUnsafe, extract

    path = make(tmp_path)
    result = archive_check(path, EXPECTED)
    assert result.status == "fail" and any(reason in d for d in result.details), result.details
    target = tmp_path / "unpacked"
    with pytest.raises(ArchiveUnsafe):
        extract(path, target)
    assert not target.exists() or not any(target.iterdir())


def test_the_same_chain_is_refused_by_tarfiles_own_filter_when_unpacked():
    """The scan agrees with the `data` filter that it stands in for, on the real file system."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = _chain(Path(tmp))
        with tarfile.open(path) as tar, pytest.raises(tarfile.FilterError):
            tar.extractall(Path(tmp) / "out", filter="data")


def test_many_files_are_a_warning_of_mpkits_not_a_failure(tmp_path):
    members = {**GOOD, **{f"shards/{i}.bin": b"" for i in range(static_checks.MANY_FILES + 1)}}
    checks = static_checks.archive_checks(_tar(tmp_path, members), EXPECTED)
    assert [c.status for c in checks] == ["pass", "warn"] and checks[1].source == "mpkit"


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


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example


@pytest.mark.parametrize("path,content", [
    ("/opt/app/settings.py", f"AWS_SECRET_ACCESS_KEY = '{SECRET}'\n"),
    ("/opt/app/config.yaml", f"aws:\n  aws_secret_access_key: {SECRET}\n"),
    ("/opt/app/config.json", f'{{"SecretAccessKey": "{SECRET}"}}'),
    ("/opt/app/credentials.ini", f"[default]\naws_secret_access_key={SECRET}\n"),
    ("/opt/app/.env.production", "DEBUG=0\n"),
    ("/opt/app/.env.local", "DEBUG=0\n"),
    ("/opt/app/big-model.bin", "x" * (3 * 1024 * 1024 - 7) + "AKIAABCDEFGHIJKLMNOP"),  # past the first MiB, across a chunk
])
def test_each_secret_shape_is_found(path, content):
    result = static_checks.secrets_check([(path, content.encode())])
    assert result.status == "fail" and result.details[0].startswith(path), result.details


@pytest.mark.parametrize("path,content", [
    ("/opt/app/settings.py", "secret = os.environ['AWS_SECRET_ACCESS_KEY']\n"),
    ("/opt/app/deploy.sh", 'export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}"\n'),
    ("/opt/app/.env.example", "AWS_REGION=us-east-1\n"),
    ("/opt/app/weights.bin", "AKIAABCDEFGHIJKLMNOPQ"),  # 21 characters: not a key ID
])
def test_what_is_not_a_secret_passes(path, content):
    assert static_checks.secrets_check([(path, content.encode())]).status == "pass"


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


def test_build_refuses_a_secret_in_the_context_or_the_model_folder_and_names_the_file(tmp_path):
    from package.build import refuse_secrets
    from package.errors import BuildError

    context, model = tmp_path / "context", tmp_path / "model"
    (context / "wheelhouse").mkdir(parents=True)
    (context / "wheelhouse" / "x.whl").write_bytes(b"AKIAABCDEFGHIJKLMNOP")  # PyPI's, not scanned
    (context / "inference_image").mkdir()
    (context / "inference_image" / "app.py").write_text("print('hello')\n")
    model.mkdir()
    (model / "code").mkdir()
    refuse_secrets(context, model)  # nothing found: no error
    (model / "code" / "inference.py").write_text(f"AWS_SECRET_ACCESS_KEY = '{SECRET}'\n")
    (context / ".env.production").write_text("TOKEN=x\n")
    with pytest.raises(BuildError) as refused:
        refuse_secrets(context, model)
    text = str(refused.value)
    assert ".env.production: a credentials or key file by its name" in text
    assert "model.tar.gz: code/inference.py: holds an AWS secret access key given a value" in text
    assert SECRET not in text and "x.whl" not in text and refused.value.exit_code == 4


def test_a_failed_start_names_its_cause_first():
    from validation.container_checks import start_causes

    refused = [(0.1 * i, None, "ConnectionRefusedError: [Errno 111] Connection refused", 0.001) for i in range(50)]
    causes = start_causes(refused, [], "/ping did not answer 200 within 20 s:")
    assert causes[0][0].startswith("nothing listened on the port: all 50 tries") and "8080" in causes[0][1]
    slow = [(0.5, None, "TimeoutError: timed out", 2.0), (3.6, 200, None, 3.05)]
    assert "answered 200 only after 3.0 s" in start_causes(slow, [], "x")[0][0]
    tried = start_causes(refused, ["connect 151.101.0.223:443", "getaddrinfo pypi.org"], "the container exited (code 1) before")
    assert tried[0][0].startswith("it tried the network while starting (2 attempts")
    assert any("exited (code 1)" in line for line, _ in tried)
    statuses = start_causes([(1.0, 503, None, 0.01)], [], "x")
    assert statuses[0][0] == "/ping answered 503, never 200"


def test_records_are_counted_as_batch_splitting_counts_them():
    from validation.container_checks import count_input_records, first_record

    assert count_input_records(b"1,2\n3,4\n\n5,6\n", "text/csv") == 3
    assert count_input_records(b'{"instances": [[1, 2], [3, 4]]}', "application/json") == 2
    assert count_input_records(b"[1, 2, 3]", "application/json") == 1  # one record's features
    assert count_input_records(b"[[1, 2], [3, 4]]", "application/json") == 2
    assert first_record(b"1,2\n3,4\n", "text/csv") == b"1,2\n"
    assert first_record(b'{"instances": [[1, 2], [3, 4]]}', "application/json") == b'{"instances": [[1, 2]]}'
    assert first_record(b"[1, 2, 3]", "application/json") is None


def test_json_validation_input_of_the_declared_shape_makes_bodies_of_any_size(tmp_path):
    from validation.container_checks import ContainerRun

    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"instances": [{"a": i, "b": "x" * 20} for i in range(7)]}))
    run = ContainerRun.__new__(ContainerRun)  # only the body makers, no engine
    run.rows, run.rows_media, run.instances = [], "application/json", json.loads(rows.read_text())["instances"]
    for size in (1000, 100_000, 6 * 1024 * 1024 - 4096):
        body = run.body_of(size)
        assert len(body) <= size and len(body) > size * 0.9 and json.loads(body)["instances"][0] == {"a": 0, "b": "x" * 20}
    assert len(json.loads(run.records_body(1000))["instances"]) == 1000
