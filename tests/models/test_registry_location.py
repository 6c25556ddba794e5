"""Where a new experiment keeps its model files, for each kind of MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import TriageSettings
from models.registry import artifact_location


@pytest.mark.parametrize(
    "tracking_uri",
    [
        "sqlite:////srv/triage/mlflow.db",
        "postgresql+psycopg://mlflow@db.court.example/mlflow",
        "mysql+pymysql://mlflow@db/mlflow",
        "file:///srv/triage/mlruns",
        "/srv/triage/mlruns",
    ],
)
def test_a_database_or_file_store_keeps_artifacts_under_home(tracking_uri, tmp_path):
    settings = TriageSettings(home=tmp_path / "home")
    expected = (tmp_path / "home" / "mlartifacts" / "enforcement-triage").as_uri()
    assert artifact_location(tracking_uri, settings) == expected


@pytest.mark.parametrize("tracking_uri", ["http://mlflow:5000", "HTTPS://mlflow.court.example"])
def test_a_tracking_server_decides_for_itself(tracking_uri, tmp_path):
    assert artifact_location(tracking_uri, TriageSettings(home=tmp_path)) is None


@pytest.mark.parametrize("tracking_uri", ["http://mlflow:5000", "postgresql://db/mlflow"])
def test_an_artifact_root_wins_for_every_store(tracking_uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = TriageSettings(home=tmp_path / "home", artifact_root="shared/artifacts")
    assert artifact_location(tracking_uri, relative) == (
        Path(tmp_path, "shared/artifacts/enforcement-triage").as_uri()
    )
    bucket = TriageSettings(home=tmp_path / "home", artifact_root="s3://court-models/triage/")
    assert artifact_location(tracking_uri, bucket) == "s3://court-models/triage/enforcement-triage"
