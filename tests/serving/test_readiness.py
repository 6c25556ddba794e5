"""Ready only with both champions loaded and the golden case decided.

A starting worker takes no request while it loads (bounded by
``TRIAGE_READY_WAIT_SECONDS``); once loading has failed or outlasted the wait
it is alive, and says why it is not ready.
"""

from __future__ import annotations

import time

import pytest

from tests.serving.conftest import AUTH, scratch_tempdir, wait_ready


@pytest.fixture
def start(app, monkeypatch):
    """Run one service instance (lifespan) with the given models tag."""
    from starlette.testclient import TestClient

    started = []

    def run(tag: str):
        monkeypatch.setenv("TRIAGE_MODELS_TAG", tag)
        client = TestClient(app)
        with scratch_tempdir():
            client.__enter__()
        started.append(client)
        return client

    yield run
    for client in started:
        client.__exit__(None, None, None)


def settled(client, timeout: float = 20):
    """/readyz once the loader has finished (ready or not)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/readyz")
        if answer.status_code == 200 or answer.json()["reason"] != "loading the models":
            return answer
        assert time.monotonic() < deadline, "still loading"
        time.sleep(0.05)


def test_without_champions_alive_but_not_ready_saying_how_to_train(start, case):
    began = time.monotonic()
    client = start("triage-models:absent")
    assert time.monotonic() - began < 30  # a failed load ends the start's 60-second wait
    assert client.get("/livez").status_code == 200
    answer = settled(client)
    assert answer.status_code == 503
    assert "triage train --data" in answer.json()["reason"]
    refused = client.post("/triage", json={"case": case}, headers=AUTH)
    assert refused.status_code == 503 and "triage train --data" in refused.json()["error"]
    assert client.get("/model_info", headers=AUTH).status_code == 503
    assert client.get("/livez").status_code == 200


def test_ready_after_loading_and_warm_up(start, models_tag, case, monkeypatch):
    from serving.decider import Decider

    calls = []
    real = Decider.warm_up

    def counted(self):
        calls.append(self.served.tag)
        return real(self)

    monkeypatch.setattr(Decider, "warm_up", counted)
    client = start(models_tag)
    wait_ready(client)
    assert calls == [models_tag]
    assert client.post("/triage", json={"case": case}, headers=AUTH).status_code == 200


def test_a_failed_warm_up_keeps_the_service_unready(start, models_tag, monkeypatch):
    from serving.decider import Decider

    def broken(self):
        raise ValueError("warm-up on the golden case gave probabilities [nan]")

    monkeypatch.setattr(Decider, "warm_up", broken)
    client = start(models_tag)
    answer = settled(client)
    assert answer.status_code == 503 and "golden case" in answer.json()["reason"]


@pytest.fixture
def held_warm_up(monkeypatch):
    """A warm-up that waits until the test lets it go: the models are loading until then."""
    import threading

    from serving.decider import Decider

    let_go = threading.Event()
    real = Decider.warm_up

    def held(self):
        assert let_go.wait(timeout=60), "the test never let the warm-up go"
        return real(self)

    monkeypatch.setattr(Decider, "warm_up", held)
    yield let_go
    let_go.set()  # a loader still waiting must not outlive the test


@pytest.fixture
def ready_wait(monkeypatch):
    """Set TRIAGE_READY_WAIT_SECONDS for the services started in the test."""
    from app.settings import get_settings

    def set_to(seconds: float) -> None:
        monkeypatch.setenv("TRIAGE_READY_WAIT_SECONDS", str(seconds))
        get_settings.cache_clear()

    yield set_to
    monkeypatch.delenv("TRIAGE_READY_WAIT_SECONDS", raising=False)
    get_settings.cache_clear()


def test_a_starting_worker_takes_no_request_before_its_models_are_loaded(
    start, models_tag, case, held_warm_up, ready_wait
):
    """The startup hook holds the worker until loaded: its first request is scored, no 503."""
    import threading

    ready_wait(60)
    threading.Timer(1.0, held_warm_up.set).start()
    began = time.monotonic()
    client = start(models_tag)
    assert time.monotonic() - began >= 1.0  # the start waited for the held warm-up
    assert client.get("/readyz").status_code == 200
    assert client.post("/triage", json={"case": case}, headers=AUTH).status_code == 200


@pytest.mark.parametrize("seconds", [0, 0.1])
def test_a_load_outlasting_the_wait_goes_on_while_the_worker_says_why_not_ready(
    start, models_tag, case, held_warm_up, ready_wait, seconds
):
    """0: no wait at all; else the wait ends at its bound and the load goes on."""
    ready_wait(seconds)
    client = start(models_tag)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["reason"] == "loading the models"
    assert client.get("/livez").status_code == 200
    refused = client.post("/triage", json={"case": case}, headers=AUTH)
    assert refused.status_code == 503 and "loading the models" in refused.json()["error"]
    held_warm_up.set()
    assert settled(client).status_code == 200  # the load finished in the background
    assert client.post("/triage", json={"case": case}, headers=AUTH).status_code == 200


STOP_WHILE_WAITING = """
import asyncio, os, signal, threading, time, types
from serving.service import TriageService

heard = []
signal.signal(signal.SIGTERM, lambda sig, frame: heard.append(sig))  # as uvicorn's handler
# A worker whose models never finish loading, waiting up to a minute.
worker = types.SimpleNamespace(
    settings=types.SimpleNamespace(ready_wait_seconds=60.0), _loaded=threading.Event()
)
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
began = time.monotonic()
asyncio.run(TriageService.inner.wait_for_the_models(worker))
waited = time.monotonic() - began
assert 0.4 < waited < 10, waited  # the signal, not the minute, ended the wait
assert heard == [signal.SIGTERM], heard  # and the server's handler still ran
os.kill(os.getpid(), signal.SIGTERM)
assert heard == [signal.SIGTERM] * 2, heard  # its handler is back, alone
print("ok")
"""


def test_a_stop_signal_ends_the_wait_and_still_reaches_the_server():
    """SIGTERM while a starting worker waits ends the wait; uvicorn's handler still runs.

    In a process of its own: signal handlers belong to a process's main thread.
    """
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", STOP_WHILE_WAITING], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_missing_bentoml_model_neither_stops_the_server_nor_reaches_for_the_cloud(serving_home):
    from bentoml.exceptions import NotFound

    from serving.service import StoreModel

    missing = StoreModel("triage-models:absent")
    assert missing.resolve() is None  # `bentoml serve` starts; /readyz says what to do
    with pytest.raises(NotFound, match="triage serve --import-only"):
        missing.to_info()  # `bentoml build` stops with instructions
