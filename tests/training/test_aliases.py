"""Aliases and their history against a real MLflow store (SQLite in a temporary TRIAGE_HOME).

One module-scoped home: `triage train` runs twice (versions 1 and 2 of both
models), then `triage promote` and `triage rollback` move `champion`; a third
version, a copy of version 1 whose booster file is then cut short in the
store, must be refused.  Tests depend on the order they run in (one
registry), so run with ``--dist loadfile``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from app.cli import main
from app.settings import get_settings
from features.synthetic import write_synthetic
from models import registry
from models.case_model import BOOSTER_FILE
from tests.conftest import triage_home

pytestmark = pytest.mark.slow

NAME = "triage-assets"
ACTOR = "clerk-wang@bureau-3"
ROOT = Path(__file__).resolve().parents[2]
#: Small enough for a few seconds of training per run.
CLI_FAST = ["--time-budget", "4", "--trials", "1"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A fresh TRIAGE_HOME (and MLflow store) with TRIAGE_ACTOR set, for this module."""
    saved = os.environ.get("TRIAGE_ACTOR")
    os.environ["TRIAGE_ACTOR"] = ACTOR
    try:
        with triage_home(tmp_path_factory.mktemp("alias-home")) as home:
            registry.configure_mlflow()
            yield home
    finally:
        if saved is None:
            os.environ.pop("TRIAGE_ACTOR", None)
        else:
            os.environ["TRIAGE_ACTOR"] = saved
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two exports of synthetic cases (different seeds), for two trainings."""
    folder = tmp_path_factory.mktemp("alias-data")
    paths = [folder / "cases-3.csv", folder / "cases-8.csv"]
    for seed, path in zip((3, 8), paths, strict=True):
        write_synthetic(2500, path, seed=seed)
    return paths


@pytest.fixture(scope="module")
def started():
    return dt.datetime.now(dt.UTC)


def _models_output(capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(["models", "--model", NAME, *args]) == 0
    return capsys.readouterr().out


def _aliases_shown(out: str) -> dict[str, str]:
    """``{version: aliases}`` as `triage models` prints them."""
    return dict(re.findall(r"version +(\d+) +aliases (\S+)", out))


def _aliases_held() -> dict[str, str]:
    """``{version: aliases}`` as the registry holds them, read alias by alias."""
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name='{NAME}'")
    shown = {}
    for found in versions:
        aliases = client.get_model_version(NAME, found.version).aliases
        shown[str(found.version)] = ",".join(sorted(aliases)) or "-"
    return shown


def _champion() -> str:
    return str(mlflow.MlflowClient().get_model_version_by_alias(NAME, "champion").version)


def test_models_shows_the_aliases_after_each_training(home, data, started, capsys):
    assert main(["train", "--data", str(data[0]), *CLI_FAST]) == 0
    out = _models_output(capsys)
    assert _aliases_shown(out) == {"1": "challenger,champion"}
    assert main(["train", "--data", str(data[1]), *CLI_FAST]) == 0
    out = _models_output(capsys)
    shown = _aliases_shown(out)
    assert shown == _aliases_held()
    assert "challenger" in shown["2"].split(",")
    # Whatever the gate decided, exactly one version is champion.
    assert sum("champion" in aliases.split(",") for aliases in shown.values()) == 1


def test_promote_and_rollback_show_in_models_and_history(home, data, started, capsys):
    reason = "审计复核 audit check"
    assert main(["promote", "--model", NAME, "--version", "2", "--reason", reason]) == 0
    assert _champion() == "2"
    assert _aliases_shown(_models_output(capsys)) == {"1": "-", "2": "challenger,champion"}
    assert main(["rollback", "--model", NAME, "--reason", "complaints from the desk"]) == 0
    assert _champion() == "1"
    assert _aliases_shown(_models_output(capsys)) == {"1": "champion", "2": "challenger"}

    history = registry.alias_history(NAME)  # oldest first
    rolled_back, promoted = history[-1], history[-2]
    assert (rolled_back.alias, rolled_back.previous, rolled_back.version) == ("champion", "2", "1")
    assert rolled_back.command == "triage rollback"
    assert rolled_back.reason.startswith("complaints from the desk")
    assert (promoted.alias, promoted.version, promoted.reason) == ("champion", "2", reason)
    assert promoted.command == "triage promote"
    trained = history[:-2]
    assert [(m.alias, m.version) for m in trained[:2]] == [("challenger", "1"), ("champion", "1")]
    assert trained[0].previous is None and trained[1].previous is None
    assert {m.command for m in trained} == {"triage train"}
    assert ("challenger", "1", "2") in [(m.alias, m.previous, m.version) for m in trained]
    assert {m.actor for m in history} == {ACTOR}
    times = [dt.datetime.strptime(m.time, "%Y-%m-%dT%H:%M:%S.%f%z") for m in history]
    assert times == sorted(times)
    assert started <= times[0] and times[-1] <= dt.datetime.now(dt.UTC)

    out = _models_output(capsys, "--history")
    lines = [line for line in out.splitlines() if " -> " in line]
    assert len(lines) == len(history)
    assert lines[0].startswith(f"  {rolled_back.time}  champion")
    assert "2 -> 1" in lines[0] and f"by {ACTOR} (triage rollback)" in lines[0]
    assert lines[1].startswith(f"  {promoted.time}") and reason in lines[1]
    assert lines[-1].startswith(f"  {history[0].time}  challenger")


def _copy_of_version_1_with_a_truncated_booster() -> tuple[str, Path]:
    """A new version holding version 1's files, its booster then cut in half in the store."""
    loaded = registry.load_case_model(NAME, version="1")
    with mlflow.start_run(run_name="corrupt copy"):
        version = registry.log_case_model(loaded.model, registered_name=NAME)
    source = mlflow.MlflowClient().get_model_version_download_uri(NAME, version)
    stored = Path(source.removeprefix("file://")) / "artifacts" / registry.MODEL_ARTIFACT
    booster = stored / BOOSTER_FILE
    assert booster.is_file(), f"the store keeps the files under {stored}"
    text = booster.read_bytes()
    booster.write_bytes(text[: len(text) // 2])
    return version, booster


def test_promote_refuses_a_version_whose_booster_is_cut_short(home, data, capsys):
    version, _ = _copy_of_version_1_with_a_truncated_booster()
    before_champion, before_history = _champion(), registry.alias_history(NAME)
    capsys.readouterr()
    # In this process: LightGBM reading the file would abort pytest itself.
    assert main(["promote", "--model", NAME, "--version", version]) == 2
    err = capsys.readouterr().err
    assert f"{NAME} v{version}" in err and BOOSTER_FILE in err and "cut short" in err
    assert "champion unchanged" in err
    assert _champion() == before_champion
    assert registry.alias_history(NAME) == before_history
    assert _aliases_shown(_models_output(capsys))[version] == "-"
    # Whoever loads it in-process gets an error, not a killed process.
    with pytest.raises(ValueError, match="cut short"):
        registry.load_case_model(NAME, version=version)

    # And as an operator runs it: a clean refusal, not a killed process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {"TRIAGE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "promote", "--model", NAME, "--version", version],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{NAME} v{version}" in done.stderr and BOOSTER_FILE in done.stderr
    assert _champion() == before_champion


def test_a_booster_that_crashes_lightgbm_is_refused_by_the_loading_process(home, capsys):
    """A booster whole in structure but wrong inside: only loading it shows it, in a child."""
    version, booster = _copy_of_version_1_with_a_truncated_booster()
    whole = registry.load_case_model(NAME, version="1")
    text = whole.model.booster.model_to_string().encode()
    # Same length, so the structure holds; the first tree now claims far more leaves.
    first = re.search(rb"^num_leaves=\d+$", text, re.MULTILINE)
    assert first is not None
    digits = len(first.group()) - len(b"num_leaves=")
    wrong = b"num_leaves=" + b"9" * digits
    booster.write_bytes(text[: first.start()] + wrong + text[first.end() :])
    before_champion, before_history = _champion(), registry.alias_history(NAME)
    # Not the structural check's refusal: the child process's.
    crashed = rf"{NAME} v{version}: (reading its booster.txt crashed|its model files do not load)"
    with pytest.raises(ValueError, match=crashed):
        registry.check_loadable(NAME, version)
    capsys.readouterr()
    assert main(["promote", "--model", NAME, "--version", version]) == 2
    assert f"{NAME} v{version}" in capsys.readouterr().err
    assert _champion() == before_champion
    assert registry.alias_history(NAME) == before_history


def test_every_alias_move_is_recorded(home, capsys):
    """The history holds one entry per move, whichever command made it."""
    client = mlflow.MlflowClient()
    before = len(registry.alias_history(NAME))
    registry.move_alias(NAME, "challenger", "1", "by hand", command="test")
    assert str(client.get_model_version_by_alias(NAME, "challenger").version) == "1"
    history = registry.alias_history(NAME)
    assert len(history) == before + 1
    assert (history[-1].previous, history[-1].version, history[-1].command) == ("2", "1", "test")
    with pytest.raises(LookupError, match="no version 99"):
        registry.move_alias(NAME, "challenger", "99", "no such version")
    assert len(registry.alias_history(NAME)) == before + 1
