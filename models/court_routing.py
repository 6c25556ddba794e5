"""Each case routed by its court's policy: the policy book and one stream model → thresholds.

A court's policy (:class:`models.policy_book.PolicyBook`) gives thresholds
only together with a stream model: :func:`models.policy.thresholds_for`
computes them from the model's validation summary (``validation_scores``) in
about a millisecond, so they are computed once per model version and policy
version (:class:`ThresholdCache`) and every case of a batch gets its court's
(:class:`CourtRouter`).  The service and `triage score` both route this way,
so a case gets the same stream from either.

Two cases keep the model's own thresholds: no policy has been set anywhere
(the built-in national default, which is what the model's own thresholds
were computed for at training), and a model too old to carry a validation
summary (policy ``model-default``: no court policy can be applied to it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from models.case_model import LoadedModel
from models.policy import thresholds_for
from models.policy_book import PolicyBook
from models.review_capacity import ReviewCapacity, review_capacity
from models.routing import CaseThresholds, RoutingThresholds

__all__ = ["MODEL_DEFAULT", "AppliedPolicy", "CaseRouting", "CourtRouter", "ThresholdCache"]

#: The policy id of a decision routed by a model that carries no validation summary.
MODEL_DEFAULT: Final = "model-default"


@dataclass(frozen=True)
class AppliedPolicy:
    """The policy a decision was routed by (id, scope, version) and its thresholds."""

    policy_id: str
    scope: str
    version: int
    thresholds: RoutingThresholds
    #: The review share held and where it came from, for a policy stating its capacity in
    #: cases per day (None otherwise: the share is the policy's ``max_review``).
    capacity: ReviewCapacity | None = None
    #: ``"policy":{…},"thresholds":{…}``: what a response carries of it, encoded once.
    json_fields: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        encoded = json.dumps(
            {"policy": self.to_dict(), "thresholds": self.thresholds.to_dict()},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        object.__setattr__(self, "json_fields", encoded[1:-1])

    def to_dict(self) -> dict[str, object]:
        """``{"id": "court:440305", "scope": "court", "version": 3}`` (responses, logs).

        A per-day capacity adds ``capacity``: the share held, the intake it
        came from, or why the policy's ``max_review`` stands in for it.
        """
        ref: dict[str, object] = {
            "id": self.policy_id,
            "scope": self.scope,
            "version": self.version,
        }
        if self.capacity is not None:
            ref["capacity"] = self.capacity.to_dict()
        return ref


@dataclass(frozen=True)
class CaseRouting:
    """The policy and thresholds of each case of a batch, in order."""

    applied: list[AppliedPolicy]

    @property
    def thresholds(self) -> CaseThresholds:
        return CaseThresholds(
            simple_below=np.array([a.thresholds.simple_below for a in self.applied], dtype=float),
            complex_from=np.array([a.thresholds.complex_from for a in self.applied], dtype=float),
        )

    def route(self, p_complex: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """Each case's stream by its own court's thresholds."""
        return self.thresholds.route(p_complex)


ThresholdKey = tuple[str, str, str, int, float]


class ThresholdCache:
    """Thresholds by (model name, model version, policy id, policy version, review share); bounded.

    A policy's version changes with every change of it, and a model
    version's summary never changes, so an entry never goes stale; the
    review share is in the key because a per-day capacity gives each court
    its own share (and a new one when its intake is measured anew, once a
    day).  The bound only keeps a long-lived worker's memory flat.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[ThresholdKey, RoutingThresholds] = {}
        self._lock = threading.Lock()

    def get(self, key: ThresholdKey, compute: Callable[[], RoutingThresholds]) -> RoutingThresholds:
        found = self._entries.get(key)
        if found is not None:
            return found
        computed = compute()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = computed
        return computed

    def __len__(self) -> int:
        return len(self._entries)


class CourtRouter:
    """One policy book with one stream model: the policy and thresholds of each court.

    Cheap to make (the work is memoised per court and in the shared
    :class:`ThresholdCache`); make a new one when the book or the model changes.
    """

    def __init__(
        self, book: PolicyBook, model: LoadedModel, cache: ThresholdCache | None = None
    ) -> None:
        if model.model.thresholds is None:
            raise ValueError(f"{model.name} v{model.version} has no routing thresholds")
        self.book = book
        self.model = model
        self.cache = cache if cache is not None else ThresholdCache()
        self._own = model.model.thresholds
        self._courts: dict[str, AppliedPolicy] = {}
        self._model_default = AppliedPolicy(MODEL_DEFAULT, "model", 0, self._own)

    def applied(self, court_id: str) -> AppliedPolicy:
        """The policy in force for a court and the thresholds it gives with this model."""
        found = self._courts.get(court_id)
        if found is None:
            found = self._courts[court_id] = self._resolve(court_id)
        return found

    def _resolve(self, court_id: str) -> AppliedPolicy:
        summary = self.model.model.metadata.validation_scores
        if summary is None:
            return self._model_default
        resolved = self.book.resolve(court_id)
        if resolved.version == 0:  # nothing set anywhere: what the model was trained for
            return AppliedPolicy(resolved.policy_id, resolved.scope.kind, 0, self._own)
        capacity = review_capacity(resolved.policy, court_id, self.book.intake)
        key = (
            self.model.name,
            self.model.version,
            resolved.policy_id,
            resolved.version,
            capacity.share,
        )
        thresholds = self.cache.get(
            key,
            lambda: thresholds_for(summary, resolved.policy, capacity=capacity.share).thresholds,
        )
        return AppliedPolicy(
            resolved.policy_id,
            resolved.scope.kind,
            resolved.version,
            thresholds,
            None if resolved.policy.review_per_day is None else capacity,
        )

    @property
    def courts_known(self) -> int:
        """How many courts' policies are memoised (a caller may start afresh past a bound)."""
        return len(self._courts)

    def routing(self, court_ids: Sequence[str]) -> CaseRouting:
        """The policy and thresholds of each case, by its court."""
        return CaseRouting([self.applied(str(court)) for court in court_ids])
