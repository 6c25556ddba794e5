"""What training refuses: data that cannot make a trustworthy model.

Each check runs before MLflow is touched, so a refusal logs and registers
nothing: the export fails the contract, holds too few cases or a label of one
class, or a single feature predicts a label almost perfectly (an export
filled in after the cases closed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.load import ValidationReport
from features.record import LABELS
from training import evaluate
from training.config import TrainingConfig

__all__ = ["TrainingRefused", "check_leaks", "check_trainable"]


class TrainingRefused(Exception):
    """Data that cannot make a trustworthy model; nothing was logged or registered."""


def check_trainable(frame: pd.DataFrame, report: ValidationReport, config: TrainingConfig) -> None:
    """Raise :class:`TrainingRefused` for data that cannot make a trustworthy model."""
    if not report.ok:
        raise TrainingRefused(
            "the data fails validation; fix the export and check it with "
            f"`triage validate --data {report.source} --labels`:\n{report.render()}"
        )
    if len(frame) < config.min_cases:
        raise TrainingRefused(
            f"{report.source}: {len(frame)} labelled cases; at least {config.min_cases} are "
            "needed to train and evaluate a model"
        )
    for label in LABELS:
        classes = frame[label].dropna().unique()
        if len(classes) < 2:
            raise TrainingRefused(
                f"{report.source}: label {label} has one class only ({classes.tolist()}); "
                "a model needs cases of both outcomes"
            )


def check_leaks(
    X: np.ndarray, labels: dict[str, np.ndarray], feature_names: list[str], threshold: float
) -> dict[str, pd.Series]:
    """Refuse when any single feature predicts a label almost perfectly; return all AUCs."""
    # One sort per feature serves every label: on a million-case export the sorts
    # are most of the check's time, spent before the search's budget share starts.
    aucs = evaluate.single_feature_aucs(X, labels, feature_names)
    leaks = []
    for label, auc in aucs.items():
        for name, value in auc[auc >= threshold].items():
            leaks.append(f"{name} predicts {label} alone with AUC {value:.3f}")
    if leaks:
        raise TrainingRefused(
            "features leak the outcome (an export filled after the case closed?): "
            + "; ".join(leaks)
            + f". A feature whose AUC alone reaches {threshold} cannot be known at filing."
        )
    return aucs
