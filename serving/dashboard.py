"""The dashboard: a page at ``/dashboard`` and the JSON behind it at ``/v1/stats/...``.

A FastAPI app that the service mounts (so BentoML lists its routes in
``/docs.json``), reading the service's own decision log through
:mod:`serving.stats` and its champions' reference profiles through
:mod:`serving.drift`.  The page and its assets are open; every
``/v1/stats`` route sits behind the service's key check like scoring does
(the page asks for a key and sends it as ``Authorization: Bearer``).

Answers are cached for a few seconds per selection, so that several open
dashboards refreshing every 30 s cost one query each; drift, which rebuilds
the features of thousands of cases, is cached for ten minutes.

This module assembles the app; its parts, one job each:

* :mod:`serving.dashboard_source` — where the numbers come from;
* :mod:`serving.dashboard_params` — the selection a route takes, the reader it computes with;
* :mod:`serving.dashboard_cache` — the answer cache;
* :mod:`serving.dashboard_routes` — the ``/v1/stats`` routes;
* :mod:`serving.dashboard_policy` — court policies: ``/v1/policy/tradeoff``, the mix against them;
* :mod:`serving.dashboard_schemas` — their answers, as documented in ``/docs.json``;
* :mod:`serving.dashboard_drift` — the drift panel's computation;
* :mod:`serving.dashboard_follow_up` — the follow-up page and ``/v1/stats/follow_up``
  (terminated inventory, top K against random and oldest-first);
* :mod:`serving.dashboard_page` — the page and its files.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Coroutine

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from serving.dashboard_cache import TTLCache
from serving.dashboard_drift import DRIFT_SAMPLE
from serving.dashboard_follow_up import FOLLOW_UP_PAGE_PATHS, follow_up_router
from serving.dashboard_follow_up import page_router as follow_up_page_router
from serving.dashboard_page import ASSETS_PREFIX, assets, page_router
from serving.dashboard_page import PAGE_PATHS as MAIN_PAGE_PATHS
from serving.dashboard_policy import POLICY_PREFIX, policy_routes
from serving.dashboard_routes import STATS_PREFIX, stats_routes
from serving.dashboard_source import StatsSource, service_source
from serving.middleware import field_errors

#: The open pages: the monitoring page and the follow-up page.
PAGE_PATHS = (*MAIN_PAGE_PATHS, *FOLLOW_UP_PAGE_PATHS)


def _follow_up_routes() -> list[APIRoute]:
    return [r for r in follow_up_router.routes if isinstance(r, APIRoute)]


#: Every JSON route (``/v1/stats/…`` and ``/v1/policy/…``), for the service's metrics labels.
STATS_PATHS = tuple(
    route.path for route in (*stats_routes(), *_follow_up_routes(), *policy_routes())
)


# --------------------------------------------------------------------------
# Errors: JSON the page (and any client) can show
# --------------------------------------------------------------------------


async def _field_errors(_request: Request, error: RequestValidationError) -> JSONResponse:
    """A 422 naming each parameter that is wrong, in the form the scoring routes use."""
    details = []
    for detail in error.errors():
        loc = tuple(detail.get("loc", ()))
        details.append({**detail, "loc": loc[1:] if loc[:1] == ("query",) else loc})
    _, body = field_errors(details)
    return JSONResponse(body, status_code=422)  # every problem here is a parameter's


async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
    """``{"error": ...}`` rather than FastAPI's ``{"detail": ...}``, like the rest of the service."""
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


async def _database_error(_request: Request, _error: sa.exc.SQLAlchemyError) -> JSONResponse:
    """A 503 to retry: the log may be locked or unreachable for a moment."""
    # The page retries on its next refresh.
    return JSONResponse(
        {"error": "the decision log could not be read; retry later"},
        status_code=503,
        headers={"retry-after": "5"},
    )


EXCEPTION_HANDLERS: dict[t.Any, Callable[[Request, t.Any], Coroutine[t.Any, t.Any, Response]]] = {
    RequestValidationError: _field_errors,
    HTTPException: _http_error,
    sa.exc.SQLAlchemyError: _database_error,
}


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
        # The routers' routes go in as they are, not through include_router: FastAPI
        # (0.165 here) keeps an included router as one nested entry of app.routes, and
        # BentoML lists a mounted app's paths (/schema.json, a Bento's schema) from the
        # `path` of each entry, which a nested router has none of.
        routes=[
            *stats_routes(),
            *_follow_up_routes(),
            *policy_routes(),
            *page_router.routes,
            *follow_up_page_router.routes,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.stats_source = source
    app.state.answers = TTLCache(cache_seconds)
    app.state.drift_reports = TTLCache(drift_seconds, max_entries=32)
    app.mount(ASSETS_PREFIX.rstrip("/"), assets(), name="assets")
    return app


#: The app the service mounts (routes only; nothing is read until a request comes).
dashboard_app = create_app()

__all__ = [
    "ASSETS_PREFIX",
    "DRIFT_SAMPLE",
    "PAGE_PATHS",
    "POLICY_PREFIX",
    "STATS_PATHS",
    "STATS_PREFIX",
    "StatsSource",
    "create_app",
    "dashboard_app",
    "service_source",
]
