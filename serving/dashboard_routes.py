"""The JSON of the dashboard: every ``/v1/stats`` route, in routers by what they show.

Each route takes the selection and a reader (:mod:`serving.dashboard_params`),
asks :mod:`serving.stats` for its aggregate through the app's answer cache,
and answers the model of :mod:`serving.dashboard_schemas`, which FastAPI
checks and BentoML documents in ``/docs.json`` with the summary and
description given here.  Every answer says ``Cache-Control: no-store``
(aggregates of court data); the key check is the service's middleware's.

The routers are listed in :data:`STATS_ROUTERS` in the order the routes are
documented; a route's function name is part of its ``operationId``.
"""

from __future__ import annotations

import typing as t

from fastapi import APIRouter, Depends, Query, Response
from fastapi.routing import APIRoute

from serving import stats
from serving.dashboard_drift import DRIFT_SAMPLE
from serving.dashboard_params import RankBy, Reader, SelectionParams
from serving.dashboard_schemas import (
    Cases,
    Courts,
    Daily,
    Drift,
    Labels,
    Models,
    Probabilities,
    Reasons,
    Summary,
)

STATS_PREFIX = "/v1/stats"

_AUTH = " Needs `Authorization: Bearer <key>`."
_SELECTION = " Filters: `court_id`, `province`, `since`, `until` (UTC days, inclusive)."


def no_store(response: Response) -> None:
    """Marks the answer not to be stored by caches on the way."""
    response.headers["Cache-Control"] = "no-store"  # aggregates of court data: not cached


def _stats_router() -> APIRouter:
    """A router of ``/v1/stats`` routes: under the prefix, tagged, answers not to be stored."""
    return APIRouter(prefix=STATS_PREFIX, tags=["Dashboard"], dependencies=[Depends(no_store)])


# --------------------------------------------------------------------------
# Decisions per stream: totals, per day, per court
# --------------------------------------------------------------------------

streams_router = _stats_router()


@streams_router.get(
    "/summary",
    response_model=Summary,
    summary="Totals of the selection",
    description="Decisions, per stream, the share routed to review, mean probabilities, "
    "first and last decision." + _SELECTION + _AUTH,
)
def summary(filters: SelectionParams, reader: Reader) -> dict[str, t.Any]:
    """Totals of the selection."""
    found = reader.read(("summary", filters), lambda c: stats.summary(c, filters))
    return {"selection": filters.to_dict(), **found}


@streams_router.get(
    "/streams/daily",
    response_model=Daily,
    summary="Stream mix per day",
    description="Decisions per UTC day and stream (simple 简案, complex 繁案, review "
    "人工复核), with the share routed to review." + _SELECTION + _AUTH,
)
def streams_daily(filters: SelectionParams, reader: Reader) -> dict[str, t.Any]:
    """Decisions per day and stream."""
    days = reader.read(("daily", filters), lambda c: stats.daily_streams(c, filters))
    return {"selection": filters.to_dict(), "days": days}


@streams_router.get(
    "/streams/courts",
    response_model=Courts,
    summary="Stream mix by court",
    description="Decisions per court and stream, the busiest `limit` courts first; the "
    "others summed up." + _SELECTION + _AUTH,
)
def streams_courts(
    filters: SelectionParams,
    reader: Reader,
    limit: t.Annotated[int, Query(ge=1, le=5000, description="Courts listed.")] = 15,
) -> dict[str, t.Any]:
    """Decisions per court and stream, the busiest courts first."""
    found = reader.read(
        ("courts", filters, limit), lambda c: stats.court_streams(c, filters, limit)
    )
    return {"selection": filters.to_dict(), **found}


# --------------------------------------------------------------------------
# Scores: the distribution of the probabilities, the reasons given
# --------------------------------------------------------------------------

scores_router = _stats_router()


@scores_router.get(
    "/probabilities",
    response_model=Probabilities,
    summary="Distribution of p_complex and p_assets",
    description="Histograms of both probabilities, overall and per stream (bins of equal "
    "width; p = 1 falls in the last bin)." + _SELECTION + _AUTH,
)
def probabilities(
    filters: SelectionParams,
    reader: Reader,
    bins: t.Annotated[int, Query(ge=2, le=100, description="Bins per probability.")] = 20,
) -> dict[str, t.Any]:
    """Histograms of both probabilities."""
    found = reader.read(("histograms", filters, bins), lambda c: stats.histograms(c, filters, bins))
    return {"selection": filters.to_dict(), **found}


