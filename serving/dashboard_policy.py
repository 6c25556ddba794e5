"""Court policies on the dashboard: the trade-off curve, and each court's mix against its policy.

* ``GET /v1/policy/tradeoff?court=…`` — the policy in force for a court,
  the thresholds it gives with the served stream model and what they
  predict, and the curve of review share against the two error rates and
  the expected cost (:func:`models.tradeoff.tradeoff_curve`);
* ``GET /v1/stats/streams/policy`` — each court's stream mix in the
  decision log against the mix its policy predicts.

Both are computed from the served champion stream model's validation
summary (``validation_scores`` in its metadata) and the court policies the
worker follows (:attr:`serving.dashboard_source.StatsSource.policies`): no
MLflow, no training code.  A model trained before court policies has no
summary: the answers say so (``available`` false) rather than failing.
Both sit behind the service's key check like every ``/v1/stats`` route.
"""

from __future__ import annotations

import typing as t

from fastapi import APIRouter, Depends, Query
from fastapi.routing import APIRoute

from features.record import COURT_ID_TEXT
from models.policy import PolicyThresholds, ScoreSummary, thresholds_for
from models.policy_book import PolicyBook, ResolvedPolicy
from models.review_capacity import ReviewCapacity, review_capacity
from models.routing import STREAMS
from models.tradeoff import CURVE_CAPACITIES, tradeoff_curve
from serving import stats
from serving.dashboard_params import NeverNull, Reader, SelectionParams, StatsReader
from serving.dashboard_routes import STATS_PREFIX, no_store
from serving.dashboard_schemas import CourtMixes, Tradeoff

if t.TYPE_CHECKING:
    from models.case_model import LoadedModel

POLICY_PREFIX = "/v1/policy"

_AUTH = " Needs `Authorization: Bearer <key>`."
_NO_SUMMARY = (
    "the served stream model carries no validation summary (trained before court "
    "policies): retrain it to see predictions"
)


def _unavailable(stream: LoadedModel | None, summary: ScoreSummary | None) -> str | None:
    """Why nothing can be predicted (None: it can)."""
    if stream is None:
        return "no stream model is served"
    return _NO_SUMMARY if summary is None else None


def _served_stream(reader: StatsReader) -> tuple[LoadedModel | None, ScoreSummary | None]:
    """The champion stream model and its validation summary (either may be None)."""
    stream = (reader.source.models or {}).get("stream")
    summary = None if stream is None else stream.model.metadata.validation_scores
    return stream, summary


def _model_ref(stream: LoadedModel | None) -> dict[str, str] | None:
    return None if stream is None else {"name": stream.name, "version": stream.version}


def _policy_in_force(resolved: ResolvedPolicy) -> dict[str, t.Any]:
    return {
        "policy_id": resolved.policy_id,
        "scope": resolved.scope.kind,
        "version": resolved.version,
        "label": resolved.label,
        "policy": resolved.policy.model_dump(),
    }


def _routing(chosen: PolicyThresholds) -> dict[str, t.Any]:
    return {
        "max_review": chosen.max_review,
        "simple_below": chosen.thresholds.simple_below,
        "complex_from": chosen.thresholds.complex_from,
        "predicted": chosen.predicted.to_dict(),
        "gave_way": [g.describe() for g in chosen.gave_way],
    }


def _capacity(book: PolicyBook, resolved: ResolvedPolicy, court: str | None) -> ReviewCapacity:
    """The review share the court's policy holds: its max_review, or its per-day capacity over
    the court's intake, as the service routes by (:class:`models.court_routing.CourtRouter`)."""
    return review_capacity(resolved.policy, court, book.intake)


def _chosen(
    reader: StatsReader,
    stream: LoadedModel,
    summary: ScoreSummary,
    resolved: ResolvedPolicy,
    capacity: ReviewCapacity,
) -> PolicyThresholds:
    """The policy's thresholds with the model, cached per model version, policy and share (~1 ms)."""
    key = ("policy-thresholds", stream.name, stream.version, resolved.policy, capacity.share)
    chosen: PolicyThresholds = reader.answers.get(
        key, lambda: thresholds_for(summary, resolved.policy, capacity=capacity.share)
    )
    return chosen


# --------------------------------------------------------------------------
# The trade-off curve of a court
# --------------------------------------------------------------------------

policy_router = APIRouter(
    prefix=POLICY_PREFIX, tags=["Court policies"], dependencies=[Depends(no_store)]
)


