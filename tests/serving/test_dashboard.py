"""The dashboard app's assembly: which routes it has, and that BentoML can see every one.

What the routes answer is tested against a known log in ``test_stats.py``
and in a browser in ``test_dashboard_browser.py``.
"""

from __future__ import annotations

from fastapi.routing import APIRoute

from serving.dashboard import (
    ASSETS_PREFIX,
    PAGE_PATHS,
    STATS_PATHS,
    create_app,
    dashboard_app,
)


def test_the_stats_paths_are_the_routes_of_the_routers_in_order():
    routes = (
        "summary",
        "streams/daily",
        "streams/courts",
        "probabilities",
        "reasons",
        "cases",
        "models",
        "drift",
        "labels",
        "follow_up",
        "streams/policy",
    )
    expected = (*(f"/v1/stats/{route}" for route in routes), "/v1/policy/tradeoff")
    assert expected == STATS_PATHS


def test_every_route_is_an_entry_of_the_app_with_its_path():
    # BentoML lists a mounted app's paths (/schema.json, a Bento's schema) from the
    # `path` of each entry of app.routes; an included router would be one entry without.
    app = create_app()
    paths = [getattr(route, "path", None) for route in app.routes]
    pages = ["/dashboard/", "/dashboard", "/dashboard/follow-up"]
    assert paths == [*STATS_PATHS, *pages, ASSETS_PREFIX.rstrip("/")]
    assert set(PAGE_PATHS) == set(pages)
    documented = [r.path for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]
    assert documented == list(STATS_PATHS)


def test_the_service_lists_every_dashboard_path():
    from serving.service import TriageService

    listed = set(TriageService.schema()["paths"])
    assert {*STATS_PATHS, *PAGE_PATHS} <= listed


def test_each_app_has_its_own_caches():
    other = create_app(cache_seconds=0, drift_seconds=0)
    assert other.state.answers is not dashboard_app.state.answers
    assert (other.state.answers.seconds, other.state.drift_reports.seconds) == (0, 0)
    assert dashboard_app.state.answers.seconds == 10.0
    assert dashboard_app.state.drift_reports.seconds == 600.0
