"""The command line as a manual and as a contract: every command has an example and every option
a help text, options appear only where they are read, and faults never end in a traceback."""

from __future__ import annotations

import json

import pytest

from package import cli
from package.errors import INTERNAL_ERROR
from package.predict import log_excerpt


def subcommands():
    parser = cli.parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_the_top_level_help_describes_the_seller_and_buyer_flows():
    text = cli.parser().format_help()
    assert "seller, on a laptop:" in text and "seller, from CI" in text and "buyer, from a product ID" in text
    for name in subcommands():
        assert name in text


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_command_shows_an_example_and_helps_every_option(name):
    command = subcommands()[name]
    text = command.format_help()
    assert "\nexample:\n  mpkit " + name in text, text
    assert "exit codes:" in text
    for action in command._actions:
        assert action.help, f"mpkit {name} {action.option_strings or action.dest}: no help text"


@pytest.mark.parametrize("name", ["init", "deploy", "invoke", "transform", "teardown"])
def test_commands_that_never_read_a_manifest_do_not_offer_one(name):
    options = {o for a in subcommands()[name]._actions for o in a.option_strings}
    assert "--manifest" not in options


def test_an_internal_fault_is_one_line_and_a_log_file(tmp_path, monkeypatch, capsys):
    def broken(args):
        raise KeyError("a bug of mpkit's own")

    monkeypatch.setattr(cli, "cmd_init", broken)  # the parser binds the command when it is built
    monkeypatch.chdir(tmp_path)
    code = cli.main(["init", "--model", "m.json", "--json"])
    captured = capsys.readouterr()
    assert code == INTERNAL_ERROR
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mpkit: internal error (KeyError") and "Traceback" not in captured.err
    log = lines[0].rsplit("The traceback is in ", 1)[1]
    assert "Traceback (most recent call last)" in open(log).read() and "a bug of mpkit's own" in open(log).read()
    assert json.loads(captured.out)["error"]["exit_code"] == INTERNAL_ERROR


def test_an_env_option_without_a_value_is_a_user_error(capsys):
    from tests.conftest import ROOT

    assert cli.main(["predict", "--manifest", str(ROOT / "manifest.yaml"), "--env", "NOVALUE"]) == 2
    assert "--env NOVALUE: give KEY=VALUE" in capsys.readouterr().err


def test_the_log_excerpt_starts_at_the_failed_request():
    log = "\n".join(["boot", "request 7-3 failed inside the server", "Traceback ...", "ValueError: x", "request id=7-3 status=500"])
    body = json.dumps({"error": {"message": "the server failed on this request; see the container log for request 7-3"}})
    assert log_excerpt(log, body).splitlines()[0] == "request 7-3 failed inside the server"
    assert log_excerpt(log, None, tail=2).splitlines() == ["ValueError: x", "request id=7-3 status=500"]


@pytest.fixture
def no_engine(tmp_path, monkeypatch):
    """Neither a Docker engine nor AWS reachable: a command that got that far would exit 3 or 6."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


@pytest.mark.parametrize("change,named", [
    ({"samples": [{"file": "gone.csv", "content_type": "text/csv"}]}, "samples[0].file: gone.csv not found"),
    ({"validation.input": "nowhere/input.csv"}, "validation.input: input.csv not found"),
    ({"validation.input": "empty"}, "validation.input: the folder"),
])
def test_a_missing_declared_file_is_exit_2_at_its_line_before_any_container(tmp_path, product, no_engine, capsys,
                                                                            change, named):
    from tests.conftest import write_manifest

    (tmp_path / "example").symlink_to(product / "example")
    (tmp_path / "empty").mkdir()
    path = write_manifest(tmp_path, **change)
    for command in (["validate"], ["publish", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"]):
        code = cli.main([command[0], "--manifest", str(path), *command[1:]])
        err = capsys.readouterr().err
        assert code == 2, err
        assert named in err and f"{path}:" in err and "fix: " in err and "Traceback" not in err


def test_predict_with_its_own_file_does_not_need_the_samples_but_build_needs_the_model(tmp_path, product, no_engine, capsys):
    from tests.conftest import write_manifest

    (tmp_path / "example").symlink_to(product / "example")
    path = write_manifest(tmp_path, samples=[{"file": "gone.csv", "content_type": "text/csv"}])
    body = tmp_path / "rows.csv"
    body.write_text("1,2\n")
    # Past the manifest's files: the next thing predict needs is the engine (exit 3).
    assert cli.main(["predict", "--manifest", str(path), "--file", str(body), "--content-type", "text/csv"]) == 3
    capsys.readouterr()
    gone = write_manifest(tmp_path, **{"model.files.predictor": "example/artifacts/nothing.json"})
    assert cli.main(["build", "--manifest", str(gone)]) == 2
    assert "model.files.predictor: nothing.json not found" in capsys.readouterr().err


def test_readme_lists_the_same_exit_codes_as_the_help():
    import re

    from package.errors import EXIT_CODES_HELP
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    paragraph = readme.split("Exit codes (`mpkit --help`):", 1)[1].split("\n\n", 1)[0]
    in_readme = {int(n) for n in re.findall(r"(?:^\s*|[;:]\s+)(\d+) ", paragraph.replace("\n", " "))}
    in_help = {int(line.split()[0]) for line in EXIT_CODES_HELP.splitlines()[1:] if line.strip()[:1].isdigit()}
    assert in_readme == in_help, (in_readme, in_help)