@policy_router.get(
    "/tradeoff",
    response_model=Tradeoff,
    summary="A court's policy and its trade-off curve",
    description="The routing policy in force for `court` (its own, its province's or the "
    "national one, with its version), the thresholds it gives with the served champion "
    "stream model and the review share, error rates (complex → simple, simple → complex) "
    "and expected cost per case (days) they predict; and the curve: the same policy's "
    f"least-cost routing at each review capacity from {CURVE_CAPACITIES[0]:.0%} to "
    f"{CURVE_CAPACITIES[-1]:.0%} of new cases in steps of one point. Predictions come from "
    "the model's calibrated validation cases." + _AUTH,
)
def tradeoff(
    reader: Reader,
    court: t.Annotated[
        str | None,
        Query(
            description="Court code, 6 ASCII letters or digits (e.g. `440305`); absent: the "
            "national policy.",
            # The record's rule for a court code, as the API and the loader apply it.
            min_length=COURT_ID_TEXT.min_length,
            max_length=COURT_ID_TEXT.max_length,
            pattern=COURT_ID_TEXT.pattern,
            examples=["440305"],
        ),
        NeverNull,
    ] = None,
) -> dict[str, t.Any]:
    """The court's policy, its current routing, and the trade-off curve."""
    book = reader.source.policies
    resolved = book.resolve(court)
    capacity = _capacity(book, resolved, court)
    stream, summary = _served_stream(reader)
    answer: dict[str, t.Any] = {
        "court": court,
        "available": False,
        "reason": _unavailable(stream, summary),
        "model": _model_ref(stream),
        "policy": _policy_in_force(resolved),
        "capacity": capacity.to_dict(),
        "current": None,
        "curve": [],
    }
    if stream is None or summary is None:
        return answer
    chosen = _chosen(reader, stream, summary, resolved, capacity)
    curve = reader.answers.get(
        ("policy-curve", stream.name, stream.version, resolved.policy),
        lambda: [point.to_dict() for point in tradeoff_curve(summary, resolved.policy)],
    )
    return {
        **answer,
        "available": True,
        "reason": None,
        "current": _routing(chosen),
        "curve": curve,
    }


# --------------------------------------------------------------------------
# Each court's mix against its policy's
# --------------------------------------------------------------------------

mix_router = APIRouter(prefix=STATS_PREFIX, tags=["Dashboard"], dependencies=[Depends(no_store)])


@mix_router.get(
    "/streams/policy",
    response_model=CourtMixes,
    summary="Stream mix by court against its policy",
    description="For the busiest `limit` courts: the share of decisions per stream (simple "
    "简案, complex 繁案, review 人工复核) in the log, and the shares the court's policy in force "
    "predicts with the served champion stream model on its validation cases. Decisions made "
    "under an earlier model or policy count in the actual mix."
    " Filters: `court_id`, `province`, `since`, `until` (UTC days, inclusive)." + _AUTH,
)
def streams_policy(
    filters: SelectionParams,
    reader: Reader,
    limit: t.Annotated[int, Query(ge=1, le=5000, description="Courts listed.")] = 15,
) -> dict[str, t.Any]:
    """Each court's actual stream mix against its policy's predicted mix."""
    found = reader.read(
        ("courts", filters, limit), lambda c: stats.court_streams(c, filters, limit)
    )
    stream, summary = _served_stream(reader)
    courts = []
    listed: list[dict[str, t.Any]] = found["courts"]  # type: ignore[assignment]  # court_streams' shape
    book = reader.source.policies
    for court in listed:
        resolved = book.resolve(court["court_id"])
        total = court["total"]
        chosen = None
        if stream is not None and summary is not None:
            capacity = _capacity(book, resolved, court["court_id"])
            chosen = _chosen(reader, stream, summary, resolved, capacity)
        courts.append(
            {
                "court_id": court["court_id"],
                "province": court["province"],
                "total": total,
                "actual": {s: (court[s] / total if total else None) for s in STREAMS},
                "predicted": None
                if chosen is None
                else {s: getattr(chosen.predicted, f"share_{s}") for s in STREAMS},
                "policy_id": resolved.policy_id,
                "policy_version": resolved.version,
                "policy_label": resolved.label,
                "gave_way": [] if chosen is None else [g.describe() for g in chosen.gave_way],
            }
        )
    reason = _unavailable(stream, summary)
    return {
        "selection": filters.to_dict(),
        "available": reason is None,
        "reason": reason,
        "model": _model_ref(stream),
        "courts": courts,
        "n_courts": found["n_courts"],
    }


#: The routers here, in the order of their routes in the app and in /docs.json.
POLICY_ROUTERS = (mix_router, policy_router)


def policy_routes() -> list[APIRoute]:
    """The routes of :data:`POLICY_ROUTERS`, in order."""
    return [
        route for router in POLICY_ROUTERS for route in router.routes if isinstance(route, APIRoute)
    ]
