"""The decision for a case: both models, the stream, the reasons.

:class:`Triage` pairs the stream and assets models (usually the two
champions) and turns cases into decisions.  Batch scoring and the service
both call it, so the same case gets the same probabilities, stream and
reasons wherever it is scored.  Each case is routed by its court's policy
when given a :class:`~models.court_routing.CaseRouting` (both callers make
it with :class:`~models.court_routing.CourtRouter` from the same policy
book), else by the stream model's own thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.case_model import CaseModel, LoadedModel
from models.court_routing import MODEL_DEFAULT, AppliedPolicy, CaseRouting
from models.reasons import Reasons
from models.routing import RoutingThresholds

OUTPUT_COLUMNS = (
    "case_id",
    "p_complex",
    "p_assets",
    "expected_recovery",
    "stream",
    "reasons",
    "stream_model_version",
    "assets_model_version",
    "policy_id",
    "policy_version",
)


@dataclass
class Decisions:
    """Decisions on a batch of cases, in input order."""

    case_id: list[str]
    p_complex: np.ndarray
    p_assets: np.ndarray
    stream: np.ndarray
    reasons_complex: Reasons | None
    reasons_assets: Reasons | None
    #: The policy each case was routed by (None: the stream model's own thresholds for all).
    policies: list[AppliedPolicy] | None = None
    #: ``p_assets × E[recovered_amount | recovered]``, yuan; None when the assets model
    #: version carries no amount part (made before it, or from an export without amounts).
    expected_recovery: np.ndarray | None = None

    def expected_recovery_list(self) -> list[float | None]:
        """Expected recovery per case as plain floats, None where the model gives none."""
        if self.expected_recovery is None:
            return [None] * len(self)
        return [float(v) for v in self.expected_recovery]

    def __len__(self) -> int:
        return len(self.case_id)

    def reasons_json(self) -> list[str]:
        """One JSON document per case: ``{"complex": [...], "assets": [...]}``."""
        if self.reasons_complex is None or self.reasons_assets is None:
            return ['{"complex":[],"assets":[]}'] * len(self)
        return [
            f'{{"complex":{c},"assets":{a}}}'
            for c, a in zip(
                self.reasons_complex.json_lists(), self.reasons_assets.json_lists(), strict=True
            )
        ]


class CaseFeatures:
    """The features of one batch of cases, built once per feature vocabulary.

    Models of one training run share their builder's vocabulary (the codes
    of each categorical), and so their features: only a model with another
    vocabulary costs another build.
    """

    def __init__(self, cases: pd.DataFrame | Sequence[Mapping[str, object]]) -> None:
        self.cases = cases
        self._built: list[tuple[Mapping[str, tuple[str, ...]], np.ndarray]] = []

    def of(self, model: CaseModel) -> np.ndarray:
        vocabulary = model.builder.categories_
        for known, features in self._built:
            if known is vocabulary or known == vocabulary:
                return features
        features = model.features(self.cases)
        self._built.append((vocabulary, features))
        return features


@dataclass
class Triage:
    """The stream and assets models that decide together."""

    stream: LoadedModel
    assets: LoadedModel
    reasons: int = 3

    def __post_init__(self) -> None:
        if self.stream.model.thresholds is None:
            raise ValueError(f"{self.stream.name} v{self.stream.version} has no routing thresholds")

    @classmethod
    def from_registry(cls, alias: str = "champion", *, threads: int = 1) -> Triage:
        """Both models by alias (default: the champions)."""
        from models import registry

        return cls(
            stream=registry.load_case_model(
                registry.model_name("stream"), alias=alias, threads=threads
            ),
            assets=registry.load_case_model(
                registry.model_name("assets"), alias=alias, threads=threads
            ),
        )

    @property
    def thresholds(self) -> RoutingThresholds:
        """The stream model's routing thresholds (present: checked when the pair was made)."""
        thresholds = self.stream.model.thresholds
        assert thresholds is not None
        return thresholds

    @property
    def versions(self) -> dict[str, str]:
        return {
            "stream_model_version": self.stream.version,
            "assets_model_version": self.assets.version,
        }

    def decide(
        self,
        cases: pd.DataFrame | Sequence[Mapping[str, object]],
        *,
        reasons: int | None = None,
        features: CaseFeatures | None = None,
        routing: CaseRouting | None = None,
    ) -> Decisions:
        """Decisions on a canonical frame or on validated records.

        Pass ``features`` (of the same cases) to share feature builds with
        other models scoring them, e.g. shadow challengers, and ``routing``
        (of the same cases, in order) to route each case by its court's
        policy instead of the model's own thresholds.
        """
        k = self.reasons if reasons is None else reasons
        features = CaseFeatures(cases) if features is None else features
        stream_model, assets_model = self.stream.model, self.assets.model
        stream_features = features.of(stream_model)
        assets_features = features.of(assets_model)
        complex_ = stream_model.predict_features(stream_features, reasons=k)
        assets = assets_model.predict_features(assets_features, reasons=k)
        expected_recovery = assets_model.expected_recovery(assets_features, assets.probability)
        if isinstance(cases, pd.DataFrame):
            case_ids = cases["case_id"].astype(str).tolist()
        else:
            case_ids = [str(case["case_id"]) for case in cases]
        return Decisions(
            case_id=case_ids,
            p_complex=complex_.probability,
            p_assets=assets.probability,
            stream=(
                stream_model.route(complex_.probability)
                if routing is None
                else routing.route(complex_.probability)
            ),
            reasons_complex=complex_.reasons,
            reasons_assets=assets.reasons,
            policies=None if routing is None else routing.applied,
            expected_recovery=expected_recovery,
        )

    def decide_frame(
        self,
        cases: pd.DataFrame,
        *,
        reasons: int | None = None,
        routing: CaseRouting | None = None,
    ) -> pd.DataFrame:
        """Decisions as the rows ``triage score`` writes (see :data:`OUTPUT_COLUMNS`).

        Without ``routing`` every case is routed by the model's own
        thresholds, and its policy is ``model-default`` version 0.
        """
        decisions = self.decide(cases, reasons=reasons, routing=routing)
        policies = decisions.policies
        policy_id: list[str] | str = MODEL_DEFAULT
        policy_version: list[int] | int = 0
        if policies is not None:
            policy_id = [p.policy_id for p in policies]
            policy_version = [p.version for p in policies]
        return pd.DataFrame(
            {
                "case_id": decisions.case_id,
                "p_complex": decisions.p_complex,
                "p_assets": decisions.p_assets,
                "expected_recovery": (
                    np.full(len(decisions), np.nan)
                    if decisions.expected_recovery is None
                    else decisions.expected_recovery
                ),
                "stream": decisions.stream,
                "reasons": decisions.reasons_json(),
                "stream_model_version": self.stream.version,
                "assets_model_version": self.assets.version,
                "policy_id": policy_id,
                "policy_version": policy_version,
            },
            columns=list(OUTPUT_COLUMNS),
        )
