"""Fixes for BentoML 1.4.40 defects, each with a test that fails when it stops being needed.

1. ``TimeoutMiddleware`` (``bentoml/_internal/server/http/traffic.py``) starts a
   ``loop.call_later(timeout, …)`` timer per request and never cancels it: each
   finished request's future and a copy of its ``contextvars`` context stay
   alive for ``traffic.timeout`` seconds (60 by default), ~20 objects per
   request, so full garbage collections grow to hundreds of milliseconds under
   load (p99 spikes).  It also waits the whole timeout when the app raises
   before answering.  :class:`CancellingTimeoutMiddleware` keeps the semantics
   (504 when no response has started in time) and cancels the timer.
2. ``RunnerTrafficMetricsMiddleware`` (``…/http/instruments.py``) labels its
   Prometheus series with the raw request path, so every scanner probing
   random paths creates new series forever.  :class:`BoundedPathMetricsMiddleware`
   labels unknown paths ``__other__``.
3. Every request looks its API method up on the service instance, and
   ``APIMethod.__get__`` (``_bentoml_sdk/method.py``) rebuilds the callable each
   time — ``inspect.signature`` plus a fresh wrapper, ~35 µs per request.
   :func:`cache_api_callables` stores the callable on the instance once (the
   descriptor is a non-data descriptor, so the instance attribute wins).
4. A request that fails validation is logged at ERROR with a traceback whose
   text holds the offending input values (``http_app.log_exception``); that
   is case data in a log.  :class:`DropValidationTracebacks` drops those
   records (the client gets the field-level 4xx; nothing is lost).
5. The arbiter looks for dead workers every 10 seconds (``check_delay=10``,
   hard-coded in ``create_standalone_arbiter``, ``bentoml/_internal/utils/circus``),
   so a crashed worker is replaced 0–10 s late, on top of its own start: a
   single-worker service was unavailable for 7 s.  :func:`install_quick_respawn`
   (run in the arbiter's process by :mod:`serving.bentoml_serve`) makes it
   check four times a second (0.1 CPU-seconds a minute more than once a
   second, and 0.4 s sooner on average after a worker dies); a check that
   falls while the arbiter runs another command (start, stop, reload) is
   skipped instead of logging a ``ConflictError`` traceback — the next comes
   a quarter of a second later.

BentoML looks both middleware classes up by module attribute when it builds
the app (``ServiceAppFactory.middlewares`` / ``BaseAppFactory.middlewares``),
which a worker does after importing the service module, so replacing the
module attributes in :func:`install` is enough; ``tests/serving/test_patches.py``
checks that the service's app really uses them and that upstream still has
each defect.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import typing as t

from bentoml._internal.server.http import instruments, traffic

#: The upstream classes, kept for the tests that check the defects are still there.
UPSTREAM_TIMEOUT = traffic.TimeoutMiddleware
UPSTREAM_METRICS = instruments.RunnerTrafficMetricsMiddleware

# Timer callbacks run in this empty context instead of a copy of the request's.
_EMPTY_CONTEXT = contextvars.Context()


class CancellingTimeoutMiddleware(UPSTREAM_TIMEOUT):
    """BentoML's request timeout (504 if no response started in time), without the leak."""

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter, context=_EMPTY_CONTEXT)

        async def _send(message) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        # An app that ends (or raises) without answering must not hold the request
        # until the timeout; its exception then surfaces from `await task`.
        task.add_done_callback(lambda _: None if waiter.done() else waiter.set_result(None))
        try:
            try:
                await waiter
            except TimeoutError:
                if task.cancel():
                    from starlette.responses import JSONResponse

                    response = JSONResponse(
                        {"error": f"Not able to process the request in {self.timeout} seconds"},
                        status_code=504,
                    )
                    await response(scope, receive, send)
                return
            await task
        finally:
            timer.cancel()


class BoundedPathMetricsMiddleware(UPSTREAM_METRICS):
    """BentoML's request metrics, labelled with known routes only (else ``__other__``)."""

    known_paths: t.ClassVar[frozenset[str]] = frozenset()
    known_prefixes: t.ClassVar[tuple[str, ...]] = ()
    OTHER = "__other__"

    def __init__(self, app, **options) -> None:
        super().__init__(app, **options)
        inner = self.app

        async def with_original_scope(scope, receive, send) -> None:
            await inner(scope.get("triage.original_scope", scope), receive, send)

        self.app = with_original_scope

    @classmethod
    def label(cls, path: str) -> str:
        if path in cls.known_paths:
            return path
        for prefix in cls.known_prefixes:
            if path.startswith(prefix):
                return prefix
        return cls.OTHER

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            label = self.label(scope["path"])
            if label != scope["path"]:
                # The parent reads the path for its labels; the app gets the real scope.
                scope = {**scope, "path": label, "triage.original_scope": scope}
        await super().__call__(scope, receive, send)


class DropValidationTracebacks(logging.Filter):
    """Drops BentoML's ERROR records of client validation errors (their text holds input values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        return not (record.exc_info and isinstance(record.exc_info[1], ValidationError))


_LOG_FILTER = DropValidationTracebacks()
VALIDATION_LOGGER = "bentoml._internal.server.http_app"


def cache_api_callables(instance: object, apis: t.Mapping[str, t.Any]) -> None:
    """Bind each API method of a service instance once, instead of once per request."""
    for name, method in apis.items():
        instance.__dict__[name] = method.__get__(instance, type(instance))


#: Seconds between the arbiter's checks for dead workers (BentoML's own: 10).
ARBITER_CHECK_SECONDS = 0.25


def install_quick_respawn(check_seconds: float = ARBITER_CHECK_SECONDS) -> None:
    """Make BentoML's arbiter replace a dead worker within ``check_seconds`` (idempotent)."""
    from bentoml._internal.utils import circus as bentoml_circus

    upstream = bentoml_circus.create_standalone_arbiter
    if hasattr(upstream, "upstream"):
        return

    def create_standalone_arbiter(watchers, *, threaded: bool = False, **kwargs):
        kwargs.setdefault("check_delay", check_seconds)
        arbiter = upstream(watchers, threaded=threaded, **kwargs)
        arbiter.manage_watchers = _skipping_conflicts(arbiter.manage_watchers)
        return arbiter

    create_standalone_arbiter.upstream = upstream  # type: ignore[attr-defined]
    bentoml_circus.create_standalone_arbiter = create_standalone_arbiter


def _skipping_conflicts(manage_watchers: t.Callable[[], t.Any]) -> t.Callable[[], t.Any]:
    """The arbiter's periodic check, skipped while another arbiter command runs."""
    from circus.exc import ConflictError  # type: ignore[import-untyped]

    def check() -> t.Any:
        try:
            return manage_watchers()
        except ConflictError:
            return None  # busy starting, stopping or reloading: the next check comes soon

    return check


def install(known_paths: t.Iterable[str], known_prefixes: t.Iterable[str] = ()) -> None:
    """Swap in the fixed middlewares and the log filter (idempotent)."""
    BoundedPathMetricsMiddleware.known_paths = frozenset(known_paths)
    BoundedPathMetricsMiddleware.known_prefixes = tuple(known_prefixes)
    # Replacing a library's classes is the point here; mypy forbids assigning to a type.
    traffic.TimeoutMiddleware = CancellingTimeoutMiddleware  # type: ignore[misc]
    instruments.RunnerTrafficMetricsMiddleware = BoundedPathMetricsMiddleware  # type: ignore[misc,assignment]
    logger = logging.getLogger(VALIDATION_LOGGER)
    if _LOG_FILTER not in logger.filters:
        logger.addFilter(_LOG_FILTER)
