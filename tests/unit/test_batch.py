"""The batch replay's splitting and packing, against hand-computed cases (SM-BATCH, SM-BT, API)."""

import io
from types import SimpleNamespace

import pytest

from validation import batch
from validation.batch import Profile, RecordTooLarge, mini_batches, resolve_profile

MIB = 1024 * 1024


def packed(data: bytes, content_type="text/csv", **profile):
    p = Profile(content_type=content_type, accept="text/csv", **profile)
    return [(b.body, b.records) for b in mini_batches(io.BytesIO(data), p)]


def test_split_none_sends_the_whole_object_as_one_request_counting_its_records_by_type():
    assert packed(b"a\nb\nc\n", split_type="None") == [(b"a\nb\nc\n", 3)]
    assert packed(b'{"instances": [[1], [2]]}', content_type="application/json", split_type="None")[0][1] == 2
    assert packed(b"\xff\xd8 a\n jpeg\n", content_type="image/jpeg", split_type="None")[0][1] == 1


def test_single_record_sends_one_line_per_request_and_skips_blank_lines():
    assert packed(b"a\n\nb\nc", split_type="Line", batch_strategy="SingleRecord") == [(b"a\n", 1), (b"b\n", 1), (b"c\n", 1)]


def test_multi_record_packs_whole_lines_up_to_the_payload_limit():
    line = b"x" * (MIB // 4 - 1) + b"\n"  # exactly a quarter MiB
    data = line * 10
    out = packed(data, split_type="Line", batch_strategy="MultiRecord", max_payload_mb=1)
    assert [records for _, records in out] == [4, 4, 2]  # 4 lines fill 1 MiB exactly
    assert b"".join(body for body, _ in out) == data


def test_multi_record_never_cuts_a_line():
    data = b"".join(b"%d,%s\n" % (i, b"y" * (i % 50)) for i in range(20000))
    out = packed(data, split_type="Line", batch_strategy="MultiRecord", max_payload_mb=1)
    assert all(body.endswith(b"\n") and len(body) <= MIB for body, _ in out)
    assert sum(records for _, records in out) == 20000
    assert b"".join(body for body, _ in out) == data


def test_a_last_line_without_newline_is_a_record():
    assert packed(b"a\nb", split_type="Line", batch_strategy="MultiRecord") == [(b"a\nb\n", 2)]


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_a_record_larger_than_max_payload_fails_the_file(strategy):
    data = b"short\n" + b"z" * (MIB + 10) + b"\nafter\n"
    with pytest.raises(RecordTooLarge) as caught:
        packed(data, split_type="Line", batch_strategy=strategy, max_payload_mb=1)
    assert caught.value.record_index == 1


def test_split_none_over_the_limit_fails():
    with pytest.raises(RecordTooLarge):
        packed(b"q" * (MIB + 1), split_type="None", max_payload_mb=1)


def test_precedence_job_then_execution_parameters_then_defaults():
    job = {"ContentType": "text/csv", "MaxPayloadInMB": None, "BatchStrategy": None, "MaxConcurrentTransforms": None}
    assert resolve_profile(job, None).max_payload_mb == 6
    assert resolve_profile(job, None).max_concurrent == 1
    assert resolve_profile(job, None).batch_strategy == "MultiRecord"
    offered = {"MaxConcurrentTransforms": 8, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20}
    p = resolve_profile(job, offered)
    assert (p.max_concurrent, p.batch_strategy, p.max_payload_mb) == (8, "SingleRecord", 20)
    p = resolve_profile({**job, "MaxConcurrentTransforms": 2, "MaxPayloadInMB": 4, "BatchStrategy": "MultiRecord"}, offered)
    assert (p.max_concurrent, p.batch_strategy, p.max_payload_mb) == (2, "MultiRecord", 4)


def test_the_job_sets_only_the_variables_it_was_given():
    assert batch.job_env({"ContentType": "text/csv"}) == {"SAGEMAKER_BATCH": "true"}
    env = batch.job_env({"MaxPayloadInMB": 6, "BatchStrategy": "SingleRecord", "MaxConcurrentTransforms": 2})
    assert env["SAGEMAKER_BATCH_STRATEGY"] == "SINGLE_RECORD" and env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] == "2"


