"""A trained model as a scikit-learn classifier, for notebooks and sklearn tooling.

:meth:`models.case_model.CaseModel.pipeline` puts it behind the feature
builder in one ``Pipeline``; the scoring paths call the parts directly.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin

from models.calibration import ScoreCalibrator

__all__ = ["CalibratedBooster"]


class CalibratedBooster(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped
    """A trained LightGBM booster and its calibrator as a scikit-learn classifier.

    It is fitted already (``fit`` only records the classes): the Pipeline view
    of a trained :class:`~models.case_model.CaseModel`.
    """

    def __init__(
        self, booster: lgb.Booster | None = None, calibrator: ScoreCalibrator | None = None
    ) -> None:
        self.booster = booster
        self.calibrator = calibrator

    def fit(self, X: Any = None, y: Any = None) -> CalibratedBooster:
        """Record the classes; the booster and calibrator come trained."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of both classes, one row per case."""
        if self.booster is None or self.calibrator is None:
            raise ValueError("a CalibratedBooster needs a trained booster and calibrator")
        p = self.calibrator.probability(self.booster.predict(np.asarray(X), raw_score=True))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> npt.NDArray[np.int64]:
        """The more likely class of each case."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)
