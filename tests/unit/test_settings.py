import json

import pytest

from inference_image.settings import Settings, SettingsError


def test_defaults_with_no_variables_set(tmp_path):
    s = Settings.load(env={}, baked_path=str(tmp_path / "none.json"))
    assert (s.port, s.timeout_s, s.max_payload_mb, s.batch, s.batch_strategy) == (8080, 60, 6, False, "MULTI_RECORD")
    assert s.workers >= 1 and s.max_concurrent_transforms == s.workers
    assert s.default_accept == "application/json"


def test_sagemaker_variables_override_the_baked_config(tmp_path):
    baked = tmp_path / "serving.json"
    baked.write_text(json.dumps({"max_payload_mb": 10, "workers": 3, "default_accept": "text/csv",
                                 "accept_types": ["text/csv", "application/json"]}))
    s = Settings.load(env={"SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "50",
                           "SAGEMAKER_BATCH_STRATEGY": "single_record", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
                           "SAGEMAKER_MODEL_SERVER_WORKERS": "4"}, baked_path=str(baked))
    assert (s.port, s.batch, s.max_payload_mb, s.batch_strategy, s.max_concurrent_transforms, s.workers) == (9000, True, 50, "SINGLE_RECORD", 2, 4)
    assert s.timeout_s == 3600  # batch invocations may run 60 minutes (MP-LIMITS)
    assert s.default_accept == "text/csv"


def test_baked_values_apply_when_no_variable_is_set(tmp_path):
    baked = tmp_path / "serving.json"
    baked.write_text(json.dumps({"max_payload_mb": 10, "workers": 3}))
    s = Settings.load(env={}, baked_path=str(baked))
    assert (s.max_payload_mb, s.workers, s.max_concurrent_transforms) == (10, 3, 3)


@pytest.mark.parametrize("env", [{"SAGEMAKER_BIND_TO_PORT": "http"}, {"SAGEMAKER_MODEL_SERVER_WORKERS": "0"},
                                 {"SAGEMAKER_BATCH_STRATEGY": "SOME"}, {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "image/png"}])
def test_bad_values_stop_the_start_with_a_message(env, tmp_path):
    with pytest.raises(SettingsError):
        Settings.load(env=env, baked_path=str(tmp_path / "none.json"))
