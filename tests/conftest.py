"""Shared fixtures: the example product trained into a temporary folder, with its manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DELETE = object()  # write_manifest(..., **{"a.b": DELETE}) removes the field


def write_manifest(folder: Path, **changes) -> Path:
    data = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def product(tmp_path_factory) -> Path:
    """A folder laid out like the repository: manifest.yaml and a trained example/artifacts."""
    from example import train  # imported here, not at the top, so that collection does not train

    folder = tmp_path_factory.mktemp("product")
    shutil.copytree(ROOT / "example", folder / "example", ignore=shutil.ignore_patterns("artifacts", "__pycache__"))
    train.main(["--output", str(folder / "example" / "artifacts")])
    write_manifest(folder)
    return folder


@pytest.fixture(scope="session")
def manifest(product):
    from package.manifest import load_manifest

    return load_manifest(product / "manifest.yaml")


@pytest.fixture(scope="session")
def model_dir(manifest, tmp_path_factory) -> Path:
    from package.artifact import stage_model_dir

    return stage_model_dir(manifest, tmp_path_factory.mktemp("model") / "model")


# ---- the AWS emulator: moto's server over HTTP, one per test module, behind the fault proxy
EMULATOR_REGION = "us-east-1"


def emulator_client(url: str, service: str, region: str = EMULATOR_REGION):
    """A boto3 client straight to the emulator (no proxy, no faults), for the tests' own looks."""
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=url, aws_access_key_id="t", aws_secret_access_key="t")


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    from package.local_target import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def proxy(moto_url):
    from tests.fault_proxy import FaultProxy

    p = FaultProxy(moto_url)
    yield p
    p.close()
