"""What one training run logs to MLflow for each model: metrics, parameters, plots, tables.

:func:`log_model_run_data` writes a model's test and validation metrics, its
search parameters, its routing thresholds, its charts (ROC, reliability,
feature importance, score histograms) and its tables (slices, reliability,
search trials, calibration, routing) into the active run; :func:`model_card`
gathers what its model card shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models.case_model import TARGETS
from models.tradeoff import tradeoff_curve
from training import evaluate, plots
from training.card import ExpectedRecoveryCard, ModelCardData, SplitSummary
from training.config import TrainingConfig

if TYPE_CHECKING:
    from training.train import ModelOutcome

__all__ = ["day", "flat_params", "log_model_run_data", "model_card"]


def day(value: object) -> str:
    """A filing date as ``YYYY-MM-DD``."""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def flat_params(config: TrainingConfig) -> dict[str, object]:
    """The training configuration as MLflow parameters (``search.n_trials`` …)."""
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            flat[prefix] = value

    walk("", config.model_dump())
    return flat


def log_model_run_data(
    kind: str, outcome: ModelOutcome, scratch: Path, *, figures: bool = True
) -> None:
    """One model's metrics, parameters, charts (unless ``figures`` is off) and tables."""
    _log_metrics_and_params(kind, outcome)
    folder = scratch / kind
    folder.mkdir(exist_ok=True)
    if figures:
        _draw_figures(kind, outcome, folder)
    _write_tables(outcome, folder)
    import mlflow

    mlflow.log_artifacts(str(folder), artifact_path=kind)


def _log_metrics_and_params(kind: str, outcome: ModelOutcome) -> None:
    import mlflow

    for name, values in outcome.metrics.items():
        mlflow.log_metrics(
            {
                f"{kind}.{name}.test.{k}": float(v)
                for k, v in values.items()
                if isinstance(v, int | float) and np.isfinite(v)
            }
        )
    mlflow.log_metrics(
        {
            f"{kind}.model.validation.{k}": float(v)
            for k, v in outcome.validation_metrics.items()
            if np.isfinite(v)
        }
    )
    if "bayes_limit" in outcome.metrics:
        gaps = evaluate.gap_to_bayes(outcome.metrics["model"], outcome.metrics["bayes_limit"])
        mlflow.log_metrics(
            {f"{kind}.gap_to_bayes.{k}": float(v) for k, v in gaps.items() if np.isfinite(v)}
        )
    mlflow.log_params(
        {f"{kind}.lgbm.{k}": v for k, v in outcome.search["params"].items()}
        | {
            f"{kind}.best_iteration": outcome.search["best_iteration"],
            f"{kind}.calibration": outcome.model.calibrator.method,
            f"{kind}.search_trials": len(outcome.search["trials"]),
        }
    )
    if outcome.routing:
        mlflow.log_params(
            {f"stream.threshold.{k}": v for k, v in outcome.routing["thresholds"].items()}
        )
        mlflow.log_metrics(
            {f"stream.routing.test.{k}": v for k, v in outcome.routing["test"].items()}
        )
    if outcome.policy_cost:
        mlflow.log_metrics({f"stream.policy.{k}": v for k, v in outcome.policy_cost.items()})
    if outcome.reasons:
        mlflow.log_metrics(
            {f"{kind}.reasons.{k}": v for k, v in outcome.reasons.items() if np.isfinite(v)}
        )
    if outcome.recovery is not None:
        part = outcome.recovery
        for name, values in part.fit.metrics.items():
            mlflow.log_metrics(
                {
                    f"{kind}.amount.{name.replace(' ', '_')}.test.{k}": float(v)
                    for k, v in values.items()
                    if np.isfinite(v)
                }
            )
        ratios = part.calibration["ratio"].to_numpy(dtype=np.float64)
        mlflow.log_metrics(
            {
                f"{kind}.expected_recovery.test.total_ratio": part.totals["ratio"],
                f"{kind}.expected_recovery.test.max_decile_error": float(
                    np.max(np.abs(ratios - 1))
                ),
            }
        )


