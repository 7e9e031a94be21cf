"""The image contract round-trips: what the seller side writes is what the image reads."""

from __future__ import annotations

import pytest

from inference_image.contract import SERVING_CONFIG_FILE, ServingConfig, default_accept
from inference_image.settings import Settings
from inference_image.spec import ModelSpec
from package.artifact import model_spec, stage_model_dir
from package.manifest import load_manifest
from tests.conftest import write_manifest


def test_the_serving_configuration_round_trips():
    config = ServingConfig(content_types=("text/csv",), accept_types=("text/csv", "application/json"), max_payload_mb=3,
                           workers=2, timeout_s=30)
    assert ServingConfig.from_dict(config.to_dict()) == ServingConfig(**{**config.__dict__, "default_accept": "text/csv"})
    assert config.to_dict()["default_accept"] == "text/csv"  # the rule: the declared one, else the first


def test_an_unknown_serving_key_is_refused():
    with pytest.raises(ValueError, match="unknown serving settings: colour"):
        ServingConfig.from_dict({"colour": "red"})


def test_the_manifest_serving_section_reaches_the_image_settings(tmp_path, product):
    (tmp_path / "example").symlink_to(product / "example")
    manifest = load_manifest(write_manifest(tmp_path, **{"serving.workers": 3, "serving.max_payload_mb": 5,
                                                          "serving.accept_types": ["text/csv", "application/json", "application/jsonlines"]}))
    declared = manifest.serving.default_accept
    baked = tmp_path / SERVING_CONFIG_FILE
    baked.write_text(manifest.serving.config().to_json())
    settings = Settings.load(env={}, baked_path=str(baked))
    assert (settings.workers, settings.max_payload_mb, settings.accept_types) == (3, 5, ("text/csv", "application/json", "application/jsonlines"))
    assert settings.default_accept == declared == "application/json"  # declared in the example manifest
    assert default_accept(("text/csv", "application/json")) == "text/csv"


def test_the_model_spec_round_trips_through_the_model_folder(tmp_path, manifest):
    folder = stage_model_dir(manifest, tmp_path / "model")
    read = ModelSpec.read(folder)
    assert read == model_spec(manifest)
    assert ModelSpec.from_dict(read.to_dict()) == read
    assert read.names[:3] == ["age", "sex", "bmi"] and read.output_name == "progression"
