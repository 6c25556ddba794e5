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
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from app.files import json_default
from features.builder import CaseFeatureBuilder
from features.terminated import TERMINATED_FIELD_BY_NAME
from features.terminated_builder import TERMINATED_FEATURE_LABELS, TerminatedFeatureBuilder
from models.calibration import ScoreCalibrator
from models.metadata import ModelMetadata
from models.reasons import TERMINATED_RULES, ReasonExplainer, Reasons
from models.routing import RoutingPolicy, RoutingThresholds
from models.treeshap import ShapTables, default_cache_dir, tables_for

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = [
    "AMOUNT_BOOSTER_FILE",
    "AmountPart",
    "BOOSTER_FILE",
    "FORMAT_VERSION",
    "MODEL_FILE",
    "TARGETS",
    "TERMINATED_KINDS",
    "AMOUNT_KINDS",
    "builder_class",
    "CaseModel",
    "booster_file_problem",
    "exposure_amount",
    "Cases",
    "LoadedModel",
    "ModelKind",
    "Prediction",
]

#: The models: of new cases, the stream model learns whether a case turns out complex,
#: the assets model whether money or property is recovered; of terminated (终本) cases,
#: the resume model whether a follow-up recovers something within six months, the
#: recovery model how many yuan when it does.
ModelKind = Literal["stream", "assets", "resume", "recovery"]
#: What each label means to the model that learns it.
TARGETS: dict[str, str] = {
    "stream": "is_complex",
    "assets": "has_recoverable_assets",
    "resume": "recovered_after",
    "recovery": "recovered_after_amount",
}
#: The models of terminated cases: they read the terminated-case record.
TERMINATED_KINDS: tuple[ModelKind, ...] = ("resume", "recovery")
#: The models whose output is yuan (its calibrator ``log_link``), not a probability.
AMOUNT_KINDS: tuple[ModelKind, ...] = ("recovery",)
Builder: TypeAlias = "CaseFeatureBuilder | TerminatedFeatureBuilder"


def builder_class(kind: str) -> type[CaseFeatureBuilder] | type[TerminatedFeatureBuilder]:
    """The feature builder of the record a model of ``kind`` reads."""
    return TerminatedFeatureBuilder if kind in TERMINATED_KINDS else CaseFeatureBuilder


def _explainer(kind: str, builder: Builder, names: list[str]) -> ReasonExplainer:
    if kind in TERMINATED_KINDS:
        return ReasonExplainer(
            names,
            builder.categories_,
            labels=TERMINATED_FEATURE_LABELS,
            rules=TERMINATED_RULES,
            fields=TERMINATED_FIELD_BY_NAME,
        )
    return ReasonExplainer(names, builder.categories_)


MODEL_FILE = "model.json"
BOOSTER_FILE = "booster.txt"
#: The assets model's optional amount part (E[recovered_amount | recovered]) beside its booster.
AMOUNT_BOOSTER_FILE = "amount_booster.txt"
FORMAT_VERSION = 1

#: Cases as scoring takes them: a canonical frame (``features.load``) or validated records.
Cases: TypeAlias = "pd.DataFrame | Sequence[Mapping[str, object]]"
Features: TypeAlias = npt.NDArray[np.float64]


@dataclass
class Prediction:
    """Scores of a batch of cases from one model.

    ``probability`` is the calibrated probability; for an amount model
    (:data:`AMOUNT_KINDS`) it is the expected yuan.
    """

    probability: npt.NDArray[np.float64]
    raw_score: npt.NDArray[np.float64]
    reasons: Reasons | None = None


@dataclass
class AmountPart:
    """E[recovered_amount | assets recovered] of new cases: a gamma booster and its level.

    It travels inside the assets model's version, so ``p_assets`` and the
    amount it multiplies always come from one registered version.  It reads
    the assets model's features (same builder, same vocabulary).
    """

    booster: lgb.Booster
    #: ``log_link``: raw score → the multiple of the exposure (or yuan without one), its
    #: intercept the level fitted on validation cases.
    calibrator: ScoreCalibrator
    #: The ``log1p`` feature whose amount the booster's prediction multiplies (the claim:
    #: the booster learns the share of it recovered); None: the booster predicts yuan.
    exposure: str | None = None
    #: Test metrics of the amount given recovery (``training.evaluate.amount_metrics``).
    metrics: dict[str, float] = field(default_factory=dict)

    def yuan(
        self, features: Features, feature_names: Sequence[str], *, threads: int = 1
    ) -> npt.NDArray[np.float64]:
        """Expected yuan recovered, given that something is, of prepared features."""
        raw = np.asarray(self.booster.predict(features, raw_score=True, num_threads=threads))
        multiple = self.calibrator.probability(raw)
        if self.exposure is None:
            return multiple
        return multiple * exposure_amount(features, list(feature_names).index(self.exposure))


def exposure_amount(features: Features, column: int) -> npt.NDArray[np.float64]:
    """The amount (yuan) of a ``log1p`` amount feature, e.g. the claim of ``claim_amount_log``."""
    return np.expm1(features[:, column])


