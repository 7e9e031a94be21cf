"""The Docker tier: the real image, built by the real engine, run with networking off.

No engine means these tests fail (Engine() raises DockerUnavailable); they never skip.
"""

from __future__ import annotations

import pytest

from tests.conftest import write_manifest

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def engine():
    from package.docker_engine import Engine

    return Engine()


def _build(engine, product, tmp_path_factory, name, delivery):
    from package.build import build
    from package.manifest import load_manifest

    folder = tmp_path_factory.mktemp(name)
    (folder / "example").symlink_to(product / "example")
    manifest = load_manifest(write_manifest(folder, name=name, **{"model.delivery": delivery}))
    return build(manifest, engine=engine, say=lambda _: None)


@pytest.fixture(scope="session")
def baked(engine, product, tmp_path_factory):
    return _build(engine, product, tmp_path_factory, "mpkit-test-baked", "image")


@pytest.fixture(scope="session")
def s3_image(engine, product, tmp_path_factory):
    return _build(engine, product, tmp_path_factory, "mpkit-test-s3", "s3")


@pytest.fixture(scope="session")
def server(engine, baked):
    with engine.serve(baked.image) as container:
        container.ready_seconds = container.wait_ready(60)
        yield container


@pytest.fixture(scope="session")
def example_validation(engine, baked, manifest, tmp_path_factory):
    """`mpkit validate` on the example product, once: its report, and the folder it was written to."""
    from validation.runner import validate

    folder = tmp_path_factory.mktemp("example-validation")
    report = validate(manifest, engine, image=baked.image, output=folder, build_if_missing=False, say=lambda _: None)
    report.paths = report.write(folder)
    return report, folder
