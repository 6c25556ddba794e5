"""The dashboard: a page at ``/dashboard`` and the JSON behind it at ``/v1/stats/...``.

A FastAPI app that the service mounts (so BentoML lists its routes in
``/docs.json``), reading the service's own decision log through
:mod:`serving.stats` and its champions' reference profiles through
:mod:`training.drift`.  The page and its assets are open; every
``/v1/stats`` route sits behind the service's key check like scoring does
(the page asks for a key and sends it as ``Authorization: Bearer``).

Answers are cached for a few seconds per selection, so that several open
dashboards refreshing every 30 s cost one query each; drift, which rebuilds
the features of thousands of cases, is cached for ten minutes.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Hashable
from pathlib import Path

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from serving import stats
from serving.dashboard_cache import TTLCache
from serving.dashboard_drift import DRIFT_SAMPLE, drift_report
from serving.dashboard_params import RankBy, SelectionParams, Source
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
from serving.dashboard_source import StatsSource, service_source

#: The page's files (index.html, app.js, app.css, the vendored chart library).
STATIC = Path(__file__).resolve().parent / "static" / "dashboard"
PAGE_PATHS = ("/dashboard", "/dashboard/")
ASSETS_PREFIX = "/dashboard/assets/"
STATS_PREFIX = "/v1/stats"
STATS_ROUTES = (
    "summary",
    "streams/daily",
    "streams/courts",
    "probabilities",
    "reasons",
    "cases",
    "models",
    "drift",
    "labels",
)
#: Every JSON route, for the service's metrics labels.
STATS_PATHS = tuple(f"{STATS_PREFIX}/{route}" for route in STATS_ROUTES)

# The page runs only its own files: no inline script or style, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

# --------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------

_AUTH = " Needs `Authorization: Bearer <key>`."
_SELECTION = " Filters: `court_id`, `province`, `since`, `until` (UTC days, inclusive)."


def create_app(
    source: Callable[[], StatsSource] = service_source,
    *,
    cache_seconds: float = 10.0,
    drift_seconds: float = 600.0,
) -> FastAPI:
    """The dashboard app reading ``source()`` (the service's, or a test's decision log)."""
    app = FastAPI(
        title="Triage dashboard",
        openapi_url=None,  # BentoML's /docs.json documents the routes
        docs_url=None,
        redoc_url=None,
    )
    app.state.stats_source = source
    answers = TTLCache(cache_seconds)
    drift_reports = TTLCache(drift_seconds, max_entries=32)

    def read(source: StatsSource, key: Hashable, aggregate: Callable[[sa.Connection], t.Any]):
        def compute():
            with source.engine.connect() as connection:
                return aggregate(connection)

        return answers.get((id(source.engine), key), compute)

    @app.exception_handler(RequestValidationError)
    async def _field_errors(_request: Request, error: RequestValidationError) -> JSONResponse:
        from serving.middleware import field_errors

        details = []
        for detail in error.errors():
            loc = tuple(detail.get("loc", ()))
            details.append({**detail, "loc": loc[1:] if loc[:1] == ("query",) else loc})
        _, body = field_errors(details)
        return JSONResponse(body, status_code=422)  # every problem here is a parameter's

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, status_code=error.status_code)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def _database_error(_request: Request, _error: Exception) -> JSONResponse:
        # The log may be locked or unreachable for a moment; the page retries on refresh.
        return JSONResponse(
            {"error": "the decision log could not be read; retry later"},
            status_code=503,
            headers={"retry-after": "5"},
        )

    def no_store(response: Response) -> None:
        response.headers["Cache-Control"] = "no-store"  # aggregates of court data: not cached

    stats_route = {"dependencies": [Depends(no_store)], "tags": ["Dashboard"]}

    @app.get(
        f"{STATS_PREFIX}/summary",
        response_model=Summary,
        summary="Totals of the selection",
        description="Decisions, per stream, the share routed to review, mean probabilities, "
        "first and last decision." + _SELECTION + _AUTH,
        **stats_route,
    )
    def summary(filters: SelectionParams, source: Source) -> dict[str, t.Any]:
        found = read(source, ("summary", filters), lambda c: stats.summary(c, filters))
        return {"selection": filters.to_dict(), **found}

    @app.get(
        f"{STATS_PREFIX}/streams/daily",
        response_model=Daily,
        summary="Stream mix per day",
        description="Decisions per UTC day and stream (simple 简案, complex 繁案, review "
        "人工复核), with the share routed to review." + _SELECTION + _AUTH,
        **stats_route,
    )
    def streams_daily(filters: SelectionParams, source: Source) -> dict[str, t.Any]:
        days = read(source, ("daily", filters), lambda c: stats.daily_streams(c, filters))
        return {"selection": filters.to_dict(), "days": days}

    @app.get(
        f"{STATS_PREFIX}/streams/courts",
        response_model=Courts,
        summary="Stream mix by court",
        description="Decisions per court and stream, the busiest `limit` courts first; the "
        "others summed up." + _SELECTION + _AUTH,
        **stats_route,
    )
    def streams_courts(
        filters: SelectionParams,
        source: Source,
        limit: t.Annotated[int, Query(ge=1, le=5000, description="Courts listed.")] = 15,
    ) -> dict[str, t.Any]:
        found = read(
            source, ("courts", filters, limit), lambda c: stats.court_streams(c, filters, limit)
        )
        return {"selection": filters.to_dict(), **found}

    @app.get(
        f"{STATS_PREFIX}/probabilities",
        response_model=Probabilities,
        summary="Distribution of p_complex and p_assets",
        description="Histograms of both probabilities, overall and per stream (bins of equal "
        "width; p = 1 falls in the last bin)." + _SELECTION + _AUTH,
        **stats_route,
    )
    def probabilities(
        filters: SelectionParams,
        source: Source,
        bins: t.Annotated[int, Query(ge=2, le=100, description="Bins per probability.")] = 20,
    ) -> dict[str, t.Any]:
        found = read(
            source, ("histograms", filters, bins), lambda c: stats.histograms(c, filters, bins)
        )
        return {"selection": filters.to_dict(), **found}

    @app.get(
        f"{STATS_PREFIX}/reasons",
        response_model=Reasons,
        summary="The most frequent reasons",
        description="Reason codes (`feature:phrase`, labelled in Chinese and English) by how "
        f"many decisions give them, among the latest {stats.REASON_SAMPLE:,} decisions of the "
        "selection." + _SELECTION + _AUTH,
        **stats_route,
    )
    def reasons(
        filters: SelectionParams,
        source: Source,
        limit: t.Annotated[int, Query(ge=1, le=100, description="Reasons per kind.")] = 10,
    ) -> dict[str, t.Any]:
        found = read(
            source, ("reasons", filters, limit), lambda c: stats.top_reasons(c, filters, limit)
        )
        return {"selection": filters.to_dict(), **found}

    @app.get(
        f"{STATS_PREFIX}/cases",
        response_model=Cases,
        summary="The highest-risk open cases",
        description="Cases with the lowest `p_assets` (`rank_by=p_assets`) or the highest "
        "`p_complex` (`rank_by=p_complex`), each with its latest decision and its reasons."
        + _SELECTION
        + _AUTH,
        **stats_route,
    )
    def cases(
        filters: SelectionParams,
        source: Source,
        rank_by: t.Annotated[RankBy, Query(description="What makes a case risky.")] = "p_assets",
        limit: t.Annotated[int, Query(ge=1, le=200, description="Cases listed.")] = 20,
    ) -> dict[str, t.Any]:
        found = read(
            source,
            ("cases", filters, rank_by, limit),
            lambda c: stats.riskiest_cases(c, filters, rank_by, limit),
        )
        return {"selection": filters.to_dict(), "rank_by": rank_by, "cases": found}

    @app.get(
        f"{STATS_PREFIX}/models",
        response_model=Models,
        summary="Model versions in use and challenger agreement",
        description="Each model version that made decisions (since when, how many), and for "
        "each shadow challenger the share of decisions where it would have chosen the same "
        "stream and the mean |Δp| against the champion." + _SELECTION + _AUTH,
        **stats_route,
    )
    def models(filters: SelectionParams, source: Source) -> dict[str, t.Any]:
        versions = read(source, ("versions", filters), lambda c: stats.model_versions(c, filters))
        challengers = read(
            source, ("challengers", filters), lambda c: stats.challenger_agreement(c, filters)
        )
        return {"selection": filters.to_dict(), "versions": versions, "challengers": challengers}

    @app.get(
        f"{STATS_PREFIX}/drift",
        response_model=Drift,
        summary="Drift of features and scores",
        description="Population stability index of each feature and score of the served "
        f"champions, over the latest {DRIFT_SAMPLE:,} decisions of the selection, against the "
        "models' reference profiles (as `triage drift` reports it; warn ≥ 0.1, alert ≥ 0.25). "
        "Computed at most every ten minutes per selection." + _SELECTION + _AUTH,
        **stats_route,
    )
    def drift(filters: SelectionParams, source: Source) -> dict[str, t.Any]:
        key = (id(source.engine), filters, source.models_key())
        report = drift_reports.get(key, lambda: drift_report(source, filters))
        return {"selection": filters.to_dict(), **report}

    @app.get(
        f"{STATS_PREFIX}/labels",
        response_model=Labels,
        summary="Labels of codes",
        description="Provinces, streams and probabilities in Chinese and English, as the data "
        "contract names them." + _AUTH,
        **stats_route,
    )
    def labels() -> dict[str, t.Any]:
        return stats.labels()

    @app.get("/dashboard", include_in_schema=False)
    @app.get("/dashboard/", include_in_schema=False)
    def page() -> Response:
        index = STATIC / "index.html"
        if not index.is_file():
            raise HTTPException(404, "the dashboard's files are not installed")
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.mount(
        ASSETS_PREFIX.rstrip("/"), StaticFiles(directory=STATIC, check_dir=False), name="assets"
    )
    return app


#: The app the service mounts (routes only; nothing is read until a request comes).
dashboard_app = create_app()

__all__ = [
    "ASSETS_PREFIX",
    "DRIFT_SAMPLE",
    "PAGE_PATHS",
    "STATS_PATHS",
    "StatsSource",
    "create_app",
    "dashboard_app",
    "service_source",
]
