"""One settings object: everything under TRIAGE_HOME, the environment wins, telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.settings import TriageSettings, apply_environment


def test_the_state_directory_is_absolute_and_everything_hangs_off_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = TriageSettings(home="state")
    assert settings.home == tmp_path / "state"
    assert settings.resolved_tracking_uri() == f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"
    assert (
        settings.resolved_decision_log_url() == f"sqlite:///{tmp_path / 'state' / 'decisions.db'}"
    )
    assert settings.keys_file.parent == settings.bentoml_home.parent == tmp_path / "state"


def test_mlflow_tracking_uri_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.court:5000")
    assert TriageSettings(tracking_uri="sqlite:///x.db").resolved_tracking_uri() == (
        "http://mlflow.court:5000"
    )


def test_api_keys_are_a_comma_separated_list():
    settings = TriageSettings(api_keys=" trg_a, ,trg_b ")
    assert settings.api_key_list() == ["trg_a", "trg_b"]


def test_the_decision_log_budget_comes_from_the_environment(monkeypatch):
    assert TriageSettings().decision_log_budget_seconds == 2.0
    monkeypatch.setenv("TRIAGE_DECISION_LOG_BUDGET_SECONDS", "0.5")
    assert TriageSettings().decision_log_budget_seconds == 0.5


@pytest.mark.parametrize(
    "wrong",
    [
        {"threads": 0},
        {"max_request_bytes": 10},
        {"colour": "red"},
        {"decision_log_budget_seconds": 0},
        {"decision_log_budget_seconds": 90},  # beyond the service's 60 s traffic timeout
    ],
)
def test_a_wrong_setting_is_refused_by_name(wrong):
    with pytest.raises(ValidationError, match=next(iter(wrong))):
        TriageSettings(**wrong)


def test_the_environment_points_the_tools_home_and_keeps_what_the_user_set(tmp_path, monkeypatch):
    for name in ("BENTOML_HOME", "MLFLOW_TRACKING_URI", "DO_NOT_TRACK", "MPLCONFIGDIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    settings = apply_environment(TriageSettings(home=tmp_path / "home"))
    assert settings.home.is_dir()
    assert os.environ["BENTOML_HOME"] == str(tmp_path / "home" / "bentoml")
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["DO_NOT_TRACK"] == "1"  # the user's own value stays


def test_openmp_threads_wait_politely_unless_the_user_says_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    apply_environment(TriageSettings(home=tmp_path / "home"))
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    apply_environment(TriageSettings(home=tmp_path / "home"))
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_triage_command_sets_the_environment_before_lightgbm_loads():
    # OpenMP reads OMP_WAIT_POLICY once, when LightGBM's library loads: the
    # command line must be built without importing it.
    probe = (
        "import sys\n"
        "from app.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted(m for m in ('lightgbm', 'sklearn') if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
