"""Calibration of a model's raw score (log-odds) into a probability: applying it.

A fitted calibrator is a handful of numbers — none (the booster's own
sigmoid), a slope and an intercept (Platt scaling of the log-odds) or
isotonic knots — stored as JSON with the model and applied with ``np.interp``
or one sigmoid: cheap for one case and for a million.  Training chooses the
method (:mod:`training.calibration`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["METHODS", "PROBABILITY_METHODS", "CalibrationMethod", "ScoreCalibrator"]

CalibrationMethod = Literal["none", "sigmoid", "isotonic", "log_link"]
METHODS: tuple[CalibrationMethod, ...] = ("none", "sigmoid", "isotonic", "log_link")
#: The methods for a probability; ``log_link`` is the yuan model's (an amount, not a probability).
PROBABILITY_METHODS: tuple[CalibrationMethod, ...] = ("none", "sigmoid", "isotonic")
#: Probabilities are kept off 0 and 1: a calibrated 0 would make log loss infinite.
_EPSILON = 1e-6


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class ScoreCalibrator:
    """Maps LightGBM's raw score (log-odds) to a calibrated probability.

    For a model of an amount (``log_link``: the raw score is the log of the
    expected yuan) it maps the raw score to yuan, ``exp(raw + intercept)``:
    the intercept corrects the level on held-out cases (Duan's smearing for a
    log target; the bias of early stopping for a gamma fit).
    """

    method: CalibrationMethod = "none"
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: tuple[float, ...] = field(default=())
    knots_y: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}; choose from {METHODS}")
        # probability() runs per request: convert the knots once, not per call.
        knots = (np.asarray(self.knots_x, dtype=np.float64), np.asarray(self.knots_y, np.float64))
        object.__setattr__(self, "_knots", knots)

    def probability(self, raw_score: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrated probability of each raw score, kept within [1e-6, 1 − 1e-6]."""
        raw = np.asarray(raw_score, dtype=np.float64)
        if self.method == "log_link":
            yuan: npt.NDArray[np.float64] = np.exp(raw + self.intercept)
            return yuan
        if self.method == "isotonic":
            knots_x, knots_y = self._knots  # type: ignore[attr-defined]  # set in __post_init__
            p = np.interp(raw, knots_x, knots_y)
        else:
            p = _sigmoid(self.slope * raw + self.intercept)
        clipped: npt.NDArray[np.float64] = np.clip(p, _EPSILON, 1 - _EPSILON)
        return clipped

    def to_dict(self) -> dict[str, object]:
        """The calibrator as the JSON the model file stores."""
        return {
            "method": self.method,
            "slope": self.slope,
            "intercept": self.intercept,
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ScoreCalibrator:
        """A calibrator from the JSON :meth:`to_dict` wrote."""
        method = data["method"]
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; choose from {METHODS}")
        return cls(
            method=method,
            slope=_number(data["slope"]),
            intercept=_number(data["intercept"]),
            knots_x=tuple(_number(v) for v in _sequence(data["knots_x"])),
            knots_y=tuple(_number(v) for v in _sequence(data["knots_y"])),
        )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a calibrator number must be a number, got {value!r}")
    return float(value)


def _sequence(value: object) -> list[object]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"calibrator knots must be a list, got {type(value).__name__}")
    return list(value)
