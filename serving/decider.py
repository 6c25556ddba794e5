"""From validated cases to decisions: the champions decide, the challengers shadow.

:class:`Decider` wraps the :class:`~models.triage.Triage` that batch
scoring uses (so ``/triage``, ``/triage_batch`` and ``triage score`` give the
same numbers), adds what a response carries (decision id and time, the
thresholds applied, the model names and versions) and what the decision log
keeps (including the shadow challengers' scores, which never reach a
response).  Each case is routed by its court's policy in the book the request
brings (:class:`~serving.policies.ServedPolicies`), by the same
:class:`~models.court_routing.CourtRouter` as ``triage score``; the shadow
challenger routes by the same policy, with thresholds from its own
validation summary.  It does no I/O: the service writes the rows and sends the bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from features.record import example_case
from models.case_model import LoadedModel
from models.court_routing import AppliedPolicy, CourtRouter, ThresholdCache
from models.policy_book import PolicyBook
from models.registry import CHALLENGER, CHAMPION  # names only: MLflow is imported in functions
from models.triage import CaseFeatures
from serving.decision_log import DecisionIds, Shadow, build_rows
from serving.follow_up import FollowUps
from serving.schemas import STREAM_VALUES
from serving.served_models import ServedModels
from serving.served_pointer import ServedPointer

#: A worker's thresholds by (model, version, policy, policy version): shared by its deciders,
#: so a swapped book or model recomputes only what changed (about a millisecond each).
_THRESHOLDS = ThresholdCache()
#: Routers remember each court's policy; past this many courts they start afresh.
_MAX_COURTS = 20_000


@dataclass
class Scored:
    """Decisions on a batch of cases, ready to log and to answer."""

    cases: Sequence[Mapping[str, object]]
    ids: list[str]
    decided_at: str
    p_complex: list[float]
    p_assets: list[float]
    #: Yuan, ``p_assets × E[amount | recovered]``; None per case when the assets version has none.
    expected_recovery: list[float | None]
    streams: list[str]
    #: ``{"complex": [...], "assets": [...]}`` per case, as ``triage score`` writes it.
    reasons_json: list[str]
    shadow: Shadow | None
    source: str
    #: The policy (and thresholds) each case was routed by.
    policies: list[AppliedPolicy]


class Decider:
    """Decisions of the served models on validated case records (dicts)."""

    def __init__(self, served: ServedModels, ids: DecisionIds | None = None) -> None:
        self.served = served
        self.triage = served.triage
        self.challengers = served.challengers
        self.ids = ids or DecisionIds()
        # The terminated-case pair, when served: swapped with the rest (POST /follow_up).
        self.follow_ups = None if served.follow_up is None else FollowUps(served.follow_up)
        stream, assets = self.triage.stream, self.triage.assets
        self.stream_model = (stream.name, stream.version)
        self.assets_model = (assets.name, assets.version)
        self.thresholds = self.triage.thresholds.to_dict()
        self.models = {
            "stream": {"name": stream.name, "version": stream.version},
            "assets": {"name": assets.name, "version": assets.version},
        }
        # The routers of the last book (champion, challenger): rebuilt when the book changes.
        self._routers: tuple[PolicyBook, CourtRouter, CourtRouter | None] | None = None
        # What every response carries alike, encoded once (the tail of each JSON object).
        self._shared_json = json.dumps(
            {"models": self.models},
            ensure_ascii=False,
            separators=(",", ":"),
        )[1:-1]
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode

    # --- scoring ---------------------------------------------------------------------------

    def routers(self, book: PolicyBook) -> tuple[CourtRouter, CourtRouter | None]:
        """The champion's and the stream challenger's routers for ``book`` (kept per book)."""
        known = self._routers
        if known is not None and known[0] is book and known[1].courts_known < _MAX_COURTS:
            return known[1], known[2]
        challenger = self.challengers.get("stream")
        made = (
            book,
            CourtRouter(book, self.triage.stream, _THRESHOLDS),
            None if challenger is None else CourtRouter(book, challenger, _THRESHOLDS),
        )
        self._routers = made  # one assignment: a concurrent request uses either, both right
        return made[1], made[2]

    def score(
        self,
        cases: Sequence[Mapping[str, object]],
        source: str,
        book: PolicyBook | None = None,
    ) -> Scored:
        """Decide every case (champions) by its court's policy in ``book``; shadow-score it.

        No book: no policy is set (each court gets the national default).
        """
        features = CaseFeatures(cases)  # champions and challengers share builds
        router, challenger_router = self.routers(PolicyBook() if book is None else book)
        courts = [str(case["court_id"]) for case in cases]
        routing = router.routing(courts)
        decisions = self.triage.decide(cases, features=features, routing=routing)
        ids, decided_at = self.ids.next(len(cases))
        return Scored(
            cases=cases,
            ids=ids,
            decided_at=decided_at,
            p_complex=decisions.p_complex.tolist(),
            p_assets=decisions.p_assets.tolist(),
            expected_recovery=decisions.expected_recovery_list(),
            streams=decisions.stream.tolist(),
            reasons_json=decisions.reasons_json(),
            shadow=self._shadow(features, challenger_router, courts),
            source=source,
            policies=routing.applied,
        )

    def _shadow(
        self, features: CaseFeatures, router: CourtRouter | None, courts: list[str]
    ) -> Shadow | None:
        if not self.challengers:
            return None
        p_complex = p_assets = streams = None
        stream_version = assets_version = None
        if "stream" in self.challengers:
            challenger = self.challengers["stream"]
            model = challenger.model
            probability = model.predict_features(features.of(model), reasons=0).probability
            p_complex = probability.tolist()
            # The challenger routes by each court's policy, with thresholds from its own
            # validation summary: that is what it would decide in the champion's place.
            assert router is not None  # made whenever there is a stream challenger
            streams = router.routing(courts).route(probability).tolist()
            stream_version = challenger.version
        if "assets" in self.challengers:
            challenger = self.challengers["assets"]
            model = challenger.model
            p_assets = model.predict_features(features.of(model), reasons=0).probability.tolist()
            assets_version = challenger.version
        return Shadow(
            stream_version=stream_version,
            assets_version=assets_version,
            p_complex=p_complex,
            p_assets=p_assets,
            stream=streams,
        )

    # --- what is kept and what is answered ---------------------------------------------------

    def log_rows(self, scored: Scored) -> list[dict[str, object]]:
        return build_rows(
            ids=scored.ids,
            decided_at=scored.decided_at,
            cases=scored.cases,
            p_complex=scored.p_complex,
            p_assets=scored.p_assets,
            streams=scored.streams,
            reasons_json=scored.reasons_json,
            stream_model=self.stream_model,
            assets_model=self.assets_model,
            shadow=scored.shadow,
            source=scored.source,
            policies=[(p.policy_id, p.version) for p in scored.policies],
            expected_recovery=scored.expected_recovery,
        )

    def responses(self, scored: Scored) -> list[str]:
        """One JSON object per case (see :class:`serving.schemas.Decision`).

        The reasons are spliced in as the very text the decision log and
        ``triage score`` hold, so the three cannot differ (and are not encoded twice).
        """
        shared, dumps = self._shared_json, self._encode
        return [
            "{"
            f'"decision_id":"{scored.ids[i]}","decided_at":"{scored.decided_at}",'
            f'"case_id":{dumps(case["case_id"])},"stream":"{scored.streams[i]}",'
            f'"p_complex":{dumps(scored.p_complex[i])},"p_assets":{dumps(scored.p_assets[i])},'
            f'"expected_recovery":{dumps(scored.expected_recovery[i])},'
            f'"reasons":{scored.reasons_json[i]},{scored.policies[i].json_fields},{shared}'
            "}"
            for i, case in enumerate(scored.cases)
        ]

    # --- readiness and description ---------------------------------------------------------

    def warm_up(self) -> None:
        """Decide the contract's golden case; raise if the answer is not a valid decision.

        Nothing is logged: this is a check of the loaded models, not a decision.
        """
        from serving.schemas import Decision

        golden = example_case()
        scored = self.score([golden], "api")
        (response,) = self.responses(scored)
        Decision.model_validate_json(response)
        values = [*scored.p_complex, *scored.p_assets]
        if scored.shadow is not None:
            values += list(scored.shadow.p_complex or []) + list(scored.shadow.p_assets or [])
        if not all(math.isfinite(v) and 0 <= v <= 1 for v in values):
            raise ValueError(f"warm-up on the golden case gave probabilities {values}")
        yuan = scored.expected_recovery[0]
        if yuan is not None and not (math.isfinite(yuan) and yuan >= 0):
            raise ValueError(f"warm-up on the golden case gave expected recovery {yuan}")
        if scored.streams[0] not in STREAM_VALUES:
            raise ValueError(f"warm-up on the golden case gave stream {scored.streams[0]!r}")
        if self.follow_ups is not None:
            self.follow_ups.warm_up()

    def model_info(self, pointer: ServedPointer | None = None) -> dict[str, object]:
        """Names, versions, aliases, training windows, policy and test metrics of what is served.

        With the pointer `triage serve` published, each card's alias is the
        one its version holds in the registry now (None once the alias has
        moved on, e.g. to a version that was refused), and ``registry`` lists
        every alias as it is; without one (a Bento) the aliases at import.
        """
        stream = self.triage.stream
        policy = stream.model.policy

        def card(loaded: LoadedModel) -> dict[str, object]:
            alias = loaded.alias
            if pointer is not None:
                held = pointer.aliases_of(loaded.name, loaded.version)
                alias = next((a for a in (CHAMPION, CHALLENGER) if a in held), None)
            return _card(loaded, alias)

        return {
            "stream": card(stream),
            "assets": card(self.triage.assets),
            "thresholds": self.thresholds,
            "policy": None if policy is None else policy.model_dump(),
            "challengers": {kind: card(model) for kind, model in self.challengers.items()},
            "follow_up": (
                None
                if self.served.follow_up is None
                else {
                    "resume": card(self.served.follow_up.resume),
                    "recovery": card(self.served.follow_up.recovery),
                }
            ),
            "bento_model": self.served.tag,
            "imported_at": self.served.metadata.get("imported_at"),
            "registry": None if pointer is None else pointer.registry,
        }


def _card(loaded: LoadedModel, alias: str | None) -> dict[str, object]:
    metadata = loaded.model.metadata
    metrics = metadata.test_metrics
    return {
        "name": loaded.name,
        "version": loaded.version,
        "alias": alias,
        "run_id": metadata.run_id,
        "trained_at": metadata.trained_at,
        "training_window": metadata.window_lists(),
        "n_cases": metadata.n_cases,
        "calibration": metadata.calibration,
        "test_metrics": (
            None
            if metrics is None
            else {k: v for k, v in metrics.items() if isinstance(v, int | float) or v is None}
        ),
    }
