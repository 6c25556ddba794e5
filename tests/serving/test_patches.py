"""The BentoML workarounds: each still needed (upstream unchanged), each still in force.

When BentoML fixes one of these defects, the matching ``*_upstream_*`` test
fails: drop the workaround then.  When a BentoML change makes a workaround
stop applying, the matching ``*_in_force`` test fails.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from serving import patches
from tests.serving.conftest import AUTH


async def _answer(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _scope(path: str = "/triage") -> dict:
    return {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}


async def _call(app, path: str = "/triage") -> list[dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(_scope(path), receive, send)
    return sent


def _live_timers(loop, callback_name: str) -> int:
    return sum(
        1
        for handle in loop._scheduled  # asyncio internals: what the leak is made of
        if not handle.cancelled() and getattr(handle._callback, "__name__", "") == callback_name
    )


def _timers_after(middleware_class, n: int = 200) -> int:
    async def main() -> int:
        app = middleware_class(_answer, timeout=60)
        for _ in range(n):
            await _call(app)
        return _live_timers(asyncio.get_running_loop(), "_set_timer_out")

    return asyncio.run(main())


def test_upstream_timeout_middleware_still_keeps_a_timer_per_finished_request():
    assert _timers_after(patches.UPSTREAM_TIMEOUT) == 200


def test_our_timeout_middleware_keeps_no_timer():
    assert _timers_after(patches.CancellingTimeoutMiddleware) == 0


def test_our_timeout_middleware_still_answers_504_in_time():
    async def slow(scope, receive, send):
        await asyncio.sleep(5)
        await _answer(scope, receive, send)

    sent = asyncio.run(_call(patches.CancellingTimeoutMiddleware(slow, timeout=0.05)))
    assert sent[0]["status"] == 504


def test_an_app_failing_before_answering_does_not_wait_for_the_timeout():
    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    # Upstream waits out the timeout, then returns without an answer and drops the error.
    assert asyncio.run(_call(patches.UPSTREAM_TIMEOUT(failing, timeout=0.2))) == []

    # Ours lets the error through (the server error middleware answers 500) instead of
    # waiting out a 60 s timeout: were it to wait, wait_for would cancel it first.
    async def within_a_tenth_of_the_timeout():
        app = patches.CancellingTimeoutMiddleware(failing, timeout=60)
        return await asyncio.wait_for(_call(app), timeout=6)

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(within_a_tenth_of_the_timeout())


def test_the_service_app_uses_the_fixed_middlewares_in_force(app):
    classes = [middleware.cls for middleware in app.user_middleware]
    assert patches.CancellingTimeoutMiddleware in classes
    assert patches.BoundedPathMetricsMiddleware in classes
    assert patches.UPSTREAM_TIMEOUT not in classes and patches.UPSTREAM_METRICS not in classes


def test_upstream_metrics_still_label_raw_paths():
    """A random path becomes a new series in BentoML's own middleware."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    probe = patches.UPSTREAM_METRICS(_answer, namespace="upstream_probe", skip_paths=[])
    asyncio.run(_call(probe, "/wp-login-4711.php"))
    text = BentoMLContainer.metrics_client.get().generate_latest().decode()
    assert 'endpoint="/wp-login-4711.php"' in text


def test_bounded_labels():
    label = patches.BoundedPathMetricsMiddleware.label
    assert label("/triage") == "/triage" and label("/metrics") == "/metrics"
    assert label("/static_content/swagger.js") == "/static_content/"
    assert label("/admin.php") == "__other__" and label("/triage/../x") == "__other__"


def test_upstream_still_rebuilds_the_api_callable_per_request(app):
    from serving.service import TriageService

    method = TriageService.apis["triage"]
    instance = object.__new__(TriageService.inner)
    first, second = (method.__get__(instance, TriageService.inner) for _ in range(2))
    assert first is not second  # a new wrapper (and inspect.signature) per request


def test_the_cached_api_callable_is_used_in_force(client):
    import bentoml

    from serving.service import TriageService

    service = bentoml.get_current_service()  # the running instance (lifespan entered)
    assert isinstance(service, TriageService.inner)
    for name in TriageService.apis:
        # BentoML calls getattr(instance, name).local per request: the cached one is found.
        assert getattr(service, name) is service.__dict__[name]
        assert callable(getattr(service, name).local)


def test_upstream_still_logs_validation_errors_with_their_input(client, caplog):
    """BentoML logs a failed validation at ERROR with a traceback holding the input values."""
    logger = logging.getLogger(patches.VALIDATION_LOGGER)
    logger.removeFilter(patches._LOG_FILTER)
    try:
        with caplog.at_level(logging.ERROR, logger=patches.VALIDATION_LOGGER):
            client.post("/triage", json={"case": {"claim_amount": "marker-4711"}}, headers=AUTH)
    finally:
        logger.addFilter(patches._LOG_FILTER)
    text = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "marker-4711" in text


def test_validation_tracebacks_are_dropped_in_force(client, caplog):
    with caplog.at_level(logging.DEBUG):
        answer = client.post(
            "/triage", json={"case": {"claim_amount": "marker-4712"}}, headers=AUTH
        )
    assert answer.status_code == 422
    text = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "marker-4712" not in text


def _arbiter(create):
    arbiter = create([])
    arbiter._exclusive_running_command = "arbiter_stop"  # as while a stop runs
    return arbiter


def _upstream_create_arbiter():
    from bentoml._internal.utils import circus as bentoml_circus

    create = bentoml_circus.create_standalone_arbiter
    return getattr(create, "upstream", create)


def test_upstream_arbiter_still_checks_its_workers_every_ten_seconds():
    from circus.exc import ConflictError

    arbiter = _arbiter(_upstream_create_arbiter())
    assert arbiter.check_delay == 10
    with pytest.raises(ConflictError):
        arbiter.manage_watchers()


def test_quick_respawn_in_force_checks_four_times_a_second_and_skips_when_busy():
    from bentoml._internal.utils import circus as bentoml_circus

    patches.install_quick_respawn()
    patches.install_quick_respawn()  # idempotent: wrapped once
    create = bentoml_circus.create_standalone_arbiter
    assert create.upstream is _upstream_create_arbiter()
    assert not hasattr(create.upstream, "upstream")
    arbiter = _arbiter(create)
    assert arbiter.check_delay == patches.ARBITER_CHECK_SECONDS == 0.25
    assert arbiter.manage_watchers() is None  # skipped, not a ConflictError


def test_triage_serve_runs_bentoml_through_the_arbiter_fix(monkeypatch):
    import types

    from bentoml._internal.utils import circus as bentoml_circus

    from serving import bentoml_serve, cli

    command = cli.serve_command("127.0.0.1", 3000)
    assert command[1:3] == ["-m", bentoml_serve.__name__]
    seen = []
    # BentoML's command line, as a stand-in: what matters is the arbiter it will create.
    fake_cli = types.ModuleType("bentoml_cli.cli")
    fake_cli.cli = lambda: seen.append(bentoml_circus.create_standalone_arbiter)
    monkeypatch.setitem(sys.modules, "bentoml_cli.cli", fake_cli)
    upstream = _upstream_create_arbiter()
    monkeypatch.setattr(bentoml_circus, "create_standalone_arbiter", upstream)
    bentoml_serve.main()
    (create,) = seen
    assert create.upstream is upstream
