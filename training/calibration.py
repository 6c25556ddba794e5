"""Calibration of a model's raw score (log-odds) into a probability.

The method is chosen on held-out data, by cross-validated log loss within
that data, among: none (the booster's own sigmoid), sigmoid (Platt scaling of
the log-odds) and isotonic regression.  A method must beat "none" to be
used, so calibration is applied only when it improves log loss.  The fitted
calibrator is a handful of numbers (slope and intercept, or isotonic knots),
stored as JSON with the model and applied with ``np.interp`` — cheap for one
case and for a million.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

METHODS = ("none", "sigmoid", "isotonic")
#: Probabilities are kept off 0 and 1: a calibrated 0 would make log loss infinite.
_EPSILON = 1e-6


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class ScoreCalibrator:
    """Maps LightGBM's raw score (log-odds) to a calibrated probability."""

    method: str = "none"
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: tuple[float, ...] = field(default=())
    knots_y: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        # probability() runs per request: convert the knots once, not per call.
        knots = (np.asarray(self.knots_x, dtype=np.float64), np.asarray(self.knots_y, np.float64))
        object.__setattr__(self, "_knots", knots)

    def probability(self, raw_score: np.ndarray) -> np.ndarray:
        raw_score = np.asarray(raw_score, dtype=np.float64)
        if self.method == "isotonic":
            p = np.interp(raw_score, *self._knots)
        else:
            p = _sigmoid(self.slope * raw_score + self.intercept)
        return np.clip(p, _EPSILON, 1 - _EPSILON)

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "slope": self.slope,
            "intercept": self.intercept,
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ScoreCalibrator:
        return cls(
            method=str(data["method"]),
            slope=float(data["slope"]),
            intercept=float(data["intercept"]),
            knots_x=tuple(float(v) for v in data["knots_x"]),
            knots_y=tuple(float(v) for v in data["knots_y"]),
        )


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
    losses = {method: float(log_loss(y, out_of_fold[method], labels=[0, 1])) for method in METHODS}
    best = "none"
    for method in ("sigmoid", "isotonic"):
        if losses[method] < losses[best] * (1 - min_gain):
            best = method
    return fit_calibrator(raw_score, y, best), losses
