"""`triage keys`, `triage decisions export` and the argument handling of `triage serve`."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from serving import cli


@pytest.fixture
def home(tmp_path, monkeypatch):
    from app.settings import get_settings

    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRIAGE_API_KEYS", raising=False)
    monkeypatch.delenv("TRIAGE_DECISION_LOG_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_the_commands_join_the_triage_dispatcher():
    """Registered through the installed `triage.commands` entry point (pyproject.toml)."""
    import app.cli

    parser = app.cli.build_parser()
    args = parser.parse_args(["serve", "--port", "3001", "--workers", "2"])
    assert (args.host, args.port, args.workers, args.handler) == ("127.0.0.1", 3001, 2, cli._serve)
    assert parser.parse_args(["keys", "create", "--name", "d"]).handler is cli._keys_create
    export = parser.parse_args(["decisions", "export", "--since", "2024-01-01", "--out", "x.csv"])
    assert export.handler is cli._decisions_export


def test_keys_create_list_revoke(home, capsys):
    assert cli.main(["keys", "create", "--name", "desk-1"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("trg_") and "shown only now" in err
    assert key not in (home / "api-keys.json").read_text()
    assert cli.main(["keys", "create", "--name", "desk-1"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "desk-1" in listing and key not in listing
    assert cli.main(["keys", "revoke", "--name", "desk-1"]) == 0
    capsys.readouterr()
    cli.main(["keys", "list"])
    assert "no keys" in capsys.readouterr().out


def test_decisions_export(home, tmp_path, capsys):
    from app.settings import get_settings
    from features.record import example_case
    from serving.decision_log import DecisionIds, DecisionLog, build_rows

    log = DecisionLog(get_settings().resolved_decision_log_url()).create()
    ids, at = DecisionIds().next(3)
    rows = build_rows(
        ids=ids,
        decided_at=at,
        cases=[dict(example_case(), case_id=str(i)) for i in range(3)],
        p_complex=[0.1, 0.5, 0.9],
        p_assets=[0.2] * 3,
        streams=["simple", "review", "complex"],
        reasons_json=["{}"] * 3,
        stream_model=("s", "1"),
        assets_model=("a", "1"),
        shadow=None,
        source="api",
        expected_recovery=[1500.25, None, 0.0],
    )
    log.write(rows)
    log.close()
    out = tmp_path / "export.parquet"
    assert cli.main(["decisions", "export", "--since", at[:10], "--out", str(out)]) == 0
    assert "exported 3 decisions" in capsys.readouterr().out
    exported = pd.read_parquet(out)
    assert exported["decision_id"].tolist() == ids
    assert exported["expected_recovery"].tolist()[::2] == [1500.25, 0.0]
    assert exported["expected_recovery"].isna().tolist() == [False, True, False]
    assert cli.main(["decisions", "export", "--since", "2030-01-01", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 0
    bad = ["decisions", "export", "--since", "2024-02-01", "--until", "2024-01-01"]
    assert cli.main([*bad, "--out", str(out)]) == 2
    assert "before --since" in capsys.readouterr().err
    assert cli.main(["decisions", "export", "--since", "yesterday", "--out", str(out)]) == 2


def test_exporting_from_a_log_no_service_wrote_is_refused_not_empty(home, tmp_path, capsys):
    out = tmp_path / "export.csv"
    assert cli.main(["decisions", "export", "--since", "2024-01-01", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"no decision log at {home / 'decisions.db'}" in err and "TRIAGE_HOME" in err
    assert not out.exists()
    assert not (home / "decisions.db").exists()  # looking did not create one


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--workers", "0"], "--workers must be at least 1"),
        (["serve", "--port", "70000"], "--port must be 1-65535"),
    ],
)
def test_serve_refuses_bad_arguments(home, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_serve_command_line_and_environment(monkeypatch):
    monkeypatch.setenv("BENTOML_CONFIG_OPTIONS", "api_server.metrics.namespace=x")
    command = cli.serve_command("0.0.0.0", 8080)
    assert command[1:5] == ["-m", "serving.bentoml_serve", "serve", "serving.worker:TriageService"]
    assert command[command.index("--port") + 1] == "8080"
    env = cli.serve_environment("triage-models:s1-a1-abc", 3)
    assert env["TRIAGE_MODELS_TAG"] == "triage-models:s1-a1-abc"
    assert env["BENTOML_CONFIG_OPTIONS"] == (
        "api_server.metrics.namespace=x services.triage.workers=3"
    )
    assert env["MALLOC_ARENA_MAX"] == "2"  # a swap's freed models go back to the system
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the operator's choice wins
    assert cli.serve_environment("triage-models:s1-a1-abc", 3)["MALLOC_ARENA_MAX"] == "4"


def test_help_lists_the_serving_commands(capsys):
    parser = argparse.ArgumentParser(prog="triage")
    cli.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--help"])
    assert "--import-only" in capsys.readouterr().out
