"""`triage` itself: every package's commands under one root, refusals without tracebacks."""

from __future__ import annotations

import argparse

import pytest

from app import cli

COMMANDS = {
    "validate", "generate",  # features
    "train", "score", "follow-up", "promote", "rollback", "models", "policy",  # training
    "serve", "keys", "decisions", "drift",  # serving
}  # fmt: skip


def test_every_package_adds_its_commands():
    parser = cli.build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == COMMANDS


def test_a_refusal_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    assert cli.main(["generate", "--n", "0", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("triage generate: ") and "--n must be at least 1" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_an_unknown_command_is_argparses_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["no-such-command"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
