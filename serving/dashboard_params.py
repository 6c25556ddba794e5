"""What a ``/v1/stats`` route takes: the selection from the query, and a reader of the numbers.

Routes declare ``filters: SelectionParams`` (court, province, days, checked
together) and then ``reader: Reader`` (the app's source of numbers behind
its answer caches).  FastAPI solves them in that order, which decides the
answer to a request with two problems: the selection's own checks (a court
outside the province, ``until`` before ``since``) answer 422 before the
source is asked for (503 while the service is not ready); malformed values
are collected and answered 422 only once every dependency has run.

OpenAPI 3.0 and optional parameters
-----------------------------------
The optional query parameters are typed ``X | None`` (absent means None) and
carry :class:`NeverNull`.  Without it FastAPI would document them as
``anyOf [X, {"type": "null"}]``: the ``null`` type is JSON Schema's (OpenAPI
3.1) and not OpenAPI 3.0's, the version of the document BentoML publishes at
``/docs.json``.  A query string cannot carry a null anyway, so the
parameters are validated and documented as plain ``X``.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema
from starlette.exceptions import HTTPException

from features.record import COURT_ID_TEXT
from serving import stats
from serving.dashboard_cache import TTLCache
from serving.dashboard_drift import drift_report
from serving.dashboard_source import NotReady, StatsSource
from serving.stats import Filters

T = t.TypeVar("T")

if t.TYPE_CHECKING:
    # mypy cannot read a Literal of the data contract's codes, a tuple built at import
    # time; for it a province code is a str.  FastAPI sees (and documents) the enum.
    ProvinceCode = str
else:
    ProvinceCode = t.Literal[stats.PROVINCE_CODES]
RankBy = t.Literal["p_assets", "p_complex"]


class NeverNull:
    """Marks an optional query parameter: absent is None, present is never null.

    ``Annotated[str | None, Query(...), NeverNull]`` validates a value that
    is there as ``str`` and documents the parameter as ``str`` (not as
    ``anyOf [str, null]``, which OpenAPI 3.0 does not know); an absent one
    takes its default, None, which FastAPI does not validate.
    """

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: t.Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """The type's schema without its ``nullable`` wrapper."""
        schema = handler(source)
        while schema["type"] == "nullable":
            schema = schema["schema"]
        return schema


# --------------------------------------------------------------------------
# The selection
# --------------------------------------------------------------------------


def _invalid(field: str, kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "type": kind, "msg": message}])


def stats_filters(
    court_id: t.Annotated[
        str | None,
        Query(
            description="Only this court (6-character court code, e.g. `440305`).",
            # The record's rule for a court code, as the API and the loader apply it.
            min_length=COURT_ID_TEXT.min_length,
            max_length=COURT_ID_TEXT.max_length,
            pattern=COURT_ID_TEXT.pattern,
            examples=["440305"],
        ),
        NeverNull,
    ] = None,
    province: t.Annotated[
        ProvinceCode | None,
        Query(description="Only courts of this province (GB/T 2260 two-digit code, e.g. `44`)."),
        NeverNull,
    ] = None,
    since: t.Annotated[
        dt.date | None,
        Query(description="First day (UTC, inclusive), `YYYY-MM-DD`.", examples=["2024-06-01"]),
        NeverNull,
    ] = None,
    until: t.Annotated[
        dt.date | None,
        Query(description="Last day (UTC, inclusive), `YYYY-MM-DD`.", examples=["2024-06-30"]),
        NeverNull,
    ] = None,
) -> Filters:
    """The selection every ``/v1/stats`` route takes: court, province, days."""
    if since is not None and until is not None and until < since:
        raise _invalid("until", "date_order", "until is before since")
    if court_id is not None and province is not None and court_id[:2] != province:
        raise _invalid("court_id", "court_province", "the court is not in the province")
    return Filters(court_id=court_id, province=province, since=since, until=until)


SelectionParams = t.Annotated[Filters, Depends(stats_filters)]


# --------------------------------------------------------------------------
# The numbers, through the app's caches
# --------------------------------------------------------------------------


def current_source(request: Request) -> StatsSource:
    """The app's source of numbers (503 while the service is not ready)."""
    try:
        source: StatsSource = request.app.state.stats_source()
    except NotReady as error:
        raise HTTPException(503, f"not ready: {error}") from error
    return source


Source = t.Annotated[StatsSource, Depends(current_source)]


@dataclass(frozen=True)
class StatsReader:
    """A source of numbers read through the app's caches: what a stats route computes with."""

    source: StatsSource
    answers: TTLCache
    drift_reports: TTLCache

    def read(self, key: Hashable, aggregate: Callable[[sa.Connection], T]) -> T:
        """``aggregate`` of the source's log, cached per log and ``key`` (which names the query)."""

        def compute() -> T:
            with self.source.engine.connect() as connection:
                return aggregate(connection)

        return self.answers.get((id(self.source.engine), key), compute)

    def drift(self, filters: Filters) -> dict[str, t.Any]:
        """The drift panel's report of the selection, cached per log, selection and models."""
        key = (id(self.source.engine), filters, self.source.models_key())
        return self.drift_reports.get(key, lambda: drift_report(self.source, filters))


def stats_reader(request: Request, source: Source) -> StatsReader:
    """The request's source behind the caches that :func:`~serving.dashboard.create_app` made."""
    state = request.app.state
    return StatsReader(source, state.answers, state.drift_reports)


Reader = t.Annotated[StatsReader, Depends(stats_reader)]
