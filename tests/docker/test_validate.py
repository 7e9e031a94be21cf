"""`mpkit validate` against the corpus of broken images, each built here from a small fixture,
and against the example product, which passes every check."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from tests.conftest import write_manifest

pytestmark = pytest.mark.docker
CORPUS = Path(__file__).parent / "corpus"
TINY = {  # the small server's MODE -> the check that must fail
    "errors-200": "errors-4xx",
    "ping-body": "ping",
    "wrong-port": "startup",
    "no-bind-port": "bind-to-port",
    "drop-last": "batch-record-count",
    "slow-ping": "ping-time",
    "slow-invocation": "invocation-time",
    "meter-errors": "metering",
    "always-slow-ping": "ping-time",
    "crash-in-batch": "batch-transform",
}
OURS = {  # our image, broken one way -> the checks that must fail
    "pip-at-start": (
        'COPY start.sh /start.sh\nENTRYPOINT ["/start.sh"]\n',
        "#!/bin/sh\npip install --no-cache-dir requests || /opt/venv/bin/python3 -c "
        "\"import urllib.request; urllib.request.urlopen('https://pypi.org/simple/requests/', timeout=2)\" || true\n"
        "exec /opt/venv/bin/python3 -m inference_image \"$@\"\n",
        ["no-downloads-at-start", "egress"]),
    # A shell entry point fetching weights, not from Python: curl where the image has it, else
    # bash's own /dev/tcp (this base has no curl). The script names curl (no-downloads-at-start);
    # only the egress recorder sees the lookup and the connection, whichever ran.
    "shell-fetch-at-start": (
        'COPY start.sh /start.sh\nENTRYPOINT ["/start.sh"]\n',
        "#!/bin/bash\nif command -v curl >/dev/null; then curl -fsS -o /tmp/w.bin https://weights.example.com/w.bin || true\n"
        "else (exec 3<>/dev/tcp/weights.example.com/443) 2>/dev/null || true; fi\n"
        "exec /opt/venv/bin/python3 -m inference_image \"$@\"\n",
        ["no-downloads-at-start", "egress"]),
    "body-cap-5mb": ("ENV SAGEMAKER_MAX_PAYLOAD_IN_MB=5\n", None, ["payload-realtime"]),
    "shell-form-entrypoint": ("ENTRYPOINT /opt/venv/bin/python3 -m inference_image serve && true\n", None,
                              ["entrypoint-exec-form", "sigterm"]),
}


@pytest.fixture(scope="module")
def client_base(engine):
    from package.base_image import DEFAULT_BASE, resolve_base

    return resolve_base(engine, DEFAULT_BASE, say=lambda _: None)


@pytest.fixture(scope="module")
def s3_manifest(product, tmp_path_factory):
    from package.manifest import load_manifest

    folder = tmp_path_factory.mktemp("s3-manifest")
    (folder / "example").symlink_to(product / "example")
    return load_manifest(write_manifest(folder, name="mpkit-test-s3", **{"model.delivery": "s3"}))


@pytest.fixture(scope="module")
def baked_manifest(product):
    from package.manifest import load_manifest

    return load_manifest(product / "manifest.yaml")


def _image(engine, tmp_path, tag, dockerfile, files=None):
    context = tmp_path / tag.replace("/", "_").replace(":", "_")
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (context / name).write_text(text)
        (context / name).chmod(0o755)
    engine.build(context, [tag], {}, say=lambda _: None)
    return tag


def _validate(engine, manifest, image, tmp_path, **kwargs):
    from validation.runner import validate

    return validate(manifest, engine, image=image, output=tmp_path / "reports", build_if_missing=False,
                    startup_timeout=20, say=lambda _: None, **kwargs)


def _fails_with(report, check_id):
    failed = {c.id: c for c in report.failed}
    assert check_id in failed, f"{check_id} did not fail; failures: {sorted(failed)}"
    assert failed[check_id].hint, f"{check_id} has no fix hint"


@pytest.mark.parametrize("mode", sorted(TINY))
def test_a_small_broken_server_fails_its_check(engine, client_base, baked_manifest, tmp_path, mode):
    shutil.copy(CORPUS / "server.py", tmp_path / "server.py")
    dockerfile = (f"FROM {client_base}\nCOPY server.py /srv/server.py\nENV MODE={mode}\n"
                  "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\n"
                  'ENTRYPOINT ["python3", "/srv/server.py"]\nCMD ["serve"]\n')
    image = _image(engine, tmp_path, f"mpkit-corpus/{mode}:1", dockerfile, {"server.py": (CORPUS / "server.py").read_text()})
    report = _validate(engine, baked_manifest, image, tmp_path)
    _fails_with(report, TINY[mode])
    checks = {c.id: c for c in report.checks}
    if mode == "wrong-port":  # the cause is named, not only "no 200"
        assert "nothing listened on the port" in checks["startup"].measured, checks["startup"]
    if mode == "always-slow-ping":
        assert "answered 200 only after 3.0 s" in checks["startup"].measured, checks["startup"]
    if mode == "crash-in-batch":  # a failing check naming the cause, not an exception out of validate
        assert "never answered /ping 200" in checks["batch-transform"].measured
    if mode == "drop-last":  # caught by the real-time checks too, not only by the batch replay
        _fails_with(report, "record-count-realtime")


def test_an_early_413_from_a_server_that_does_not_read_the_body_passes(engine, client_base, baked_manifest, tmp_path):
    dockerfile = (f"FROM {client_base}\nCOPY server.py /srv/server.py\nENV MODE=early-413\n"
                  "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\n"
                  'ENTRYPOINT ["python3", "/srv/server.py"]\nCMD ["serve"]\n')
    image = _image(engine, tmp_path, "mpkit-corpus/early-413:1", dockerfile, {"server.py": (CORPUS / "server.py").read_text()})
    report = _validate(engine, baked_manifest, image, tmp_path)
    over = next(c for c in report.checks if c.id == "payload-over-limit")
    assert over.status == "pass", over


@pytest.mark.parametrize("case", sorted(OURS))
def test_our_image_broken_one_way_fails_its_checks(engine, s3_image, s3_manifest, tmp_path, case):
    extra, script, checks = OURS[case]
    image = _image(engine, tmp_path, f"mpkit-corpus/{case}:1", f"FROM {s3_image.image}\n{extra}",
                   {"start.sh": script} if script else None)
    report = _validate(engine, s3_manifest, image, tmp_path, model_archive=Path(s3_image.model_tar))
    for check_id in checks:
        _fails_with(report, check_id)
    if case == "shell-fetch-at-start":
        egress = next(c for c in report.checks if c.id == "egress")
        assert "any process: looked up weights.example.com" in egress.details, egress.details


def test_a_tarball_with_an_extra_top_folder_fails(engine, s3_image, s3_manifest, tmp_path):
    nested = tmp_path / "nested.tar.gz"
    with tarfile.open(nested, "w:gz") as tar:
        tar.add(s3_image.model_dir, arcname="model")
    report = _validate(engine, s3_manifest, s3_image.image, tmp_path, model_archive=nested)
    _fails_with(report, "model-archive")


def test_a_tarball_that_escapes_its_folder_fails_without_running_the_container(engine, s3_image, s3_manifest, tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(s3_image.model_dir, arcname=".")
        payload = tmp_path / "payload"
        payload.write_text("x")
        tar.add(payload, arcname="../outside.txt")
    report = _validate(engine, s3_manifest, s3_image.image, tmp_path, model_archive=evil)
    _fails_with(report, "model-archive")
    assert not any(c.id == "startup" for c in report.checks), "the container must not run on an unsafe archive"
    _fails_with(report, "container-checks")  # never a pass with the container checks left out
    assert not (tmp_path / "outside.txt").exists()


def test_a_link_chain_that_escapes_only_when_followed_fails_and_the_verdict_is_a_failure(
        engine, s3_image, s3_manifest, tmp_path):
    chain = tmp_path / "chain.tar.gz"
    with tarfile.open(chain, "w:gz") as tar:
        tar.add(s3_image.model_dir, arcname=".")
        for name, target in (("a", "."), ("a/b", "..")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    report = _validate(engine, s3_manifest, s3_image.image, tmp_path, model_archive=chain)
    archive = next(c for c in report.checks if c.id == "model-archive")
    assert archive.status == "fail" and any("a/b: link to .. leaves the archive" in d for d in archive.details)
    _fails_with(report, "container-checks")


def test_the_example_product_passes_every_check_and_batch_matches_real_time(engine, baked, manifest, example_validation):
    report, _ = example_validation
    assert report.failed == [], report.table()
    assert all(p.is_file() for p in report.paths.values())
    assert report.performance and report.batch["ok"]
    # The replay uses what AWS's validation job would: ModelClientConfig cannot be set on it.
    assert report.batch["profile"]["timeout_s"] == 600 and report.batch["profile"]["max_retries"] == 3

    # The replay's records equal the image's real-time answers for the same rows.
    source = manifest.validation.input
    out = Path(report.batch["output"]) / f"{source.name}.out"
    with engine.serve(baked.image) as container:
        container.wait_ready(60)
        real_time = container.invoke(source.read_bytes(), "text/csv", "text/csv").body
    assert out.read_bytes().splitlines() == real_time.splitlines()
    assert len(real_time.splitlines()) == len(source.read_bytes().splitlines())


def test_the_example_priced_per_inference_meters_every_answer_and_passes(engine, product, tmp_path):
    from package.manifest import load_manifest

    (tmp_path / "example").symlink_to(product / "example")
    manifest = load_manifest(write_manifest(tmp_path, name="mpkit-test-metered", pricing={"model": "inference"}))
    report = _validate(engine, manifest, None, tmp_path)
    metering = next(c for c in report.checks if c.id == "metering")
    # 3 content types x 3 accept types, each with the whole sample and its first record: 18 metered
    # answers; the 5 bad requests are not.
    assert metering.status == "pass" and metering.measured.startswith("18 of 23"), metering
    assert report.failed == [], report.table()


def test_a_container_that_exits_at_once_is_a_start_failure_with_its_code_not_an_engine_error(engine, client_base, tmp_path):
    """The relay joins the container's namespace; when the container is already gone, the engine
    refuses the join. That must read as the container's own exit, with its code."""
    from package.errors import ContainerError

    image = _image(engine, tmp_path, "mpkit-corpus/exits-at-once:1", f'FROM {client_base}\nENTRYPOINT ["/bin/false"]\n')
    for _ in range(3):
        with engine.serve(image) as container:
            with pytest.raises(ContainerError, match=r"exited \(code 1\)"):
                container.wait_ready(20)
