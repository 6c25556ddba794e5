"""The selection a /v1/stats route takes, and how it is documented and checked.

The optional parameters are ``X | None`` in Python and plain ``X`` on the
wire (:class:`~serving.dashboard_params.NeverNull`): documented without the
``null`` type that OpenAPI 3.0 lacks, and validated with the plain type's
errors.  The order of the dependencies decides between a 422 and a 503.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi

from serving.dashboard import create_app
from serving.dashboard_params import NeverNull, stats_filters
from serving.dashboard_source import NotReady
from serving.stats import PROVINCE_CODES, Filters


def _client(app: FastAPI):
    from starlette.testclient import TestClient  # warns at import: inside the test's filters

    return TestClient(app)


def _parameters(app: FastAPI, path: str) -> dict[str, dict]:
    """The documented query parameters of a GET route, by name, as BentoML builds /docs.json."""
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
    return {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}


def test_the_selection_is_documented_in_openapi_3_0_types():
    parameters = _parameters(create_app(), "/v1/stats/summary")
    assert set(parameters) == {"court_id", "province", "since", "until"}
    assert not any(p["required"] for p in parameters.values())
    court, province = parameters["court_id"]["schema"], parameters["province"]["schema"]
    assert court == {
        "type": "string",
        "pattern": "^[0-9A-Za-z]{6}$",
        "minLength": 6,
        "maxLength": 6,
        "description": "Only this court (6-character court code, e.g. `440305`).",
        "examples": ["440305"],
        "title": "Court Id",
    }
    assert province["type"] == "string" and province["enum"] == list(PROVINCE_CODES)
    for day in ("since", "until"):
        schema = parameters[day]["schema"]
        assert (schema["type"], schema["format"]) == ("string", "date")
    assert all("anyOf" not in p["schema"] and "null" not in str(p) for p in parameters.values())


def _probe() -> FastAPI:
    """Two routes, one parameter typed the plain way and the NeverNull way."""
    app = FastAPI()

    @app.get("/plain")  # typed as the dashboard did before NeverNull
    def plain(day: t.Annotated[dt.date, Query(description="A day.")] = None):  # type: ignore[assignment]
        return {"day": day}

    @app.get("/never-null")
    def never_null(day: t.Annotated[dt.date | None, Query(description="A day."), NeverNull] = None):
        return {"day": day}

    return app


@pytest.mark.parametrize("query", ["", "?day=2024-06-01", "?day=", "?day=x", "?day=2024-13-01"])
def test_never_null_validates_and_documents_as_the_plain_type(query):
    app = _probe()
    client = _client(app)
    plain, never_null = client.get("/plain" + query), client.get("/never-null" + query)
    assert (plain.status_code, plain.json()) == (never_null.status_code, never_null.json())
    assert _parameters(app, "/plain")["day"] == _parameters(app, "/never-null")["day"]


def test_filters_are_checked_together():
    assert stats_filters(court_id="440305", province="44") == Filters("440305", "44")
    day = dt.date(2024, 6, 2)
    assert stats_filters(since=day, until=day) == Filters(since=day, until=day)
    with pytest.raises(RequestValidationError) as order:
        stats_filters(since=day, until=dt.date(2024, 6, 1))
    assert order.value.errors()[0]["loc"] == ("query", "until")
    with pytest.raises(RequestValidationError) as court:
        stats_filters(court_id="110105", province="44")
    assert court.value.errors()[0]["type"] == "court_province"


def _not_ready():
    raise NotReady("the models are still loading")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 503),
        # The selection's own checks run before the source is asked for...
        ("?since=2024-06-02&until=2024-06-01", 422),
        ("?court_id=110105&province=44", 422),
        # ...malformed values are answered once every dependency ran.
        ("?since=x", 503),
        ("?province=99", 503),
    ],
)
def test_a_bad_selection_and_a_service_not_ready_answer_in_order(query, status):
    client = _client(create_app(_not_ready))
    answer = client.get("/v1/stats/summary" + query)
    assert answer.status_code == status, answer.text
    if status == 503:
        assert answer.json() == {"error": "not ready: the models are still loading"}
    else:
        assert answer.json()["fields"][0]["field"] in ("until", "court_id")


@pytest.mark.parametrize(
    ("court", "kind"),
    [
        ("44<305", "court_id_characters"),
        ("44\x00305", "court_id_characters"),
        ("44\u202e305", "court_id_characters"),
        ("44'305", "court_id_characters"),
        ("4403", "string_too_short"),
    ],
)
def test_the_court_filter_applies_the_records_rule(court, kind):
    """What the API and the loader refuse as a court code, the filter refuses (and vice versa)."""
    never_read = t.cast(t.Any, object())  # the selection is refused before any number is read
    client = _client(create_app(lambda: never_read))
    answer = client.get("/v1/stats/summary", params={"court_id": court})
    assert answer.status_code == 422, answer.text
    assert [(f["field"], f["type"]) for f in answer.json()["fields"]] == [("court_id", kind)]