@dataclass
class CaseModel:
    """One trained model: features → LightGBM → calibration, with reasons."""

    kind: ModelKind
    builder: Builder
    booster: lgb.Booster
    calibrator: ScoreCalibrator
    thresholds: RoutingThresholds | None = None
    policy: RoutingPolicy | None = None
    metadata: ModelMetadata = field(default_factory=ModelMetadata)
    threads: int = 1
    #: Assets model only, and optional (older versions, exports without recovered_amount).
    amount: AmountPart | None = None

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise ValueError(f"kind must be one of {sorted(TARGETS)}, got {self.kind!r}")
        if self.amount is not None and self.kind != "assets":
            raise ValueError(f"only the assets model carries an amount part, not {self.kind!r}")
        self.feature_names: list[str] = [str(n) for n in self.builder.get_feature_names_out()]
        exposure = None if self.amount is None else self.amount.exposure
        if exposure is not None and exposure not in self.feature_names:
            raise ValueError(f"the amount part scales by {exposure!r}, which is no feature")
        self.explainer = _explainer(self.kind, self.builder, self.feature_names)
        self._tables: ShapTables | None = None
        self._tables_unsupported = False
        self._tables_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # A lock does not pickle, and the tables are rebuilt (or read from the
        # cache) where the model lands: cheaper than shipping tens of MB to
        # every Dask worker.
        state = dict(self.__dict__)
        state["_tables"] = None
        del state["_tables_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tables_lock = threading.Lock()

    @property
    def target(self) -> str:
        """The label this model learns."""
        return TARGETS[self.kind]

    # --- scoring ---------------------------------------------------------------------------

    def features(self, cases: Cases) -> Features:
        """Model features of a canonical frame or of validated records."""
        if isinstance(cases, pd.DataFrame):
            return cast(Features, self.builder.transform(cases))
        return self.builder.transform_records(cases)

    def predict_features(self, features: Features, *, reasons: int = 3) -> Prediction:
        """Calibrated probabilities (and the top ``reasons``) of prepared features.

        With reasons, the raw score is the sum of the TreeSHAP contributions
        (they add up to it exactly, to rounding), which saves a second pass
        over the trees; without, it is LightGBM's raw prediction.
        """
        explained = None
        if reasons:
            contributions = self.contributions(features)
            raw = contributions.sum(axis=1)
            explained = self.explainer.explain(features, contributions, k=reasons)
        else:
            raw = np.asarray(
                self.booster.predict(features, raw_score=True, num_threads=self.threads)
            )
        return Prediction(
            probability=self.calibrator.probability(raw), raw_score=raw, reasons=explained
        )

    def contributions(
        self, features: Features, *, exact: Literal["tables", "lightgbm"] = "tables"
    ) -> npt.NDArray[np.float64]:
        """Each feature's TreeSHAP contribution to the raw score, then the bias (n × F+1).

        From the model's tables (:mod:`models.treeshap`: the same values as
        LightGBM's ``pred_contrib``, to float rounding, at about the cost of a
        prediction), or with ``exact="lightgbm"`` from ``pred_contrib`` itself.
        """
        tables = None if exact == "lightgbm" else self.shap_tables()
        if tables is None:
            return np.asarray(
                self.booster.predict(features, pred_contrib=True, num_threads=self.threads)
            )
        return tables.contributions(np.asarray(features), threads=self.threads)

    def shap_tables(self) -> ShapTables | None:
        """The booster's TreeSHAP tables: built (or read from the cache) on first use.

        None for a booster the tables cannot cover (a leaf whose path splits
        on more than 62 features): its reasons come from ``pred_contrib``.
        """
        with self._tables_lock:
            if self._tables is None and not self._tables_unsupported:
                try:
                    self._tables = tables_for(self.booster, cache=default_cache_dir())
                except ValueError:
                    self._tables_unsupported = True
            return self._tables

    def predict(self, cases: Cases, *, reasons: int = 3) -> Prediction:
        """Scores of a canonical frame or of validated records."""
        return self.predict_features(self.features(cases), reasons=reasons)

    def predict_proba(self, cases: Cases) -> npt.NDArray[np.float64]:
        """Calibrated probability of the positive class (no reasons)."""
        return self.predict(cases, reasons=0).probability

    def expected_recovery(
        self, features: Features, p_assets: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64] | None:
        """``p_assets × E[recovered_amount | recovered]`` in yuan; None without an amount part.

        ``p_assets`` is this model's calibrated probability of the same features.
        """
        if self.amount is None:
            return None
        return p_assets * self.amount.yuan(features, self.feature_names, threads=self.threads)

    def route(self, p_complex: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """The stream of each case, by this (stream) model's thresholds."""
        if self.thresholds is None:
            raise ValueError(f"the {self.kind} model carries no routing thresholds")
        return self.thresholds.route(p_complex)

    def pipeline(self) -> Pipeline:
        """The model as one scikit-learn Pipeline: case frame → calibrated probabilities."""
        from sklearn.pipeline import Pipeline

        from models.pipeline import CalibratedBooster

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
        amount = None
        if self.amount is not None:
            self.amount.booster.save_model(str(directory / AMOUNT_BOOSTER_FILE))
            amount = {
                "target": "recovered_amount",
                "calibrator": self.amount.calibrator.to_dict(),
                "exposure": self.amount.exposure,
                "metrics": self.amount.metrics,
            }
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
            "metadata": self.metadata.to_json_dict(),
            # Absent from versions made before it; null when the export had no amounts.
            "amount": amount,
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
        document: dict[str, Any] = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        if document.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory}: model format {document.get('format_version')} is not "
                f"{FORMAT_VERSION}; retrain with this release"
            )
        builder = builder_class(document["kind"]).from_vocabulary(
            document["categories"], min_frequency=document["min_frequency"]
        )
        if list(builder.get_feature_names_out()) != document["feature_names"]:
            raise ValueError(
                f"{directory}: the model was trained on other features than this release "
                "builds; retrain with this release"
            )
        booster = _read_booster(directory / BOOSTER_FILE)
        amount = document.get("amount")
        thresholds = document.get("thresholds")
        policy = document.get("policy")
        return cls(
            kind=document["kind"],
            builder=builder,
            booster=booster,
            calibrator=ScoreCalibrator.from_dict(document["calibrator"]),
            thresholds=None if thresholds is None else RoutingThresholds(**thresholds),
            policy=None if policy is None else RoutingPolicy(**policy),
            metadata=ModelMetadata.model_validate(document.get("metadata", {})),
            threads=threads,
            amount=None if not amount else _read_amount(directory, amount),
        )


