"""Choosing the calibration of a model's raw score (log-odds).

The method is chosen on held-out data, by cross-validated log loss within
that data, among: none (the booster's own sigmoid), sigmoid (Platt scaling of
the log-odds) and isotonic regression.  A method must beat "none" to be
used, so calibration is applied only when it improves log loss.  The fitted
calibrator (:class:`models.calibration.ScoreCalibrator`) is what the model
carries and applies.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from models.calibration import PROBABILITY_METHODS as METHODS
from models.calibration import CalibrationMethod, ScoreCalibrator


def fit_calibrator(raw_score: np.ndarray, y: np.ndarray, method: str) -> ScoreCalibrator:
    """Fit one calibration method on held-out raw scores and labels."""
    raw_score = np.asarray(raw_score, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if method == "none":
        return ScoreCalibrator()
    if method == "sigmoid":
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(raw_score.reshape(-1, 1), y)
        return ScoreCalibrator(
            method="sigmoid", slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0])
        )
    if method == "isotonic":
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw_score, y)
        return ScoreCalibrator(
            method="isotonic",
            knots_x=tuple(isotonic.X_thresholds_.tolist()),
            knots_y=tuple(isotonic.y_thresholds_.tolist()),
        )
    raise ValueError(f"unknown calibration method {method!r}; choose from {METHODS}")


def choose_calibrator(
    raw_score: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0, min_gain: float = 0.001
) -> tuple[ScoreCalibrator, dict[str, float]]:
    """The method with the lowest cross-validated log loss, refitted on all the data.

    A method other than ``none`` must lower log loss by at least ``min_gain``
    (relative) to be chosen.  Returns the calibrator and each method's
    cross-validated log loss.
    """
    raw_score = np.asarray(raw_score, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    out_of_fold = {method: np.empty(len(y)) for method in METHODS}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(raw_score.reshape(-1, 1), y):
        for method in METHODS:
            calibrator = fit_calibrator(raw_score[fit_rows], y[fit_rows], method)
            out_of_fold[method][held_rows] = calibrator.probability(raw_score[held_rows])
    losses: dict[str, float] = {
        method: float(log_loss(y, out_of_fold[method], labels=[0, 1])) for method in METHODS
    }
    best: CalibrationMethod = "none"
    for method in ("sigmoid", "isotonic"):
        if losses[method] < losses[best] * (1 - min_gain):
            best = method
    return fit_calibrator(raw_score, y, best), losses
