"""A trained model as training, batch scoring, MLflow and the service all use it.

:class:`CaseModel` is one model (stream or assets): the feature builder, the
LightGBM booster, the calibrator, the reason phrasing and — for the stream
model — the routing thresholds.  It is saved as plain files (LightGBM's text
model and one JSON document), not as a pickle, so a model version can be
read by any later release of the code and inspected by hand.

:meth:`CaseModel.pipeline` gives the same model as one scikit-learn
``Pipeline`` (features → calibrated booster) for data scientists; the
scoring paths call the parts directly so that one case costs microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from app.files import json_default
from features.builder import CaseFeatureBuilder
from training.calibration import ScoreCalibrator
from training.policy import RoutingPolicy, RoutingThresholds
from training.reasons import ReasonExplainer, Reasons

#: What each label means to the model that learns it.
TARGETS = {"stream": "is_complex", "assets": "has_recoverable_assets"}
#: The column of each model's true probability in a generator's truth file.
TRUTH_COLUMNS = {"stream": "p_complex_true", "assets": "p_assets_true"}
MODEL_FILE = "model.json"
BOOSTER_FILE = "booster.txt"
FORMAT_VERSION = 1


@dataclass
class Prediction:
    """Scores of a batch of cases from one model."""

    probability: np.ndarray
    raw_score: np.ndarray
    reasons: Reasons | None = None


@dataclass
class CaseModel:
    """One trained model: features → LightGBM → calibration, with reasons."""

    kind: str  # "stream" or "assets"
    builder: CaseFeatureBuilder
    booster: lgb.Booster
    calibrator: ScoreCalibrator
    thresholds: RoutingThresholds | None = None
    policy: RoutingPolicy | None = None
    metadata: dict[str, object] = field(default_factory=dict)
    threads: int = 1

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise ValueError(f"kind must be one of {sorted(TARGETS)}, got {self.kind!r}")
        self.feature_names = list(self.builder.get_feature_names_out())
        self.explainer = ReasonExplainer(self.feature_names, self.builder.categories_)
        # Keyword arguments of every booster call, built once (the API's hot path).
        self._predict_kwargs = {"num_threads": self.threads}

    @property
    def target(self) -> str:
        return TARGETS[self.kind]

    # --- scoring ---------------------------------------------------------------------------

    def features(self, cases: pd.DataFrame | Sequence[Mapping[str, object]]) -> np.ndarray:
        """Model features of a canonical frame or of validated records."""
        if isinstance(cases, pd.DataFrame):
            return self.builder.transform(cases)
        return self.builder.transform_records(cases)

    def predict_features(self, features: np.ndarray, *, reasons: int = 3) -> Prediction:
        """Calibrated probabilities (and the top ``reasons``) of prepared features.

        With reasons, the raw score is the sum of LightGBM's contributions
        (they add up to it exactly, to rounding), which saves a second pass
        over the trees; without, it is LightGBM's raw prediction.
        """
        explained = None
        if reasons:
            contributions = self.booster.predict(
                features, pred_contrib=True, **self._predict_kwargs
            )
            raw = contributions.sum(axis=1)
            explained = self.explainer.explain(features, contributions, k=reasons)
        else:
            raw = self.booster.predict(features, raw_score=True, **self._predict_kwargs)
        return Prediction(
            probability=self.calibrator.probability(raw), raw_score=raw, reasons=explained
        )

    def predict(
        self, cases: pd.DataFrame | Sequence[Mapping[str, object]], *, reasons: int = 3
    ) -> Prediction:
        """Scores of a canonical frame or of validated records."""
        return self.predict_features(self.features(cases), reasons=reasons)

    def predict_proba(self, cases: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class (no reasons)."""
        return self.predict(cases, reasons=0).probability

    def route(self, p_complex: np.ndarray) -> np.ndarray:
        if self.thresholds is None:
            raise ValueError(f"the {self.kind} model carries no routing thresholds")
        return self.thresholds.route(p_complex)

    def pipeline(self) -> Pipeline:
        """The model as one scikit-learn Pipeline: case frame → calibrated probabilities."""
        return Pipeline(
            [
                ("features", self.builder),
                ("classifier", CalibratedBooster(self.booster, self.calibrator).fit()),
            ]
        )

    # --- storage ---------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the model as ``booster.txt`` and ``model.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / BOOSTER_FILE))
        document = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "target": self.target,
            "feature_names": self.feature_names,
            "categories": {k: list(v) for k, v in self.builder.categories_.items()},
            "min_frequency": self.builder.min_frequency,
            "calibrator": self.calibrator.to_dict(),
            "thresholds": None if self.thresholds is None else self.thresholds.to_dict(),
            "policy": None if self.policy is None else self.policy.model_dump(),
            "metadata": self.metadata,
        }
        (directory / MODEL_FILE).write_text(
            json.dumps(document, ensure_ascii=False, indent=2, default=json_default),
            encoding="utf-8",
        )
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, threads: int = 1) -> CaseModel:
        """Read a model written by :meth:`save`."""
        directory = Path(directory)
        document = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        if document.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory}: model format {document.get('format_version')} is not "
                f"{FORMAT_VERSION}; retrain with this release"
            )
        builder = CaseFeatureBuilder.from_vocabulary(
            document["categories"], min_frequency=document["min_frequency"]
        )
        if list(builder.get_feature_names_out()) != document["feature_names"]:
            raise ValueError(
                f"{directory}: the model was trained on other features than this release "
                "builds; retrain with this release"
            )
        booster = lgb.Booster(model_file=str(directory / BOOSTER_FILE))
        thresholds = document.get("thresholds")
        policy = document.get("policy")
        return cls(
            kind=document["kind"],
            builder=builder,
            booster=booster,
            calibrator=ScoreCalibrator.from_dict(document["calibrator"]),
            thresholds=None if thresholds is None else RoutingThresholds(**thresholds),
            policy=None if policy is None else RoutingPolicy(**policy),
            metadata=document.get("metadata", {}),
            threads=threads,
        )


class CalibratedBooster(ClassifierMixin, BaseEstimator):
    """A trained LightGBM booster and its calibrator as a scikit-learn classifier.

    It is fitted already (``fit`` only records the classes): the Pipeline view
    of a trained :class:`CaseModel`, for notebooks and sklearn tooling.
    """

    def __init__(
        self, booster: lgb.Booster | None = None, calibrator: ScoreCalibrator | None = None
    ):
        self.booster = booster
        self.calibrator = calibrator

    def fit(self, X=None, y=None):
        """Record the classes; the booster and calibrator come trained."""
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibrator.probability(self.booster.predict(np.asarray(X), raw_score=True))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
