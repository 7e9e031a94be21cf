"""The buyer tests' session (the emulator through the fault proxy) and their resource record."""

from __future__ import annotations

import pytest


@pytest.fixture
def aws(proxy):
    from package.aws import Aws, Target
    from package.local_target import CREDENTIALS

    return Aws(Target(region="us-east-1", endpoint_url=proxy.url, credentials=CREDENTIALS))


@pytest.fixture
def record(tmp_path):
    from listing.buyer import BuyerRecord

    return BuyerRecord(tmp_path / "resources.json")


def published_package(moto_url: str, name: str, *, realtime=("ml.m5.large",), batch=("ml.m5.large",)) -> str:
    """A certified model package in moto, as its seller published it; its ARN."""
    from tests.conftest import emulator_client

    return emulator_client(moto_url, "sagemaker").create_model_package(
        ModelPackageName=name, CertifyForMarketplace=True,
        InferenceSpecification={"Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/p@sha256:" + "a" * 64}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
                                "SupportedRealtimeInferenceInstanceTypes": list(realtime),
                                "SupportedTransformInstanceTypes": list(batch)})["ModelPackageArn"]
