"""Output that fits where it goes: progress without carriage returns off a terminal, and with
--json a parseable document on stdout on failure too."""

from __future__ import annotations

import io
import json

import pytest

from package import progress
from package.cli import main


@pytest.fixture(autouse=True)
def _mode():
    yield
    progress.set_mode("auto")


def _run(mode: str, stream) -> str:
    progress.set_mode(mode)
    with progress.Progress("push", stream) as bar:
        for done in range(0, 421_000_001, 4_210_000):
            bar(done, 421_000_000)
    return stream.getvalue()


def test_off_a_terminal_progress_is_one_line_per_tenth_and_no_carriage_return():
    out = _run("auto", io.StringIO())  # a pipe or a CI log: not a TTY
    assert "\r" not in out and out.count("\n") == 11 and out.splitlines()[-1] == "  push: 100% of 421 MB"


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_it_redraws_one_line_and_none_writes_nothing(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    drawn = _run("auto", Tty())
    assert drawn.count("\r") == 101 and drawn.endswith("\n") and drawn.count("\n") == 1
    assert _run("none", io.StringIO()) == ""


@pytest.mark.parametrize("env", [{"TERM": "dumb"}, {"CI": "true"}])
def test_a_dumb_terminal_or_a_ci_runners_pseudo_terminal_gets_plain_lines(monkeypatch, env):
    monkeypatch.delenv("CI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = _run("auto", Tty())
    assert "\r" not in out and out.count("\n") == 11
    assert "\x1b" not in out  # no colour codes, whatever NO_COLOR says


def test_with_json_a_failure_is_a_document_on_stdout(tmp_path, capsys):
    code = main(["validate", "--manifest", str(tmp_path / "nowhere.yaml"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["error"]["exit_code"] == 2 and "no such manifest" in out["error"]["problems"][0]
    (tmp_path / "manifest.yaml").write_text("name: x\nversion: 1.0.0\nmodel: {framework: sklearn, files: {model: m.joblib}}\n")
    code = main(["validate", "--manifest", str(tmp_path / "manifest.yaml"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and any("serving" in p for p in out["error"]["problems"])


def test_failing_checks_become_github_annotations_at_their_manifest_line():
    from package.report import annotations, check

    checks = [check("batch-payload", "MaxPayloadInMB is at most 100", "API", False, 600, 100,
                    "/w/p/manifest.yaml:57: lower max_payload_mb"),
              check("memory", "peak memory under 80%", "mpkit", False, 1, 2, "declare larger types", warn_only=True),
              check("ping", "/ping answers 200", "SM-HOST", True)]
    lines = annotations(checks, "/w/p/manifest.yaml")
    assert lines[0].startswith("::error file=/w/p/manifest.yaml,line=57,title=mpkit batch-payload::MaxPayloadInMB")
    assert lines[1].startswith("::warning file=/w/p/manifest.yaml,line=1,title=mpkit memory::") and len(lines) == 2
