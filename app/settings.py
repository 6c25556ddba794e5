"""The one settings object of enforcement-triage.

Every path the tools write to hangs off ``TRIAGE_HOME`` (default: ``.triage``
in the current directory), so a court's data, models and logs stay in one
folder on the court's machine.  Nothing here runs at import time: call
:func:`get_settings` and :func:`apply_environment` from entry points.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TriageSettings(BaseSettings):
    """Paths and defaults, read from ``TRIAGE_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path(".triage"),
        description="State directory: MLflow store, BentoML home, decision log, keys, caches.",
    )
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; MLFLOW_TRACKING_URI wins, else SQLite under home.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Where model files go when the MLflow store is a database (SQLite, "
        "PostgreSQL, MySQL) rather than a tracking server: a folder every machine "
        "sees, or an artifact URI such as s3://bucket/prefix; default mlartifacts "
        "under home. A tracking server (http, https) keeps its own artifact root "
        "unless this is set.",
    )
    decision_log_url: str | None = Field(
        default=None,
        description="Decision log: sqlite:///path or postgresql://…; default SQLite under home.",
    )
    api_keys: str = Field(
        default="",
        description="Comma-separated API keys accepted in addition to those made by `triage keys`.",
    )
    threads: int = Field(
        default=2, ge=1, description="Threads for LightGBM training and batch scoring."
    )
    max_request_bytes: int = Field(
        default=32 << 20,
        ge=1024,
        description="Largest request body the service accepts (413 above); holds a "
        "10,000-case batch (about 10 MB of compact JSON) with room for indentation.",
    )
    request_read_timeout: float = Field(
        default=10.0,
        gt=0,
        lt=60,
        description="Seconds a client has to send the whole body of a scoring request; "
        "408 after, well before the service's 60 s traffic timeout (a 504) would strike. "
        "A 10 MB batch needs about 8 s at 10 Mbit/s: raise it for slow links.",
    )
    decision_log_sync: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        default="NORMAL",
        description="SQLite decision log: NORMAL survives any crash of the service process "
        "(kill -9); FULL also a power cut, at the cost of one disk flush per commit.",
    )
    decision_log_budget_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Time a decision may wait to be committed to the decision log; past it "
        "the request gets 503 with Retry-After, the decision is not made (never written), and "
        "/readyz says 503 until the log takes writes again.",
    )
    actor: str | None = Field(
        default=None,
        description="Who moves model aliases, as the alias history records it; default the "
        "OS user (set it where a shared account runs the commands).",
    )
    model_poll_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often `triage serve` asks the registry whether champion or challenger "
        "moved. A move reaches every worker within this plus the time to import, check, load "
        "and warm up the new versions.",
    )
    ready_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="How long a starting worker waits for its models before it takes "
        "connections.  Meanwhile the other workers take them all: a worker restarted after a "
        "crash answers no request with 503 while it loads (a single worker's connections wait "
        "in the socket's queue, /livez's too).  A load that takes longer is finished in the "
        "background, with /readyz saying why not ready.  0: take connections at once.",
    )
    model_watch_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each worker looks (one stat) whether new models were published.",
    )
    intake_refresh_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How often `triage serve` measures each court's intake (new cases per day "
        "over the last 28 whole days of the decision log) while some court policy states its "
        "review capacity in cases per day. The window ends yesterday, so the intake changes "
        "once a day; this bounds how late after midnight (UTC) the new day counts.",
    )
    stream_model_name: str = "triage-stream"
    assets_model_name: str = "triage-assets"
    #: The terminated-case (终本) models: probability a follow-up recovers, yuan when it does.
    resume_model_name: str = "triage-resume"
    recovery_model_name: str = "triage-recovery"

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Resolve once so that a later chdir cannot move the state directory.
        return value.expanduser().resolve()

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"

    @property
    def keys_file(self) -> Path:
        return self.home / "api-keys.json"

    @property
    def served_models_file(self) -> Path:
        """The pointer `triage serve` publishes for its workers: the models to serve now."""
        return self.home / "served-models.json"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI in force: environment, then settings, then embedded SQLite."""
        return (
            os.environ.get("MLFLOW_TRACKING_URI")
            or self.tracking_uri
            or f"sqlite:///{self.mlflow_db}"
        )

    def resolved_decision_log_url(self) -> str:
        return self.decision_log_url or f"sqlite:///{self.home / 'decisions.db'}"

    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]


@lru_cache(maxsize=1)
def get_settings() -> TriageSettings:
    """The settings in force for this process (read once from the environment)."""
    return TriageSettings()


def apply_environment(settings: TriageSettings | None = None) -> TriageSettings:
    """Point MLflow, BentoML and friends at ``TRIAGE_HOME``, telemetry off, OpenMP polite.

    Court data stays on the court's machine: telemetry is off unless the user
    has explicitly set the variables themselves.  Called by every entry point
    (CLI, service, tests) before MLflow or BentoML is imported.
    """
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "BENTOML_DO_NOT_TRACK": "true",
        "BENTOML_HOME": str(settings.bentoml_home),
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri(),
        # matplotlib and friends otherwise write caches into the user's home.
        "MPLCONFIGDIR": str(settings.cache_dir / "matplotlib"),
        "XDG_CACHE_HOME": str(settings.cache_dir),
        # MLflow's own logging of the environment is not wanted in court runs.
        "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
        # MLflow's schema errors otherwise print the whole input frame: case data in logs.
        "MLFLOW_DISABLE_SCHEMA_DETAILS": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # LightGBM's OpenMP threads sleep at a barrier instead of spinning: on a
        # 2-core machine that also runs the service (or anything else), a spinning
        # thread burns the core its partner needs.  Measured on the shared 2-core
        # machine: 100 rounds on 40 k cases took 36–58 s spinning, 4–6 s passive.
        # Read once, when LightGBM loads: hence here, before any entry point imports it.
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    return settings
