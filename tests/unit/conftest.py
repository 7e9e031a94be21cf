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
