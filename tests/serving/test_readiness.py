"""Alive at once, ready only with both champions loaded and the golden case decided."""

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
    client = start("triage-models:absent")
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
def slow_warm_up(monkeypatch):
    """A warm-up that takes a second: the models are loading for that long."""
    from serving.decider import Decider

    real = Decider.warm_up

    def slow(self):
        time.sleep(1.0)
        return real(self)

    monkeypatch.setattr(Decider, "warm_up", slow)


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
    start, models_tag, case, slow_warm_up, ready_wait
):
    """The startup hook holds the worker until loaded: its first request is scored, no 503."""
    ready_wait(60)
    began = time.monotonic()
    client = start(models_tag)
    assert time.monotonic() - began >= 1.0  # the start waited for the slow warm-up
    assert client.get("/readyz").status_code == 200
    assert client.post("/triage", json={"case": case}, headers=AUTH).status_code == 200


def test_a_load_outlasting_the_wait_goes_on_while_the_worker_says_why_not_ready(
    start, models_tag, case, slow_warm_up, ready_wait
):
    ready_wait(0.1)
    client = start(models_tag)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["reason"] == "loading the models"
    refused = client.post("/triage", json={"case": case}, headers=AUTH)
    assert refused.status_code == 503 and "loading the models" in refused.json()["error"]
    assert settled(client).status_code == 200  # the load finished in the background
    assert client.post("/triage", json={"case": case}, headers=AUTH).status_code == 200


def test_a_missing_bentoml_model_neither_stops_the_server_nor_reaches_for_the_cloud(serving_home):
    from bentoml.exceptions import NotFound

    from serving.service import StoreModel

    missing = StoreModel("triage-models:absent")
    assert missing.resolve() is None  # `bentoml serve` starts; /readyz says what to do
    with pytest.raises(NotFound, match="triage serve --import-only"):
        missing.to_info()  # `bentoml build` stops with instructions
