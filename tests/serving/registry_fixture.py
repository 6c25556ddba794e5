"""Small registered models for the service tests: trained in seconds, logged to a real MLflow store."""

from __future__ import annotations

from features.synthetic import generate_cases
from training.config import SearchConfig, TrainingConfig

#: A search small enough for tests (a few seconds for both models).
FAST = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=4, max_rounds=150))


def register_models(*, seed: int = 3, n: int = 2500, aliases=("champion", "challenger")) -> dict:
    """Train both models on synthetic cases and register them with ``aliases``.

    Uses the MLflow store of the current TRIAGE_HOME.  Returns ``{kind: version}``.
    """
    import mlflow

    from training import registry
    from training.train import fit_models

    frame = generate_cases(n, seed=seed).cases
    fitted = fit_models(frame, FAST)
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
                }
            )
            name = registry.model_name(kind)
            version = registry.log_case_model(outcome.model, registered_name=name)
            for alias in aliases:
                registry.move_alias(name, alias, version, "test")
            versions[kind] = version
    return versions