@scores_router.get(
    "/reasons",
    response_model=Reasons,
    summary="The most frequent reasons",
    description="Reason codes (`feature:phrase`, labelled in Chinese and English) by how "
    f"many decisions give them, among the latest {stats.REASON_SAMPLE:,} decisions of the "
    "selection." + _SELECTION + _AUTH,
)
def reasons(
    filters: SelectionParams,
    reader: Reader,
    limit: t.Annotated[int, Query(ge=1, le=100, description="Reasons per kind.")] = 10,
) -> dict[str, t.Any]:
    """The most frequent reasons of each kind."""
    found = reader.read(("reasons", filters, limit), lambda c: stats.top_reasons(c, filters, limit))
    return {"selection": filters.to_dict(), **found}


# --------------------------------------------------------------------------
# The riskiest open cases
# --------------------------------------------------------------------------

cases_router = _stats_router()


@cases_router.get(
    "/cases",
    response_model=Cases,
    summary="The highest-risk open cases",
    description="Cases with the lowest `p_assets` (`rank_by=p_assets`) or the highest "
    "`p_complex` (`rank_by=p_complex`), each with its latest decision and its reasons."
    + _SELECTION
    + _AUTH,
)
def cases(
    filters: SelectionParams,
    reader: Reader,
    rank_by: t.Annotated[RankBy, Query(description="What makes a case risky.")] = "p_assets",
    limit: t.Annotated[int, Query(ge=1, le=200, description="Cases listed.")] = 20,
) -> dict[str, t.Any]:
    """The riskiest open cases, riskiest first."""
    found = reader.read(
        ("cases", filters, rank_by, limit),
        lambda c: stats.riskiest_cases(c, filters, rank_by, limit),
    )
    return {"selection": filters.to_dict(), "rank_by": rank_by, "cases": found}


# --------------------------------------------------------------------------
# The models: versions in use, challengers, drift
# --------------------------------------------------------------------------

models_router = _stats_router()


@models_router.get(
    "/models",
    response_model=Models,
    summary="Model versions in use and challenger agreement",
    description="Each model version that made decisions (since when, how many), and for "
    "each shadow challenger the share of decisions where it would have chosen the same "
    "stream and the mean |Δp| against the champion." + _SELECTION + _AUTH,
)
def models(filters: SelectionParams, reader: Reader) -> dict[str, t.Any]:
    """Model versions in use, and the challengers' agreement with the champions."""
    versions = reader.read(("versions", filters), lambda c: stats.model_versions(c, filters))
    challengers = reader.read(
        ("challengers", filters), lambda c: stats.challenger_agreement(c, filters)
    )
    return {"selection": filters.to_dict(), "versions": versions, "challengers": challengers}


drift_router = _stats_router()


@drift_router.get(
    "/drift",
    response_model=Drift,
    summary="Drift of features and scores",
    description="Population stability index of each feature and score of the served "
    f"champions, over the latest {DRIFT_SAMPLE:,} decisions of the selection, against the "
    "models' reference profiles (as `triage drift` reports it; warn ≥ 0.1, alert ≥ 0.25). "
    "Computed at most every ten minutes per selection." + _SELECTION + _AUTH,
)
def drift(filters: SelectionParams, reader: Reader) -> dict[str, t.Any]:
    """PSI of each feature and score against the champions' reference profiles."""
    return {"selection": filters.to_dict(), **reader.drift(filters)}


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------

labels_router = _stats_router()


@labels_router.get(
    "/labels",
    response_model=Labels,
    summary="Labels of codes",
    description="Provinces, streams and probabilities in Chinese and English, as the data "
    "contract names them." + _AUTH,
)
def labels() -> dict[str, t.Any]:
    """What the page shows for codes (no selection: the labels are the data contract's)."""
    return stats.labels()


#: Every stats router, in the order of their routes in the app and in /docs.json.
STATS_ROUTERS = (
    streams_router,
    scores_router,
    cases_router,
    models_router,
    drift_router,
    labels_router,
)


def stats_routes() -> list[APIRoute]:
    """The routes of :data:`STATS_ROUTERS`, in order."""
    return [
        route for router in STATS_ROUTERS for route in router.routes if isinstance(route, APIRoute)
    ]
