"""Training configuration: one typed object, logged with every run.

Defaults are meant to be good on a court's export nobody tuned for; every
number a court might want to change (split shares, search budget, gate
tolerances and floors, routing policy) lives here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.routing import RoutingPolicy


class SplitConfig(BaseModel):
    """Out-of-time split by filing_date: oldest cases train, newer validate, newest test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validation_share: float = Field(0.15, gt=0, lt=0.5)
    test_share: float = Field(0.15, gt=0, lt=0.5)


class SearchConfig(BaseModel):
    """The small automatic hyper-parameter search, bounded in trials and time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trials: int = Field(30, ge=1, le=60, description="At most this many trials per model.")
    time_budget_seconds: float = Field(
        240.0, gt=0, description="Wall-clock budget for both models, search and final fit."
    )
    learning_rate: float = Field(0.05, gt=0, le=0.5, description="Of the final model.")
    search_learning_rate: float = Field(
        0.1, gt=0, le=0.5, description="Of the search trials: faster, and ranks settings alike."
    )
    search_rows: int = Field(
        60_000, ge=1_000, description="Training cases sampled for the search (validation: half)."
    )
    max_rounds: int = Field(3000, ge=50)
    early_stopping_rounds: int = Field(100, ge=10)
    min_final_rounds: int = Field(
        100,
        ge=1,
        description=(
            "Rounds the final fit runs even when the budget is spent (a loaded machine, "
            "a large export): a model of a few trees is no model."
        ),
    )
    seed: int = 0


class GateConfig(BaseModel):
    """When a new version may replace the champion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auc_tolerance: float = Field(
        0.005, ge=0, description="New AUC may trail the champion's by this much."
    )
    log_loss_tolerance: float = Field(
        0.01, ge=0, description="New log loss may exceed the champion's by this share."
    )
    max_yuan_bias: float = Field(
        0.10,
        gt=0,
        le=1,
        description="Yuan models: largest predicted ÷ realised total − 1 on the test split "
        "(plus twice its sampling noise).",
    )
    min_auc: float = Field(0.65, ge=0.5, le=1, description="Absolute floor on test AUC.")
    max_ece: float = Field(
        0.05, gt=0, le=1, description="Absolute ceiling on test calibration error."
    )


class TrainingConfig(BaseModel):
    """Everything `triage train` decides, in one object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: SplitConfig = SplitConfig()
    search: SearchConfig = SearchConfig()
    gate: GateConfig = GateConfig()
    policy: RoutingPolicy = RoutingPolicy()
    min_cases: int = Field(500, ge=50, description="Refuse to train on fewer labelled cases.")
    leak_auc: float = Field(
        0.98, gt=0.5, le=1, description="A feature whose AUC alone reaches this leaks the outcome."
    )
    threads: int = Field(
        2, ge=1, description="LightGBM threads (set explicitly: 4.7 oversubscribes)."
    )
    reasons_per_case: int = Field(3, ge=1, le=10)
    recovery_objective: Literal["gamma", "log"] = Field(
        "gamma",
        description="The terminated-case yuan model: LightGBM's gamma regression (log link, "
        "fits the mean) or least squares on log yuan (a median, corrected by smearing).",
    )
    figures: bool = Field(
        True,
        description=(
            "Draw the model card's charts (ROC, reliability, importance: about half of a small "
            "run's time); off for quick checks of a retraining."
        ),
    )