def _draw_figures(kind: str, outcome: ModelOutcome, folder: Path) -> None:
    """The model card's charts; ``outcome.figures`` then names their files."""
    curves = outcome.curves
    title = f"{kind} model ({TARGETS[kind]})"
    y_test = curves["model"][0]
    p_test = curves["model"][1]
    outcome.figures = {
        "roc": plots.plot_roc(curves, folder / "roc.png", f"ROC, {title}"),
        "reliability": plots.plot_reliability(
            {k: v for k, v in curves.items() if k != "published rules"},
            folder / "reliability.png",
            f"Reliability, {title}",
        ),
        "importance": plots.plot_feature_importance(
            outcome.model.feature_names,
            outcome.model.booster.feature_importance(importance_type="gain"),
            folder / "feature_importance.png",
            f"Feature importance (gain), {title}",
        ),
        "histogram": plots.plot_score_histograms(
            {"positive": p_test[y_test == 1], "negative": p_test[y_test == 0]},
            folder / "score_histograms.png",
            f"Scores by true class, {title}",
        ),
    }


def _write_tables(outcome: ModelOutcome, folder: Path) -> None:
    """Slices, reliability, search trials, calibration and routing, as files of the run."""
    y_test, p_test = outcome.curves["model"]
    outcome.slices.to_csv(folder / "slices.csv", index=False)
    reliability = evaluate.reliability_curve(y_test, p_test)
    reliability.to_csv(folder / "reliability.csv", index=False)
    (folder / "search_trials.json").write_text(json.dumps(outcome.search["trials"], indent=1))
    (folder / "calibration.json").write_text(
        json.dumps(
            {
                "chosen": outcome.model.calibrator.method,
                "cross_validated_log_loss": outcome.calibration_losses,
            },
            indent=1,
        )
    )
    if outcome.routing:
        (folder / "routing_policy.json").write_text(json.dumps(outcome.routing, indent=1))
    if outcome.recovery is not None:
        # The card's two tables, as files: per decile of expected recovery (every test
        # case) and per decile of the amount given recovery (recovered test cases).
        outcome.recovery.calibration.to_csv(
            folder / "expected_recovery_calibration.csv", index=False
        )
        outcome.recovery.fit.deciles.to_csv(folder / "amount_calibration.csv", index=False)


def _expected_recovery(outcome: ModelOutcome) -> ExpectedRecoveryCard | None:
    """The assets card's expected-recovery section (None for the other models)."""
    if outcome.kind != "assets":
        return None
    part = outcome.recovery
    if part is None:
        return ExpectedRecoveryCard(problem=outcome.recovery_problem or "not fitted")
    return ExpectedRecoveryCard(
        amount_metrics=part.fit.metrics,
        amount_deciles=part.fit.deciles,
        calibration=part.calibration,
        totals=part.totals,
    )


def _tradeoff(outcome: ModelOutcome) -> list[dict[str, object]] | None:
    """The stream model's trade-off curve under its routing policy (None for other models)."""
    if outcome.validation_scores is None or outcome.court_policy is None:
        return None
    curve = tradeoff_curve(outcome.validation_scores, outcome.court_policy)
    return [point.to_dict() for point in curve]


def model_card(
    kind: str,
    outcome: ModelOutcome,
    *,
    name: str,
    version: str,
    run_id: str,
    commit: str,
    fingerprint: str,
    splits: list[SplitSummary],
    synthetic: bool,
) -> ModelCardData:
    """What the model card of one registered version shows."""
    return ModelCardData(
        model_name=name,
        target=TARGETS[kind],
        model_version=version,
        run_id=run_id,
        git_commit=commit,
        data_fingerprint=fingerprint,
        splits=splits,
        metrics=outcome.metrics,
        model_key="model",
        bayes_metrics=outcome.metrics.get("bayes_limit"),
        calibration_method=outcome.model.calibrator.method,
        ece_before=outcome.ece_before,
        ece_after=outcome.metrics["model"]["ece"],
        slice_table=outcome.slices,
        routing=outcome.routing,
        policy_cost=outcome.policy_cost,
        policy_cost_curve=outcome.policy_cost_curve,
        tradeoff=_tradeoff(outcome),
        synthetic_data=synthetic,
        figures={k: f"{kind}/{Path(v).name}" for k, v in outcome.figures.items()},
        expected_recovery=_expected_recovery(outcome),
        reasons=outcome.reasons,
        boosting={
            "learning_rate": outcome.search["params"]["learning_rate"],
            "trees": outcome.model.booster.num_trees(),
            "validation_log_loss": outcome.search["validation_log_loss"],
            "cut_short": outcome.search.get("cut_short", False),
            "refitted": outcome.search["refitted"],
        },
    )