def test_output_records_are_counted_by_type():
    assert batch.count_output_records(b"1\n2\n3\n", "text/csv") == 3
    assert batch.count_output_records(b'{"predictions": [1, 2]}\n{"predictions": [3]}', "application/json") == 3
    assert batch.count_output_records(b'{"p": 1}\n{"p": 2}\n', "application/jsonlines") == 2


def _echo_send(fail_first: int = 0, drop_last: bool = False):
    calls = {"n": 0}

    def send(body, headers, timeout):
        calls["n"] += 1
        if calls["n"] <= fail_first:
            return SimpleNamespace(status=500, body=b"busy", error=None, elapsed=0.001)
        lines = body.splitlines(keepends=True)
        if drop_last:
            lines = lines[:-1]
        return SimpleNamespace(status=200, body=b"".join(b"out-" + line for line in lines), error=None, elapsed=0.001)

    return send, calls


def test_replay_writes_one_out_per_file_in_order_with_retries(tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    (source / "a.csv").write_bytes(b"".join(b"%d\n" % i for i in range(1000)))
    (source / "sub" / "b.csv").write_bytes(b"x\ny")
    send, calls = _echo_send(fail_first=2)
    profile = Profile("text/csv", "text/csv", split_type="Line", batch_strategy="SingleRecord", max_concurrent=4,
                      assemble_with="Line")
    result = batch.replay(source, tmp_path / "out", profile, send)
    assert result.ok and result.records == 1002
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == b"".join(b"out-%d\n" % i for i in range(1000))
    assert (tmp_path / "out" / "sub" / "b.csv.out").read_bytes() == b"out-x\nout-y\n"
    assert sum(f.retries for f in result.files) == 2


def test_replay_writes_no_out_for_a_failed_file(tmp_path):
    (tmp_path / "in.csv").write_bytes(b"1\n2\n")

    def send(body, headers, timeout):
        return SimpleNamespace(status=400, body=b"bad row", error=None, elapsed=0.001)

    profile = Profile("text/csv", "text/csv", split_type="Line", max_retries=1)
    result = batch.replay(tmp_path / "in.csv", tmp_path / "out", profile, send)
    assert not result.ok and "bad row" in result.files[0].error
    assert list((tmp_path / "out").iterdir()) == []


def test_replay_counts_fewer_output_records(tmp_path):
    (tmp_path / "in.csv").write_bytes(b"1\n2\n3\n")
    send, _ = _echo_send(drop_last=True)
    result = batch.replay(tmp_path / "in.csv", tmp_path / "out", Profile("text/csv", "text/csv", split_type="Line"), send)
    assert result.ok and result.files[0].records_in == 3 and result.files[0].records_out == 2



def test_a_mini_batch_that_takes_700_s_fails_as_awss_validation_job_would(tmp_path):
    """The validation job cannot carry ModelClientConfig, so each request waits the API's default
    600 s and is retried 3 times. The sender stands for a handler that needs 700 s on this
    mini-batch: it answers only when given that long, and reports each wait it was given."""
    (tmp_path / "in.csv").write_bytes(b"1\n2\n")
    waits = []

    def send(body, headers, timeout):
        waits.append(timeout)
        if timeout < 700:
            return SimpleNamespace(status=None, body=b"", error=f"TimeoutError: timed out after {timeout:.0f} s", elapsed=timeout)
        return SimpleNamespace(status=200, body=b"1\n2\n", error=None, elapsed=700)

    profile = batch.resolve_profile({"ContentType": "text/csv", "SplitType": "Line"}, None)
    assert (profile.timeout_s, profile.max_retries) == (600, 3)
    result = batch.replay(tmp_path / "in.csv", tmp_path / "out", profile, send)
    assert waits == [600, 600, 600, 600]  # the first try and 3 retries, 600 s each
    assert not result.ok and "after 3 retries" in result.files[0].error and "timed out" in result.files[0].error
    assert result.to_dict()["profile"]["timeout_s"] == 600