def _read_booster(path: Path) -> lgb.Booster:
    # LightGBM aborts the whole process (SIGABRT/SIGSEGV, nothing to catch) on a
    # booster file cut short, so its structure is checked before LightGBM reads it.
    problem = booster_file_problem(path.read_bytes())
    if problem is not None:
        raise ValueError(f"{path}: unreadable LightGBM model, {problem}")
    return lgb.Booster(model_file=str(path))


def _read_amount(directory: Path, document: Mapping[str, Any]) -> AmountPart:
    """The amount part ``model.json`` describes, its booster read from beside it."""
    return AmountPart(
        booster=_read_booster(directory / AMOUNT_BOOSTER_FILE),
        calibrator=ScoreCalibrator.from_dict(document["calibrator"]),
        exposure=None if document.get("exposure") is None else str(document["exposure"]),
        metrics={k: float(v) for k, v in dict(document.get("metrics") or {}).items()},
    )


_TREE_SIZES = re.compile(rb"^tree_sizes=([0-9 ]*)$", re.MULTILINE)
_END_OF_PARAMETERS = re.compile(rb"^end of parameters$", re.MULTILINE)
_PANDAS_CATEGORICAL = re.compile(rb"^pandas_categorical:(.*)$", re.MULTILINE)


def booster_file_problem(data: bytes) -> str | None:
    """What makes LightGBM's text model ``data`` unsafe to load, or None when it is whole.

    LightGBM reads the trees at the byte offsets its header's ``tree_sizes``
    gives, and a file cut anywhere short of ``end of parameters`` makes it
    abort or crash the process (measured with LightGBM 4: SIGABRT in the
    trees, SIGSEGV in the parameters).  So the file must start with the
    ``tree`` header, its trees must take exactly the bytes the header
    announces up to ``end of trees``, and the parameters section after them
    must be closed.
    A byte changed inside a tree is not found here; loading in a separate
    process finds that (see ``models.registry.check_loadable``).
    """
    if not data.startswith(b"tree\n"):
        return "it does not start with LightGBM's 'tree' header"
    end_of_trees = data.find(b"\nend of trees\n")
    if end_of_trees < 0:
        return "it is cut short: the 'end of trees' line is missing"
    first_tree = data.find(b"\nTree=", 0, end_of_trees)
    if first_tree >= 0:
        sizes = _TREE_SIZES.search(data, 0, first_tree)
        if sizes is None:
            return "its header gives no tree_sizes"
        announced = sum(int(size) for size in sizes.group(1).split())
        found = end_of_trees - first_tree
        if found != announced:
            return f"its trees take {found} bytes where its header announces {announced}"
    # LightGBM always writes its parameters after the trees; they close a whole file.
    end_of_parameters = _END_OF_PARAMETERS.search(data, end_of_trees)
    if end_of_parameters is None:
        return "it is cut short: the 'end of parameters' line is missing"
    # The Python package appends the pandas categories as one JSON line.
    categorical = _PANDAS_CATEGORICAL.search(data, end_of_parameters.end())
    if categorical is not None:
        try:
            json.loads(categorical.group(1))
        except ValueError:
            return "it is cut short in its last line (pandas_categorical)"
    return None


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version, loaded: its name, version, the alias it was asked by."""

    name: str
    version: str
    alias: str | None
    model: CaseModel
