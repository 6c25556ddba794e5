"""Small registered models for the service tests: trained in seconds, logged to a real MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from features.synthetic import generate_cases
from training.config import SearchConfig, TrainingConfig

#: A search small enough for tests (a few seconds for both models).
FAST = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=4, max_rounds=150))

ROOT = Path(__file__).resolve().parents[2]


def register_models(*, seed: int = 3, n: int = 2500, aliases=("champion", "challenger")) -> dict:
    """Train both models on synthetic cases and register them with ``aliases``.

    Each version carries a reference profile, as `triage train` writes it, so
    that drift can be measured against it.  Uses the MLflow store of the
    current TRIAGE_HOME.  Returns ``{kind: version}``.
    """
    import mlflow

    from training import registry
    from training.train import fit_models, reference_profile

    frame = generate_cases(n, seed=seed).cases
    fitted = fit_models(frame, FAST)
    train_rows = fitted.X[fitted.split.train]
    registry.configure_mlflow()
    versions = {}
    with mlflow.start_run(run_name=f"test models seed {seed}") as run:
        for kind, outcome in fitted.outcomes.items():
            outcome.model.metadata.update(
                {
                    "run_id": run.info.run_id,
                    "trained_at": "2024-06-01T00:00:00+00:00",
                    "training_window": {"train": ["2021-01-01", "2023-06-30"]},
                    "n_cases": n,
                    "test_metrics": outcome.metrics["model"],
                    "calibration": outcome.model.calibrator.method,
                    "reference_profile": reference_profile(
                        outcome.model, train_rows, outcome.test_probability
                    ),
                }
            )
            name = registry.model_name(kind)
            version = registry.log_case_model(outcome.model, registered_name=name)
            for alias in aliases:
                registry.move_alias(name, alias, version, "test")
            versions[kind] = version
    return versions


def service_env(home: Path, scratch: Path, api_key: str) -> dict[str, str]:
    """The environment of a `triage serve` subprocess on its own TRIAGE_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "MLFLOW_"))}
    env |= {
        "TRIAGE_HOME": str(home),
        "TRIAGE_API_KEYS": api_key,
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": str(ROOT),
        # BentoML leaves socket and client folders in the temporary directory.
        "TMPDIR": str(scratch),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own
    return env


def register_champion_and_challenger(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Champions (seed 3) and a differing challenger (seed 8), registered in a subprocess.

    A subprocess, because MLflow keeps its tracking URI per process and the
    registry must be the one of ``env``'s TRIAGE_HOME.
    """
    script = (
        "import json\n"
        "from app.settings import apply_environment\n"
        "apply_environment()\n"
        "from tests.serving.registry_fixture import register_models\n"
        "champion = register_models(seed=3)\n"
        "challenger = register_models(seed=8, aliases=('challenger',))\n"
        "print(json.dumps({'champion': champion, 'challenger': challenger}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
